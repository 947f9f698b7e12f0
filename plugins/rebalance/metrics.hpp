// The rebalance plugin's lines of GET /metrics (Prometheus text).
#pragma once

#include <string>

#include "rebalance/plugin_parts.hpp"

namespace tidemq::rebalance {

// The state of each process, eviction totals, what is left, the ETA and the migration audit;
// "" once the plugin has stopped.
std::string render_metrics(const PluginParts& parts);

}  // namespace tidemq::rebalance
