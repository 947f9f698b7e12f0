// The coordinator of a cluster rebalance as a pure state machine (docs/rebalance.md, "Rebalance
// states"): disabled → wait_health_check → evicting_conns → wait_takeover → evicting_sessions →
// disabled. Events in, commands out (fsm_io.hpp). Single-threaded (control executor); the status
// accessors read cached state only, so they never wait for a tick ("Local status").
//
// - Start (nodes resolved by the coordinator): fetch counts of every node; donors are nodes at
//   or above the mean connection count (frozen for the run); nothing_to_balance when a side is
//   empty or connections and all sessions are within thresholds. Then enable every donor's agent
//   (connections still allowed while waiting for the health check) and answer the start. Any
//   failure answers the start with an error (rpc_failed, eviction_agent_busy, ...) and releases
//   the donors already enabled.
// - wait_health_check: the timer re-enables donors with connections refused, then ticks.
// - evicting_conns tick: counts of all nodes; within thresholds (inclusive) → wait_takeover;
//   else nodes_to_evict (no overshoot, "Batch sizes") and the next tick after every donor
//   answered.
// - evicting_sessions tick: the same over disconnected sessions, migrated to the recipients that
//   are still available; within thresholds → completed. Sessions given up after the last
//   attempt ("Session migration") are not counted as movable; if nothing movable is left the run completes with a
//   reason naming them.
// - Any failure while running (counts, enable, eviction, a participant down, a lost donor)
//   aborts: every donor is released (DisableAgent; the lease does it within 5 s if unreachable),
//   and last_result {aborted, reason} stays in status until the next start ("Failures and
//   aborts"). Stop releases the donors too (last_result stopped).
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "rebalance/core/balance.hpp"
#include "rebalance/core/fsm_io.hpp"
#include "rebalance/core/progress.hpp"
#include "rebalance/core/rebalance_status.hpp"
#include "tidemq/util/clock.hpp"

namespace tidemq::rebalance {

class RebalanceFsm {
 public:
  struct Counters {
    std::uint64_t connections_evicted = 0;
    std::uint64_t sessions_migrated = 0;
    std::uint64_t sessions_failed = 0;  // given up after the last attempt
  };

  RebalanceFsm(NodeId self, const util::Clock& clock, Timing timing = {});

  Commands handle(const ev::RebalanceStart& e);
  Commands handle(const ev::Stop& e);
  Commands handle(const ev::TimerFired& e);
  Commands handle(const ev::ClusterCounts& e);
  Commands handle(const ev::CountsFailed& e);
  Commands handle(const ev::AgentReply& e);
  Commands handle(const ev::BatchDone& e);
  Commands handle(const ev::NodeDown& e);
  Commands handle(const ev::DonorLost& e);
  Commands handle(const RebalanceEvent& e);

  RebalanceState state() const noexcept { return state_; }
  bool running() const noexcept { return stage_ == Stage::running; }  // visible in status
  bool busy() const noexcept { return stage_ != Stage::idle; }        // running or starting
  const RebalanceOptions& options() const noexcept { return options_; }
  const std::vector<NodeId>& donors() const noexcept { return donors_; }
  const std::vector<NodeId>& recipients() const noexcept { return recipients_; }
  bool is_donor(const NodeId& n) const;
  const std::optional<LastResult>& last_result() const noexcept { return last_result_; }
  const Counters& counters() const noexcept { return counters_; }
  Progress progress() const;

  // For a donor's local status; nullopt when `donor` is not a donor of a running rebalance.
  std::optional<DonorView> donor_view(const NodeId& donor) const;
  // The global_status "rebalances" entry ("Global status", with progress and eta_seconds); null
  // when not running.
  nlohmann::json coordinator_entry(ApiVersion api) const;
  // This coordinator's local status ("Local status"): the coordinator block while running,
  // otherwise {"status":"disabled"} plus "last_result" once a run has ended.
  nlohmann::json local_status(ApiVersion api) const;

 private:
  enum class Stage { idle, counting, enabling, running };
  enum class Await { nothing, timer, counts, agent, batch };

  std::uint64_t next_token() { return ++last_token_; }
  std::chrono::system_clock::time_point wall_now() const;
  void enter(RebalanceState s, Commands& out);
  void arm(std::chrono::milliseconds after, Commands& out, bool phase_wait);
  void fetch(Commands& out);
  void clear_run();
  std::vector<NodeId> donors_except(const std::set<NodeId>& excluded) const;
  Commands fail_start(boost::system::error_code ec, std::string why, const std::set<NodeId>& excluded = {});
  Commands abort(const std::string& reason, const std::set<NodeId>& excluded = {});
  Commands finish(RunResult result, std::optional<std::string> reason, Commands out = {});
  Commands on_start_counts(const ev::ClusterCounts& e);
  Commands on_conn_tick(const NodeCountMap& counts);
  Commands on_session_tick(const NodeCountMap& counts);
  nlohmann::json entry_body(ApiVersion api) const;

  NodeId self_;
  const util::Clock& clock_;
  Timing timing_;

  Stage stage_ = Stage::idle;
  RebalanceState state_ = RebalanceState::disabled;
  RebalanceOptions options_;
  std::vector<NodeId> nodes_;
  std::vector<NodeId> donors_;
  std::vector<NodeId> recipients_;
  NodeCountMap initial_;
  std::optional<double> connection_goal_;
  std::optional<double> disconnected_session_goal_;
  std::optional<double> donor_conn_avg_;
  std::optional<double> donor_sess_avg_;

  Await await_ = Await::nothing;
  std::uint64_t token_ = 0;
  std::uint64_t last_token_ = 0;
  std::set<NodeId> pending_;

  util::TimePoint wait_since_{};
  util::TimePoint batch_started_{};  // when the current batch was asked for (Timing::rest_of_interval)
  template <class MakeCommand>
  void begin_batch(const std::vector<Batch>& batches, Commands& out, MakeCommand make);
  std::chrono::milliseconds wait_length_{0};
  bool wait_armed_ = false;
  std::optional<std::uint64_t> baseline_;
  PhaseEstimate estimate_;

  std::optional<LastResult> last_result_;
  Counters counters_;
};

}  // namespace tidemq::rebalance
