// Who may call the admin API: the configured user (its password kept only as a PBKDF2 hash) and
// API keys (key id + secret, hashes stored in a file under the data dir). Successful checks are
// cached by a SHA-256 of the credentials so that PBKDF2 runs once per credential, not per request.
// Failed logins are counted per source address *and* user name: past `max_failures` in `window`
// that pair is locked out until the window passes. A locked-out pair still has its credentials
// checked once per kLockedOutProbeInterval (the others get 429 unchecked), so the right password
// gets the operator in even while someone behind the same address guesses, and guessing is held
// to one try a second.
#pragma once

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "tidemq/util/clock.hpp"

namespace tidemq::admin {

struct LoginLimits {
  int max_failures = 10;
  std::chrono::seconds window{60};
};

struct ApiKeyInfo {
  std::string key;
  std::string description;
  std::string created_at;  // ISO 8601
};

class AdminAuth {
 public:
  static constexpr std::chrono::seconds kLockedOutProbeInterval{1};

  AdminAuth(std::string user, const std::string& password, std::string api_keys_file, util::Clock& clock,
            LoginLimits limits = {});

  enum class Verdict { ok, missing, wrong, rate_limited };
  // `authorization` is the raw Authorization header.
  Verdict check(const std::string& authorization, const std::string& peer_ip);

  bool using_default_password() const { return default_password_; }

  // API keys. add() returns the secret (shown once). Errors as strings.
  std::optional<std::string> add_api_key(const std::string& key, const std::string& description, std::string* error);
  bool delete_api_key(const std::string& key);
  std::vector<ApiKeyInfo> list_api_keys() const;

 private:
  bool verify(const std::string& user, const std::string& password);
  void load_keys();
  bool save_keys(std::string* error) const;

  struct StoredKey {
    std::string hash;
    ApiKeyInfo info;
  };
  std::string user_;
  std::string user_hash_;
  bool default_password_ = false;
  std::string keys_file_;
  util::Clock& clock_;
  mutable std::mutex mu_;
  std::map<std::string, StoredKey> keys_;
  std::unordered_set<std::string> verified_;  // sha256(user \0 password) of good credentials
  LoginLimits limits_;
  struct Failures {
    int count = 0;
    util::TimePoint window_start{};
    util::TimePoint last_probe{};  // while locked out: the last attempt whose credentials were checked
  };
  std::map<std::pair<std::string, std::string>, Failures> failures_;  // (address, user name)
};

}  // namespace tidemq::admin
