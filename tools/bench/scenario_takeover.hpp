// tidemq_bench takeover: cross-node session takeover latency (see scenario_takeover.cpp).
#pragma once

#include "options.hpp"

namespace tidemq::bench {

// Returns the process exit code: 0 ok, 1 failures past --fail-threshold (or no session on A),
// 2 bad addresses.
int run_takeover(const Options& o);

}  // namespace tidemq::bench
