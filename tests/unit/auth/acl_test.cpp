// Authorization rules: order and first match, no_match, action kinds, user name / client id /
// CIDR conditions, %u and %c, eq, subscription coverage, shared subscriptions, deny_action.
#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <vector>

#include "auth/acl.hpp"

using namespace tidemq::auth;
using tidemq::core::AclAction;
using tidemq::core::AclDecision;
using tidemq::core::AclRequest;

namespace {

AclRuleSpec rule(std::string permission, std::string action, std::vector<std::string> topics) {
  AclRuleSpec s;
  s.permission = std::move(permission);
  s.action = std::move(action);
  s.topics = std::move(topics);
  s.origin = "test";
  return s;
}

Acl make_acl(const std::vector<AclRuleSpec>& specs, bool no_match_allow = true, bool disconnect = false) {
  std::vector<Acl::Rule> rules;
  for (const auto& s : specs) {
    std::string error;
    auto r = Acl::compile(s, &error);
    INFO(error);
    REQUIRE(r);
    rules.push_back(*r);
  }
  return Acl(std::move(rules), no_match_allow, disconnect);
}

struct Client {
  std::string client_id = "c1";
  std::optional<std::string> username;
  std::string peer = "127.0.0.1:50000";
};

bool allowed(const Acl& acl, const Client& c, AclAction action, std::string_view topic) {
  return acl.evaluate(AclRequest{c.client_id, c.username, c.peer, action, topic}).allowed;
}
bool can_pub(const Acl& acl, const Client& c, std::string_view topic) { return allowed(acl, c, AclAction::publish, topic); }
bool can_sub(const Acl& acl, const Client& c, std::string_view filter) { return allowed(acl, c, AclAction::subscribe, filter); }

Client user(std::string name, std::string client_id = "c1") {
  Client c;
  c.username = std::move(name);
  c.client_id = std::move(client_id);
  return c;
}

}  // namespace

TEST_CASE("filter_covers", "[unit][auth]") {
  struct Row {
    const char* rule;
    const char* requested;
    bool covers;
  };
  const Row rows[] = {
      {"a/b", "a/b", true},       {"a/b", "a/c", false},     {"a/b", "a/+", false},     {"a/b", "a/#", false},
      {"a/+", "a/b", true},       {"a/+", "a/+", true},      {"a/+", "a/#", false},     {"a/+", "a", false},
      {"a/+", "a/b/c", false},    {"a/#", "a", true},        {"a/#", "a/b", true},      {"a/#", "a/b/+", true},
      {"a/#", "a/#", true},       {"a/#", "a/+/#", true},    {"a/#", "b/#", false},     {"a/#", "+/b", false},
      {"#", "#", true},           {"#", "a/+/#", true},      {"#", "+", true},          {"+", "#", false},
      {"+/+", "a/b", true},       {"+/+", "+/+", true},      {"+/+", "a", false},       {"+/#", "a", true},
      {"a/+/c", "a/+/c", true},   {"a/+/c", "a/b/c", true},  {"a/+/c", "a/#", false},   {"a/b/#", "a/+/#", false},
      {"a//b", "a//b", true},     {"a/+/b", "a//b", true},   {"", "", true},            {"+", "", true},
      {"#", "$SYS/x", false},     {"+/x", "$SYS/x", false},  {"$SYS/#", "$SYS/x", true}, {"#", "a/$x", true},
  };
  for (const auto& r : rows) {
    CAPTURE(r.rule, r.requested);
    CHECK(filter_covers(r.rule, r.requested) == r.covers);
  }
}

TEST_CASE("Cidr", "[unit][auth]") {
  SECTION("IPv4") {
    auto c = Cidr::parse("10.0.0.0/8");
    REQUIRE(c);
    CHECK(c->contains("10.1.2.3:1883"));
    CHECK(c->contains("10.255.255.255:1"));
    CHECK_FALSE(c->contains("11.0.0.1:1883"));
    CHECK_FALSE(c->contains("127.0.0.1:1883"));
    CHECK(c->contains("::ffff:10.9.8.7:1883"));  // IPv4-mapped peer on a dual-stack listener
    CHECK_FALSE(c->contains("::1:1883"));
    CHECK_FALSE(c->contains("unknown"));
    CHECK_FALSE(c->contains(""));
  }
  SECTION("single address and odd prefixes") {
    auto one = Cidr::parse("127.0.0.1");
    REQUIRE(one);
    CHECK(one->prefix == 32);
    CHECK(one->contains("127.0.0.1:5"));
    CHECK_FALSE(one->contains("127.0.0.2:5"));
    auto c12 = Cidr::parse("172.16.0.0/12");
    REQUIRE(c12);
    CHECK(c12->contains("172.31.255.1:1"));
    CHECK_FALSE(c12->contains("172.32.0.1:1"));
    auto all = Cidr::parse("0.0.0.0/0");
    REQUIRE(all);
    CHECK(all->contains("8.8.8.8:53"));
    auto host_bits = Cidr::parse("192.168.1.77/24");  // host bits ignored
    REQUIRE(host_bits);
    CHECK(host_bits->contains("192.168.1.1:1"));
  }
  SECTION("IPv6") {
    auto c = Cidr::parse("2001:db8::/32");
    REQUIRE(c);
    CHECK(c->contains("2001:db8::1:443"));
    CHECK(c->contains("2001:db8:ffff::1:443"));
    CHECK(c->contains("[2001:db8::1]:443"));
    CHECK_FALSE(c->contains("2001:db9::1:443"));
    CHECK_FALSE(c->contains("10.0.0.1:443"));
    auto lo = Cidr::parse("::1/128");
    REQUIRE(lo);
    CHECK(lo->contains("::1:5000"));
    CHECK_FALSE(lo->contains("127.0.0.1:5000"));
    CHECK(lo->contains_address("::1"));
    auto mapped = Cidr::parse("::ffff:0:0/96");
    REQUIRE(mapped);
    CHECK(mapped->contains("127.0.0.1:1"));
  }
  SECTION("invalid") {
    for (const char* bad : {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0/8", "x", "10.0.0.0/8/8", "10.0.0.0/-1"}) {
      CAPTURE(bad);
      CHECK_FALSE(Cidr::parse(bad));
    }
  }
}

TEST_CASE("ACL: order, first match wins, no_match", "[unit][auth]") {
  Client c;
  SECTION("deny then allow") {
    auto acl = make_acl({rule("deny", "all", {"secret/#"}), rule("allow", "all", {"#"})}, false);
    CHECK_FALSE(can_pub(acl, c, "secret/x"));
    CHECK_FALSE(can_sub(acl, c, "secret/#"));
    CHECK(can_pub(acl, c, "public/x"));
    auto r = acl.evaluate(AclRequest{c.client_id, c.username, c.peer, AclAction::publish, "secret/x"});
    CHECK(r.rule == std::optional<std::size_t>(0));
  }
  SECTION("allow then deny: the allow wins") {
    auto acl = make_acl({rule("allow", "all", {"#"}), rule("deny", "all", {"secret/#"})}, false);
    CHECK(can_pub(acl, c, "secret/x"));
  }
  SECTION("no rule matches: no_match decides") {
    auto allow = make_acl({rule("deny", "all", {"a"})}, true);
    auto deny = make_acl({rule("allow", "all", {"a"})}, false);
    CHECK(can_pub(allow, c, "b"));
    CHECK_FALSE(can_pub(deny, c, "b"));
    CHECK(can_pub(deny, c, "a"));
    auto r = deny.evaluate(AclRequest{c.client_id, c.username, c.peer, AclAction::publish, "b"});
    CHECK_FALSE(r.rule);
    auto empty = make_acl({}, false);
    CHECK_FALSE(can_sub(empty, c, "x"));
  }
  SECTION("a rule filter that merely overlaps a subscription does not match it") {
    // deny publish+subscribe on a/b; a subscription to a/+ is not covered by "a/b" so the deny
    // rule does not apply; what the subscriber then receives is not filtered (publishers are).
    auto acl = make_acl({rule("deny", "all", {"a/b"})}, true);
    CHECK(can_sub(acl, c, "a/+"));
    CHECK_FALSE(can_sub(acl, c, "a/b"));
  }
}

TEST_CASE("ACL: action kinds", "[unit][auth]") {
  Client c;
  auto acl = make_acl({rule("deny", "publish", {"p/#"}), rule("deny", "subscribe", {"s/#"}), rule("deny", "all", {"x/#"})});
  CHECK_FALSE(can_pub(acl, c, "p/1"));
  CHECK(can_sub(acl, c, "p/1"));
  CHECK(can_pub(acl, c, "s/1"));
  CHECK_FALSE(can_sub(acl, c, "s/1"));
  CHECK_FALSE(can_pub(acl, c, "x/1"));
  CHECK_FALSE(can_sub(acl, c, "x/1"));
}

TEST_CASE("ACL: username, clientid and ipaddr conditions", "[unit][auth]") {
  auto by_user = rule("allow", "all", {"#"});
  by_user.username = "admin";
  auto by_client = rule("allow", "all", {"#"});
  by_client.clientid = "sensor-1";
  auto by_net = rule("allow", "all", {"#"});
  by_net.ipaddr = "10.0.0.0/8";
  auto by_v6 = rule("allow", "all", {"#"});
  by_v6.ipaddr = "fd00::/8";
  auto acl = make_acl({by_user, by_client, by_net, by_v6}, false);

  CHECK(can_pub(acl, user("admin"), "t"));
  CHECK_FALSE(can_pub(acl, user("Admin"), "t"));
  CHECK_FALSE(can_pub(acl, Client{}, "t"));  // anonymous never matches a username rule
  CHECK(can_pub(acl, Client{"sensor-1"}, "t"));
  CHECK_FALSE(can_pub(acl, Client{"sensor-10"}, "t"));
  Client lan{"x", std::nullopt, "10.20.30.40:4000"};
  CHECK(can_pub(acl, lan, "t"));
  Client local{"x", std::nullopt, "127.0.0.1:4000"};
  CHECK_FALSE(can_pub(acl, local, "t"));
  Client v6{"x", std::nullopt, "fd12:3456::1:4000"};
  CHECK(can_pub(acl, v6, "t"));
  Client v6lo{"x", std::nullopt, "::1:4000"};
  CHECK_FALSE(can_pub(acl, v6lo, "t"));

  SECTION("all conditions of a rule must hold") {
    auto both = rule("allow", "all", {"#"});
    both.username = "admin";
    both.ipaddr = "127.0.0.1/32";
    auto acl2 = make_acl({both}, false);
    Client ok{"x", std::string("admin"), "127.0.0.1:1"};
    Client far{"x", std::string("admin"), "10.0.0.1:1"};
    CHECK(can_pub(acl2, ok, "t"));
    CHECK_FALSE(can_pub(acl2, far, "t"));
  }
}

TEST_CASE("ACL: %u and %c", "[unit][auth]") {
  auto acl = make_acl({rule("allow", "all", {"users/%u/#"}), rule("allow", "all", {"clients/%c/#"}),
                       rule("allow", "publish", {"mix/%u/%c"})},
                      false);
  auto alice = user("alice", "dev1");
  CHECK(can_pub(acl, alice, "users/alice/x"));
  CHECK(can_sub(acl, alice, "users/alice/#"));
  CHECK(can_sub(acl, alice, "users/alice"));
  CHECK_FALSE(can_pub(acl, alice, "users/bob/x"));
  CHECK_FALSE(can_sub(acl, alice, "users/+/x"));
  CHECK(can_pub(acl, alice, "clients/dev1/y"));
  CHECK_FALSE(can_pub(acl, alice, "clients/dev2/y"));
  CHECK(can_pub(acl, alice, "mix/alice/dev1"));
  CHECK_FALSE(can_pub(acl, alice, "mix/alice/dev2"));

  Client anon{"dev9"};
  CHECK_FALSE(can_pub(acl, anon, "users//x"));  // %u never matches a client without a user name
  CHECK(can_pub(acl, anon, "clients/dev9/x"));  // %c works without a user name
  CHECK_FALSE(can_pub(acl, anon, "mix//dev9"));

  SECTION("wildcards in the substituted value never widen a rule") {
    CHECK_FALSE(can_sub(acl, Client{"+"}, "clients/+/#"));
    CHECK_FALSE(can_sub(acl, Client{"#"}, "clients/#"));
    CHECK_FALSE(can_sub(acl, user("+"), "users/+/#"));
    CHECK_FALSE(can_pub(acl, user("a+b"), "users/a+b/x"));
  }
  SECTION("a substituted value is not substituted again") {
    auto tricky = user("%c", "dev1");
    CHECK(can_pub(acl, tricky, "users/%c/x"));
    CHECK_FALSE(can_pub(acl, tricky, "users/dev1/x"));
  }
  SECTION("deny with %u") {
    auto deny = make_acl({rule("deny", "subscribe", {"private/%u/#"})}, true);
    CHECK_FALSE(can_sub(deny, alice, "private/alice/#"));
    CHECK(can_sub(deny, user("bob"), "private/alice/#"));
  }
}

TEST_CASE("ACL: eq", "[unit][auth]") {
  auto acl = make_acl({rule("allow", "subscribe", {"eq a/#"}), rule("allow", "publish", {"eq b/c"}),
                       rule("allow", "subscribe", {"eq u/%u/+"})},
                      false);
  CHECK(can_sub(acl, Client{}, "a/#"));
  CHECK_FALSE(can_sub(acl, Client{}, "a/b"));  // "eq a/#" is the literal filter, not a wildcard
  CHECK_FALSE(can_sub(acl, Client{}, "a/+"));
  CHECK(can_pub(acl, Client{}, "b/c"));
  CHECK_FALSE(can_pub(acl, Client{}, "b/cd"));
  CHECK(can_sub(acl, user("al"), "u/al/+"));
  CHECK_FALSE(can_sub(acl, user("al"), "u/al/x"));
  SECTION("eq of a literal '#' does not open every topic") {
    auto hash = make_acl({rule("allow", "all", {"eq #"})}, false);
    CHECK(can_sub(hash, Client{}, "#"));
    CHECK_FALSE(can_sub(hash, Client{}, "x"));
    CHECK_FALSE(can_pub(hash, Client{}, "x"));
  }
}

TEST_CASE("ACL: shared subscriptions", "[unit][auth]") {
  Client c;
  auto acl = make_acl({rule("allow", "subscribe", {"jobs/#"}), rule("allow", "subscribe", {"eq $share/g1/exact"}),
                       rule("allow", "subscribe", {"$share/g2/only/#"}), rule("allow", "subscribe", {"eq lit"})},
                      false);
  CHECK(can_sub(acl, c, "$share/any/jobs/a"));
  CHECK(can_sub(acl, c, "$share/any/jobs/#"));
  CHECK_FALSE(can_sub(acl, c, "$share/any/other"));
  CHECK_FALSE(can_sub(acl, c, "$share/jobs/x"));  // group "jobs", inner filter "x"
  CHECK(can_sub(acl, c, "$share/g1/exact"));
  CHECK_FALSE(can_sub(acl, c, "$share/g9/exact"));
  CHECK(can_sub(acl, c, "$share/g2/only/x"));
  CHECK_FALSE(can_sub(acl, c, "$share/g3/only/x"));
  CHECK_FALSE(can_sub(acl, c, "only/x"));  // a shared rule filter matches shared subscriptions only
  CHECK(can_sub(acl, c, "$share/g/lit"));  // eq compares the inner filter too
  CHECK(can_sub(acl, c, "lit"));
}

TEST_CASE("ACL: $-topics are not covered by wildcard rules", "[unit][auth]") {
  auto acl = make_acl({rule("allow", "all", {"#"}), rule("allow", "subscribe", {"+/monitor"})}, false);
  Client c;
  CHECK(can_sub(acl, c, "a/b"));
  CHECK_FALSE(can_sub(acl, c, "$SYS/#"));
  CHECK_FALSE(can_sub(acl, c, "$SYS/monitor"));
  CHECK_FALSE(can_pub(acl, c, "$SYS/x"));
  auto sys = make_acl({rule("allow", "subscribe", {"$SYS/#"})}, false);
  CHECK(can_sub(sys, c, "$SYS/broker/+"));
}

TEST_CASE("ACL: decide and deny_action", "[unit][auth]") {
  Client c;
  std::optional<std::string> none;
  auto ignore = make_acl({rule("deny", "all", {"d"})}, true, false);
  auto disconnect = make_acl({rule("deny", "all", {"d"})}, true, true);
  CHECK(ignore.decide(AclRequest{c.client_id, none, c.peer, AclAction::publish, "d"}) == AclDecision::deny);
  CHECK(disconnect.decide(AclRequest{c.client_id, none, c.peer, AclAction::publish, "d"}) ==
        AclDecision::deny_and_disconnect);
  CHECK(disconnect.decide(AclRequest{c.client_id, none, c.peer, AclAction::subscribe, "ok"}) == AclDecision::allow);
}

TEST_CASE("ACL: compile errors", "[unit][auth]") {
  std::string error;
  auto bad = [&](AclRuleSpec s) {
    error.clear();
    auto r = Acl::compile(s, &error);
    CAPTURE(error);
    CHECK_FALSE(r);
    CHECK(error.find("test") != std::string::npos);  // names the rule's origin
  };
  bad(rule("maybe", "all", {"a"}));
  bad(rule("allow", "read", {"a"}));
  bad(rule("allow", "all", {}));
  bad(rule("allow", "all", {"a/#/b"}));
  bad(rule("allow", "all", {"a+"}));
  bad(rule("allow", "all", {""}));
  bad(rule("allow", "all", {"eq "}));
  bad(rule("allow", "all", {"$share//a"}));
  auto s = rule("allow", "all", {"a"});
  s.ipaddr = "300.1.1.1/8";
  bad(s);
  // Placeholders inside a level are fine; "eq" accepts any text.
  CHECK(Acl::compile(rule("allow", "all", {"a/%u-data/%c", "eq a/#/b"}), &error));
}
