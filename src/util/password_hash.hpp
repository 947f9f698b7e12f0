// Salted PBKDF2-SHA256 password hashes (OpenSSL), stored as text:
//   pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>
// Used for admin users, API keys and MQTT users alike.
#pragma once

#include <string>
#include <string_view>

namespace tidemq::util {

inline constexpr unsigned kDefaultPbkdf2Iterations = 100000;

std::string hash_password(std::string_view password, unsigned iterations = kDefaultPbkdf2Iterations);

// Constant-time comparison against a stored hash; false for a malformed hash.
bool verify_password(std::string_view password, std::string_view stored);

// Whether `stored` looks like something hash_password produced.
bool is_password_hash(std::string_view stored);

std::string random_token(std::size_t bytes);  // hex

}  // namespace tidemq::util
