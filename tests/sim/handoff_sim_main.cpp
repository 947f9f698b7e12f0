// tidemq_handoff_sim: runs the deterministic handoff simulation over many seeds.
//   tidemq_handoff_sim --seeds 2000 [--first 1] [--profile strict|crash|mixed] [--time-limit 60]
//   tidemq_handoff_sim --replay SEED --profile strict [--verbose]    (one seed, its trace)
//   tidemq_handoff_sim --seed-list tests/sim/regression_seeds.txt    (seeds that once failed)
// Exit code 0: no violation; 1: a violation (the seed, the profile and the report are printed);
// 2: usage error.
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "handoff_sim.hpp"

int main(int argc, char** argv) {
  CLI::App app{"Deterministic simulation of tidemq's session handoff protocol"};
  std::uint64_t seeds = 200, first = 1, replay = 0;
  std::string profile = "mixed";
  double time_limit = 0;
  bool verbose = false, keep_going = false, list = false;
  std::string seed_list;
  app.add_option("--seeds", seeds, "how many seeds to run");
  app.add_option("--first", first, "the first seed");
  app.add_option("--replay", replay, "run this one seed (with --verbose: print its trace)");
  app.add_option("--profile", profile, "strict | crash | mixed (every 4th seed crash)")->check(CLI::IsMember({"strict", "crash", "mixed"}));
  app.add_option("--time-limit", time_limit, "stop starting new seeds after this many seconds (0: none)");
  app.add_flag("--verbose", verbose, "print the trace of the run (with --replay)");
  app.add_flag("--keep-going", keep_going, "run every seed even after a violation");
  app.add_flag("--list", list, "one line per seed");
  app.add_option("--seed-list", seed_list, "run the seeds of this file, one \"SEED PROFILE\" per line (# starts a comment)")
      ->check(CLI::ExistingFile);
  CLI11_PARSE(app, argc, argv);

  // What to run: (seed, profile) pairs.
  std::vector<std::pair<std::uint64_t, std::string>> runs;
  if (!seed_list.empty()) {
    std::ifstream in(seed_list);
    std::string line;
    for (int n = 1; std::getline(in, line); ++n) {
      line = line.substr(0, line.find('#'));
      std::istringstream fields(line);
      std::uint64_t seed = 0;
      std::string p;
      if (!(fields >> seed)) {
        if (line.find_first_not_of(" \t\r") == std::string::npos) continue;  // blank
        fmt::print(stderr, "{}:{}: expected \"SEED PROFILE\"\n", seed_list, n);
        return 2;
      }
      if (!(fields >> p) || (p != "strict" && p != "crash")) {
        fmt::print(stderr, "{}:{}: the profile must be strict or crash\n", seed_list, n);
        return 2;
      }
      runs.emplace_back(seed, p);
    }
    if (runs.empty()) {
      fmt::print(stderr, "{}: no seeds\n", seed_list);
      return 2;
    }
    first = runs.front().first;
    profile = "list";
  } else {
    if (replay) {
      first = replay;
      seeds = 1;
    }
    for (std::uint64_t seed = first; seed < first + seeds; ++seed)
      runs.emplace_back(seed, profile == "mixed" ? (seed % 4 == 0 ? "crash" : "strict") : profile);
  }
  const auto start = std::chrono::steady_clock::now();
  std::uint64_t ran = 0, failed = 0;
  tidemq::sim::RunCounts total;
  for (const auto& [seed, seed_profile] : runs) {
    if (time_limit > 0 && std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() > time_limit) break;
    tidemq::sim::RunOptions o;
    o.seed = seed;
    o.profile = seed_profile;
    o.verbose = verbose && replay;
    auto r = tidemq::sim::run_handoff_simulation(o);
    ++ran;
    total += r.counts;
    if (list)
      fmt::print("seed {} {}: {} events, {} accepted, {} owed, {} takeovers, {} migrations, {}\n", r.seed, r.profile,
                 r.counts.events, r.counts.accepted, r.counts.owed, r.counts.takeovers, r.counts.migrations,
                 r.ok() ? "ok" : "VIOLATION");
    if (!r.ok()) {
      ++failed;
      fmt::print("VIOLATION seed {} profile {} ({} violation(s)):\n", r.seed, r.profile, r.violations.size());
      for (const auto& v : r.violations) fmt::print("  {}\n", v);
      if (!verbose) {
        fmt::print("  last trace lines:\n");
        const std::size_t from = r.trace_tail.size() > 60 ? r.trace_tail.size() - 60 : 0;
        for (std::size_t i = from; i < r.trace_tail.size(); ++i) fmt::print("    {}\n", r.trace_tail[i]);
      }
      fmt::print("  replay: tidemq_handoff_sim --replay {} --profile {} --verbose\n", r.seed, r.profile);
      if (!keep_going) break;
    }
  }
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  fmt::print(
      "handoff simulation: {} seed(s) from {} ({}), {} violating; {:.1f} s wall, {:.0f} s virtual, {} events; "
      "{} faults, {} takeovers, {} migrations ({} fenced, {} superseded), {} stale copies discarded; "
      "{} messages accepted, {} owed deliveries checked, {} exempt, {} QoS 1 duplicates\n",
      ran, first, profile, failed, wall, total.virtual_seconds, total.events, total.faults, total.takeovers, total.migrations,
      total.fenced, total.superseded, total.stale_discarded, total.accepted, total.owed, total.exempt, total.qos1_duplicates);
  return failed ? 1 : 0;
}
