// Both ends of a cluster rebalance on this node (docs/rebalance.md, "Rebalance states",
// "Failures and aborts"):
// - as coordinator, drives the RebalanceFsm: counts and agents of every node over RPC, evictions
//   and migrations on the donors, a lease renewed every second on each donor, node-down events;
// - as donor, holds the lease of the coordinator that enabled this node's agent: the agent is
//   released when the coordinator's node goes down or the lease lapses (within kDonorLease).
// Control thread only.
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
#include "tidemq/util/rate_limiter.hpp"
#include "rebalance/core/rebalance_fsm.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class RebalanceCoordinator {
 public:
  using ReplyFn = PendingReplies::ReplyFn;

  RebalanceCoordinator(plugin::PluginContext& ctx, EvictionAgent& agent, util::RateLimiter& limiter, Timing timing = {});
  ~RebalanceCoordinator();

  // Registers the RPC methods both roles answer.
  void register_methods(std::vector<plugin::Registration>& out);

  void start(RebalanceOptions options, ReplyFn reply);
  void stop(ReplyFn reply);
  const RebalanceFsm& fsm() const { return fsm_; }

  // This node as a donor of someone's rebalance: its local status body, or nullopt.
  std::optional<plugin::Json> donor_status(ApiVersion api) const;

 private:
  void feed(const RebalanceEvent& e);
  void run(Commands cmds);
  void fetch_counts(const cmd::FetchCounts& c);
  void renew_leases();
  void send_views();

  // donor side
  void donor_enable(const plugin::Json& a, plugin::Done reply);
  void donor_release(const std::string& why);
  void check_lease();

  plugin::PluginContext& ctx_;
  EvictionAgent& agent_;
  RebalanceFsm fsm_;
  plugin::Registration timer_, lease_timer_, node_events_;
  PendingReplies replies_;  // the start and stop the machine has yet to answer
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);

  // No default member initializers here (a time_point starts at zero anyway): clang 14 does not
  // yet see a nested class with them as default-constructible inside its enclosing class, and
  // std::optional<DonorRole>::emplace() would not compile.
  struct DonorRole {
    std::string coordinator;
    util::TimePoint lease_until;
    std::optional<DonorView> view;
    plugin::Registration check;
  };
  std::optional<DonorRole> donor_;
  EvictionPacer pacer_;          // the donor's connection evictions
  SessionPacer session_pacer_;   // the donor's session migrations, with their attempt counts
};

}  // namespace tidemq::rebalance
