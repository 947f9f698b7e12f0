// AuthModule through core::Hooks, as the channel calls it: CONNECT decisions for every
// combination of allow_anonymous / password file / credentials, reload, poll, ACL hook,
// uninstall on destruction; and the log limiter.
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>

#include <boost/asio/io_context.hpp>

#include "auth/auth_module.hpp"
#include "auth_test_helpers.hpp"
#include "core/hooks.hpp"
#include "util/password_hash.hpp"

using namespace tidemq;
using namespace tidemq::auth;
using namespace tidemq::auth::testing;
using core::AclAction;
using core::AclDecision;
using Opt = std::optional<std::string>;

namespace {

constexpr std::uint8_t kBadCredentials = 0x86;

std::optional<std::uint8_t> connect(core::Hooks& hooks, Opt username, Opt password, std::uint8_t level = 5) {
  const std::string client_id = "cid", peer = "127.0.0.1:1234";
  return hooks.run_authenticate(core::AuthRequest{client_id, username, password, peer, level});
}

AclDecision access(core::Hooks& hooks, Opt username, AclAction action, std::string_view topic) {
  const std::string client_id = "cid", peer = "127.0.0.1:1234";
  return hooks.run_authorize(core::AclRequest{client_id, username, peer, action, topic});
}

}  // namespace

TEST_CASE("auth module: no password file", "[unit][auth]") {
  QuietLog quiet;
  boost::asio::io_context io;
  core::Hooks hooks;
  SECTION("anonymous allowed: everyone in, credentials are not checked") {
    AuthModule m(io, AuthOptions{true, "", "allow", "ignore", {}});
    REQUIRE(m.start(hooks));
    CHECK(m.users() == nullptr);
    CHECK_FALSE(connect(hooks, std::nullopt, std::nullopt));
    CHECK_FALSE(connect(hooks, std::string("anyone"), std::string("anything")));
  }
  SECTION("anonymous refused: nobody can authenticate") {
    AuthModule m(io, AuthOptions{false, "", "allow", "ignore", {}});
    REQUIRE(m.start(hooks));
    CHECK(connect(hooks, std::nullopt, std::nullopt) == kBadCredentials);
    CHECK(connect(hooks, std::string("anyone"), std::string("anything")) == kBadCredentials);
  }
}

TEST_CASE("auth module: password file", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  const auto path = dir.file("passwd");
  write_text(path, "alice:" + util::hash_password("pa", 1000) + "\n");
  boost::asio::io_context io;
  core::Hooks hooks;
  const bool anonymous = GENERATE(true, false);
  CAPTURE(anonymous);
  AuthModule m(io, AuthOptions{anonymous, path, "allow", "ignore", {}});
  REQUIRE(m.start(hooks));
  REQUIRE(m.users() != nullptr);
  CHECK(m.users()->size() == 1);

  for (std::uint8_t level : {4, 5}) {
    CAPTURE(level);
    CHECK_FALSE(connect(hooks, std::string("alice"), std::string("pa"), level));
    CHECK(connect(hooks, std::string("alice"), std::string("pb"), level) == kBadCredentials);
    CHECK(connect(hooks, std::string("alice"), std::nullopt, level) == kBadCredentials);
    CHECK(connect(hooks, std::string("mallory"), std::string("pa"), level) == kBadCredentials);
    CHECK(connect(hooks, std::string(""), std::string(""), level) == kBadCredentials);
    if (anonymous)
      CHECK_FALSE(connect(hooks, std::nullopt, std::nullopt, level));
    else
      CHECK(connect(hooks, std::nullopt, std::nullopt, level) == kBadCredentials);
  }

  SECTION("reload() picks up a new user") {
    write_text(path, read_text(path) + "bob:" + util::hash_password("pb", 1000) + "\n");
    CHECK(connect(hooks, std::string("bob"), std::string("pb")) == kBadCredentials);
    m.reload();
    CHECK_FALSE(connect(hooks, std::string("bob"), std::string("pb")));
  }
  SECTION("the poll timer picks up a change within its interval") {
    write_text(path, "bob:" + util::hash_password("pb", 1000) + "\n");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (connect(hooks, std::string("bob"), std::string("pb")) && std::chrono::steady_clock::now() < deadline)
      io.run_for(std::chrono::milliseconds(50));
    CHECK_FALSE(connect(hooks, std::string("bob"), std::string("pb")));
    CHECK(connect(hooks, std::string("alice"), std::string("pa")) == kBadCredentials);  // gone
  }
  SECTION("users() writes are seen by the next CONNECT") {
    std::string error;
    REQUIRE(m.users()->add("carol", "pc", &error, 1000));
    CHECK_FALSE(connect(hooks, std::string("carol"), std::string("pc")));
    REQUIRE(m.users()->remove("alice", &error));
    CHECK(connect(hooks, std::string("alice"), std::string("pa")) == kBadCredentials);
  }
}

TEST_CASE("auth module: a password file that cannot be read stops startup", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  std::filesystem::create_directory(dir.file("passwd"));
  boost::asio::io_context io;
  core::Hooks hooks;
  AuthModule m(io, AuthOptions{false, dir.file("passwd"), "allow", "ignore", {}});
  CHECK_FALSE(m.start(hooks));
}

TEST_CASE("auth module: a missing password file starts with no users", "[unit][auth]") {
  QuietLog quiet;
  TempDir dir;
  boost::asio::io_context io;
  core::Hooks hooks;
  AuthModule m(io, AuthOptions{false, dir.file("passwd"), "allow", "ignore", {}});
  REQUIRE(m.start(hooks));
  CHECK(connect(hooks, std::string("alice"), std::string("pa")) == kBadCredentials);
  write_text(dir.file("passwd"), "alice:" + util::hash_password("pa", 1000) + "\n");
  m.reload();
  CHECK_FALSE(connect(hooks, std::string("alice"), std::string("pa")));
}

TEST_CASE("auth module: ACL hook, deny_action, set_rules, uninstall", "[unit][auth]") {
  QuietLog quiet;
  boost::asio::io_context io;
  core::Hooks hooks;
  AclRuleSpec deny_sub{"deny", "subscribe", {"test/nosubscribe"}, {}, {}, {}, "rule 1"};
  AclRuleSpec own{"allow", "all", {"users/%u/#"}, {}, {}, {}, "rule 2"};
  {
    AuthModule m(io, AuthOptions{true, "", "deny", "ignore", {deny_sub, own}});
    REQUIRE(m.start(hooks));
    CHECK(access(hooks, std::nullopt, AclAction::subscribe, "test/nosubscribe") == AclDecision::deny);
    CHECK(access(hooks, std::string("al"), AclAction::publish, "users/al/x") == AclDecision::allow);
    CHECK(access(hooks, std::string("al"), AclAction::publish, "users/bo/x") == AclDecision::deny);  // no_match
    std::string error;
    REQUIRE(m.set_rules({own}, "allow", "disconnect", &error));
    CHECK(access(hooks, std::string("al"), AclAction::publish, "users/bo/x") == AclDecision::allow);
    CHECK_FALSE(m.set_rules({AclRuleSpec{"allow", "all", {"a/#/b"}, {}, {}, {}, "bad rule"}}, "allow", "ignore", &error));
    CHECK(error.find("bad rule") != std::string::npos);
    CHECK(m.acl()->rules().size() == 1);  // unchanged
  }
  // Destroyed: the hooks are gone, everything is allowed again.
  CHECK(access(hooks, std::nullopt, AclAction::subscribe, "test/nosubscribe") == AclDecision::allow);
  CHECK_FALSE(connect(hooks, std::nullopt, std::nullopt));

  SECTION("deny_action = disconnect") {
    AuthModule m(io, AuthOptions{true, "", "allow", "disconnect", {deny_sub}});
    REQUIRE(m.start(hooks));
    CHECK(access(hooks, std::nullopt, AclAction::subscribe, "test/nosubscribe") == AclDecision::deny_and_disconnect);
  }
  SECTION("a rule that does not compile throws, naming it") {
    AclRuleSpec bad{"allow", "all", {"a/#/b"}, {}, {}, {}, "conf line 7"};
    try {
      AuthModule m(io, AuthOptions{true, "", "allow", "ignore", {bad}});
      FAIL("no exception");
    } catch (const std::invalid_argument& e) {
      CHECK(std::string(e.what()).find("conf line 7") != std::string::npos);
    }
  }
}

TEST_CASE("LogLimiter", "[unit][auth]") {
  using namespace std::chrono_literals;
  LogLimiter lim(3, 10s);
  const auto t0 = std::chrono::steady_clock::now();
  std::uint64_t held = 99;
  CHECK(lim.allow(&held, t0));
  CHECK(held == 0);
  CHECK(lim.allow(&held, t0 + 1s));
  CHECK(lim.allow(&held, t0 + 2s));
  CHECK_FALSE(lim.allow(&held, t0 + 3s));
  CHECK_FALSE(lim.allow(&held, t0 + 9s));
  CHECK(lim.allow(&held, t0 + 10s));  // new window: reports the two held back
  CHECK(held == 2);
  CHECK(lim.allow(&held, t0 + 11s));
  CHECK(held == 0);
}
