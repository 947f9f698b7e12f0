// MQTT authentication and authorization for one node: installs the node's authenticate and
// authorize hooks (core::Hooks) and keeps the password file fresh.
//
// Authentication (every CONNECT, on the connection's data thread):
//  - with a user name: the user must be in the password file and the password must match, else
//    CONNACK 0x86 Bad User Name or Password (3.1.1: 4). An unknown user gets the same answer as a
//    wrong password. Without a password file, a user name is not checked: the client is accepted
//    when anonymous clients are (there is nothing to check it against) and refused with 0x86
//    otherwise.
//  - without a user name: accepted if authentication.allow_anonymous, else 0x86 / 4 too (missing
//    credentials are "bad credentials": one answer for every refused login, and the one that
//    tells a person what to fix).
//  - allow_anonymous = false with no password file refuses every client; that is what the
//    settings say, so the node starts, but says so loudly at startup.
//  Failures are logged at warning with client id, user name and peer, at most kLogBurst lines per
//  kLogWindow; the number of lines held back is logged when the next window opens. (The channel
//  counts them in Stats::auth_failures.)
//
// Password checks cost one PBKDF2 run on the data thread the first time a (user, password) pair
// is seen after a change of the user's line: ~tens of ms with 100 000 iterations, during which
// the thread's other connections wait. Later connects with the same password cost one HMAC (see
// PasswordFile). Not mitigated: a flood of WRONG passwords for an existing user costs one PBKDF2
// each (fewer iterations in that user's hash cap it), and an unknown user is answered faster than
// a wrong password (the user name set can be probed by timing).
//
// Reload: the password file is polled every second (inode, size, mtime, ctime) on the control
// context, and re-read on SIGHUP (handled even without a password file, so that SIGHUP never
// ends the node); reloads are logged with the user count. A file that disappears
// means no users; a file that cannot be read keeps the previous users. The ACL is built once from
// the configuration (changing rules needs a restart); it is held behind an atomic pointer so that
// set_rules can swap it without stopping the data threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "auth/acl.hpp"
#include "auth/password_file.hpp"
#include "core/hooks.hpp"

namespace tidemq::auth {

struct AuthOptions {
  bool allow_anonymous = true;
  std::string password_file;           // "" = none; used as given
  std::string no_match = "allow";      // allow | deny
  std::string deny_action = "ignore";  // ignore | disconnect
  std::vector<AclRuleSpec> rules;
};

// At most `burst` events per `window` pass; the rest are counted and reported by the next pass.
class LogLimiter {
 public:
  LogLimiter(unsigned burst, std::chrono::steady_clock::duration window) : burst_(burst), window_(window) {}
  // True if this event may be logged; *suppressed receives how many were held back before it in
  // earlier windows (to be mentioned once).
  bool allow(std::uint64_t* suppressed, std::chrono::steady_clock::time_point now = std::chrono::steady_clock::now());

 private:
  std::mutex mu_;
  unsigned burst_;
  std::chrono::steady_clock::duration window_;
  std::chrono::steady_clock::time_point window_start_{};
  unsigned used_ = 0;
  std::uint64_t held_ = 0;
};

class AuthModule {
 public:
  static constexpr unsigned kLogBurst = 20;
  static constexpr std::chrono::seconds kLogWindow{10};
  static constexpr std::chrono::milliseconds kPollInterval{1000};

  // Builds the ACL; throws std::invalid_argument naming the rule if one does not compile.
  AuthModule(boost::asio::io_context& control, AuthOptions options);
  ~AuthModule();  // uninstalls the hooks it installed
  AuthModule(const AuthModule&) = delete;
  AuthModule& operator=(const AuthModule&) = delete;

  // Loads the password file, logs the startup warnings, installs the hooks, starts the poll timer
  // and the SIGHUP handler. False (logged) if the password file exists but cannot be read.
  bool start(core::Hooks& hooks);
  void stop();  // timer and signal handler; the hooks stay until destruction

  // The user store, for the admin API (users add|passwd|delete|list); null without a password file.
  PasswordFile* users() { return users_.get(); }

  std::optional<std::uint8_t> authenticate(const core::AuthRequest& req);
  core::AclDecision authorize(const core::AclRequest& req) const;

  // Re-reads the password file now (what SIGHUP does); logs the outcome.
  void reload();
  // Replaces the rules (all of them compile, or nothing changes; *error says which did not).
  bool set_rules(const std::vector<AclRuleSpec>& rules, const std::string& no_match,
                 const std::string& deny_action, std::string* error);
  std::shared_ptr<const Acl> acl() const { return acl_.load(); }

 private:
  void poll();
  void wait_sighup();
  void log_failure(const core::AuthRequest& req, const char* why);
  void install_authorize(const Acl& acl);
  void log_load(PasswordFile::LoadResult r, const std::string& error, const char* when);

  AuthOptions options_;
  std::unique_ptr<PasswordFile> users_;
  std::atomic<std::shared_ptr<const Acl>> acl_;
  core::Hooks* hooks_ = nullptr;
  boost::asio::steady_timer poll_timer_;
  boost::asio::signal_set sighup_;
  bool stopped_ = false;
  LogLimiter failure_log_{kLogBurst, kLogWindow};
  mutable LogLimiter deny_log_{kLogBurst, kLogWindow};
};

}  // namespace tidemq::auth
