#include "core/delivery_plan.hpp"

#include <algorithm>

namespace tidemq::core {

namespace {

bool excluded(const Message& m, const RouteTarget& t) {
  return t.remote != 0 || (t.options.no_local && t.session->id() == m.publisher);
}

// The copy a target adds to (its session's merged copy, or a copy of its own).
struct CopyKey {
  Session* session;
  std::uint32_t own;   // 0: the session's merged copy; else 1 + target index (a v5 shared subscription)
  std::uint32_t index; // the target
  auto operator<=>(const CopyKey&) const = default;
};

}  // namespace

void plan_copies(const Message& m, const std::vector<RouteTarget>& targets, std::vector<PlannedCopy>& out) {
  out.clear();
  thread_local std::vector<CopyKey> keys;
  keys.clear();
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const RouteTarget& t = targets[i];
    if (excluded(m, t)) continue;
    const auto index = static_cast<std::uint32_t>(i);
    const bool own = t.shared && t.session->protocol_level() == mqtt::kV5;
    keys.push_back(CopyKey{t.session, own ? index + 1 : 0, index});
  }
  // Sorting groups each copy's targets together, in match order within the group.
  if (keys.size() > 1) std::sort(keys.begin(), keys.end());
  thread_local std::vector<std::pair<std::uint32_t, PlannedCopy>> copies;  // first target, copy
  copies.clear();
  for (std::size_t k = 0; k < keys.size();) {
    Session* s = keys[k].session;
    const bool v5 = s->protocol_level() == mqtt::kV5;
    PlannedCopy c{s, 0, false, {}};
    std::size_t j = k;
    for (; j < keys.size() && keys[j].session == s && keys[j].own == keys[k].own; ++j) {
      const RouteTarget& t = targets[keys[j].index];
      c.qos = std::max(c.qos, std::min(m.qos, t.options.qos));
      if (!v5) continue;
      c.sub_ids.add(t.sub_id);
      // RETAIN on the one copy: set when the message was retained and ANY matching subscription
      // asked for Retain As Published (a client that asked for the flag on one of them gets it).
      c.retain = c.retain || (t.options.retain_as_published && m.retain);
    }
    copies.emplace_back(keys[k].index, std::move(c));
    k = j;
  }
  if (copies.size() > 1)
    std::sort(copies.begin(), copies.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  out.reserve(copies.size());
  for (auto& [first, c] : copies) out.push_back(std::move(c));
  copies.clear();
}

}  // namespace tidemq::core
