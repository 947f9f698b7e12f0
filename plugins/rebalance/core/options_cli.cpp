// `tidemq_ctl rebalance start ...` arguments → options (docs/rebalance.md, "CLI start arguments";
// as EMQX's emqx_node_rebalance_cli reads them).
#include <algorithm>
#include <array>
#include <map>

#include <fmt/format.h>

#include "rebalance/core/erlang_format.hpp"
#include "rebalance/core/option_values.hpp"
#include "rebalance/core/options.hpp"

namespace tidemq::rebalance {

namespace {

using Collected = std::map<std::string, std::optional<std::string>>;  // nullopt: a flag (true)

OptionsError invalid(std::string message) { return {RebalanceErrc::invalid_options, std::move(message), {}}; }
OptionsError invalid_value(std::string_view opt) { return invalid(fmt::format("invalid {} value", opt)); }

// [{"--nodes","x"},{"--evacuation",true}]: the unvalidated rest, as Erlang prints it.
std::string rest_of(Collected::const_iterator it, Collected::const_iterator end) {
  std::string out = "[";
  for (bool first = true; it != end; ++it, first = false) {
    if (!first) out += ',';
    out += "{" + erl_string(it->first) + "," + (it->second ? erl_string(*it->second) : std::string("true")) + "}";
  }
  return out + "]";
}

std::optional<std::uint32_t> pos_int(const std::string& s) {
  auto v = detail::parse_cli_integer(s);
  if (!v || *v < 1 || *v > static_cast<std::int64_t>(kMaxInteger)) return std::nullopt;
  return static_cast<std::uint32_t>(*v);
}

std::optional<std::chrono::seconds> wait_seconds(const std::string& s) {
  auto v = detail::parse_cli_integer(s);
  if (!v || *v < 0 || *v > static_cast<std::int64_t>(kMaxDurationSeconds)) return std::nullopt;
  return std::chrono::seconds(*v);
}

std::optional<std::chrono::milliseconds> rpc_timeout(const std::string& s) {  // seconds on the CLI
  auto v = detail::parse_cli_integer(s);
  if (!v || *v < 1 || *v > static_cast<std::int64_t>(kMaxDurationSeconds)) return std::nullopt;
  return std::chrono::milliseconds(*v * 1000);
}

std::optional<double> fraction(const std::string& s) {
  auto v = detail::parse_cli_number(s);
  if (!v || !(*v > 1.0)) return std::nullopt;
  return v;
}

OptionsResult<std::vector<NodeId>> node_list(std::string_view opt, const std::string& value,
                                             const ClusterView& cluster) {
  auto check = detail::check_node_list(detail::split_node_list(value), cluster);
  using Kind = detail::NodeListCheck::Kind;
  switch (check.kind) {
    case Kind::ok: return check.nodes;
    case Kind::unknown:
      return OptionsError{RebalanceErrc::invalid_nodes,
                          fmt::format("invalid {}, invalid nodes: {}", opt, erl_string_list(check.offending)),
                          check.offending};
    case Kind::none_available:
      return OptionsError{RebalanceErrc::nodes_unavailable, fmt::format("invalid {}, no nodes", opt), check.nodes};
    case Kind::some_unavailable:
      return OptionsError{RebalanceErrc::nodes_unavailable,
                          fmt::format("invalid {}, unavailable nodes: {}", opt, erl_atom_list(check.offending)),
                          check.offending};
  }
  return invalid("invalid node list");
}

OptionsResult<EvacuationOptions> validate_evacuation(const Collected& c, const ClusterView& cluster) {
  EvacuationOptions o;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const auto& [opt, value] = *it;
    if (opt == kEvacuationFlag && !value) continue;
    if (!value) return invalid("unknown evacuation arguments: " + rest_of(it, c.end()));
    if (opt == "--redirect-to") {
      o.server_reference = *value;
    } else if (opt == "--redirect-policy") {
      if (*value != "static" && *value != "least_loaded")
        return invalid("invalid --redirect-policy: expected static or least_loaded");
      o.redirect_least_loaded = *value == "least_loaded";
    } else if (opt == "--conn-evict-rate" || opt == "--sess-evict-rate") {
      auto n = pos_int(*value);
      if (!n) return invalid_value(opt);
      (opt == "--conn-evict-rate" ? o.conn_evict_rate : o.sess_evict_rate) = *n;
    } else if (opt == "--wait-takeover" || opt == "--wait-health-check") {
      auto s = wait_seconds(*value);
      if (!s) return invalid_value(opt);
      (opt == "--wait-takeover" ? o.wait_takeover : o.wait_health_check) = *s;
    } else if (opt == "--migrate-to") {
      auto nodes = node_list(opt, *value, cluster);
      if (!nodes) return nodes.error();
      o.migrate_to = std::move(*nodes);
    } else {
      return invalid("unknown evacuation arguments: " + rest_of(it, c.end()));
    }
  }
  return o;
}

OptionsResult<RebalanceOptions> validate_rebalance(const Collected& c, const ClusterView& cluster) {
  RebalanceOptions o;
  for (auto it = c.begin(); it != c.end(); ++it) {
    const auto& [opt, value] = *it;
    if (!value) return invalid("unknown rebalance arguments: " + rest_of(it, c.end()));
    if (opt == "--nodes") {
      auto nodes = node_list(opt, *value, cluster);
      if (!nodes) return nodes.error();
      o.nodes = std::move(*nodes);
    } else if (opt == "--wait-health-check" || opt == "--wait-takeover") {
      auto s = wait_seconds(*value);
      if (!s) return invalid_value(opt);
      (opt == "--wait-takeover" ? o.wait_takeover : o.wait_health_check) = *s;
    } else if (opt == "--conn-evict-rate" || opt == "--sess-evict-rate" || opt == "--abs-conn-threshold" ||
               opt == "--abs-sess-threshold") {
      auto n = pos_int(*value);
      if (!n) return invalid_value(opt);
      if (opt == "--conn-evict-rate") o.conn_evict_rate = *n;
      else if (opt == "--sess-evict-rate") o.sess_evict_rate = *n;
      else if (opt == "--abs-conn-threshold") o.abs_conn_threshold = *n;
      else o.abs_sess_threshold = *n;
    } else if (opt == "--rel-conn-threshold" || opt == "--rel-sess-threshold") {
      auto f = fraction(*value);
      if (!f) return invalid_value(opt);
      (opt == "--rel-conn-threshold" ? o.rel_conn_threshold : o.rel_sess_threshold) = *f;
    } else if (opt == "--conn-evict-rpc-timeout" || opt == "--sess-evict-rpc-timeout") {
      auto t = rpc_timeout(*value);
      if (!t) return invalid_value(opt);
      (opt == "--conn-evict-rpc-timeout" ? o.conn_evict_rpc_timeout : o.sess_evict_rpc_timeout) = *t;
    } else {
      return invalid("unknown rebalance arguments: " + rest_of(it, c.end()));
    }
  }
  return o;
}

}  // namespace

bool start_option_takes_value(std::string_view s) {
  static constexpr std::array<std::string_view, 14> kValueOptions = {
      "--redirect-to",        "--redirect-policy",     "--migrate-to",             "--nodes",
      "--wait-health-check",
      "--abs-conn-threshold", "--rel-conn-threshold",  "--abs-sess-threshold",     "--rel-sess-threshold",
      "--conn-evict-rpc-timeout", "--sess-evict-rpc-timeout", "--conn-evict-rate", "--wait-takeover",
      "--sess-evict-rate"};
  return std::find(kValueOptions.begin(), kValueOptions.end(), s) != kValueOptions.end();
}

OptionsResult<StartArgs> parse_start_args(const std::vector<std::string>& args, const ClusterView& cluster) {
  Collected collected;
  for (std::size_t i = 0; i < args.size();) {
    if (args[i] == kEvacuationFlag) {
      collected[args[i]] = std::nullopt;
      i += 1;
    } else if (start_option_takes_value(args[i]) && i + 1 < args.size()) {
      collected[args[i]] = args[i + 1];
      i += 2;
    } else {
      std::vector<std::string> rest(args.begin() + static_cast<std::ptrdiff_t>(i), args.end());
      return invalid("unknown arguments: " + erl_string_list(rest));
    }
  }
  StartArgs out;
  if (collected.count(std::string(kEvacuationFlag))) {
    out.mode = StartMode::evacuation;
    auto o = validate_evacuation(collected, cluster);
    if (!o) return o.error();
    out.evacuation = std::move(*o);
  } else {
    auto o = validate_rebalance(collected, cluster);
    if (!o) return o.error();
    out.rebalance = std::move(*o);
  }
  return out;
}

}  // namespace tidemq::rebalance
