// DELETE /api/v4/clients/{clientid} for the whole cluster: the session is discarded (an MQTT 5
// connection gets DISCONNECT 0x98) on whichever node holds it. The owner is found through the
// cluster's client registry, as GET /api/v4/clients/{clientid} finds it, and another node is
// asked by the cluster method `client.kick.v1` ({"c": id} → {"kicked": bool}).
#pragma once

#include "admin/router.hpp"
#include "cluster/cluster.hpp"
#include "core/broker.hpp"

namespace tidemq::admin {

// Registers the route and the cluster method; before the node-local routes, which it replaces.
void register_cluster_kick(Router& router, cluster::Cluster& cluster, core::Broker& broker);

}  // namespace tidemq::admin
