// Who may call the admin API: the configured user (its password kept only as a PBKDF2 hash) and
// API keys (key id + secret, hashes stored in a file under the data dir). Successful checks are
// cached by a SHA-256 of the credentials so that PBKDF2 runs once per credential, not per request.
// Failed logins are counted per source address: past kMaxFailures in kFailureWindow the address
// gets 429 until the window passes.
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

struct ApiKeyInfo {
  std::string key;
  std::string description;
  std::string created_at;  // ISO 8601
};

class AdminAuth {
 public:
  static constexpr int kMaxFailures = 10;
  static constexpr std::chrono::seconds kFailureWindow{60};

  AdminAuth(std::string user, const std::string& password, std::string api_keys_file, util::Clock& clock);

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
  struct Failures {
    int count = 0;
    util::TimePoint window_start{};
  };
  std::unordered_map<std::string, Failures> failures_;
};

}  // namespace tidemq::admin
