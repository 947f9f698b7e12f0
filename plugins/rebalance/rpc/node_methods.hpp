// The cluster RPC methods of the rebalance plugin (rebalance.*.v1): what a node answers when the
// admin API or tidemq_ctl of any member runs a start, stop, status, plan or global_status here.
// Registered by the plugin at start; the registrations undo them at stop.
#pragma once

#include <vector>

#include "rebalance/plugin_parts.hpp"

namespace tidemq::rebalance {

// Registers this node's methods, including the rebalance coordinator's (counts, donor.*).
std::vector<plugin::Registration> register_node_methods(plugin::ClusterServices& cluster, PluginParts& parts);

}  // namespace tidemq::rebalance
