// MQTT authorization rules ([[authorization.rules]]): evaluated in order, the first rule that
// matches decides; when none matches, authorization.no_match does.
//
// A rule matches a request when
//  - its action covers the request (publish, subscribe, all);
//  - its username / clientid, when set, equal the client's (a rule with a username never matches
//    an anonymous client);
//  - its ipaddr, when set, contains the peer address (IPv4 or IPv6 CIDR; an IPv4 block also
//    matches an IPv4-mapped IPv6 peer such as ::ffff:10.1.2.3);
//  - one of its topics matches, after %u (user name) and %c (client id) are substituted. A topic
//    with %u never matches an anonymous client, and no topic with a placeholder matches when the
//    substituted value contains '+' or '#' (else a client id "+" would turn "c/%c/#" into
//    "c/+/#"). Then:
//      "eq <text>"  — literal equality with the PUBLISH topic or the SUBSCRIBE filter as sent
//                     (for a shared subscription, with "$share/g/f" or with its inner "f");
//      otherwise    — PUBLISH: the rule's filter matches the topic name (MQTT matching, so "#"
//                     does not match "$SYS/..."); SUBSCRIBE: the rule's filter covers the
//                     requested filter (every topic the request can match, the rule's filter
//                     matches too: "a/#" covers "a/b/+", "a/+" does not cover "a/#"). A shared
//                     subscription "$share/g/f" is checked by its inner filter f; a rule filter
//                     written "$share/g/f" only matches shared subscriptions of group g.
//
// Immutable once built; AuthModule publishes the current Acl through an atomic shared_ptr.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/hooks.hpp"

namespace tidemq::auth {

// One rule as written in the config (the same fields as app::AclRuleConfig).
struct AclRuleSpec {
  std::string permission;  // allow | deny
  std::string action;      // publish | subscribe | all
  std::vector<std::string> topics;
  std::optional<std::string> username;
  std::optional<std::string> clientid;
  std::optional<std::string> ipaddr;  // "10.0.0.0/8", "::1", ...
  std::string origin;                 // "file line N", for messages
};

// An IPv4 or IPv6 CIDR block.
struct Cidr {
  bool v6 = false;
  std::array<std::uint8_t, 16> bytes{};
  unsigned prefix = 0;

  static std::optional<Cidr> parse(std::string_view text);
  // `peer` is an address, or "address:port" as in AclRequest::peer_address ("::1:5000" too).
  bool contains(std::string_view peer) const;
  bool contains_address(std::string_view address) const;
};

// Whether every topic matched by `requested` is matched by `rule` (both valid, non-shared filters).
bool filter_covers(std::string_view rule, std::string_view requested);

class Acl {
 public:
  struct Topic {
    std::string text;  // without the "eq " prefix
    bool eq = false;
    bool placeholders = false;  // contains %u or %c
  };
  struct Rule {
    bool allow = false;
    bool publish = false, subscribe = false;
    std::vector<Topic> topics;
    std::optional<std::string> username, clientid;
    std::optional<Cidr> ipaddr;
    std::string origin;
  };

  // Checks a rule (permission, action, CIDR, topic filters valid once placeholders are filled).
  static std::optional<Rule> compile(const AclRuleSpec& spec, std::string* error);

  Acl() = default;
  Acl(std::vector<Rule> rules, bool no_match_allow, bool deny_disconnects);

  // The decision and which rule made it (nullopt: no rule matched, no_match applied).
  struct Result {
    bool allowed;
    std::optional<std::size_t> rule;
  };
  Result evaluate(const core::AclRequest& req) const;
  core::AclDecision decide(const core::AclRequest& req) const;

  const std::vector<Rule>& rules() const { return rules_; }
  bool no_match_allow() const { return no_match_allow_; }
  bool deny_disconnects() const { return deny_disconnects_; }

 private:
  bool matches(const Rule& r, const core::AclRequest& req) const;

  std::vector<Rule> rules_;
  bool no_match_allow_ = true;
  bool deny_disconnects_ = false;
};

}  // namespace tidemq::auth
