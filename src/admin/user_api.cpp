#include "admin/user_api.hpp"

#include "auth/password_file.hpp"

namespace tidemq::admin {

using nlohmann::json;

namespace {

HttpResponse no_file() {
  return v4_error(400, "no password file is configured (set authentication.password_file)");
}

std::optional<std::string> string_field(const json& body, const char* key) {
  if (!body.is_object() || !body.contains(key) || !body[key].is_string()) return std::nullopt;
  return body[key].get<std::string>();
}

}  // namespace

void register_user_api(Router& router, auth::PasswordFile* users) {
  router.add("GET", "/api/v4/auth_username", [users](const HttpRequest&, const Params&) {
    if (!users) return no_file();
    json data = json::array();
    for (const auto& u : users->list()) data.push_back({{"username", u}});
    return v4_ok(data);
  });
  router.add("POST", "/api/v4/auth_username", [users](const HttpRequest& r, const Params&) {
    if (!users) return no_file();
    json body = json::parse(r.body);
    auto user = string_field(body, "username");
    auto password = string_field(body, "password");
    if (!user || !password) return v4_error(400, "'username' and 'password' (strings) are required");
    if (password->empty()) return v4_error(400, "'password' must not be empty");
    std::string error;
    if (users->contains(*user)) return v4_error(409, "user already exists");
    if (!users->add(*user, *password, &error)) return v4_error(400, error);
    return json_response(200, {{"code", 0}});
  });
  router.add("PUT", "/api/v4/auth_username/{username}", [users](const HttpRequest& r, const Params& p) {
    if (!users) return no_file();
    json body = json::parse(r.body);
    auto password = string_field(body, "password");
    if (!password || password->empty()) return v4_error(400, "'password' (non-empty string) is required");
    if (!users->contains(p.at("username"))) return v4_error(404, "user not found");
    std::string error;
    if (!users->set_password(p.at("username"), *password, &error)) return v4_error(400, error);
    return json_response(200, {{"code", 0}});
  });
  router.add("DELETE", "/api/v4/auth_username/{username}", [users](const HttpRequest&, const Params& p) {
    if (!users) return no_file();
    if (!users->contains(p.at("username"))) return v4_error(404, "user not found");
    std::string error;
    if (!users->remove(p.at("username"), &error)) return v4_error(400, error);
    return json_response(200, {{"code", 0}});
  });
}

}  // namespace tidemq::admin
