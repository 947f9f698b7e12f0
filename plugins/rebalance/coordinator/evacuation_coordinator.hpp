// Drives the EvacuationFsm of this node (docs/rebalance.md, "Evacuation states"): executes its
// commands with the eviction agent, the node's rate limiter, the evacuation file and cluster RPC,
// and feeds every result back as an event. Control thread only.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "rebalance/agent/eviction_agent.hpp"
#include "rebalance/coordinator/eviction_pacer.hpp"
#include "rebalance/coordinator/pending_replies.hpp"
#include "rebalance/coordinator/session_pacer.hpp"
#include "rebalance/core/evacuation_fsm.hpp"
#include "rebalance/core/evacuation_store.hpp"
#include "tidemq/util/rate_limiter.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class EvacuationCoordinator {
 public:
  using ReplyFn = PendingReplies::ReplyFn;

  EvacuationCoordinator(plugin::PluginContext& ctx, EvictionAgent& agent, util::RateLimiter& limiter, Timing timing = {});
  ~EvacuationCoordinator();

  // Resumes an evacuation found in <data_dir>/.evacuation (call before listeners accept).
  void restore();
  void start(EvacuationOptions options, ReplyFn reply);
  void stop(ReplyFn reply);
  // Another node became available or unavailable (PeerAvailability).
  void recipients_changed() { feed(ev::RecipientsChanged{}); }

  bool enabled() const { return fsm_.enabled(); }
  const EvacuationFsm& fsm() const { return fsm_; }

 private:
  void feed(const EvacuationEvent& e);
  void run(Commands cmds);
  void fetch_counts(const cmd::FetchCounts& c);
  void migrate(const cmd::MigrateSessions& c);
  // redirect_policy = least_loaded: the MQTT address of the available node with the fewest
  // connections (loads refreshed every second; each pick counts as one more connection there).
  std::optional<std::string> least_loaded_reference();
  void refresh_loads();

  plugin::PluginContext& ctx_;
  EvictionAgent& agent_;
  EvacuationFsm fsm_;
  EvacuationStore store_;
  plugin::Registration timer_;
  EvictionPacer pacer_;           // connections
  SessionPacer session_pacer_;   // sessions, with their attempt counts
  PendingReplies replies_;  // the start and stop the machine has yet to answer
  std::map<NodeId, std::uint64_t> loads_;    // connections per available node (least_loaded)
  util::TimePoint loads_at_{};
  bool loads_pending_ = false;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tidemq::rebalance
