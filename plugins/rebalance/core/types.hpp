// Value types shared by every piece of the rebalance core: node names, per-node counts and the
// view of the cluster that option validation needs. No I/O.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace tidemq::rebalance {

using NodeId = std::string;  // "name@host", as in the cluster membership

// Which generation of the admin API a response is rendered for (docs/rebalance.md, "HTTP API").
// v5 status bodies carry the two *_rpc_timeout keys that v4 bodies lack; everything else is identical.
enum class ApiVersion { v4, v5 };

// Owner kinds of the eviction agent (docs/rebalance.md, "The eviction agent").
inline constexpr std::string_view kKindEvacuation = "evacuation";
inline constexpr std::string_view kKindRebalance = "rebalance";

// One node's counts, node-local only (docs/rebalance.md, "Counts").
struct NodeCounts {
  std::uint64_t connections = 0;            // live MQTT connections
  std::uint64_t sessions = 0;               // every session, connected or not (incl. migrated ones)
  std::uint64_t disconnected_sessions = 0;  // sessions without a connection
  std::uint64_t stuck_sessions = 0;         // given up after the last migration attempt
  bool available = true;                    // eviction agent disabled: may receive sessions

  friend bool operator==(const NodeCounts&, const NodeCounts&) = default;
};

using NodeCountMap = std::map<NodeId, NodeCounts>;

// What option validation needs to know about the cluster (`nodes`, `migrate_to`; docs/rebalance.md,
// "Availability").
struct ClusterView {
  std::vector<NodeId> members;    // every node name the cluster knows (running or not)
  std::vector<NodeId> available;  // running members whose eviction agent is disabled

  bool is_member(const NodeId& n) const { return std::find(members.begin(), members.end(), n) != members.end(); }
  bool is_available(const NodeId& n) const {
    return std::find(available.begin(), available.end(), n) != available.end();
  }
};

}  // namespace tidemq::rebalance
