// The admin API of the rebalance plugin: /api/v4/load_rebalance/... and the same handlers under
// /api/v5 conventions, plus node_eviction/status and the public availability_check
// (docs/rebalance.md, "HTTP API"). A route naming a {node} runs there through the plugin's cluster
// RPC methods (rpc/node_methods).
#pragma once

#include "rebalance/plugin_parts.hpp"

namespace tidemq::rebalance {

// The routes stay registered after the plugin stops (the admin API has no undo); `parts` must
// outlive the admin router's use of them.
void register_http_routes(plugin::AdminServices& admin, const PluginParts& parts);

}  // namespace tidemq::rebalance
