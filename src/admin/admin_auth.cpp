#include "admin/admin_auth.hpp"
#include "admin/http_types.hpp"

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "tidemq/util/atomic_file.hpp"
#include "util/password_hash.hpp"

namespace tidemq::admin {

namespace {

std::string sha256(const std::string& s) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out);
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::optional<std::pair<std::string, std::string>> parse_basic(const std::string& header) {
  constexpr std::string_view kBasic = "Basic ";
  if (header.size() <= kBasic.size() || header.compare(0, kBasic.size(), kBasic) != 0) return std::nullopt;
  auto maybe = decode_base64(std::string_view(header).substr(kBasic.size()));
  if (!maybe) return std::nullopt;
  const std::string& decoded = *maybe;
  auto colon = decoded.find(':');
  if (colon == std::string::npos) return std::nullopt;
  return std::make_pair(decoded.substr(0, colon), decoded.substr(colon + 1));
}

std::string now_iso8601() {
  auto t = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

}  // namespace

AdminAuth::AdminAuth(std::string user, const std::string& password, std::string api_keys_file, util::Clock& clock,
                     LoginLimits limits)
    : user_(std::move(user)),
      user_hash_(util::hash_password(password)),
      default_password_(password == "public"),
      keys_file_(std::move(api_keys_file)),
      clock_(clock),
      limits_(limits) {
  load_keys();
}

void AdminAuth::load_keys() {
  std::ifstream in(keys_file_);
  if (!in) return;
  try {
    auto j = nlohmann::json::parse(in);
    for (const auto& k : j.at("keys")) {
      StoredKey s;
      s.hash = k.at("hash").get<std::string>();
      s.info = ApiKeyInfo{k.at("key").get<std::string>(), k.value("description", ""), k.value("created_at", "")};
      keys_[s.info.key] = std::move(s);
    }
  } catch (const std::exception& e) {
    spdlog::error("admin: cannot read API keys from {}: {} (no API keys loaded)", keys_file_, e.what());
    keys_.clear();
  }
}

bool AdminAuth::save_keys(std::string* error) const {
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& [_, k] : keys_)
    arr.push_back({{"key", k.info.key}, {"hash", k.hash}, {"description", k.info.description}, {"created_at", k.info.created_at}});
  nlohmann::json doc{{"keys", arr}};
  return util::write_file_atomically(keys_file_, doc.dump(2) + "\n", error);
}

bool AdminAuth::verify(const std::string& user, const std::string& password) {
  const std::string fingerprint = sha256(user + '\0' + password);
  std::string hash;
  {
    std::lock_guard lk(mu_);
    if (verified_.contains(fingerprint)) return true;
    if (user == user_) {
      hash = user_hash_;
    } else if (auto it = keys_.find(user); it != keys_.end()) {
      hash = it->second.hash;
    } else {
      return false;
    }
  }
  if (!util::verify_password(password, hash)) return false;
  std::lock_guard lk(mu_);
  if (user == user_ || keys_.contains(user)) verified_.insert(fingerprint);
  return true;
}

AdminAuth::Verdict AdminAuth::check(const std::string& authorization, const std::string& peer_ip) {
  if (authorization.empty()) return Verdict::missing;
  const auto now = clock_.now();
  auto creds = parse_basic(authorization);
  const std::pair<std::string, std::string> who{peer_ip, creds ? creds->first : std::string()};
  {
    std::lock_guard lk(mu_);
    auto it = failures_.find(who);
    if (it != failures_.end()) {
      Failures& f = it->second;
      if (now - f.window_start >= limits_.window) {
        failures_.erase(it);
      } else if (f.count >= limits_.max_failures) {
        if (now - f.last_probe < kLockedOutProbeInterval) return Verdict::rate_limited;
        f.last_probe = now;  // this one is checked: the right password gets in
      }
    }
  }
  if (creds && verify(creds->first, creds->second)) {
    std::lock_guard lk(mu_);
    failures_.erase(who);
    return Verdict::ok;
  }
  std::lock_guard lk(mu_);
  auto& f = failures_[who];
  if (f.count == 0) f.window_start = now;
  ++f.count;
  const std::string user = creds ? "'" + creds->first + "'" : std::string("(unreadable credentials)");
  if (f.count > limits_.max_failures) return Verdict::rate_limited;  // locked out already
  spdlog::warn("admin: failed login from {} for user {} ({} failure(s) in the last {} s)", peer_ip, user, f.count,
               limits_.window.count());
  if (f.count == limits_.max_failures) {
    f.last_probe = now;
    spdlog::error("admin: user {} from {} locked out for {} s after {} failed logins (the right password is still "
                  "accepted, one try per second)",
                  user, peer_ip, limits_.window.count(), f.count);
  }
  return Verdict::wrong;
}

std::optional<std::string> AdminAuth::add_api_key(const std::string& key, const std::string& description,
                                                  std::string* error) {
  if (key.empty() || key.size() > 64 || key.find_first_of(": \t\r\n") != std::string::npos) {
    if (error) *error = "key must be 1-64 characters without ':' or spaces";
    return std::nullopt;
  }
  std::string secret = util::random_token(24);
  std::string hash = util::hash_password(secret);
  std::lock_guard lk(mu_);
  if (key == user_ || keys_.contains(key)) {
    if (error) *error = "key already exists";
    return std::nullopt;
  }
  keys_[key] = StoredKey{hash, ApiKeyInfo{key, description, now_iso8601()}};
  if (!save_keys(error)) {
    keys_.erase(key);
    return std::nullopt;
  }
  return secret;
}

bool AdminAuth::delete_api_key(const std::string& key) {
  std::lock_guard lk(mu_);
  auto it = keys_.find(key);
  if (it == keys_.end()) return false;
  keys_.erase(it);
  verified_.clear();  // forget cached credentials of the deleted key
  save_keys(nullptr);
  return true;
}

std::vector<ApiKeyInfo> AdminAuth::list_api_keys() const {
  std::lock_guard lk(mu_);
  std::vector<ApiKeyInfo> out;
  for (const auto& [_, k] : keys_) out.push_back(k.info);
  return out;
}

}  // namespace tidemq::admin
