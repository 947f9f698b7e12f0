// The MQTT scenarios' entry point: the Ctrl-C flag, and which engine runs a mode (takeover has its
// own; conn / pub / sub / pubsub share the load engine).
#include "bench.hpp"

#include "load_run.hpp"
#include "scenario_takeover.hpp"

namespace tidemq::bench {

std::atomic<bool> g_interrupted{false};

int run_bench(const Options& opt) {
  if (opt.mode == Mode::takeover) return run_takeover(opt);
  return run_load(opt);
}

}  // namespace tidemq::bench
