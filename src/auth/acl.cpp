#include "auth/acl.hpp"

#include <boost/asio/ip/address.hpp>

#include "tidemq/mqtt/topic.hpp"

namespace tidemq::auth {

namespace {

using core::AclAction;

std::optional<boost::asio::ip::address> parse_address(std::string_view text) {
  boost::system::error_code ec;
  auto a = boost::asio::ip::make_address(std::string(text), ec);
  if (ec) return std::nullopt;
  return a;
}

// Splits a filter or topic into its levels.
std::vector<std::string_view> levels(std::string_view s) {
  std::vector<std::string_view> out;
  for (;;) {
    auto slash = s.find('/');
    if (slash == std::string_view::npos) {
      out.push_back(s);
      return out;
    }
    out.push_back(s.substr(0, slash));
    s.remove_prefix(slash + 1);
  }
}

bool has_placeholder(std::string_view s) {
  return s.find("%u") != std::string_view::npos || s.find("%c") != std::string_view::npos;
}

// %u and %c, left to right in one pass (a substituted value is not scanned again). False when the
// rule cannot apply to this client: %u without a user name, or a value with a wildcard in it.
bool substitute(std::string_view pattern, const core::AclRequest& req, std::string& out) {
  out.clear();
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size() && (pattern[i + 1] == 'u' || pattern[i + 1] == 'c')) {
      std::string_view value;
      if (pattern[i + 1] == 'u') {
        if (!req.username) return false;
        value = *req.username;
      } else {
        value = req.client_id;
      }
      if (value.find_first_of("+#") != std::string_view::npos) return false;
      out.append(value);
      ++i;
    } else {
      out.push_back(pattern[i]);
    }
  }
  return true;
}

bool valid_rule_filter(std::string_view f) {
  if (auto shared = mqtt::parse_shared(f)) return !shared->group.empty() && mqtt::valid_topic_filter(shared->filter);
  return mqtt::valid_topic_filter(f);
}

}  // namespace

// ---- Cidr -------------------------------------------------------------------------------------

std::optional<Cidr> Cidr::parse(std::string_view text) {
  auto slash = text.find('/');
  auto a = parse_address(text.substr(0, slash));
  if (!a) return std::nullopt;
  Cidr c;
  c.v6 = a->is_v6();
  if (c.v6) {
    c.bytes = a->to_v6().to_bytes();
  } else {
    auto b = a->to_v4().to_bytes();
    std::copy(b.begin(), b.end(), c.bytes.begin());
  }
  const unsigned max = c.v6 ? 128 : 32;
  c.prefix = max;
  if (slash != std::string_view::npos) {
    auto bits = text.substr(slash + 1);
    if (bits.empty() || bits.size() > 3) return std::nullopt;
    unsigned v = 0;
    for (char ch : bits) {
      if (ch < '0' || ch > '9') return std::nullopt;
      v = v * 10 + static_cast<unsigned>(ch - '0');
    }
    if (v > max) return std::nullopt;
    c.prefix = v;
  }
  return c;
}

bool Cidr::contains_address(std::string_view address) const {
  auto a = parse_address(address);
  if (!a) return false;
  std::array<std::uint8_t, 16> peer{};
  if (v6) {
    peer = a->is_v6() ? a->to_v6().to_bytes()
                      : boost::asio::ip::make_address_v6(boost::asio::ip::v4_mapped, a->to_v4()).to_bytes();
  } else {
    boost::asio::ip::address_v4 v4;
    if (a->is_v4()) {
      v4 = a->to_v4();
    } else if (a->to_v6().is_v4_mapped()) {
      v4 = boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a->to_v6());
    } else {
      return false;
    }
    auto b = v4.to_bytes();
    std::copy(b.begin(), b.end(), peer.begin());
  }
  const unsigned full = prefix / 8, rest = prefix % 8;
  for (unsigned i = 0; i < full; ++i)
    if (peer[i] != bytes[i]) return false;
  if (rest) {
    const auto mask = static_cast<std::uint8_t>(0xFF << (8 - rest));
    if ((peer[full] & mask) != (bytes[full] & mask)) return false;
  }
  return true;
}

bool Cidr::contains(std::string_view peer) const {
  // "1.2.3.4:port", "::1:port" (how the connection describes its peer), "[::1]:port".
  if (!peer.empty() && peer.front() == '[') {
    auto close = peer.find(']');
    return close != std::string_view::npos && contains_address(peer.substr(1, close - 1));
  }
  auto colon = peer.rfind(':');
  if (colon == std::string_view::npos) return contains_address(peer);
  return contains_address(peer.substr(0, colon));
}

// ---- filter coverage --------------------------------------------------------------------------

bool filter_covers(std::string_view rule, std::string_view requested) {
  auto r = levels(rule), q = levels(requested);
  // A filter starting with a wildcard does not match $-topics (MQTT 5 §4.7.2), so it cannot cover
  // a request whose first level is a literal starting with '$'.
  if ((r[0] == "+" || r[0] == "#") && !q[0].empty() && q[0][0] == '$') return false;
  std::size_t i = 0;
  for (; i < r.size(); ++i) {
    if (r[i] == "#") return true;  // covers the rest, and the parent level itself ("a/#" ⊇ "a")
    if (i >= q.size()) return false;
    if (q[i] == "#") return false;  // only "#" covers "#"
    if (r[i] == "+") continue;       // covers "+" and any literal
    if (q[i] == "+" || q[i] != r[i]) return false;
  }
  return i == q.size();
}

// ---- Acl --------------------------------------------------------------------------------------

std::optional<Acl::Rule> Acl::compile(const AclRuleSpec& spec, std::string* error) {
  auto fail = [&](const std::string& why) -> std::optional<Rule> {
    if (error) *error = "authorization rule (" + spec.origin + "): " + why;
    return std::nullopt;
  };
  Rule r;
  r.origin = spec.origin;
  if (spec.permission == "allow")
    r.allow = true;
  else if (spec.permission != "deny")
    return fail("permission must be \"allow\" or \"deny\"");
  if (spec.action == "publish" || spec.action == "all") r.publish = true;
  if (spec.action == "subscribe" || spec.action == "all") r.subscribe = true;
  if (!r.publish && !r.subscribe) return fail("action must be \"publish\", \"subscribe\" or \"all\"");
  if (spec.topics.empty()) return fail("no topics");
  for (const auto& t : spec.topics) {
    Topic topic;
    std::string_view text = t;
    if (text.starts_with("eq ")) {
      topic.eq = true;
      text.remove_prefix(3);
      if (text.empty()) return fail("empty topic after 'eq '");
    }
    topic.text = std::string(text);
    topic.placeholders = has_placeholder(text);
    if (!topic.eq) {
      // Validate with the placeholders filled by a plain level value.
      std::string probe;
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 1 < text.size() && (text[i + 1] == 'u' || text[i + 1] == 'c')) {
          probe += 'x';
          ++i;
        } else {
          probe += text[i];
        }
      }
      if (!valid_rule_filter(probe)) return fail("'" + t + "' is not a valid topic filter");
    }
    r.topics.push_back(std::move(topic));
  }
  r.username = spec.username;
  r.clientid = spec.clientid;
  if (spec.ipaddr) {
    r.ipaddr = Cidr::parse(*spec.ipaddr);
    if (!r.ipaddr) return fail("'" + *spec.ipaddr + "' is not an address or CIDR block");
  }
  return r;
}

Acl::Acl(std::vector<Rule> rules, bool no_match_allow, bool deny_disconnects)
    : rules_(std::move(rules)), no_match_allow_(no_match_allow), deny_disconnects_(deny_disconnects) {}

bool Acl::matches(const Rule& r, const core::AclRequest& req) const {
  const bool publish = req.action == AclAction::publish;
  if (publish ? !r.publish : !r.subscribe) return false;
  if (r.username && (!req.username || *req.username != *r.username)) return false;
  if (r.clientid && req.client_id != *r.clientid) return false;
  if (r.ipaddr && !r.ipaddr->contains(req.peer_address)) return false;

  std::optional<mqtt::SharedFilter> shared;
  if (!publish) {
    shared = mqtt::parse_shared(req.topic);
    if (shared && shared->group.empty()) shared.reset();  // refused by the channel before it asks
  }
  std::string buf;
  for (const auto& topic : r.topics) {
    std::string_view t = topic.text;
    if (topic.placeholders) {
      if (!substitute(topic.text, req, buf)) continue;
      t = buf;
    }
    if (topic.eq) {
      if (t == req.topic || (shared && t == shared->filter)) return true;
      continue;
    }
    auto rule_shared = mqtt::parse_shared(t);
    if (publish) {
      if (!rule_shared && mqtt::topic_matches(t, req.topic)) return true;
      continue;
    }
    if (rule_shared) {
      if (shared && rule_shared->group == shared->group && filter_covers(rule_shared->filter, shared->filter))
        return true;
      continue;
    }
    if (filter_covers(t, shared ? shared->filter : req.topic)) return true;
  }
  return false;
}

Acl::Result Acl::evaluate(const core::AclRequest& req) const {
  for (std::size_t i = 0; i < rules_.size(); ++i)
    if (matches(rules_[i], req)) return Result{rules_[i].allow, i};
  return Result{no_match_allow_, std::nullopt};
}

core::AclDecision Acl::decide(const core::AclRequest& req) const {
  if (evaluate(req).allowed) return core::AclDecision::allow;
  return deny_disconnects_ ? core::AclDecision::deny_and_disconnect : core::AclDecision::deny;
}

}  // namespace tidemq::auth
