#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <random>

#include "core/delivery_plan.hpp"

using namespace tidemq;
using namespace tidemq::core;

namespace {

SessionPtr session(const std::string& id, std::uint8_t version) {
  auto s = std::make_shared<Session>(id, 100);
  s->set_protocol_level(version);
  return s;
}

RouteTarget target(const SessionPtr& s, std::uint8_t qos, std::uint32_t sub_id, bool no_local = false,
                   bool retain_as_published = false, bool shared = false) {
  return RouteTarget{s.get(), s, mqtt::SubscribeOptions{qos, no_local, retain_as_published, 0}, sub_id, shared, 0, {}};
}

Message message(std::uint8_t qos, bool retain, std::string publisher = "pub") {
  Message m;
  m.topic = "a/b";
  m.qos = qos;
  m.retain = retain;
  m.publisher = std::move(publisher);
  return m;
}

std::vector<std::uint32_t> ids(const PlannedCopy& c) { return {c.sub_ids.view().begin(), c.sub_ids.view().end()}; }

}  // namespace

TEST_CASE("overlapping subscriptions of a v5 session: one copy, every identifier, the highest QoS", "[unit][core][delivery]") {
  auto five = session("five", mqtt::kV5);
  auto three = session("three", mqtt::kV311);
  std::vector<RouteTarget> targets{target(five, 0, 1), target(three, 0, 0), target(five, 2, 0), target(five, 1, 3),
                                   target(three, 1, 0)};
  std::vector<PlannedCopy> out;
  plan_copies(message(2, false), targets, out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].session == five.get());
  CHECK(out[0].qos == 2);
  CHECK(ids(out[0]) == std::vector<std::uint32_t>{1, 3});
  CHECK(out[1].session == three.get());
  CHECK(out[1].qos == 1);
  CHECK(out[1].sub_ids.empty());

  SECTION("capped by the message's QoS") {
    plan_copies(message(1, false), targets, out);
    CHECK(out.at(0).qos == 1);
  }
  SECTION("a No Local subscription does not match its own client's publish") {
    targets[3].options.no_local = true;
    plan_copies(message(2, false, "five"), targets, out);
    REQUIRE(out.size() == 2);
    CHECK(ids(out[0]) == std::vector<std::uint32_t>{1});
    targets[0].options.no_local = targets[2].options.no_local = true;
    plan_copies(message(2, false, "five"), targets, out);
    REQUIRE(out.size() == 1);
    CHECK(out[0].session == three.get());
  }
}

TEST_CASE("RETAIN on a merged copy: set when any matching subscription has Retain As Published", "[unit][core][delivery]") {
  auto s = session("s", mqtt::kV5);
  auto v3 = session("v3", mqtt::kV311);
  std::vector<RouteTarget> targets{target(s, 1, 1), target(s, 1, 2, false, true), target(v3, 1, 0)};
  std::vector<PlannedCopy> out;
  plan_copies(message(1, true), targets, out);
  REQUIRE(out.size() == 2);
  CHECK(out[0].retain);
  CHECK_FALSE(out[1].retain);  // 3.1.1: a live message never carries RETAIN
  plan_copies(message(1, false), targets, out);
  CHECK_FALSE(out.at(0).retain);
  targets[1].options.no_local = true;  // the RAP subscription drops out on its own client's publish
  plan_copies(message(1, true, "s"), targets, out);
  CHECK_FALSE(out.at(0).retain);
}

TEST_CASE("shared subscriptions of a v5 session get their own copies", "[unit][core][delivery]") {
  auto s = session("s", mqtt::kV5);
  auto v3 = session("v3", mqtt::kV311);
  std::vector<RouteTarget> targets{target(s, 0, 1, false, false, true), target(s, 1, 2), target(s, 2, 3, false, false, true),
                                   target(s, 0, 4), target(v3, 0, 0, false, false, true), target(v3, 2, 0)};
  targets.push_back(RouteTarget{nullptr, nullptr, {}, 0, false, 3, {}});  // a remote target: not ours to deliver
  std::vector<PlannedCopy> out;
  plan_copies(message(2, false), targets, out);
  REQUIRE(out.size() == 4);
  CHECK(ids(out[0]) == std::vector<std::uint32_t>{1});
  CHECK(out[0].qos == 0);
  CHECK(ids(out[1]) == std::vector<std::uint32_t>{2, 4});
  CHECK(out[1].qos == 1);
  CHECK(ids(out[2]) == std::vector<std::uint32_t>{3});
  CHECK(out[2].qos == 2);
  CHECK(out[3].session == v3.get());  // 3.1.1: shared and plain fold into one copy
  CHECK(out[3].qos == 2);
}

TEST_CASE("plan_copies agrees with a model on random route targets", "[unit][core][delivery]") {
  const auto seed = GENERATE(11u, 2026u, 424242u);
  INFO("seed " << seed);
  std::mt19937 rng(seed);
  auto pick = [&](int n) { return static_cast<int>(rng() % n); };
  for (int iter = 0; iter < 400; ++iter) {
    std::vector<SessionPtr> sessions;
    for (int i = 0, n = 1 + pick(4); i < n; ++i)
      sessions.push_back(session("c" + std::to_string(i), pick(3) ? mqtt::kV5 : mqtt::kV311));
    std::vector<RouteTarget> targets;
    for (int i = 0, n = pick(9); i < n; ++i) {
      const auto& s = sessions[pick(static_cast<int>(sessions.size()))];
      const bool v5 = s->protocol_level() == mqtt::kV5, shared = pick(5) == 0;
      targets.push_back(target(s, static_cast<std::uint8_t>(pick(3)), v5 && pick(3) ? 1 + pick(1000) : 0,
                               v5 && !shared && pick(3) == 0, v5 && pick(2) == 0, shared));
    }
    const Message m = message(static_cast<std::uint8_t>(pick(3)), pick(2) == 0, "c" + std::to_string(pick(5)));

    // The model: copies in the order of their first target; a session's plain (and 3.1.1 shared)
    // targets merge into one copy, a v5 shared target makes its own.
    struct Copy {
      Session* session;
      std::uint8_t qos;
      bool retain;
      std::vector<std::uint32_t> ids;
      bool operator==(const Copy&) const = default;
    };
    std::vector<Copy> want;
    std::map<Session*, std::size_t> merged;  // session → its merged copy in `want`
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const RouteTarget& t = targets[i];
      if (t.options.no_local && t.session->id() == m.publisher) continue;
      const bool v5 = t.session->protocol_level() == mqtt::kV5;
      const auto qos = std::min(m.qos, t.options.qos);
      const bool retain = v5 && m.retain && t.options.retain_as_published;
      std::vector<std::uint32_t> tid;
      if (v5 && t.sub_id) tid.push_back(t.sub_id);
      if (v5 && t.shared) {
        want.push_back({t.session, qos, retain, tid});
        continue;
      }
      auto [it, fresh] = merged.try_emplace(t.session, want.size());
      if (fresh) {
        want.push_back({t.session, qos, retain, tid});
        continue;
      }
      Copy& c = want[it->second];
      c.qos = std::max(c.qos, qos);
      c.retain = c.retain || retain;
      c.ids.insert(c.ids.end(), tid.begin(), tid.end());
    }

    std::vector<PlannedCopy> out;
    plan_copies(m, targets, out);
    std::vector<Copy> got;
    for (const auto& c : out) got.push_back({c.session, c.qos, c.retain, ids(c)});
    CHECK(got == want);
  }
}
