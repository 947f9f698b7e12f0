// Cluster-wide admin endpoints: every member in /api/v4/nodes, another node's stats, a client on
// any node (shown, kicked or migrated), the route table, and cluster join/leave. A node with
// clustering off registers them too, over its cluster of one (join and leave answer 409).
#pragma once

#include "admin/broker_api.hpp"
#include "admin/router.hpp"
#include "cluster/cluster.hpp"

namespace tidemq::admin {

void register_cluster_api(Router& router, cluster::Cluster& cluster, core::Broker& broker, NodeInfo node);

}  // namespace tidemq::admin
