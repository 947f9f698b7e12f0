#include "auth/auth_module.hpp"

#include <csignal>
#include <stdexcept>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::auth {

namespace {

std::shared_ptr<const Acl> build_acl(const std::vector<AclRuleSpec>& specs, const std::string& no_match,
                                     const std::string& deny_action, std::string* error) {
  if (no_match != "allow" && no_match != "deny") {
    if (error) *error = "authorization.no_match must be \"allow\" or \"deny\"";
    return nullptr;
  }
  if (deny_action != "ignore" && deny_action != "disconnect") {
    if (error) *error = "authorization.deny_action must be \"ignore\" or \"disconnect\"";
    return nullptr;
  }
  std::vector<Acl::Rule> rules;
  for (const auto& s : specs) {
    auto r = Acl::compile(s, error);
    if (!r) return nullptr;
    rules.push_back(std::move(*r));
  }
  return std::make_shared<const Acl>(std::move(rules), no_match == "allow", deny_action == "disconnect");
}

// Client-chosen strings go into the log with control characters escaped (no forged log lines).
std::string printable(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char ch : s) {
    if (ch < 0x20 || ch == 0x7F)
      out += fmt::format("\\x{:02x}", ch);
    else
      out += static_cast<char>(ch);
  }
  return out;
}

std::string describe_user(const std::optional<std::string>& user) {
  return user ? "'" + printable(*user) + "'" : "(none)";
}

}  // namespace

bool LogLimiter::allow(std::uint64_t* suppressed, std::chrono::steady_clock::time_point now) {
  std::lock_guard lk(mu_);
  if (suppressed) *suppressed = 0;
  if (window_start_ == std::chrono::steady_clock::time_point{} || now - window_start_ >= window_) {
    window_start_ = now;
    used_ = 0;
  }
  if (used_ >= burst_) {
    ++held_;
    return false;
  }
  ++used_;
  if (suppressed) *suppressed = held_;
  held_ = 0;
  return true;
}

AuthModule::AuthModule(boost::asio::io_context& control, AuthOptions options)
    : options_(std::move(options)), poll_timer_(control), sighup_(control) {
  std::string error;
  auto acl = build_acl(options_.rules, options_.no_match, options_.deny_action, &error);
  if (!acl) throw std::invalid_argument(error);
  acl_.store(std::move(acl));
  if (!options_.password_file.empty()) users_ = std::make_unique<PasswordFile>(options_.password_file);
}

AuthModule::~AuthModule() {
  stop();
  if (hooks_) {
    hooks_->set_authenticate(nullptr);
    hooks_->set_authorize(nullptr);
  }
}

void AuthModule::log_load(PasswordFile::LoadResult r, const std::string& error, const char* when) {
  switch (r) {
    case PasswordFile::LoadResult::loaded:
      spdlog::info("password file {} {}: {} user(s)", users_->path(), when, users_->size());
      break;
    case PasswordFile::LoadResult::unchanged:
      spdlog::info("password file {} {}: unchanged, {} user(s)", users_->path(), when, users_->size());
      break;
    case PasswordFile::LoadResult::missing:
      spdlog::warn("password file {} {}: the file does not exist; 0 users (clients with a user name are refused)",
                   users_->path(), when);
      break;
    case PasswordFile::LoadResult::failed:
      spdlog::error("password file {} {}: {}; keeping the {} user(s) loaded before", users_->path(), when, error,
                    users_->size());
      break;
  }
}

bool AuthModule::start(core::Hooks& hooks) {
  if (users_) {
    std::string error;
    auto r = users_->load(&error);
    if (r == PasswordFile::LoadResult::failed) {
      spdlog::critical("authentication.password_file: {}", error);
      return false;
    }
    log_load(r, error, "loaded");
  }
  if (options_.allow_anonymous)
    spdlog::warn("*** anonymous clients are allowed (authentication.allow_anonymous = true): any client may connect "
                 "without a user name ***");
  else if (!users_)
    spdlog::warn("*** authentication.allow_anonymous = false and no authentication.password_file: EVERY client "
                 "will be refused (CONNACK 0x86 / 4) ***");
  auto acl = acl_.load();
  spdlog::info("authorization: {} rule(s), no_match = {}, deny_action = {}", acl->rules().size(), options_.no_match,
               options_.deny_action);

  hooks_ = &hooks;
  hooks.set_authenticate([this](const core::AuthRequest& req) { return authenticate(req); });
  install_authorize(*acl);

  stopped_ = false;
  if (users_) poll();
  // Always: SIGHUP's default action would end the node, and operators send it to reload.
  boost::system::error_code ec;
  sighup_.add(SIGHUP, ec);
  if (ec) spdlog::warn("cannot handle SIGHUP: {}", ec.message());
  wait_sighup();
  return true;
}

void AuthModule::stop() {
  stopped_ = true;
  poll_timer_.cancel();
  boost::system::error_code ec;
  sighup_.cancel(ec);
}

void AuthModule::poll() {
  poll_timer_.expires_after(kPollInterval);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (ec || stopped_) return;
    std::string error;
    if (auto r = users_->reload_if_changed(&error); r && *r != PasswordFile::LoadResult::unchanged)
      log_load(*r, error, "reloaded (changed on disk)");
    poll();
  });
}

void AuthModule::wait_sighup() {
  sighup_.async_wait([this](const boost::system::error_code& ec, int) {
    if (ec || stopped_) return;
    if (users_) {
      spdlog::info("SIGHUP: reloading the password file");
      reload();
    } else {
      spdlog::info("SIGHUP: no password file to reload");
    }
    wait_sighup();
  });
}

void AuthModule::reload() {
  if (!users_) return;
  std::string error;
  auto r = users_->load(&error);
  log_load(r, error, "reloaded");
}

bool AuthModule::set_rules(const std::vector<AclRuleSpec>& rules, const std::string& no_match,
                           const std::string& deny_action, std::string* error) {
  auto acl = build_acl(rules, no_match, deny_action, error);
  if (!acl) return false;
  if (hooks_) install_authorize(*acl);
  acl_.store(std::move(acl));
  return true;
}

void AuthModule::install_authorize(const Acl& acl) {
  // With no rules and no_match = allow every request is allowed: leave the publish path alone.
  if (acl.rules().empty() && acl.no_match_allow())
    hooks_->set_authorize(nullptr);
  else
    hooks_->set_authorize([this](const core::AclRequest& req) { return authorize(req); });
}

void AuthModule::log_failure(const core::AuthRequest& req, const char* why) {
  std::uint64_t held = 0;
  if (!failure_log_.allow(&held)) return;
  if (held)
    spdlog::warn("{} authentication failure(s) not logged (more than {} per {} s)", held, kLogBurst,
                 kLogWindow.count());
  spdlog::warn("authentication failed: client '{}', user {}, peer {}: {}", printable(req.client_id), describe_user(req.username),
               req.peer_address, why);
}

std::optional<std::uint8_t> AuthModule::authenticate(const core::AuthRequest& req) {
  constexpr std::uint8_t kRefused = mqtt::rc::bad_user_name_or_password;
  if (!req.username) {
    if (options_.allow_anonymous) return std::nullopt;
    log_failure(req, "no user name, and anonymous clients are not allowed");
    return kRefused;
  }
  if (!users_) {
    if (options_.allow_anonymous) return std::nullopt;  // nothing to check a user name against
    log_failure(req, "no password file to check the user against");
    return kRefused;
  }
  bool ok = false;
  if (req.password) {
    try {
      ok = users_->verify(*req.username, *req.password);
    } catch (const std::exception& e) {
      spdlog::error("password check for user {} failed: {}", describe_user(req.username), e.what());
    }
  }
  if (ok) {
    spdlog::debug("client '{}' authenticated as {} from {}", printable(req.client_id), describe_user(req.username),
                  req.peer_address);
    return std::nullopt;
  }
  log_failure(req, !users_->contains(*req.username) ? "unknown user"
                   : req.password                    ? "wrong password"
                                                     : "no password");
  return kRefused;
}

core::AclDecision AuthModule::authorize(const core::AclRequest& req) const {
  auto acl = acl_.load();
  auto result = acl->evaluate(req);
  if (result.allowed) return core::AclDecision::allow;
  auto decision = acl->deny_disconnects() ? core::AclDecision::deny_and_disconnect : core::AclDecision::deny;
  if (spdlog::should_log(spdlog::level::debug)) {
    std::uint64_t held = 0;
    if (deny_log_.allow(&held))
      spdlog::debug("not authorized: client '{}', user {}, peer {}: {} '{}' ({}){}", printable(req.client_id),
                    describe_user(req.username), req.peer_address,
                    req.action == core::AclAction::publish ? "publish to" : "subscribe to", printable(req.topic),
                    result.rule ? "rule " + acl->rules()[*result.rule].origin : std::string("no rule matched"),
                    held ? fmt::format(" ({} earlier denial(s) not logged)", held) : std::string());
  }
  return decision;
}

}  // namespace tidemq::auth
