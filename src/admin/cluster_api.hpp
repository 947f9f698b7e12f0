// Cluster-wide admin endpoints: every member in /api/v4/nodes, another node's stats, a client on
// any node (shown or kicked), the route table, and cluster join/leave. Registered before the
// node-local ones so that /api/v4/nodes and /api/v4/clients/{clientid} answer for the whole cluster.
#pragma once

#include "admin/broker_api.hpp"
#include "admin/router.hpp"
#include "cluster/cluster.hpp"

namespace tidemq::admin {

void register_cluster_api(Router& router, cluster::Cluster& cluster, core::Broker& broker, NodeInfo node);
// The same endpoints for a node with clustering off: a cluster of one; join/leave answer 409.
void register_standalone_cluster_api(Router& router, core::Broker& broker, NodeInfo node);

}  // namespace tidemq::admin
