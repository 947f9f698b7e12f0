#include "rebalance/core/balance.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

namespace tidemq::rebalance {

namespace {

std::uint64_t count_of(const CountMap& counts, const NodeId& n) {
  auto it = counts.find(n);
  return it == counts.end() ? 0 : it->second;
}

std::uint64_t ceil_div(std::uint64_t num, std::uint64_t den) { return num / den + (num % den != 0 ? 1 : 0); }

// Per donor: ceil(count − avg) capped by movable, where avg = sum / n (exact integer maths).
std::vector<Batch> needs_of(const CountMap& counts, const std::vector<NodeId>& donors,
                            const std::vector<NodeId>& recipients, const CountMap* movable,
                            std::uint64_t* budget) {
  const std::uint64_t n = donors.size() + recipients.size();
  std::uint64_t sum = 0;
  std::uint64_t donor_sum = 0;
  for (const auto& d : donors) donor_sum += count_of(counts, d);
  sum = donor_sum;
  for (const auto& r : recipients) sum += count_of(counts, r);

  std::vector<Batch> needs;
  for (const auto& d : donors) {
    const std::uint64_t c = count_of(counts, d);
    std::uint64_t need = c * n > sum ? ceil_div(c * n - sum, n) : 0;
    if (movable) need = std::min(need, count_of(*movable, d));
    needs.push_back({d, need});
  }
  if (budget) {
    // Σ over donors of (count − avg) = (n·donor_sum − |donors|·sum) / n, rounded up.
    const std::uint64_t a = n * donor_sum;
    const std::uint64_t b = donors.size() * sum;
    *budget = a > b ? ceil_div(a - b, n) : 0;
  }
  return needs;
}

}  // namespace

double average(const CountMap& counts, const std::vector<NodeId>& nodes) {
  if (nodes.empty()) return 0.0;
  double sum = 0.0;
  for (const auto& n : nodes) sum += static_cast<double>(count_of(counts, n));
  return sum / static_cast<double>(nodes.size());
}

bool within_thresholds(double value, double goal, Thresholds t) {
  return value <= goal + static_cast<double>(t.abs) || value <= goal * t.rel;
}

DonorSplit donors_and_recipients(const CountMap& connections) {
  DonorSplit split;
  if (connections.empty()) return split;
  std::uint64_t sum = 0;
  for (const auto& [node, c] : connections) sum += c;
  const std::uint64_t n = connections.size();
  for (const auto& [node, c] : connections) {
    if (c * n >= sum) split.donors.push_back(node);  // c >= mean, exactly
    else split.recipients.push_back(node);
  }
  return split;
}

bool nothing_to_balance(const DonorSplit& split, const CountMap& connections, const CountMap& sessions,
                        Thresholds conn, Thresholds sess) {
  if (split.donors.empty() || split.recipients.empty()) return true;
  const bool conns_ok =
      within_thresholds(average(connections, split.donors), average(connections, split.recipients), conn);
  const bool sessions_ok =
      within_thresholds(average(sessions, split.donors), average(sessions, split.recipients), sess);
  return conns_ok && sessions_ok;
}

std::vector<Batch> nodes_to_evict(const CountMap& counts, const std::vector<NodeId>& donors,
                                  const std::vector<NodeId>& recipients, std::uint64_t rate,
                                  const CountMap* movable) {
  if (donors.empty() || recipients.empty() || rate == 0) return {};
  std::uint64_t budget = 0;
  std::vector<Batch> needs = needs_of(counts, donors, recipients, movable, &budget);
  std::vector<std::size_t> order(needs.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) { return needs[a].count > needs[b].count; });
  std::vector<std::uint64_t> take(needs.size(), 0);
  for (std::size_t i : order) {
    take[i] = std::min({rate, needs[i].count, budget});
    budget -= take[i];
  }
  std::vector<Batch> out;
  for (std::size_t i = 0; i < needs.size(); ++i) {
    if (take[i] > 0) out.push_back({needs[i].node, take[i]});
  }
  return out;
}

std::uint64_t moves_to_balance(double donor_avg, std::size_t donors, double recipient_avg, std::size_t recipients,
                               Thresholds t) {
  if (donors == 0 || recipients == 0) return 0;
  if (within_thresholds(donor_avg, recipient_avg, t)) return 0;
  const double nd = static_cast<double>(donors);
  const double nr = static_cast<double>(recipients);
  // Moving x: donor mean − x/nd, recipient mean + x/nr. Smallest x meeting either threshold.
  const double x_abs = (donor_avg - recipient_avg - static_cast<double>(t.abs)) * nd * nr / (nd + nr);
  const double x_rel = (donor_avg - t.rel * recipient_avg) * nd * nr / (nr + t.rel * nd);
  const double x = std::max(0.0, std::min(x_abs, x_rel));
  if (x >= static_cast<double>(std::numeric_limits<std::uint64_t>::max() / 2)) return std::numeric_limits<std::uint64_t>::max() / 2;
  return static_cast<std::uint64_t>(std::ceil(x - 1e-9));
}

std::vector<Batch> distribute_moves(const std::vector<Batch>& needs, std::uint64_t total) {
  std::vector<Batch> out;
  out.reserve(needs.size());
  for (const auto& b : needs) out.push_back({b.node, 0});
  std::uint64_t left = total;
  // Active donors are those whose need is not met yet; each round gives each the same amount.
  while (left > 0) {
    std::vector<std::size_t> active;
    std::uint64_t smallest_gap = std::numeric_limits<std::uint64_t>::max();
    for (std::size_t i = 0; i < needs.size(); ++i) {
      if (out[i].count < needs[i].count) {
        active.push_back(i);
        smallest_gap = std::min(smallest_gap, needs[i].count - out[i].count);
      }
    }
    if (active.empty()) break;
    const std::uint64_t k = active.size();
    const std::uint64_t even = std::min(smallest_gap, left / k);
    if (even == 0) {
      for (std::size_t i : active) {  // fewer than one each: the first ones in node order
        if (left == 0) break;
        ++out[i].count;
        --left;
      }
      break;
    }
    for (std::size_t i : active) out[i].count += even;
    left -= even * k;
  }
  return out;
}

PhaseEstimate estimate_phase(const CountMap& counts, const std::vector<NodeId>& donors,
                             const std::vector<NodeId>& recipients, std::uint64_t rate, Thresholds t,
                             const CountMap* movable) {
  PhaseEstimate e;
  if (donors.empty() || recipients.empty()) return e;
  const std::uint64_t x = moves_to_balance(average(counts, donors), donors.size(), average(counts, recipients),
                                           recipients.size(), t);
  const std::vector<Batch> needs = needs_of(counts, donors, recipients, movable, nullptr);
  e.shares = distribute_moves(needs, x);
  std::uint64_t biggest = 0;
  for (const auto& s : e.shares) {
    e.remaining += s.count;
    biggest = std::max(biggest, s.count);
  }
  e.ticks = rate == 0 ? 0 : ceil_div(biggest, rate);
  return e;
}

}  // namespace tidemq::rebalance
