// What a conn / pub / sub / pubsub run prints: the progress line every second and the summary at
// the end (text on stdout, and the --json file). The scripts in tools/bench read both.
#pragma once

#include <cstdint>
#include <string>

#include "error_log.hpp"
#include "load_plan.hpp"
#include "load_stats.hpp"
#include "options.hpp"
#include "proc_usage.hpp"

namespace tidemq::bench {

// "[t=3s] conns=100 pub=20000/s recv=20000/s p50=... p99=..." from the totals now and at the last line.
std::string progress_line(const Options& o, const Plan& plan, const std::string& phase, const Totals& now,
                          const Totals& last, double seconds_since_last, long elapsed_seconds);

// What a run measured. Times are now_ns() values.
struct RunRecord {
  std::uint64_t t_begin = 0;          // the start of the run
  std::uint64_t t_run0 = 0, t_run1 = 0;  // the measurement window
  Totals totals;                      // at the end
  Totals at_run0, at_run1;            // at the start and the end of the window
  ProcSample watch_begin, watch_run0, watch_run1;  // --watch-pid: before connecting, window start, end
  double cpu_run0 = 0, cpu_run1 = 0;    // this process's CPU seconds at the window's start and end
  double busy_run0 = 0, busy_run1 = 0;  // the machine's busy CPU seconds likewise
  double routes_wait_ms = -1;         // --wait-routes: how long until every filter was visible (-1: no wait)
  std::size_t routes_missing = 0;
  std::uint64_t lost = 0;             // pubsub: messages sent that a subscriber never got
  std::uint64_t gaps = 0;             // sequence gaps seen by the subscribers
  ErrorCounts errors;                 // the most frequent ones
};

// Prints the summary (and writes --json); returns the exit code: 1 when no connection succeeded or
// failed + dropped connections exceed --fail-threshold, else 0.
int print_summary(const Options& o, const Plan& plan, const RunRecord& r);

}  // namespace tidemq::bench
