#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/router.hpp"

using namespace tidemq;
using core::MatchScope;
using core::NodeIndex;
using core::RouteTarget;
using core::Router;
using core::Session;

namespace {

core::Subscription sub_with(std::uint8_t qos, std::uint32_t id = 0) {
  core::Subscription s;
  s.options.qos = qos;
  s.sub_id = id;
  return s;
}

std::vector<RouteTarget> match(const Router& r, std::string_view topic, MatchScope scope = MatchScope::all) {
  std::vector<RouteTarget> out;
  r.match(topic, out, scope);
  return out;
}

std::size_t count_local(const std::vector<RouteTarget>& ts, const Session* s) {
  return static_cast<std::size_t>(std::count_if(ts.begin(), ts.end(), [&](const RouteTarget& t) { return t.session == s; }));
}

std::size_t count_remote(const std::vector<RouteTarget>& ts, NodeIndex n) {
  return static_cast<std::size_t>(std::count_if(ts.begin(), ts.end(), [&](const RouteTarget& t) { return t.remote == n; }));
}

}  // namespace

TEST_CASE("local and remote routes both match", "[unit][router]") {
  Router r;
  auto s = std::make_shared<Session>("s", 100);
  r.subscribe(s, "a/+", sub_with(1, 7));
  r.add_remote(2, "a/b");
  r.add_remote(3, "x/y");

  auto ts = match(r, "a/b");
  REQUIRE(ts.size() == 2);
  CHECK(count_local(ts, s.get()) == 1);
  for (const auto& t : ts) {
    if (t.remote == 0) {
      CHECK(t.session == s.get());
      CHECK(t.keep == s);
      CHECK(t.options.qos == 1);
      CHECK(t.sub_id == 7);
      CHECK_FALSE(t.shared);
    } else {
      CHECK(t.remote == 2);
      CHECK(t.session == nullptr);
      CHECK(t.keep == nullptr);
      CHECK(t.options == mqtt::SubscribeOptions{});
      CHECK(t.sub_id == 0);
      CHECK_FALSE(t.shared);
      CHECK(t.shared_filter.empty());
    }
  }
  CHECK(match(r, "a/c").size() == 1);
  ts = match(r, "x/y");
  REQUIRE(ts.size() == 1);
  CHECK(ts[0].remote == 3);
  CHECK(match(r, "nothing").empty());
}

TEST_CASE("a remote plain route yields one target per matching filter", "[unit][router]") {
  Router r;
  r.add_remote(1, "a/b");
  r.add_remote(1, "a/+");
  r.add_remote(1, "a/#");
  r.add_remote(1, "#");
  r.add_remote(1, "a/b");  // idempotent
  auto ts = match(r, "a/b");
  CHECK(ts.size() == 4);
  CHECK(count_remote(ts, 1) == 4);
  // "a/#" also matches "a"; so does "#".
  CHECK(match(r, "a").size() == 2);

  r.remove_remote(1, "a/+");
  r.remove_remote(1, "a/+");  // idempotent
  CHECK(match(r, "a/b").size() == 3);
}

TEST_CASE("remote routes with wildcards do not match $-topics", "[unit][router]") {
  Router r;
  r.add_remote(1, "#");
  r.add_remote(1, "+/x");
  r.add_remote(2, "$SYS/#");
  CHECK(match(r, "$SYS/x").size() == 1);
  CHECK(match(r, "$SYS/x")[0].remote == 2);
  CHECK(match(r, "a/x").size() == 2);
}

TEST_CASE("invalid remote routes and node 0 are ignored", "[unit][router]") {
  Router r;
  r.add_remote(0, "a");
  r.add_remote(1, "a/#/b");
  r.add_remote(1, "$share//a");
  r.add_remote(1, "$share/g+/a");
  r.add_remote(1, "");
  CHECK(r.routes().empty());
}

TEST_CASE("a shared group spreads over local and remote members round-robin", "[unit][router]") {
  Router r;
  auto s = std::make_shared<Session>("s", 100);
  s->set_online(true);
  r.subscribe(s, "$share/g/t/+", sub_with(2, 3));
  r.add_remote(4, "$share/g/t/+");
  r.add_remote(9, "$share/g/t/+");

  std::size_t local = 0;
  std::map<NodeIndex, std::size_t> remote;
  for (int round = 0; round < 10; ++round) {
    std::size_t round_local = 0;
    std::map<NodeIndex, std::size_t> round_remote;
    for (int i = 0; i < 3; ++i) {
      auto ts = match(r, "t/1");
      REQUIRE(ts.size() == 1);
      const auto& t = ts[0];
      CHECK(t.shared);
      if (t.remote == 0) {
        CHECK(t.session == s.get());
        CHECK(t.options.qos == 2);
        CHECK(t.sub_id == 3);
        CHECK(t.shared_filter.empty());
        ++round_local;
      } else {
        CHECK(t.session == nullptr);
        CHECK(t.shared_filter == "$share/g/t/+");
        ++round_remote[t.remote];
      }
    }
    // Every window of three consecutive picks visits each candidate once.
    CHECK(round_local == 1);
    CHECK(round_remote[4] == 1);
    CHECK(round_remote[9] == 1);
    local += round_local;
    for (auto [n, c] : round_remote) remote[n] += c;
  }
  CHECK(local == 10);
  CHECK(remote[4] == 10);
  CHECK(remote[9] == 10);
}

TEST_CASE("a shared group skips offline local members but not remote nodes", "[unit][router]") {
  Router r;
  auto off = std::make_shared<Session>("off", 100);
  r.subscribe(off, "$share/g/t", sub_with(0));
  // Only an offline local member: it still gets the message (queued).
  for (int i = 0; i < 3; ++i) {
    auto ts = match(r, "t");
    REQUIRE(ts.size() == 1);
    CHECK(ts[0].session == off.get());
  }
  r.add_remote(5, "$share/g/t");
  for (int i = 0; i < 4; ++i) {
    auto ts = match(r, "t");
    REQUIRE(ts.size() == 1);
    CHECK(ts[0].remote == 5);
  }
}

TEST_CASE("a shared group with only remote members", "[unit][router]") {
  Router r;
  r.add_remote(1, "$share/g/t");
  r.add_remote(2, "$share/g/t");
  std::map<NodeIndex, int> seen;
  for (int i = 0; i < 4; ++i) {
    auto ts = match(r, "t");
    REQUIRE(ts.size() == 1);
    CHECK(ts[0].shared);
    CHECK(ts[0].shared_filter == "$share/g/t");
    ++seen[ts[0].remote];
  }
  CHECK(seen[1] == 2);
  CHECK(seen[2] == 2);
  CHECK(r.filter_count() == 0);
  CHECK(r.subscription_count() == 0);
  CHECK(r.local_filters().empty());
  CHECK_FALSE(r.pick_shared("$share/g/t").has_value());
}

TEST_CASE("local_plain scope excludes shared and remote targets", "[unit][router]") {
  Router r;
  auto a = std::make_shared<Session>("a", 100);
  auto b = std::make_shared<Session>("b", 100);
  r.subscribe(a, "t/#", sub_with(1));
  r.subscribe(b, "$share/g/t/x", sub_with(1));
  r.add_remote(2, "t/x");
  r.add_remote(3, "$share/g/t/x");

  auto all = match(r, "t/x");
  CHECK(all.size() == 3);  // a, one group pick, node 2
  auto plain = match(r, "t/x", MatchScope::local_plain);
  REQUIRE(plain.size() == 1);
  CHECK(plain[0].session == a.get());
  CHECK_FALSE(plain[0].shared);
  CHECK(plain[0].remote == 0);
}

TEST_CASE("pick_shared picks a local member, online first, round-robin", "[unit][router]") {
  Router r;
  auto a = std::make_shared<Session>("a", 100);
  auto b = std::make_shared<Session>("b", 100);
  auto c = std::make_shared<Session>("c", 100);
  a->set_online(true);
  b->set_online(true);
  r.subscribe(a, "$share/g/t/+", sub_with(1, 11));
  r.subscribe(b, "$share/g/t/+", sub_with(2, 12));
  r.subscribe(c, "$share/g/t/+", sub_with(0));
  r.add_remote(7, "$share/g/t/+");

  std::map<const Session*, int> seen;
  for (int i = 0; i < 6; ++i) {
    auto t = r.pick_shared("$share/g/t/+");
    REQUIRE(t.has_value());
    CHECK(t->shared);
    CHECK(t->remote == 0);
    REQUIRE(t->session != nullptr);
    CHECK(t->keep.get() == t->session);
    ++seen[t->session];
  }
  CHECK(seen[c.get()] == 0);  // offline
  CHECK(seen[a.get()] >= 2);
  CHECK(seen[b.get()] >= 2);

  CHECK_FALSE(r.pick_shared("$share/h/t/+").has_value());
  CHECK_FALSE(r.pick_shared("$share/g/t/x").has_value());
  CHECK_FALSE(r.pick_shared("t/+").has_value());
  CHECK_FALSE(r.pick_shared("$share//t").has_value());

  // Only offline members left: still one of them.
  r.unsubscribe(a.get(), "$share/g/t/+");
  r.unsubscribe(b.get(), "$share/g/t/+");
  auto t = r.pick_shared("$share/g/t/+");
  REQUIRE(t.has_value());
  CHECK(t->session == c.get());
  CHECK(t->sub_id == 0);
}

TEST_CASE("the route listener fires on local 0->1 and 1->0 per full filter", "[unit][router]") {
  Router r;
  std::vector<std::pair<std::string, bool>> events;
  r.set_route_listener([&](std::string_view f, bool added) { events.emplace_back(std::string(f), added); });
  using Ev = std::vector<std::pair<std::string, bool>>;
  auto a = std::make_shared<Session>("a", 100);
  auto b = std::make_shared<Session>("b", 100);

  r.subscribe(a, "x/y", sub_with(0));
  CHECK(events == Ev{{"x/y", true}});
  r.subscribe(b, "x/y", sub_with(0));
  r.subscribe(a, "x/y", sub_with(2, 5));  // replaces options
  CHECK(events.size() == 1);
  CHECK(match(r, "x/y").size() == 2);
  CHECK(r.subscription_count() == 2);

  CHECK(r.unsubscribe(a.get(), "x/y"));
  CHECK(events.size() == 1);
  CHECK_FALSE(r.unsubscribe(a.get(), "x/y"));
  CHECK_FALSE(r.unsubscribe(a.get(), "nope/x"));
  CHECK(events.size() == 1);
  CHECK(r.unsubscribe(b.get(), "x/y"));
  CHECK(events == Ev{{"x/y", true}, {"x/y", false}});
  events.clear();

  // Remote routes never fire.
  r.add_remote(1, "x/y");
  r.add_remote(1, "$share/g/x/y");
  r.remove_remote(1, "x/y");
  r.remove_node(1);
  CHECK(events.empty());

  // Shared groups: per group, by local member count; the plain filter on the same node is separate.
  r.add_remote(3, "$share/g/x/y");
  r.subscribe(a, "$share/g/x/y", sub_with(1));
  r.subscribe(b, "$share/g/x/y", sub_with(1));
  r.subscribe(b, "$share/g/x/y", sub_with(2));  // replace
  r.subscribe(a, "$share/h/x/y", sub_with(1));
  r.subscribe(a, "x/y", sub_with(1));
  CHECK(events == Ev{{"$share/g/x/y", true}, {"$share/h/x/y", true}, {"x/y", true}});
  events.clear();
  CHECK(r.filter_count() == 1);  // one topic filter with local subscribers
  CHECK(r.subscription_count() == 4);

  r.unsubscribe(a.get(), "$share/g/x/y");
  CHECK(events.empty());
  r.unsubscribe(b.get(), "$share/g/x/y");
  CHECK(events == Ev{{"$share/g/x/y", false}});
  CHECK_FALSE(r.unsubscribe(b.get(), "$share/g/x/y"));
  r.unsubscribe(a.get(), "x/y");
  r.unsubscribe(a.get(), "$share/h/x/y");
  CHECK(events == Ev{{"$share/g/x/y", false}, {"x/y", false}, {"$share/h/x/y", false}});
  CHECK(r.filter_count() == 0);
  CHECK(r.subscription_count() == 0);

  // The group lives on with its remote member.
  auto ts = match(r, "x/y");
  REQUIRE(ts.size() == 1);
  CHECK(ts[0].remote == 3);
}

TEST_CASE("remove_node drops every route of a node and prunes the trie", "[unit][router]") {
  Router r;
  auto a = std::make_shared<Session>("a", 100);
  r.subscribe(a, "a/b/c", sub_with(1));
  r.add_remote(1, "a/b/c");
  r.add_remote(1, "a/b/c/d/e");
  r.add_remote(1, "z/#");
  r.add_remote(1, "$share/g/q/+");
  r.add_remote(2, "z/#");
  CHECK(r.filter_count() == 1);
  CHECK(r.subscription_count() == 1);

  using Routes = std::vector<std::pair<std::string, std::vector<NodeIndex>>>;
  CHECK(r.routes() == Routes{{"$share/g/q/+", {1}}, {"a/b/c", {0, 1}}, {"a/b/c/d/e", {1}}, {"z/#", {1, 2}}});

  r.remove_node(1);
  CHECK(r.routes() == Routes{{"a/b/c", {0}}, {"z/#", {2}}});
  CHECK(r.filter_count() == 1);
  CHECK(match(r, "a/b/c/d/e").empty());
  CHECK(match(r, "q/1").empty());
  r.remove_node(1);  // idempotent

  r.remove_node(2);
  r.unsubscribe(a.get(), "a/b/c");
  CHECK(r.routes().empty());
  CHECK(r.filter_count() == 0);
  CHECK(match(r, "a/b/c").empty());
  CHECK(match(r, "z/1").empty());

  // The trie is usable after pruning.
  r.add_remote(3, "a/b/c");
  CHECK(match(r, "a/b/c").size() == 1);
}

TEST_CASE("local_filters lists the filters with local subscribers", "[unit][router]") {
  Router r;
  auto a = std::make_shared<Session>("a", 100);
  auto b = std::make_shared<Session>("b", 100);
  r.subscribe(a, "x/+", sub_with(0));
  r.subscribe(b, "x/+", sub_with(0));
  r.subscribe(a, "/lead", sub_with(0));
  r.subscribe(a, "#", sub_with(0));
  r.subscribe(b, "$share/g/x/+", sub_with(0));
  r.add_remote(1, "$share/h/x/+");
  r.add_remote(1, "remote/only");
  CHECK(r.local_filters() == std::vector<std::string>{"#", "$share/g/x/+", "/lead", "x/+"});
  CHECK(r.filter_count() == 3);
  CHECK(r.subscription_count() == 5);
  CHECK(match(r, "/lead").size() == 2);

  using Routes = std::vector<std::pair<std::string, std::vector<NodeIndex>>>;
  CHECK(r.routes() ==
        Routes{{"#", {0}}, {"$share/g/x/+", {0}}, {"$share/h/x/+", {1}}, {"/lead", {0}}, {"remote/only", {1}}, {"x/+", {0}}});
}
