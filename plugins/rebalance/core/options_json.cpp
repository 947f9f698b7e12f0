// HTTP bodies → options, with the v4 API texts (EMQX 4.4 emqx_node_rebalance_api.erl).
#include <fmt/format.h>

#include "rebalance/core/erlang_format.hpp"
#include "rebalance/core/option_values.hpp"
#include "rebalance/core/options.hpp"

namespace tidemq::rebalance {

namespace {

using Json = nlohmann::ordered_json;

OptionsError invalid(std::string message) { return {RebalanceErrc::invalid_options, std::move(message), {}}; }
OptionsError invalid_value(std::string_view name) { return invalid(fmt::format("invalid {} value", name)); }

// Integer 1 … 2^31−1 (is_integer in Erlang: 500.0 is not one).
std::optional<std::uint32_t> pos_int(const Json& v) {
  if (!v.is_number_integer()) return std::nullopt;
  if (v.is_number_unsigned()) {
    const auto u = v.get<std::uint64_t>();
    if (u < 1 || u > kMaxInteger) return std::nullopt;
    return static_cast<std::uint32_t>(u);
  }
  const auto i = v.get<std::int64_t>();
  if (i < 1 || i > static_cast<std::int64_t>(kMaxInteger)) return std::nullopt;
  return static_cast<std::uint32_t>(i);
}

// A number > 1.0 (integers too).
std::optional<double> fraction(const Json& v) {
  if (!v.is_number()) return std::nullopt;
  const double d = v.get<double>();
  if (!(d > 1.0)) return std::nullopt;
  return d;
}

// Integer milliseconds, or a duration string; within [lo, hi] ms after `round_to` (ceil).
std::optional<std::uint64_t> duration_ms(const Json& v, std::uint64_t unit_ms, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t ms = 0;
  if (v.is_number_integer()) {
    if (!v.is_number_unsigned() && v.get<std::int64_t>() < 0) return std::nullopt;
    const auto u = v.get<std::uint64_t>();
    if (u > hi / unit_ms) return std::nullopt;
    ms = u * unit_ms;
  } else if (v.is_string()) {
    auto parsed = detail::parse_duration_ms(v.get_ref<const std::string&>());
    if (!parsed) return std::nullopt;
    ms = (*parsed + unit_ms - 1) / unit_ms * unit_ms;  // "500ms" as seconds → 1 s
  } else {
    return std::nullopt;
  }
  if (ms < lo || ms > hi) return std::nullopt;
  return ms;
}

std::optional<std::chrono::seconds> wait_seconds(const Json& v) {
  auto ms = duration_ms(v, 1000, 0, kMaxDurationSeconds * 1000);
  if (!ms) return std::nullopt;
  return std::chrono::seconds(*ms / 1000);
}

std::optional<std::chrono::milliseconds> rpc_timeout(const Json& v) {
  auto ms = duration_ms(v, 1, 1, kMaxRpcTimeoutMs);
  if (!ms) return std::nullopt;
  return std::chrono::milliseconds(static_cast<std::int64_t>(*ms));
}

// validate_nodes/2 of the v4 API: `name` is the parameter as given (nodes, migrate_to).
OptionsResult<std::vector<NodeId>> node_list(std::string_view name, const Json& v, const ClusterView& cluster) {
  bool strings = v.is_array();
  if (strings) {
    for (const auto& e : v) strings = strings && e.is_string();
  }
  // Not a list of names, or an empty one: a schema error on v5 (400 BAD_REQUEST), not "unavailable".
  const std::string schema = fmt::format("{}: expected a non-empty list of node names", name);
  if (!strings) {
    auto e = invalid(fmt::format("invalid node list in {}: {}", name, erl_term(v)));
    e.v5_text = schema;
    return e;
  }
  if (v.empty()) {
    auto e = invalid(fmt::format("no available nodes list in {}: []", name));
    e.v5_text = schema;
    return e;
  }
  std::vector<NodeId> names;
  for (const auto& e : v) names.push_back(e.get<std::string>());
  auto check = detail::check_node_list(names, cluster);
  using Kind = detail::NodeListCheck::Kind;
  switch (check.kind) {
    case Kind::ok: return check.nodes;
    case Kind::unknown:
      return OptionsError{RebalanceErrc::invalid_nodes, "invalid node: " + check.offending.front(), check.offending};
    case Kind::none_available:
      return OptionsError{RebalanceErrc::nodes_unavailable,
                          fmt::format("no available nodes list in {}: {}", name, erl_atom_list(check.nodes)),
                          check.nodes};
    case Kind::some_unavailable:
      return OptionsError{RebalanceErrc::nodes_unavailable,
                          fmt::format("unavailable nodes in {}: {}", name, erl_atom_list(check.offending)),
                          check.offending};
  }
  return invalid("invalid node list");
}

OptionsError unknown_param(std::string_view what, const std::string& key, const Json& v) {
  return invalid(fmt::format("Unknown {} param: {{{},{}}}", what, erl_binary(key), erl_term(v)));
}

OptionsError malformed() { return {RebalanceErrc::malformed_body, "Bad Request", {}}; }

// An empty body is {}; malformed when the body is not a JSON object; refused when it nests deeper
// than any option could (it comes from anyone; nothing below recurses into more than that).
OptionsResult<Json> parse_body(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return OptionsResult<Json>(boost::system::in_place_value, Json::object());
  if (detail::json_nesting_exceeds(body, kMaxBodyNesting))
    return invalid(fmt::format("the body is nested more than {} levels deep", kMaxBodyNesting));
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) return malformed();
  return OptionsResult<Json>(boost::system::in_place_value, std::move(j));
}

}  // namespace

OptionsResult<RebalanceOptions> parse_rebalance_json(const Json& body, const ClusterView& cluster) {
  if (!body.is_object()) return malformed();
  RebalanceOptions o;
  for (const auto& [key, v] : body.items()) {
    if (key == "nodes") {
      auto nodes = node_list(key, v, cluster);
      if (!nodes) return nodes.error();
      o.nodes = std::move(*nodes);
    } else if (key == "wait_health_check" || key == "wait_takeover") {
      auto s = wait_seconds(v);
      if (!s) return invalid_value(key);
      (key == "wait_takeover" ? o.wait_takeover : o.wait_health_check) = *s;
    } else if (key == "conn_evict_rate" || key == "sess_evict_rate" || key == "abs_conn_threshold" ||
               key == "abs_sess_threshold") {
      auto n = pos_int(v);
      if (!n) return invalid_value(key);
      if (key == "conn_evict_rate") o.conn_evict_rate = *n;
      else if (key == "sess_evict_rate") o.sess_evict_rate = *n;
      else if (key == "abs_conn_threshold") o.abs_conn_threshold = *n;
      else o.abs_sess_threshold = *n;
    } else if (key == "rel_conn_threshold" || key == "rel_sess_threshold") {
      auto f = fraction(v);
      if (!f) return invalid_value(key);
      (key == "rel_conn_threshold" ? o.rel_conn_threshold : o.rel_sess_threshold) = *f;
    } else if (key == "conn_evict_rpc_timeout" || key == "sess_evict_rpc_timeout") {
      auto t = rpc_timeout(v);
      if (!t) return invalid_value(key);
      (key == "conn_evict_rpc_timeout" ? o.conn_evict_rpc_timeout : o.sess_evict_rpc_timeout) = *t;
    } else {
      return unknown_param("rebalance", key, v);
    }
  }
  return o;
}

OptionsResult<EvacuationOptions> parse_evacuation_json(const Json& body, const ClusterView& cluster) {
  if (!body.is_object()) return malformed();
  EvacuationOptions o;
  std::optional<std::string> targets_key;  // "migrate_to" or its alias "nodes", once
  for (const auto& [key, v] : body.items()) {
    if (key == "migrate_to" || key == "nodes") {
      if (targets_key && *targets_key != key) return invalid("nodes is an alias of migrate_to, give only one of them");
      targets_key = key;
      auto nodes = node_list(key, v, cluster);
      if (!nodes) return nodes.error();
      o.migrate_to = std::move(*nodes);
    } else if (key == "redirect_to") {
      if (v.is_null()) o.server_reference.reset();
      else if (v.is_string()) o.server_reference = v.get<std::string>();
      else return invalid("invalid string in server_reference");
    } else if (key == "redirect_policy") {
      if (!v.is_string() || (v != "static" && v != "least_loaded"))
        return invalid("invalid redirect_policy: expected \"static\" or \"least_loaded\"");
      o.redirect_least_loaded = v == "least_loaded";
    } else if (key == "conn_evict_rate" || key == "sess_evict_rate") {
      auto n = pos_int(v);
      if (!n) return invalid_value(key);
      (key == "conn_evict_rate" ? o.conn_evict_rate : o.sess_evict_rate) = *n;
    } else if (key == "wait_takeover" || key == "wait_health_check") {
      auto s = wait_seconds(v);
      if (!s) return invalid_value(key);
      (key == "wait_takeover" ? o.wait_takeover : o.wait_health_check) = *s;
    } else {
      return unknown_param("evacuation", key, v);
    }
  }
  return o;
}

OptionsResult<RebalanceOptions> parse_rebalance_body(std::string_view body, const ClusterView& cluster) {
  auto j = parse_body(body);
  if (!j) return j.error();
  return parse_rebalance_json(*j, cluster);
}

OptionsResult<EvacuationOptions> parse_evacuation_body(std::string_view body, const ClusterView& cluster) {
  auto j = parse_body(body);
  if (!j) return j.error();
  return parse_evacuation_json(*j, cluster);
}

}  // namespace tidemq::rebalance
