// The dry run of a rebalance (beyond EMQX: `tidemq_ctl rebalance plan`, `POST
// .../{node}/plan`): donors, recipients, what each node is expected to give or receive and the
// projected duration at the given rates, from one set of counts, changing nothing. It assumes
// evicted clients reconnect evenly to the recipients and uses the same maths as the state
// machine (balance.hpp), so it is an estimate, not a promise.
#pragma once

#include <chrono>
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "rebalance/core/defaults.hpp"
#include "rebalance/core/options.hpp"
#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

struct PlanNode {
  NodeId node;
  bool donor = false;
  NodeCounts counts;
  std::uint64_t connections_to_evict = 0;    // donors
  std::uint64_t connections_to_receive = 0;  // recipients
  std::uint64_t sessions_to_migrate = 0;     // donors (disconnected sessions)
  std::uint64_t sessions_to_receive = 0;     // recipients
};

struct RebalancePlan {
  bool nothing_to_balance = false;
  std::vector<NodeId> donors;
  std::vector<NodeId> recipients;
  std::vector<PlanNode> nodes;  // in node order
  std::chrono::seconds wait_health_check{0};
  std::chrono::seconds evicting_conns{0};
  std::chrono::seconds wait_takeover{0};
  std::chrono::seconds evicting_sessions{0};

  std::chrono::seconds total() const { return wait_health_check + evicting_conns + wait_takeover + evicting_sessions; }
};

// `counts` of the nodes to balance: options.nodes when given, otherwise every node in `counts`.
RebalancePlan plan_rebalance(const RebalanceOptions& options, const NodeCountMap& counts,
                             std::chrono::milliseconds evict_interval = kEvictInterval);

// {"nothing_to_balance":false,"donors":[...],"recipients":[...],
//  "nodes":[{"node":..,"role":"donor"|"recipient","connections":..,"sessions":..,
//            "disconnected_sessions":..,"connections_to_evict"|"connections_to_receive":..,
//            "sessions_to_migrate"|"sessions_to_receive":..}],
//  "projected_seconds":{"wait_health_check":..,"evicting_conns":..,"wait_takeover":..,
//                       "evicting_sessions":..,"total":..}}
nlohmann::json to_json(const RebalancePlan& plan);

}  // namespace tidemq::rebalance
