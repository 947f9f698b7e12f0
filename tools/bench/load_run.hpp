// The load engine: runs a conn / pub / sub / pubsub scenario from its plan to its summary.
#pragma once

#include "options.hpp"

namespace tidemq::bench {

// Returns the process exit code: 0 ok, 1 errors (see print_summary), 2 bad addresses.
int run_load(const Options& opt);

}  // namespace tidemq::bench
