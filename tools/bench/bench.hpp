// tidemq_bench's MQTT scenarios behind one entry point: conn / pub / sub / pubsub run on the load
// engine (load_run.hpp), takeover on its own (scenario_takeover.hpp); fleet is separate
// (scenario_fleet.hpp). Also the Ctrl-C flag every scenario watches.
#pragma once

#include <atomic>

#include "options.hpp"

namespace tidemq::bench {

// Set by SIGINT/SIGTERM: ends the run early (a summary is still printed).
extern std::atomic<bool> g_interrupted;

// Runs one benchmark (opt.mode); returns the process exit code (0 ok, 1 errors, 2 bad addresses).
int run_bench(const Options& opt);

}  // namespace tidemq::bench
