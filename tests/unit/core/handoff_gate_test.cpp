// The delivery gate of a session that has just moved: what it holds, drops and lets through.
#include <catch2/catch.hpp>

#include "core/handoff_gate.hpp"

using namespace tidemq;
using namespace tidemq::core;

namespace {

constexpr NodeIndex kOld = 1, kThird = 2, kSelf = 0;

Delivery d(std::uint64_t uid) {
  auto m = std::make_shared<Message>();
  m->uid = uid;
  m->payload = std::to_string(uid);
  return Delivery{m, 1, false, {}};
}

std::vector<std::uint64_t> uids(const std::vector<Delivery>& ds) {
  std::vector<std::uint64_t> out;
  for (const auto& x : ds) out.push_back(x.msg->uid);
  return out;
}

// Offers a direct delivery; returns what the gate decided (holding it when told to).
HandoffGate::Verdict direct(HandoffGate& g, NodeIndex origin, std::uint64_t uid) {
  auto v = g.on_direct(origin, uid);
  if (v == HandoffGate::Verdict::hold) g.hold(d(uid), 1000);
  return v;
}

}  // namespace

TEST_CASE("handoff gate: copies from a node before its mark are dropped, later ones are held") {
  HandoffGate g(kOld, {kThird}, {});
  CHECK(direct(g, kThird, 10) == HandoffGate::Verdict::drop);  // the old owner handles it
  g.on_mark(kThird);
  CHECK(direct(g, kThird, 11) == HandoffGate::Verdict::hold);
  CHECK(direct(g, kSelf, 12) == HandoffGate::Verdict::hold);
  CHECK(direct(g, kOld, 13) == HandoffGate::Verdict::hold);
  CHECK(g.held() == 3);
  CHECK(g.open());
}

TEST_CASE("handoff gate: at the end, held deliveries follow minus true duplicates, in arrival order") {
  HandoffGate g(kOld, {}, {5});     // uid 5 came in the snapshot
  direct(g, kSelf, 5);              // ... and directly: a duplicate
  g.on_relayed(7);                  // relayed by the old owner
  direct(g, kOld, 6);
  direct(g, kSelf, 7);              // also relayed: a duplicate
  direct(g, kSelf, 8);
  auto out = g.on_end();
  CHECK(uids(out) == std::vector<std::uint64_t>{6, 8});
  CHECK_FALSE(g.open());
  CHECK(g.outcome().duplicates_dropped == 2);
}

TEST_CASE("handoff gate: a message delivered twice on purpose (two subscriptions) is not a duplicate") {
  HandoffGate g(kOld, {}, {});
  g.on_relayed(9);  // the old copy had one matching subscription
  direct(g, kSelf, 9);
  direct(g, kSelf, 9);  // the new copy matched it twice: one of the two is new
  auto out = g.on_end();
  CHECK(uids(out) == std::vector<std::uint64_t>{9});
}

TEST_CASE("handoff gate: after the end, direct copies of relayed messages are dropped until the node flushed") {
  HandoffGate g(kOld, {kThird}, {});
  g.on_mark(kThird);
  g.on_relayed(20);
  g.on_relayed(21);
  CHECK(g.on_end().empty());
  CHECK(g.open());  // the third node's flush is still to come
  CHECK(g.on_direct(kThird, 20) == HandoffGate::Verdict::drop);     // its copy was slower than the relay
  CHECK(g.on_direct(kThird, 22) == HandoffGate::Verdict::deliver);  // never relayed: new
  CHECK(g.on_direct(kSelf, 21) == HandoffGate::Verdict::deliver);   // this node's own copies were held before
  g.on_flushed(kThird);
  CHECK_FALSE(g.open());
  CHECK(g.on_direct(kThird, 21) == HandoffGate::Verdict::deliver);  // window closed: nothing is dropped
}

TEST_CASE("handoff gate: the window closes only when the end, every mark and every flush came") {
  HandoffGate g(kOld, {kThird, 3}, {});
  g.on_end();
  CHECK(g.open());
  g.on_mark(kThird);
  g.on_mark(3);
  CHECK(g.open());
  g.on_flushed(3);
  g.on_flushed(kThird);
  CHECK_FALSE(g.open());
  CHECK(g.outcome().closed);
}

TEST_CASE("handoff gate: relays count only while the window is before its end") {
  HandoffGate g(kOld, {}, {});
  g.on_end();
  g.on_relayed(30);  // cannot happen (the end follows the last relay), and changes nothing
  CHECK_FALSE(g.open());
}

TEST_CASE("handoff gate: holding is bounded like a session queue (the oldest goes)") {
  HandoffGate g(kOld, {}, {});
  for (std::uint64_t u = 1; u <= 5; ++u) {
    REQUIRE(g.on_direct(kSelf, u) == HandoffGate::Verdict::hold);
    const bool room = g.hold(d(u), 3);
    CHECK(room == (u <= 3));
  }
  CHECK(uids(g.on_end()) == std::vector<std::uint64_t>{3, 4, 5});
}
