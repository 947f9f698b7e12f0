// The evacuation of this node as a pure state machine (docs/rebalance.md, "Evacuation states"):
// disabled → waiting_health_check → evicting_conns → waiting_takeover → evicting_sessions →
// prohibiting (terminal until stopped). Events in, commands out (see fsm_io.hpp); status()
// renders the evacuation body of "Local status". Single-threaded (control executor).
//
// - Start: the file is persisted before the agent is enabled ("Evacuation file"); a busy agent
//   refuses the start without writing it. wait_health_check 0 (the default) refuses connections at
//   once and goes straight to evicting_conns; otherwise connections are still allowed while the
//   health check already reports 503.
// - Restore (boot): the agent is enabled with connections refused at once and the evacuation
//   resumes in evicting_conns with fresh initial counts.
// - evicting_conns: each tick evicts min(conn_evict_rate, connections) (the agent adds the
//   Server Reference, "Redirects") until none is left, then waiting_takeover.
// - evicting_sessions: each tick migrates min(sess_evict_rate, sessions still to migrate) to the
//   available recipients (migrate_to or every other running node; this node is never one). With
//   no recipient it warns and retries after Timing::no_target_retry, never claiming completion
//   ("Evacuation session recipients"). Sessions given up after the last attempt ("Session
//   migration") are not retried: when only those are left the evacuation goes to prohibiting
//   with a warning, and status reports them.
// - Stop: from any state but disabled: file removed, agent disabled.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "rebalance/core/fsm_io.hpp"
#include "rebalance/core/progress.hpp"
#include "tidemq/util/clock.hpp"

namespace tidemq::rebalance {

enum class EvacuationState { disabled, waiting_health_check, evicting_conns, waiting_takeover, evicting_sessions, prohibiting };

std::string_view to_string(EvacuationState s) noexcept;

struct EvacuationStats {
  std::uint64_t initial_connected = 0;
  std::uint64_t current_connected = 0;
  std::uint64_t initial_sessions = 0;
  std::uint64_t current_sessions = 0;
  std::uint64_t connections_evicted = 0;  // asked of the agent
  std::uint64_t sessions_migrated = 0;
  std::uint64_t sessions_failed = 0;      // given up after the last attempt
};

class EvacuationFsm {
 public:
  EvacuationFsm(NodeId self, const util::Clock& clock, Timing timing = {});

  Commands handle(const ev::EvacuationStart& e);
  Commands handle(const ev::EvacuationRestore& e);
  Commands handle(const ev::Stop& e);
  Commands handle(const ev::TimerFired& e);
  Commands handle(const ev::LocalCounts& e);
  Commands handle(const ev::AgentReply& e);
  Commands handle(const ev::BatchDone& e);
  Commands handle(const ev::PersistFailed& e);
  Commands handle(const ev::RecipientsChanged& e);
  Commands handle(const EvacuationEvent& e);

  EvacuationState state() const noexcept { return state_; }
  bool enabled() const noexcept { return state_ != EvacuationState::disabled; }
  const EvacuationOptions& options() const noexcept { return options_; }
  const EvacuationStats& stats() const noexcept { return stats_; }
  Progress progress() const;

  // Local status (docs/rebalance.md, "Local status"): {"status":"disabled"}, or the evacuation
  // body with "progress", "eta_seconds" and, when sessions were given up, "failed_sessions".
  // `session_recipients` are the currently available recipients (the node's cached availability:
  // status never waits).
  nlohmann::json status(const std::vector<NodeId>& session_recipients) const;
  // The global_status "evacuations" entry ("Global status"); null when disabled.
  nlohmann::json global_entry(const std::vector<NodeId>& session_recipients) const;

 private:
  enum class Await { nothing, agent, timer, counts, batch };

  std::uint64_t next_token() { return ++last_token_; }
  void enter(EvacuationState s, Commands& out);
  void arm(std::chrono::milliseconds after, Commands& out, bool phase_wait);
  void fetch(Commands& out);
  void reset();
  Commands begin(const EvacuationOptions& o, std::uint64_t conns, std::uint64_t sessions, bool restore);
  Commands on_conn_tick(const ev::LocalCounts& e);
  Commands on_session_tick(const ev::LocalCounts& e);
  nlohmann::json body(const std::vector<NodeId>& session_recipients) const;

  NodeId self_;
  const util::Clock& clock_;
  Timing timing_;

  EvacuationState state_ = EvacuationState::disabled;
  EvacuationOptions options_;
  EvacuationStats stats_;
  bool start_pending_ = false;  // a start request waits for its Reply
  Await await_ = Await::nothing;
  std::uint64_t token_ = 0;
  std::uint64_t last_token_ = 0;

  // progress of the current phase
  util::TimePoint wait_since_{};
  util::TimePoint batch_started_{};  // when the current batch was asked for (Timing::rest_of_interval)
  std::chrono::milliseconds wait_length_{0};
  std::optional<std::uint64_t> baseline_;
  std::uint64_t remaining_ = 0;
  bool no_targets_ = false;
};

}  // namespace tidemq::rebalance
