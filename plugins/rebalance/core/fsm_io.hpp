// The input and output vocabulary of the two state machines: events in, commands out. A
// coordinator executes the commands in order on the control executor and feeds every result back
// as an event; nothing here does I/O.
//
// Driver contract:
// - Tokens. Commands that expect an answer carry a token; the answer's event carries it back.
//   An event whose token is not the one the machine waits for is stale (a cancelled timer, a
//   reply after a stop or an abort) and is ignored (no commands).
// - ArmTimer replaces the single timer of the machine; CancelTimer cancels it.
// - FetchCounts → LocalCounts (evacuation) or ClusterCounts / CountsFailed (rebalance).
// - EnableAgent → one AgentReply per node, success or failure.
// - EvictConnections → BatchDone from the node (rebalance; for an evacuation the local eviction
//   is asynchronous and no answer is awaited). MigrateSessions → BatchDone (both).
// - Persist: on failure feed PersistFailed and drop the rest of the list (the agent must not be
//   enabled without the file: docs/rebalance.md, "Evacuation file"). ClearPersisted,
//   DisableAgent: best effort, log failures.
// - Reply answers the pending start or stop request; Finished ends a rebalance run (log it,
//   trace `rebalance.finished`); PhaseChanged is for the log, traces and metrics; Log is a line
//   for the "rebalance" logger (the restore banner, kRestoreBanner, is a warning there).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <variant>
#include <vector>

#include <boost/system/error_code.hpp>

#include "rebalance/core/defaults.hpp"
#include "rebalance/core/options.hpp"
#include "tidemq/util/clock.hpp"
#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

enum class Request { start, stop };
enum class RunResult { completed, aborted, stopped };
enum class LogLevel { info, warn, error };
enum class SessionFilter { any, disconnected };  // evacuation migrates any, rebalance disconnected

std::string_view to_string(RunResult r) noexcept;

// ---- commands ----
namespace cmd {
struct ArmTimer {
  std::uint64_t token = 0;
  std::chrono::milliseconds after{0};
};
struct CancelTimer {};
// Read the counts of `nodes`. With `with_targets`, also which of `targets` (nullopt: every
// running node) are available recipients (agent disabled, answering within kRpcTimeout).
struct FetchCounts {
  std::uint64_t token = 0;
  std::vector<NodeId> nodes;
  bool with_targets = false;
  std::optional<std::vector<NodeId>> targets;
};
struct EnableAgent {
  std::uint64_t token = 0;
  std::vector<NodeId> nodes;
  std::string kind;
  std::optional<std::string> server_reference;
  bool allow_connections = false;
};
struct DisableAgent {
  std::vector<NodeId> nodes;
  std::string kind;
};
struct EvictConnections {
  std::uint64_t token = 0;
  NodeId node;
  std::uint64_t count = 0;
  std::chrono::milliseconds timeout{0};  // of the request to `node`; 0: local
};
struct MigrateSessions {
  std::uint64_t token = 0;
  NodeId node;
  std::uint64_t count = 0;
  std::vector<NodeId> targets;  // each session to a random one of them
  SessionFilter filter = SessionFilter::any;
  std::chrono::milliseconds timeout{0};  // of the request to `node`; 0: local
};
struct Persist {
  EvacuationOptions options;
};
struct ClearPersisted {};
struct Reply {
  Request request = Request::start;
  boost::system::error_code ec;  // empty: ok
};
struct Finished {
  RunResult result = RunResult::completed;
  std::optional<std::string> reason;
};
struct PhaseChanged {
  std::string process;  // "evacuation" | "rebalance"
  std::string state;    // the wire state name ("disabled" when the run ended)
};
struct Log {
  LogLevel level = LogLevel::info;
  std::string message;
};
}  // namespace cmd

using Command = std::variant<cmd::ArmTimer, cmd::CancelTimer, cmd::FetchCounts, cmd::EnableAgent, cmd::DisableAgent,
                             cmd::EvictConnections, cmd::MigrateSessions, cmd::Persist, cmd::ClearPersisted,
                             cmd::Reply, cmd::Finished, cmd::PhaseChanged, cmd::Log>;
using Commands = std::vector<Command>;

// ---- events ----
namespace ev {
struct Stop {};
struct TimerFired {
  std::uint64_t token = 0;
};
struct AgentReply {
  std::uint64_t token = 0;
  NodeId node;
  boost::system::error_code ec;  // e.g. RebalanceErrc::agent_busy, rpc_failed
};
// The end of a batch on `node`: `done` evicted or migrated, `failed` skipped this time (retried
// later), `given_up` failed for the last time (docs/rebalance.md, "Session migration"). ec: the
// whole request failed.
struct BatchDone {
  std::uint64_t token = 0;
  NodeId node;
  boost::system::error_code ec;
  std::uint64_t done = 0;
  std::uint64_t failed = 0;
  std::uint64_t given_up = 0;
};

// Evacuation
struct EvacuationStart {
  EvacuationOptions options;
  std::uint64_t connections = 0;  // this node's counts now
  std::uint64_t sessions = 0;
  bool agent_available = true;  // the local agent is disabled or already owned by evacuation
};
struct EvacuationRestore {  // at boot, from EvacuationStore::load(), before listeners accept
  EvacuationOptions options;
  std::uint64_t connections = 0;
  std::uint64_t sessions = 0;
  bool agent_available = true;
};
struct LocalCounts {
  std::uint64_t token = 0;
  std::uint64_t connections = 0;
  std::uint64_t sessions = 0;
  std::uint64_t stuck_sessions = 0;      // given up: not counted as still to migrate
  std::vector<NodeId> available_targets;  // when asked for
};
struct PersistFailed {
  std::string message;
};
// Some node became available or unavailable: an evacuation waiting for a recipient retries now
// instead of at the end of its 30 s wait
// (docs/rebalance.md, "Evacuation session recipients").
struct RecipientsChanged {};

// Rebalance
struct RebalanceStart {
  RebalanceOptions options;  // `nodes` resolved by the coordinator (default: available running nodes)
};
struct ClusterCounts {
  std::uint64_t token = 0;
  NodeCountMap counts;  // a requested node missing here counts as a failed call
};
struct CountsFailed {
  std::uint64_t token = 0;
  NodeId node;
  std::string reason;
};
struct NodeDown {
  NodeId node;
};
struct DonorLost {  // the donor's agent reset (lease lapsed, restarted) or refused a renewal
  NodeId node;
  std::string reason;
};
}  // namespace ev

using EvacuationEvent = std::variant<ev::EvacuationStart, ev::EvacuationRestore, ev::Stop, ev::TimerFired,
                                     ev::LocalCounts, ev::AgentReply, ev::BatchDone, ev::PersistFailed,
                                     ev::RecipientsChanged>;
using RebalanceEvent = std::variant<ev::RebalanceStart, ev::Stop, ev::TimerFired, ev::ClusterCounts,
                                    ev::CountsFailed, ev::AgentReply, ev::BatchDone, ev::NodeDown, ev::DonorLost>;

// Time knobs (integration tests make them small) and the wall clock for `finished_at`.
struct Timing {
  std::chrono::milliseconds evict_interval = kEvictInterval;
  // What is left of the evict interval of a batch asked for at `started`: the next tick comes one
  // interval after the batch started, not after it ended, so that a batch paced over the second
  // keeps the configured rate (0 when the batch overran).
  std::chrono::milliseconds rest_of_interval(util::TimePoint started, util::TimePoint now) const {
    const auto spent = std::chrono::duration_cast<std::chrono::milliseconds>(now - started);
    return std::max(std::chrono::milliseconds(0), evict_interval - spent);
  }
  std::chrono::milliseconds no_target_retry = kNoTargetRetry;
  std::function<std::chrono::system_clock::time_point()> wall_clock;  // empty: system_clock::now
};

}  // namespace tidemq::rebalance
