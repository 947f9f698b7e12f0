// tidemq_bench fleet: a population of MQTT 5 devices with persistent sessions, spread over the nodes
// of a cluster, that reconnect the way devices behind a load balancer do. Used to time a rebalance
// or an evacuation from the clients' side (tools/bench/time_to_balance.py).
#pragma once

#include <string>
#include <vector>

#include "options.hpp"

namespace tidemq::bench {

// Parses "host:port=count,host:port=count,..." ("=count" may be left out: 0). Returns "" or an error.
std::string parse_fleet_nodes(const std::string& text, std::vector<FleetNode>& out);

// Runs the fleet until --duration has passed or SIGINT/SIGTERM; returns the exit code (0 ok, 1 error).
int run_fleet(const FleetOptions& opt);

}  // namespace tidemq::bench
