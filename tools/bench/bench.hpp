// The load generator: worker threads (one io_context each, connections pinned for life) driven by
// a control loop on the main thread that runs the phases, prints progress and the summary.
#pragma once

#include <atomic>

#include "options.hpp"

namespace tidemq::bench {

// Set by SIGINT/SIGTERM: ends the run early (a summary is still printed).
extern std::atomic<bool> g_interrupted;

// Runs one benchmark; returns the process exit code (0 ok, 1 errors).
int run_bench(const Options& opt);

}  // namespace tidemq::bench
