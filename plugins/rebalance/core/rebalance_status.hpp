// Status pieces of a cluster rebalance (docs/rebalance.md, "Local status", "Global status"): the
// wire state names, the last_result object, and the donor's view of the run that lets a donor
// node answer its own local status (the coordinator sends it with rebalance.donor.enable.v1 and
// every rebalance.donor.renew.v1; the donor adds live counts).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rebalance/core/fsm_io.hpp"
#include "rebalance/core/progress.hpp"
#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

enum class RebalanceState { disabled, wait_health_check, evicting_conns, wait_takeover, evicting_sessions };

std::string_view to_string(RebalanceState s) noexcept;
std::optional<RebalanceState> rebalance_state_from_string(std::string_view s) noexcept;

// Kept by the coordinator until the next start.
struct LastResult {
  RunResult result = RunResult::completed;
  std::optional<std::string> reason;  // null for completed and stopped runs (unless stuck sessions)
  std::chrono::system_clock::time_point finished_at{};
};
// {"result":"completed"|"aborted"|"stopped","reason":...,"finished_at":"2024-05-01T12:00:00.000Z"}
nlohmann::json to_json(const LastResult& r);

struct DonorView {
  RebalanceState state = RebalanceState::disabled;
  NodeId coordinator_node;
  std::uint32_t connection_eviction_rate = 0;
  std::uint32_t session_eviction_rate = 0;
  std::chrono::milliseconds connection_eviction_rpc_timeout{0};
  std::chrono::milliseconds session_eviction_rpc_timeout{0};
  std::vector<NodeId> recipients;
  std::optional<double> connection_goal;            // after the first evicting_conns tick
  std::optional<double> disconnected_session_goal;  // after the first evicting_sessions tick
  std::uint64_t initial_connected = 0;              // this donor's counts at the start
  std::uint64_t initial_sessions = 0;
  Progress progress;

  friend bool operator==(const DonorView&, const DonorView&) = default;
};
nlohmann::json to_json(const DonorView& v);                         // the RPC form
std::optional<DonorView> donor_view_from_json(const nlohmann::json& j);  // nullopt when malformed

// The donor's live counts at query time.
struct LiveCounts {
  std::uint64_t connections = 0;
  std::uint64_t sessions = 0;
  std::uint64_t disconnected_sessions = 0;
};

// The donor's local status (docs/rebalance.md, "Local status"): status, process, state,
// coordinator_node, both rates (and in v5 both *_rpc_timeout), recipients, connection_goal /
// disconnected_session_goal once known, stats {initial_connected, initial_sessions, current_connected, current_sessions,
// current_disconnected_sessions}, progress, eta_seconds.
nlohmann::json render_donor_status(const DonorView& v, const LiveCounts& live, ApiVersion api);

}  // namespace tidemq::rebalance
