#include "core/handoff_gate.hpp"

#include <algorithm>

namespace tidemq::core {

HandoffGate::HandoffGate(NodeIndex from, std::vector<NodeIndex> awaiting_marks, const std::vector<std::uint64_t>& already_held)
    : from_(from), awaiting_(awaiting_marks), flushing_(std::move(awaiting_marks)) {
  for (std::uint64_t uid : already_held)
    if (uid != 0) ++seen_[uid];
}

namespace {
bool contains(const std::vector<NodeIndex>& v, NodeIndex n) { return std::find(v.begin(), v.end(), n) != v.end(); }
void erase(std::vector<NodeIndex>& v, NodeIndex n) { v.erase(std::remove(v.begin(), v.end(), n), v.end()); }
}  // namespace

HandoffGate::Verdict HandoffGate::on_direct(NodeIndex origin, std::uint64_t uid) {
  if (contains(awaiting_, origin)) {
    ++copies_dropped_;
    return Verdict::drop;
  }
  if (!ended_) return Verdict::hold;
  if (uid != 0 && contains(flushing_, origin)) {
    auto it = seen_.find(uid);
    if (it != seen_.end() && it->second > 0) {
      --it->second;
      ++duplicates_dropped_;
      return Verdict::drop;
    }
  }
  return Verdict::deliver;
}

bool HandoffGate::hold(Delivery d, std::size_t max) {
  bool room = held_.size() < max;
  if (!room) held_.pop_front();
  held_.push_back(std::move(d));
  return room;
}

void HandoffGate::on_relayed(std::uint64_t uid) {
  if (uid != 0 && !ended_) ++seen_[uid];
}

void HandoffGate::on_mark(NodeIndex origin) {
  erase(awaiting_, origin);
  if (!open()) seen_.clear();
}

void HandoffGate::on_flushed(NodeIndex origin) {
  erase(flushing_, origin);
  if (!open()) seen_.clear();
}

std::vector<Delivery> HandoffGate::on_end() {
  std::vector<Delivery> out;
  if (ended_) return out;
  ended_ = true;
  out.reserve(held_.size());
  for (auto& d : held_) {
    auto it = d.msg->uid ? seen_.find(d.msg->uid) : seen_.end();
    if (it != seen_.end() && it->second > 0) {
      --it->second;
      ++duplicates_dropped_;
      continue;
    }
    out.push_back(std::move(d));
  }
  held_.clear();
  if (!open()) seen_.clear();
  return out;
}

}  // namespace tidemq::core
