// The delivery gate of a session that has just moved to this node from another one (cluster
// takeover or migration). For a short window its messages reach it on two paths: RELAYED by the
// node it came from (whatever still reaches the old copy there) and DIRECT (this node's own
// publishers, and other nodes once they route to this node). The gate makes the merge of the two
// paths lose nothing, double nothing and keep each publisher's order (docs/cluster.md, "Handoff"):
//
//  - relayed deliveries go to the session at once, and their uids are counted as seen;
//  - a direct delivery from a node that has not yet confirmed, with a barrier mark, that it routes
//    to this node is a copy of one the old owner handles: it is dropped;
//  - every other direct delivery is held until the old owner says it relayed its last (`end`);
//    then the held ones follow in arrival order, minus those already seen (true duplicates);
//  - after the end, a direct copy from another node may still be on its way of a message the old
//    owner relayed: until that node confirms it has flushed (`flushed`, sent after it learned of
//    the end), its direct deliveries are checked against the seen uids.
//
// The window closes when the end, every mark and every flush have come. Pure logic, no locks:
// the session calls it under its own lock.
#pragma once

#include <cstdint>
#include <deque>
#include <unordered_map>
#include <vector>

#include "core/delivery.hpp"

namespace tidemq::core {

class HandoffGate {
 public:
  // `from`: the old owner (the only node whose relays belong to this window). `awaiting_marks`:
  // the nodes (other than this one and the old owner) that must confirm they route to this node.
  // `already_held`: uids of the messages that came in the snapshot.
  HandoffGate(NodeIndex from, std::vector<NodeIndex> awaiting_marks, const std::vector<std::uint64_t>& already_held);
  NodeIndex from() const { return from_; }

  enum class Verdict { deliver, hold, drop };
  // A direct delivery of message `uid` from node `origin`; on hold the caller passes it to hold().
  Verdict on_direct(NodeIndex origin, std::uint64_t uid);
  // Holds `d`; at most `max` are held (the oldest goes, as in a full session queue): false then.
  bool hold(Delivery d, std::size_t max);
  // A delivery relayed by the old owner: delivered by the caller; remembered here.
  void on_relayed(std::uint64_t uid);

  // A barrier mark from `origin` (or `origin` went down: nothing more will come from it).
  void on_mark(NodeIndex origin);
  // `origin` has sent everything it sent before it learned of the end (or went down).
  void on_flushed(NodeIndex origin);
  // The old owner relayed its last delivery (or went down). Returns the held deliveries to
  // deliver now, in arrival order, without the true duplicates.
  std::vector<Delivery> on_end();

  // What a window event left: whether the window is closed, and (when it is) what the gate did.
  struct Outcome {
    bool closed = true;
    std::uint64_t duplicates_dropped = 0;  // direct copies of messages relayed or in the snapshot
    std::uint64_t copies_dropped = 0;      // direct copies from a node before its mark
  };
  Outcome outcome() const { return open() ? Outcome{false} : Outcome{true, duplicates_dropped_, copies_dropped_}; }

  bool ended() const { return ended_; }
  bool open() const { return !ended_ || !awaiting_.empty() || !flushing_.empty(); }
  std::size_t held() const { return held_.size(); }

 private:
  NodeIndex from_;
  std::vector<NodeIndex> awaiting_;   // marks still to come
  std::vector<NodeIndex> flushing_;   // flushes still to come
  std::unordered_map<std::uint64_t, std::uint32_t> seen_;  // uid → deliveries seen, while open
  std::deque<Delivery> held_;
  bool ended_ = false;
  std::uint64_t duplicates_dropped_ = 0;
  std::uint64_t copies_dropped_ = 0;      // direct copies from a node before its mark
};

}  // namespace tidemq::core
