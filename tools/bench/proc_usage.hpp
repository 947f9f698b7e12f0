// CPU and memory use from /proc and getrusage: the broker's (--watch-pid), this tool's and the
// whole machine's, for the summary's CPU lines.
#pragma once

namespace tidemq::bench {

// CPU time and resident memory of a process (the broker, with --watch-pid).
struct ProcSample {
  bool ok = false;
  double cpu_s = 0;
  long rss_kb = 0;
};
ProcSample sample_proc(int pid);  // ok = false when pid <= 0 or /proc/<pid> cannot be read

// Whole-machine busy CPU time in seconds (all cores, from /proc/stat), to show interference.
double machine_busy_s();

// This process's CPU time (user + system) in seconds.
double self_cpu_s();

}  // namespace tidemq::bench
