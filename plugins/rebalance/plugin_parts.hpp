// The pieces of the rebalance plugin on this node, owned by the plugin (rebalance_plugin.cpp) and
// used by its HTTP routes (api/), cluster RPC methods (rpc/) and metrics. The pointers are null
// before start() and after stop(): admin routes and metrics cannot be unregistered, so whatever
// they reach after a stop must check. Control thread only.
#pragma once

#include <memory>

#include "rebalance/agent/eviction_agent.hpp"
#include "rebalance/agent/peer_availability.hpp"
#include "rebalance/coordinator/evacuation_coordinator.hpp"
#include "rebalance/coordinator/rebalance_coordinator.hpp"
#include "tidemq/util/rate_limiter.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

struct PluginParts {
  plugin::PluginContext* ctx = nullptr;
  std::unique_ptr<EvictionAgent> agent;
  std::unique_ptr<PeerAvailability> peers;  // which other nodes could take sessions now
  std::unique_ptr<util::RateLimiter> limiter;  // the node's one eviction limiter
  std::unique_ptr<EvacuationCoordinator> evacuation;
  std::unique_ptr<RebalanceCoordinator> rebalance;

  // docs/rebalance.md, "Local status": an evacuation of this node, then this node as a donor,
  // then as coordinator.
  plugin::Json local_status(ApiVersion api) const;
  // docs/rebalance.md, "Node eviction status"
  plugin::Json eviction_status() const;
  // The evacuation's session recipients now: the available members of migrate_to, or of every
  // other running node, never waiting on another node (docs/rebalance.md, "Availability").
  std::vector<NodeId> session_recipients() const;
};

}  // namespace tidemq::rebalance
