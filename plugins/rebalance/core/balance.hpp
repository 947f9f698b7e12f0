// Balance maths of the cluster rebalance (docs/rebalance.md, "Donors, recipients and thresholds",
// "Batch sizes"), as free functions over per-node counts, named in EMQX's vocabulary (donor,
// recipient, within_thresholds, nodes_to_evict). Pure: no clock, no I/O.
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "rebalance/core/types.hpp"

namespace tidemq::rebalance {

using CountMap = std::map<NodeId, std::uint64_t>;

struct Thresholds {
  std::uint64_t abs = 0;
  double rel = 1.0;
};

// Mean of `counts` over `nodes` (a node missing from `counts` counts 0); 0 for no nodes.
double average(const CountMap& counts, const std::vector<NodeId>& nodes);

// The balance predicate, inclusive: value <= goal + abs  OR  value <= goal * rel.
// value = donor average, goal = recipient average. Not balanced iff both thresholds are exceeded.
bool within_thresholds(double value, double goal, Thresholds t);

// Donors are the nodes whose count is at or above the mean, the others recipients.
// Both lists keep the (sorted) key order of `counts`.
struct DonorSplit {
  std::vector<NodeId> donors;
  std::vector<NodeId> recipients;
};
DonorSplit donors_and_recipients(const CountMap& connections);

// The start check: no donors, no recipients, or connections and (all) sessions
// both within thresholds over the initial counts.
bool nothing_to_balance(const DonorSplit& split, const CountMap& connections, const CountMap& sessions,
                        Thresholds conn, Thresholds sess);

// One donor's share of a tick.
struct Batch {
  NodeId node;
  std::uint64_t count = 0;
  friend bool operator==(const Batch&, const Batch&) = default;
};

// Per-tick batches without overshoot (docs/rebalance.md, "Batch sizes"). With avg the mean over donors and recipients, a donor
// needs ceil(count − avg) (none when at or below the mean) and gives min(rate, need, movable);
// the tick as a whole moves at most ceil(Σ over donors of (count − avg)), the amount that makes
// the donor mean equal the recipient mean if everything moved lands on recipients. Larger needs
// are served first, ties in node order. Whenever the donors are not within thresholds (abs ≥ 1)
// at least one batch is non-empty, unless `movable` (per donor, default: everything) forbids it.
// Donors without a batch are left out; the result is in node order.
std::vector<Batch> nodes_to_evict(const CountMap& counts, const std::vector<NodeId>& donors,
                                  const std::vector<NodeId>& recipients, std::uint64_t rate,
                                  const CountMap* movable = nullptr);

// How many must move from donors to recipients, evenly spread on both sides, before
// within_thresholds holds (0 when it holds already).
std::uint64_t moves_to_balance(double donor_avg, std::size_t donors, double recipient_avg, std::size_t recipients,
                               Thresholds t);

// Splits `total` over donors the way the ticks do: every donor gives the same amount until its
// own need is met (water-filling from below); the sum is min(total, Σ needs).
std::vector<Batch> distribute_moves(const std::vector<Batch>& needs, std::uint64_t total);

// What is left of a phase (for progress, ETA and the dry-run plan): the moves still needed and
// the ticks they take at `rate` per donor and tick; per donor the share it is expected to give.
struct PhaseEstimate {
  std::uint64_t remaining = 0;
  std::uint64_t ticks = 0;
  std::vector<Batch> shares;
};
PhaseEstimate estimate_phase(const CountMap& counts, const std::vector<NodeId>& donors,
                             const std::vector<NodeId>& recipients, std::uint64_t rate, Thresholds t,
                             const CountMap* movable = nullptr);

}  // namespace tidemq::rebalance
