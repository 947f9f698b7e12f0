// MQTT users of the password file over the admin API (EMQX 4's auth_username shape).
#pragma once

#include "admin/router.hpp"

namespace tidemq::auth {
class PasswordFile;
}

namespace tidemq::admin {

// `users` may be null (no authentication.password_file configured): the endpoints then answer
// 400 with a message saying so.
void register_user_api(Router& router, auth::PasswordFile* users);

}  // namespace tidemq::admin
