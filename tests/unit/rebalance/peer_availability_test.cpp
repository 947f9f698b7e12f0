// PeerAvailability: which other nodes could take sessions, kept from answers, notices and node
// events, with late answers never overwriting newer notices.
#include <catch2/catch.hpp>

#include "fake_plugin_services.hpp"
#include "rebalance/agent/peer_availability.hpp"

using namespace tidemq;
using namespace tidemq::rebalance;

namespace {

const std::string kSelf = "n1@127.0.0.1", kTwo = "n2@127.0.0.1", kThree = "n3@127.0.0.1";

struct Fixture {
  test::FakeClusterServices cluster;
  std::vector<plugin::Registration> regs;
  std::unique_ptr<PeerAvailability> peers;
  int changes = 0;

  Fixture() {
    cluster.hold_calls = true;
    cluster.member_list = {{kSelf, true, true, {}}, {kTwo, true, false, {}}, {kThree, true, false, {}}};
    peers = std::make_unique<PeerAvailability>(cluster);
    peers->on_change([this] { ++changes; });
    peers->register_methods(regs);
  }
  // Answers the held ask of `node`.
  void answer(const std::string& node, bool enabled, std::int64_t incarnation = 1, std::uint64_t generation = 0) {
    for (auto it = cluster.held.begin(); it != cluster.held.end(); ++it) {
      if (it->node != node || it->method != "rebalance.agent.v1") continue;
      auto done = std::move(it->done);
      cluster.held.erase(it);
      return done(plugin::Json{{"enabled", enabled}, {"incarnation", incarnation}, {"generation", generation}}, "");
    }
    FAIL("no ask held for " << node);
  }
  void notice(const std::string& node, bool enabled, std::int64_t incarnation, std::uint64_t generation) {
    cluster.methods.at("rebalance.agent.changed.v1")(
        plugin::Json{{"node", node}, {"enabled", enabled}, {"incarnation", incarnation}, {"generation", generation}},
        [](std::optional<plugin::Json>, std::string) {});
  }
  using Nodes = std::vector<NodeId>;
};

}  // namespace

TEST_CASE("peer availability: answers, notices and node events", "[unit][rebalance][peer_availability]") {
  Fixture f;
  using Nodes = Fixture::Nodes;
  CHECK(f.cluster.held.size() == 2);        // both other members are asked
  CHECK(f.peers->available({}) == Nodes{});  // nothing known yet: nobody
  f.answer(kTwo, false);
  f.answer(kThree, true);
  CHECK(f.peers->available({}) == Nodes{kTwo});
  CHECK(f.changes == 2);
  f.notice(kThree, false, 1, 1);  // n3's evacuation stopped
  CHECK(f.peers->available({}) == Nodes{kTwo, kThree});
  CHECK(f.peers->available(Nodes{kThree, "n9@h"}) == Nodes{kThree});  // only those of migrate_to
  CHECK(f.changes == 3);
  f.notice(kThree, false, 1, 1);  // the same again: no change
  CHECK(f.changes == 3);

  SECTION("a node that goes down is no recipient; when it comes up it is asked again") {
    f.cluster.member_list[1].running = false;
    f.cluster.node_listener(kTwo, false);
    CHECK(f.peers->available({}) == Nodes{kThree});
    CHECK(f.changes == 4);
    f.cluster.member_list[1].running = true;
    f.cluster.node_listener(kTwo, true);
    CHECK(f.peers->available({}) == Nodes{kThree});
    f.answer(kTwo, false, 2);  // restarted: a newer incarnation
    CHECK(f.peers->available({}) == Nodes{kTwo, kThree});
  }
  SECTION("a late answer does not overwrite a newer notice") {
    f.cluster.node_listener(kTwo, true);  // asked again (a reconnect)
    f.notice(kTwo, true, 1, 3);           // then n2 starts evacuating
    f.answer(kTwo, false, 1, 2);          // the answer, older, comes last
    CHECK(f.peers->available({}) == Nodes{kThree});
    f.notice(kTwo, false, 2, 0);  // a restarted n2 (newer incarnation, generation from 0)
    CHECK(f.peers->available({}) == Nodes{kTwo, kThree});
  }
  SECTION("bad notices are refused with an error") {
    std::optional<plugin::Json> reply;
    f.cluster.methods.at("rebalance.agent.changed.v1")(plugin::Json{{"node", 5}},
                                                        [&](std::optional<plugin::Json> r, std::string) { reply = r; });
    REQUIRE(reply);
    CHECK(reply->contains("error"));
    CHECK(f.peers->available({}) == Nodes{kTwo, kThree});
  }
  SECTION("this node's changes are told to every running member") {
    f.cluster.held.clear();
    f.peers->local_changed(true);
    REQUIRE(f.cluster.held.size() == 2);
    CHECK(f.cluster.held[0].method == "rebalance.agent.changed.v1");
    CHECK(f.cluster.held[0].args["node"] == kSelf);
    CHECK(f.cluster.held[0].args["enabled"] == true);
    CHECK(f.cluster.held[0].args["generation"] == 1);
  }
}
