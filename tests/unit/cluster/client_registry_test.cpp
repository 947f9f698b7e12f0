// The home side of the client registry: tickets, commits, fencing and re-registration.
#include <catch2/catch.hpp>

#include "cluster/client_registry.hpp"

using namespace tidemq::cluster;

namespace {

struct Wall {
  std::uint64_t ms = 1'000;
};

ClientRegistry make(Wall& wall) {
  return ClientRegistry([&wall] { return wall.ms; });
}

}  // namespace

TEST_CASE("client registry: a first connect locates nothing and becomes the holder at its ticket") {
  Wall wall;
  auto r = make(wall);
  auto l = r.locate("c1", "n1");
  CHECK_FALSE(l.holder);
  CHECK(l.ticket >= wall.ms << 16);
  REQUIRE(r.owner("c1"));
  CHECK(*r.owner("c1") == Ownership{"n1", l.ticket});
}

TEST_CASE("client registry: tickets only grow, also within one millisecond and after the clock went back") {
  Wall wall;
  auto r = make(wall);
  Epoch last = 0;
  for (int i = 0; i < 100; ++i) {
    if (i == 50) wall.ms -= 10;  // a node whose clock is behind becomes home
    auto l = r.locate("c1", i % 2 ? "n1" : "n2");
    CHECK(l.ticket > last);
    last = l.ticket;
  }
}

TEST_CASE("client registry: a connect commits, and the newest commit wins") {
  Wall wall;
  auto r = make(wall);
  auto first = r.locate("c1", "n1");
  auto second = r.locate("c1", "n2");
  REQUIRE(second.holder);
  CHECK(second.holder->node == "n1");
  auto third = r.locate("c1", "n3");

  // n3 took it from n1 and commits first (n1's entry is replaced); n2's late commit is older: it
  // is the loser.
  auto replaced = r.commit_connect("c1", "n3", third.ticket);
  REQUIRE(replaced);
  CHECK(replaced->node == "n1");
  auto late = r.commit_connect("c1", "n2", second.ticket);
  REQUIRE(late);
  CHECK(*late == Ownership{"n2", second.ticket});
  CHECK(*r.owner("c1") == Ownership{"n3", third.ticket});
  (void)first;
}

TEST_CASE("client registry: a commit that replaces another node's holding names it as stale") {
  Wall wall;
  auto r = make(wall);
  auto a = r.locate("c1", "n1");
  r.commit_connect("c1", "n1", a.ticket);
  auto b = r.locate("c1", "n2");
  auto loser = r.commit_connect("c1", "n2", b.ticket);
  REQUIRE(loser);
  CHECK(*loser == Ownership{"n1", a.ticket});
  // The same node at a newer ticket is no loser.
  auto c = r.locate("c1", "n2");
  CHECK_FALSE(r.commit_connect("c1", "n2", c.ticket));
}

TEST_CASE("client registry: a migration commits only while the source holds it and no connect located it since") {
  Wall wall;
  auto r = make(wall);
  auto l = r.locate("c1", "n1");
  const Ownership source{"n1", l.ticket};

  SECTION("nothing happened since: the target gets a newer epoch") {
    auto e = r.commit_migration("c1", "n2", source);
    REQUIRE(e);
    CHECK(*e == l.ticket + 1);  // newer than the source's copy, not a connect's wall-clock epoch
    CHECK(*r.owner("c1") == Ownership{"n2", *e});
    CHECK_FALSE(r.commit_migration("c1", "n3", source));  // the same source cannot commit twice
  }
  SECTION("a connect located it meanwhile: its ticket fences the migration") {
    r.locate("c1", "n3");
    CHECK_FALSE(r.commit_migration("c1", "n2", source));
    CHECK(r.owner("c1")->node == "n1");
  }
  SECTION("unknown client id") { CHECK_FALSE(r.commit_migration("c2", "n2", source)); }
}

TEST_CASE("client registry: fencing keeps the session at its source unless it moved on") {
  Wall wall;
  auto r = make(wall);
  auto l = r.locate("c1", "n1");

  SECTION("still the holder: a newer epoch, and the pending commit fails") {
    auto e = r.fence("c1", "n1", l.ticket);
    REQUIRE(e);
    CHECK(*e > l.ticket);
    CHECK_FALSE(r.commit_migration("c1", "n2", Ownership{"n1", l.ticket}));
  }
  SECTION("the migration committed first: refused") {
    REQUIRE(r.commit_migration("c1", "n2", Ownership{"n1", l.ticket}));
    CHECK_FALSE(r.fence("c1", "n1", l.ticket));
  }
  SECTION("a connect located it: refused (the connect will take it from the source)") {
    r.locate("c1", "n3");
    CHECK_FALSE(r.fence("c1", "n1", l.ticket));
  }
  SECTION("the home forgot it (its holder was declared down): the source keeps it") {
    r.drop_node("n1");
    auto e = r.fence("c1", "n1", l.ticket);
    REQUIRE(e);
    CHECK(*r.owner("c1") == Ownership{"n1", *e});
  }
}

TEST_CASE("client registry: a copy fenced while cut off loses to a session connected elsewhere meanwhile") {
  // Seed 315720 of the crash simulation: n4 was cut off (declared down by the others), its
  // migration timed out and it fenced at its own registry; meanwhile the client connected on n3.
  Wall wall;
  auto isolated = make(wall);  // n4, its own home while alone
  auto majority = make(wall);  // the home the other nodes agree on
  const Epoch before = majority.locate("c1", "n4").ticket;
  majority.commit_connect("c1", "n4", before);
  isolated.adopt("c1", Ownership{"n4", before});
  majority.drop_node("n4");                    // n4 declared down
  wall.ms += 50;
  auto l = majority.locate("c1", "n3");        // the client connects on n3: a fresh session
  majority.commit_connect("c1", "n3", l.ticket);
  wall.ms += 100;
  auto fenced = isolated.fence("c1", "n4", before);  // later in time, but no connect
  REQUIRE(fenced);
  CHECK(*fenced == before + 1);
  auto stale = majority.adopt("c1", Ownership{"n4", *fenced});  // n4 is back and re-registers
  REQUIRE(stale);
  CHECK(*stale == Ownership{"n4", *fenced});   // n4's copy is the stale one
  CHECK(*majority.owner("c1") == Ownership{"n3", l.ticket});
}

TEST_CASE("client registry: a connect's ticket dates from when the client connected") {
  // Seed 393548: a CONNECT waited for a paused home and was refused to its client, who connected
  // elsewhere (a home of its own while the first was cut off); when the paused home got to the
  // old locate at last, its ticket must not be newer than the client's later connect.
  Wall wall;
  auto paused_home = make(wall);
  auto other_home = make(wall);
  const std::uint64_t first_connect = wall.ms;
  wall.ms += 200;
  auto later = other_home.locate("c1", "n1", wall.ms);        // the client's second try
  wall.ms += 100;
  auto ghost = paused_home.locate("c1", "n3", first_connect);  // the first, handled only now
  CHECK(ghost.ticket < later.ticket);
  CHECK(ghost.ticket >= first_connect << 16);
  // One home still orders its own tickets: each is larger than the last.
  auto again = paused_home.locate("c1", "n2", first_connect);
  CHECK(again.ticket > ghost.ticket);
  // A connecting node's clock ahead of the home's counts only up to the home's.
  auto ahead = other_home.locate("c2", "n1", wall.ms + 1'000'000);
  CHECK(ahead.ticket <= (wall.ms << 16) + 1);
}

TEST_CASE("client registry: re-registration keeps the newer ownership and names the other") {
  Wall wall;
  auto r = make(wall);
  CHECK_FALSE(r.adopt("c1", Ownership{"n1", 100}));
  CHECK_FALSE(r.adopt("c1", Ownership{"n1", 100}));  // the same again: nothing to say
  auto older = r.adopt("c1", Ownership{"n2", 50});
  REQUIRE(older);
  CHECK(*older == Ownership{"n2", 50});
  auto replaced = r.adopt("c1", Ownership{"n3", 200});
  REQUIRE(replaced);
  CHECK(*replaced == Ownership{"n1", 100});
  CHECK(*r.owner("c1") == Ownership{"n3", 200});
  // Equal epochs (two homes granted in the same millisecond): the node names decide, alike everywhere.
  auto tie = r.adopt("c1", Ownership{"n9", 200});
  REQUIRE(tie);
  CHECK(*tie == Ownership{"n3", 200});
}

TEST_CASE("client registry: the same node re-registering an older epoch is the same copy, not a stale one") {
  Wall wall;
  auto r = make(wall);
  auto l = r.locate("c1", "n1");
  auto fenced = r.fence("c1", "n1", l.ticket);  // the node did not hear the answer yet
  REQUIRE(fenced);
  CHECK_FALSE(r.adopt("c1", Ownership{"n1", l.ticket}));  // nobody is told it is stale
  CHECK(*r.owner("c1") == Ownership{"n1", *fenced});       // the newer epoch stays
}

TEST_CASE("client registry: release only by the current holder at its epoch") {
  Wall wall;
  auto r = make(wall);
  auto l = r.locate("c1", "n1");
  r.release("c1", "n1", l.ticket - 1);
  CHECK(r.owner("c1"));
  r.release("c1", "n2", l.ticket);
  CHECK(r.owner("c1"));
  r.release("c1", "n1", l.ticket);
  CHECK_FALSE(r.owner("c1"));
}

TEST_CASE("client registry: re-homing hands over the entries another node is home for now") {
  Wall wall;
  auto r = make(wall);
  for (int i = 0; i < 200; ++i) r.locate("c" + std::to_string(i), "n1");
  const std::vector<std::string> members{"n1", "n2", "n3"};
  auto moved = r.take_not_homed_at("n1", members);
  CHECK(moved.size() + r.size() == 200);
  for (const auto& [cid, owner] : moved) CHECK(home_of(cid, members) != "n1");
  CHECK(moved.size() > 100);  // about two thirds go
}
