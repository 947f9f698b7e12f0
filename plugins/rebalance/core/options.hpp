// Options of a rebalance and of an evacuation (docs/rebalance.md, "Evacuation options",
// "Rebalance options"): the structs with their defaults, and validation from an HTTP JSON body (v4
// texts, used for v5 too) and from `tidemq_ctl rebalance start ...` arguments ("CLI start
// arguments"). Errors carry the exact text; the caller adds its prefix ("Rebalance start error: ")
// or wraps it ({"code":400,...}).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/assert/source_location.hpp>
#include <boost/system/result.hpp>
#include <nlohmann/json.hpp>

#include "rebalance/core/defaults.hpp"
#include "rebalance/core/rebalance_errc.hpp"
#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

struct RebalanceOptions {
  std::optional<std::vector<NodeId>> nodes;  // nullopt: every available running node
  std::chrono::seconds wait_health_check = kDefaultRebalanceWaitHealthCheck;
  std::uint32_t conn_evict_rate = kDefaultConnEvictRate;
  std::uint32_t sess_evict_rate = kDefaultSessEvictRate;
  std::uint32_t abs_conn_threshold = kDefaultAbsConnThreshold;
  std::uint32_t abs_sess_threshold = kDefaultAbsSessThreshold;
  double rel_conn_threshold = kDefaultRelConnThreshold;
  double rel_sess_threshold = kDefaultRelSessThreshold;
  std::chrono::seconds wait_takeover = kDefaultWaitTakeover;
  std::chrono::milliseconds conn_evict_rpc_timeout = kDefaultEvictRpcTimeout;
  std::chrono::milliseconds sess_evict_rpc_timeout = kDefaultEvictRpcTimeout;

  friend bool operator==(const RebalanceOptions&, const RebalanceOptions&) = default;
};

struct EvacuationOptions {
  std::optional<std::string> server_reference;  // `redirect_to`; nullopt: no Server Reference
  std::uint32_t conn_evict_rate = kDefaultConnEvictRate;
  std::uint32_t sess_evict_rate = kDefaultSessEvictRate;
  std::chrono::seconds wait_takeover = kDefaultWaitTakeover;
  std::chrono::seconds wait_health_check = kDefaultEvacuationWaitHealthCheck;  // 0
  std::optional<std::vector<NodeId>> migrate_to;  // nullopt: every other running node, per tick
  // Beyond EMQX: "least_loaded" gives each evicted MQTT 5 client the MQTT address of the
  // currently least-loaded available node instead of `server_reference`.
  bool redirect_least_loaded = false;

  friend bool operator==(const EvacuationOptions&, const EvacuationOptions&) = default;
};

// A validation failure. `code` is invalid_options for a bad value or an unknown option,
// invalid_nodes for unknown node names, nodes_unavailable for known but unavailable ones and
// malformed_body for a body that is not a JSON object (HTTP 400 "Bad Request"). `message` is the
// exact text (v4 API texts for JSON, CLI texts for arguments); `nodes` the offending names;
// `v5_text`, when set, the v5 schema message that replaces `message` on /api/v5.
struct OptionsError {
  RebalanceErrc code = RebalanceErrc::invalid_options;
  std::string message;
  std::vector<NodeId> nodes;
  std::string v5_text;
};

[[noreturn]] void throw_exception_from_error(const OptionsError& e, const boost::source_location& loc);

template <class T>
using OptionsResult = boost::system::result<T, OptionsError>;

// The v5 message for the same failure (docs/rebalance.md, "v5 replies and errors"): "Invalid nodes: [<<\"x\">>]",
// "Nodes unavailable: ['n@h']", a schema message where the v4 text would not be one (an empty node
// list), otherwise the v4 text.
std::string v5_message(const OptionsError& e);

// ---- HTTP bodies (docs/rebalance.md, "Request bodies"; v4 texts) ----
// Parameters are checked in body order, the first failure wins. An empty body is `{}`.
// Beyond v4: waits also accept duration strings ("10s", "1m30s", "500ms" → 1 s, rounded up),
// waits may be 0, `conn_evict_rpc_timeout`/`sess_evict_rpc_timeout` (ms, or a duration string)
// are accepted, evacuation takes `wait_health_check` and `nodes` as an alias of `migrate_to`, and
// `redirect_to: null` means no redirect.
OptionsResult<RebalanceOptions> parse_rebalance_body(std::string_view body, const ClusterView& cluster);
OptionsResult<RebalanceOptions> parse_rebalance_json(const nlohmann::ordered_json& body, const ClusterView& cluster);
OptionsResult<EvacuationOptions> parse_evacuation_body(std::string_view body, const ClusterView& cluster);
OptionsResult<EvacuationOptions> parse_evacuation_json(const nlohmann::ordered_json& body,
                                                       const ClusterView& cluster);

// ---- CLI: `rebalance start [args...]` (docs/rebalance.md, "CLI start arguments") ----
// Options are taken pairwise; a flag without its value or an unknown token gives
// `unknown arguments: [<the rest>]`. `--evacuation` selects evacuation mode; options of the other
// mode give `unknown evacuation arguments: [...]` / `unknown rebalance arguments: [...]`. Options
// are validated in lexicographic order of their names, the last of a repeated option wins, the
// first failure wins. There is no purge: `--purge`, `--purge-rate` are unknown arguments.
enum class StartMode { rebalance, evacuation };
struct StartArgs {
  StartMode mode = StartMode::rebalance;
  RebalanceOptions rebalance;    // when mode == rebalance
  EvacuationOptions evacuation;  // when mode == evacuation
};
OptionsResult<StartArgs> parse_start_args(const std::vector<std::string>& args, const ClusterView& cluster);
// The start option `s` takes a value (collect_args/2); `--evacuation` is the only flag without one.
bool start_option_takes_value(std::string_view s);
inline constexpr std::string_view kEvacuationFlag = "--evacuation";

// ---- JSON forms (for RPC forwarding, logs and the evacuation file) ----
nlohmann::json to_json(const RebalanceOptions& o);   // API key names, rpc timeouts in ms
nlohmann::json to_json(const EvacuationOptions& o);  // the evacuation file's keys ("Evacuation file")

}  // namespace tidemq::rebalance
