#include <catch2/catch.hpp>

#include <cmath>

#include "rebalance/core/balance.hpp"

using namespace tidemq::rebalance;

namespace {
const Thresholds kDefaults{1000, 1.1};
}

TEST_CASE("within_thresholds is inclusive and needs both thresholds exceeded", "[unit][rebalance][balance]") {
  struct Row {
    double value, goal;
    Thresholds t;
    bool within;
  };
  const Row rows[] = {
      // 1000, 1000, 0 with the default thresholds: 1000 <= 0 + 1000
      {1000, 0, kDefaults, true},
      {1001, 0, kDefaults, false},
      // inclusive: equality on either side is within
      {1100, 100, {1000, 1.1}, true},
      {2574, 2340, {100, 1.1}, true},          // operator doc: 2574 <= 2340 × 1.1
      {2553.3, 2340, {100, 1.1}, true},
      {2575, 2340, {100, 1.1}, false},          // > 2440 and > 2574
      {2440, 2340, {100, 1.1}, true},           // abs alone
      {2441, 2340, {100, 1.01}, false},
      // only the relative threshold holds
      {10500, 10000, {100, 1.1}, true},
      // only the absolute threshold holds
      {150, 100, {100, 1.1}, true},
      {201, 100, {100, 1.1}, false},
      // recipients empty of load: the relative test never helps
      {1, 0, {1, 1.1}, true},
      {2, 0, {1, 1.1}, false},
      // donors below the goal
      {5, 100, {1, 1.1}, true},
  };
  for (const auto& r : rows) {
    INFO(r.value << " vs " << r.goal << " abs " << r.t.abs << " rel " << r.t.rel);
    CHECK(within_thresholds(r.value, r.goal, r.t) == r.within);
  }
}

TEST_CASE("donors are the nodes at or above the mean connection count", "[unit][rebalance][balance]") {
  struct Row {
    CountMap conns;
    std::vector<NodeId> donors, recipients;
  };
  const Row rows[] = {
      {{{"a", 1000}, {"b", 1000}, {"c", 0}}, {"a", "b"}, {"c"}},
      {{{"a", 3000}, {"b", 3000}, {"c", 0}}, {"a", "b"}, {"c"}},
      {{{"a", 30000}, {"b", 0}, {"c", 0}, {"d", 0}}, {"a"}, {"b", "c", "d"}},
      {{{"a", 10}, {"b", 10}, {"c", 10}}, {"a", "b", "c"}, {}},  // all equal: no recipient
      {{{"a", 7}}, {"a"}, {}},                                   // single node
      {{{"a", 2}, {"b", 1}}, {"a"}, {"b"}},                      // mean 1.5
      {{{"a", 2}, {"b", 1}, {"c", 0}}, {"a", "b"}, {"c"}},       // b == mean
      {{{"a", 0}, {"b", 0}}, {"a", "b"}, {}},
      {{}, {}, {}},
  };
  for (const auto& r : rows) {
    const auto split = donors_and_recipients(r.conns);
    CHECK(split.donors == r.donors);
    CHECK(split.recipients == r.recipients);
  }
}

TEST_CASE("average over a node list", "[unit][rebalance][balance]") {
  const CountMap m{{"a", 1}, {"b", 2}, {"c", 4}};
  CHECK(average(m, {"a", "b", "c"}) == Approx(7.0 / 3));
  CHECK(average(m, {"a", "missing"}) == 0.5);
  CHECK(average(m, {}) == 0.0);
}

TEST_CASE("nothing to balance", "[unit][rebalance][balance]") {
  struct Row {
    const char* what;
    CountMap conns, sessions;
    Thresholds conn, sess;
    bool nothing;
  };
  const Row rows[] = {
      {"1000,1000,0 with default thresholds", {{"a", 1000}, {"b", 1000}, {"c", 0}},
       {{"a", 1000}, {"b", 1000}, {"c", 0}}, kDefaults, kDefaults, true},
      {"abs 100: connections unbalanced", {{"a", 1000}, {"b", 1000}, {"c", 0}}, {{"a", 1000}, {"b", 1000}, {"c", 0}},
       {100, 1.1}, kDefaults, false},
      {"connections balanced but sessions not", {{"a", 1000}, {"b", 1000}, {"c", 0}},
       {{"a", 5000}, {"b", 5000}, {"c", 0}}, kDefaults, kDefaults, false},
      {"single node", {{"a", 5000}}, {{"a", 5000}}, {1, 1.1}, {1, 1.1}, true},
      {"all equal (a session-only imbalance)", {{"a", 10}, {"b", 10}}, {{"a", 900}, {"b", 0}}, {1, 1.1},
       {1, 1.1}, true},
      {"3×10 000 + 0 at abs 100", {{"a", 10000}, {"b", 10000}, {"c", 10000}, {"d", 0}},
       {{"a", 10000}, {"b", 10000}, {"c", 10000}, {"d", 0}}, {100, 1.1}, {100, 1.1}, false},
      {"empty cluster", {}, {}, kDefaults, kDefaults, true},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    CHECK(nothing_to_balance(donors_and_recipients(r.conns), r.conns, r.sessions, r.conn, r.sess) == r.nothing);
  }
}

TEST_CASE("per-tick batches never overshoot", "[unit][rebalance][balance]") {
  struct Row {
    const char* what;
    CountMap counts;
    std::vector<NodeId> donors, recipients;
    std::uint64_t rate;
    std::vector<Batch> want;
  };
  const Row rows[] = {
      {"documented example, tick 1", {{"a", 3000}, {"b", 3000}, {"c", 0}}, {"a", "b"}, {"c"}, 500, {{"a", 500}, {"b", 500}}},
      {"documented example, tick 2", {{"a", 2500}, {"b", 2500}, {"c", 1000}}, {"a", "b"}, {"c"}, 500, {{"a", 500}, {"b", 500}}},
      {"the last batch stops at the mean", {{"a", 2100}, {"b", 2000}, {"c", 1900}}, {"a", "b"}, {"c"}, 500,
       {{"a", 100}}},
      {"donor at the mean gives nothing", {{"a", 2000}, {"b", 2000}, {"c", 2000}}, {"a", "b"}, {"c"}, 500, {}},
      {"rate caps a big need", {{"a", 10000}, {"b", 0}}, {"a"}, {"b"}, 500, {{"a", 500}}},
      {"need below the rate", {{"a", 10300}, {"b", 9700}}, {"a"}, {"b"}, 500, {{"a", 300}}},
      {"uneven donors", {{"a", 9000}, {"b", 6000}, {"c", 0}, {"d", 1000}}, {"a", "b"}, {"c", "d"}, 10000,
       {{"a", 5000}, {"b", 2000}}},
      // mean 3000: a needs 5000, but 3000 already make the donor mean (5000 + 1000)/2 equal c's 3000
      {"a donor that fell below the mean", {{"a", 8000}, {"b", 1000}, {"c", 0}}, {"a", "b"}, {"c"}, 10000,
       {{"a", 3000}}},
      {"rounding: 9 donors of 2, one recipient of 0", {{"d1", 2}, {"d2", 2}, {"d3", 2}, {"d4", 2}, {"d5", 2},
                                                       {"d6", 2}, {"d7", 2}, {"d8", 2}, {"d9", 2}, {"r", 0}},
       {"d1", "d2", "d3", "d4", "d5", "d6", "d7", "d8", "d9"}, {"r"}, 500, {{"d1", 1}, {"d2", 1}}},
      {"fractional mean rounds the need up", {{"a", 4}, {"b", 0}, {"c", 1}}, {"a"}, {"b", "c"}, 500, {{"a", 3}}},
      {"rate 1", {{"a", 100}, {"b", 100}, {"c", 0}}, {"a", "b"}, {"c"}, 1, {{"a", 1}, {"b", 1}}},
      {"no recipient", {{"a", 100}}, {"a"}, {}, 500, {}},
  };
  for (const auto& r : rows) {
    INFO(r.what);
    CHECK(nodes_to_evict(r.counts, r.donors, r.recipients, r.rate) == r.want);
  }
}

TEST_CASE("batches respect what may move", "[unit][rebalance][balance]") {
  const CountMap counts{{"a", 1000}, {"b", 1000}, {"c", 0}};
  const CountMap movable{{"a", 10}, {"b", 0}, {"c", 0}};
  CHECK(nodes_to_evict(counts, {"a", "b"}, {"c"}, 500, &movable) == std::vector<Batch>{{"a", 10}});
  const CountMap none{{"a", 0}, {"b", 0}, {"c", 0}};
  CHECK(nodes_to_evict(counts, {"a", "b"}, {"c"}, 500, &none).empty());
}

TEST_CASE("batches always make progress while not within thresholds", "[unit][rebalance][balance]") {
  // Exhaustive over small clusters: whenever the donors are not within thresholds (abs >= 1),
  // some donor gives something, and no donor is pushed below floor(mean).
  for (std::uint64_t a = 0; a <= 12; ++a) {
    for (std::uint64_t b = 0; b <= 12; ++b) {
      for (std::uint64_t c = 0; c <= 12; ++c) {
        const CountMap counts{{"a", a}, {"b", b}, {"c", c}};
        const auto split = donors_and_recipients(counts);
        if (split.recipients.empty()) continue;
        const Thresholds t{1, 1.1};
        const bool within = within_thresholds(average(counts, split.donors), average(counts, split.recipients), t);
        const auto batches = nodes_to_evict(counts, split.donors, split.recipients, 3);
        INFO(a << "," << b << "," << c);
        if (!within) CHECK_FALSE(batches.empty());
        const double mean = static_cast<double>(a + b + c) / 3;
        std::uint64_t moved = 0;
        for (const auto& x : batches) {
          CHECK(x.count <= 3);
          CHECK(static_cast<double>(counts.at(x.node) - x.count) >= std::floor(mean));
          moved += x.count;
        }
        // In aggregate at most ceil(excess of the donors over the mean).
        double excess = 0;
        for (const auto& d : split.donors) excess += static_cast<double>(counts.at(d)) - mean;
        CHECK(static_cast<double>(moved) <= std::ceil(excess - 1e-9));
      }
    }
  }
}

TEST_CASE("moves to balance", "[unit][rebalance][balance]") {
  struct Row {
    double d;
    std::size_t nd;
    double r;
    std::size_t nr;
    Thresholds t;
    std::uint64_t want;
  };
  const Row rows[] = {
      // 2 donors → 1 recipient; the relative threshold is met first: 3000·2/(1 + 2.2) = 1875
      {3000, 2, 0, 1, {100, 1.1}, 1875},
      {2000, 2, 2000, 1, {100, 1.1}, 0},     // within already
      {10000, 3, 0, 1, {100, 1.1}, 6977},    // 30000/4.3 = 6976.7
      {1000, 1, 0, 1, {1000, 1.1}, 0},       // defaults: 1000 <= 0 + 1000
      {10000, 1, 9000, 1, {1, 1.05}, 269},   // relative: 550/2.05 = 268.3 (absolute would be 499.5)
      {5000, 1, 1000, 1, {3000, 1.1}, 500},  // absolute: (5000 − 1000 − 3000)/2 (relative 1857.1)
      {10, 0, 0, 1, {1, 1.1}, 0},            // no donors
  };
  for (const auto& r : rows) {
    INFO(r.d << " " << r.nd << " " << r.r << " " << r.nr);
    const auto x = moves_to_balance(r.d, r.nd, r.r, r.nr, r.t);
    CHECK(x == r.want);
    if (r.nd > 0 && x > 0) {  // after x moves the donors are within, after x − 1 not yet
      const double dx = static_cast<double>(x);
      CHECK(within_thresholds(r.d - dx / r.nd, r.r + dx / r.nr, r.t));
      CHECK_FALSE(within_thresholds(r.d - (dx - 1) / r.nd, r.r + (dx - 1) / r.nr, r.t));
    }
  }
}

TEST_CASE("moves are distributed the way ticks give them", "[unit][rebalance][balance]") {
  const std::vector<Batch> needs{{"a", 100}, {"b", 10}, {"c", 40}};
  CHECK(distribute_moves(needs, 0) == std::vector<Batch>{{"a", 0}, {"b", 0}, {"c", 0}});
  CHECK(distribute_moves(needs, 30) == std::vector<Batch>{{"a", 10}, {"b", 10}, {"c", 10}});
  CHECK(distribute_moves(needs, 31) == std::vector<Batch>{{"a", 11}, {"b", 10}, {"c", 10}});
  CHECK(distribute_moves(needs, 60) == std::vector<Batch>{{"a", 25}, {"b", 10}, {"c", 25}});
  CHECK(distribute_moves(needs, 1000) == std::vector<Batch>{{"a", 100}, {"b", 10}, {"c", 40}});
}

TEST_CASE("phase estimate: remaining moves and ticks", "[unit][rebalance][balance]") {
  // docs/rebalance.md, "Rebalance example": 3000, 3000, 0 at rate 500, abs 100: 2 ticks of 500 per donor.
  const CountMap counts{{"a", 3000}, {"b", 3000}, {"c", 0}};
  auto e = estimate_phase(counts, {"a", "b"}, {"c"}, 500, {100, 1.1});
  CHECK(e.remaining == 1875);
  CHECK(e.ticks == 2);
  CHECK(e.shares == std::vector<Batch>{{"a", 938}, {"b", 937}});
  // Within thresholds: nothing left.
  const CountMap even{{"a", 2000}, {"b", 2000}, {"c", 2000}};
  auto done = estimate_phase(even, {"a", "b"}, {"c"}, 500, {100, 1.1});
  CHECK(done.remaining == 0);
  CHECK(done.ticks == 0);
}
