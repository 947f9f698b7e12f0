// One run of the handoff simulation: a seeded scenario (nodes, clients, a fault schedule), run to
// quiescence, then checked against the handoff invariants (docs/cluster.md, "Invariants"):
//   - at most one session per client id, and every persistent subscriber has exactly one;
//   - nothing stuck: no handoff left in motion, every session drained;
//   - every QoS 1/2 message a publisher got acknowledged reaches every subscriber that was
//     subscribed to its topic before it was published (QoS 2 exactly once);
//   - per publisher connection and topic, messages arrive in publish order;
//   - no session is lost (CONNACK session present = 0) while its expiry has not passed.
// Profile "strict" has no crashes and no pause long enough to be declared down: nothing is exempt.
// Profile "crash" adds kill -9 with restart and long pauses: a crashed node's sessions and the
// messages in flight around a crash are exempt (and counted).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tidemq::sim {

struct RunOptions {
  std::uint64_t seed = 1;
  std::string profile = "strict";  // strict | crash
  bool verbose = false;
};

// What a run did (summed over runs by the CLI).
struct RunCounts {
  std::uint64_t events = 0;
  double virtual_seconds = 0;
  std::uint64_t accepted = 0, owed = 0, exempt = 0, receipts = 0, qos1_duplicates = 0;
  std::uint64_t takeovers = 0, migrations = 0, fenced = 0, superseded = 0, stale_discarded = 0, faults = 0;
  RunCounts& operator+=(const RunCounts& o);
};

struct RunResult {
  std::uint64_t seed = 0;
  std::string profile;
  std::vector<std::string> violations;
  std::vector<std::string> trace_tail;  // the last lines of the run's trace (on violation)
  RunCounts counts;
  bool ok() const { return violations.empty(); }
};

RunResult run_handoff_simulation(const RunOptions& options);

}  // namespace tidemq::sim
