#include <catch2/catch.hpp>

#include "rebalance/core/evacuation_fsm.hpp"
#include "rebalance_test_helpers.hpp"

using namespace tidemq;
using namespace tidemq::rebalance;
using namespace tidemq::rebalance::test;
using namespace std::chrono_literals;

namespace {

const NodeId kSelf = "n1@127.0.0.1";
const NodeId kPeer = "n2@127.0.0.1";

struct Fixture : FsmFixture<EvacuationFsm, TokenOf::only_command> {
  Fixture() : FsmFixture(kSelf) {}

  Commands start(EvacuationOptions o, std::uint64_t conns = 1200, std::uint64_t sessions = 1500) {
    return fsm.handle(ev::EvacuationStart{std::move(o), conns, sessions, true});
  }
  Commands agent_ok(const Commands& cmds) { return fsm.handle(ev::AgentReply{token<cmd::EnableAgent>(cmds), kSelf, {}}); }
  Commands counts(const Commands& cmds, std::uint64_t conns, std::uint64_t sessions,
                  std::vector<NodeId> targets = {}, std::uint64_t stuck = 0) {
    return fsm.handle(ev::LocalCounts{token<cmd::FetchCounts>(cmds), conns, sessions, stuck, std::move(targets)});
  }
  // No connections, no takeover wait, `sessions` left: the first session tick has asked the
  // coordinator to migrate (up to `rate` of them) to kPeer.
  Commands to_first_session_batch(std::uint32_t rate, std::uint64_t sessions) {
    EvacuationOptions o;
    o.wait_takeover = 0s;
    o.sess_evict_rate = rate;
    auto c = agent_ok(start(o));
    c = counts(c, 0, sessions);
    c = fire(c);
    return counts(c, 0, sessions, {kPeer});
  }
  Commands batch_done(const Commands& cmds, std::uint64_t done, std::uint64_t given_up = 0) {
    return fsm.handle(ev::BatchDone{token<cmd::MigrateSessions>(cmds), kSelf, {}, done, 0, given_up});
  }
};

}  // namespace

TEST_CASE("evacuation: the documented evacuation example (docs/rebalance.md), event by event", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationOptions o;  // wait_health_check 0 by default
  o.server_reference = "mqtt2:1883";

  // start: persisted before the agent is enabled; connections refused at once
  auto c = f.start(o);
  CHECK(kinds(c) == Strings{"Persist", "EnableAgent"});
  CHECK(one<cmd::Persist>(c).options == o);
  const auto enable = one<cmd::EnableAgent>(c);
  CHECK(enable.nodes == std::vector<NodeId>{kSelf});
  CHECK(enable.kind == "evacuation");
  CHECK(enable.server_reference == "mqtt2:1883");  // redirect_to
  CHECK_FALSE(enable.allow_connections);
  CHECK(phases(c) == Strings{"evicting_conns"});
  CHECK(f.fsm.state() == EvacuationState::evicting_conns);

  c = f.agent_ok(c);
  CHECK(kinds(c) == Strings{"Reply", "FetchCounts"});
  CHECK(one<cmd::Reply>(c).request == Request::start);
  CHECK_FALSE(one<cmd::Reply>(c).ec);
  CHECK(one<cmd::FetchCounts>(c).nodes == std::vector<NodeId>{kSelf});
  CHECK_FALSE(one<cmd::FetchCounts>(c).with_targets);

  // evicting_conns: 1200 → 500, ~700 → 500, ~200 → 200
  c = f.counts(c, 1200, 1500);
  CHECK(kinds(c) == Strings{"EvictConnections", "ArmTimer"});
  CHECK(one<cmd::EvictConnections>(c).count == 500);
  CHECK(one<cmd::EvictConnections>(c).node == kSelf);
  CHECK(one<cmd::ArmTimer>(c).after == 1000ms);
  CHECK(f.fsm.status({kPeer}) == parse_json(R"({"status":"enabled","process":"evacuation","state":"evicting_conns",
      "connection_eviction_rate":500,"session_eviction_rate":500,"connection_goal":0,"session_goal":0,
      "session_recipients":["n2@127.0.0.1"],
      "stats":{"initial_connected":1200,"current_connected":1200,"initial_sessions":1500,"current_sessions":1500},
      "progress":0,"eta_seconds":3})"));

  c = f.fire(c);
  CHECK(kinds(c) == Strings{"FetchCounts"});
  c = f.counts(c, 700, 1500);
  CHECK(one<cmd::EvictConnections>(c).count == 500);
  CHECK(f.fsm.progress() == Progress{41, 2});

  c = f.fire(c);
  c = f.counts(c, 200, 1500);
  CHECK(one<cmd::EvictConnections>(c).count == 200);  // never more than there are

  c = f.fire(c);
  c = f.counts(c, 0, 300);
  CHECK(phases(c) == Strings{"waiting_takeover"});
  CHECK(kinds(c) == Strings{"ArmTimer"});
  CHECK(one<cmd::ArmTimer>(c).after == 60s);
  CHECK(f.fsm.stats().current_connected == 0);
  f.clock.advance(15s);
  CHECK(f.fsm.progress() == Progress{25, 45});
  CHECK(f.fsm.status({kPeer})["state"] == "waiting_takeover");
  CHECK(f.fsm.status({kPeer})["stats"]["current_sessions"] == 1500);  // stale in this phase

  // evicting_sessions: 300 sessions to the available peer; this node is never a target
  c = f.fire(c);
  CHECK(phases(c) == Strings{"evicting_sessions"});
  CHECK(kinds(c) == Strings{"FetchCounts"});
  CHECK(one<cmd::FetchCounts>(c).with_targets);
  CHECK_FALSE(one<cmd::FetchCounts>(c).targets.has_value());  // every other running node
  c = f.counts(c, 0, 300, {kSelf, kPeer});
  CHECK(kinds(c) == Strings{"MigrateSessions"});
  const auto migrate = one<cmd::MigrateSessions>(c);
  CHECK(migrate.count == 300);
  CHECK(migrate.targets == std::vector<NodeId>{kPeer});
  CHECK(migrate.filter == SessionFilter::any);
  c = f.batch_done(c, 300);
  CHECK(kinds(c) == Strings{"ArmTimer"});
  CHECK(one<cmd::ArmTimer>(c).after == 1000ms);

  c = f.fire(c);
  c = f.counts(c, 0, 0, {kPeer});
  CHECK(phases(c) == Strings{"prohibiting"});
  CHECK(kinds(c).empty());  // terminal: no timer
  CHECK(f.fsm.state() == EvacuationState::prohibiting);
  CHECK(f.fsm.status({kPeer}) == parse_json(R"({"status":"enabled","process":"evacuation","state":"prohibiting",
      "connection_eviction_rate":500,"session_eviction_rate":500,"connection_goal":0,"session_goal":0,
      "session_recipients":["n2@127.0.0.1"],
      "stats":{"initial_connected":1200,"current_connected":0,"initial_sessions":1500,"current_sessions":0},
      "progress":100,"eta_seconds":0})"));
  CHECK(f.fsm.global_entry({kPeer}) == parse_json(R"({"node":"n1@127.0.0.1","state":"prohibiting",
      "connection_eviction_rate":500,"session_eviction_rate":500,"connection_goal":0,"session_goal":0,
      "session_recipients":["n2@127.0.0.1"],
      "stats":{"initial_connected":1200,"current_connected":0,"initial_sessions":1500,"current_sessions":0},
      "progress":100,"eta_seconds":0})"));

  // prohibiting holds until stop
  c = f.fsm.handle(ev::Stop{});
  CHECK(kinds(c) == Strings{"CancelTimer", "ClearPersisted", "DisableAgent", "Reply"});
  CHECK(one<cmd::DisableAgent>(c).kind == "evacuation");
  CHECK(one<cmd::Reply>(c).request == Request::stop);
  CHECK_FALSE(one<cmd::Reply>(c).ec);
  CHECK(phases(c) == Strings{"disabled"});
  CHECK(f.fsm.status({kPeer}) == parse_json(R"({"status":"disabled"})"));
  CHECK(f.fsm.global_entry({kPeer}).is_null());
}

TEST_CASE("evacuation: a health-check wait allows connections first", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationOptions o;
  o.wait_health_check = 60s;
  auto c = f.start(o);
  CHECK(phases(c) == Strings{"waiting_health_check"});
  CHECK(one<cmd::EnableAgent>(c).allow_connections);  // still accepted; health check already 503
  CHECK(f.fsm.progress() == Progress{0, std::nullopt});
  c = f.agent_ok(c);
  CHECK(kinds(c) == Strings{"Reply", "ArmTimer"});
  CHECK(one<cmd::ArmTimer>(c).after == 60s);
  f.clock.advance(30s);
  CHECK(f.fsm.status({})["state"] == "waiting_health_check");
  CHECK(f.fsm.progress() == Progress{50, 30});

  c = f.fire(c);
  CHECK(phases(c) == Strings{"evicting_conns"});
  CHECK(kinds(c) == Strings{"EnableAgent"});
  CHECK_FALSE(one<cmd::EnableAgent>(c).allow_connections);  // connections refused from now on
  c = f.agent_ok(c);
  CHECK(kinds(c) == Strings{"FetchCounts"});  // the first tick at once, no second Reply
}

TEST_CASE("evacuation: start refused", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  SECTION("already started") {
    auto c = f.start({});
    c = f.start({});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::already_started);
    CHECK(f.fsm.state() == EvacuationState::evicting_conns);
  }
  SECTION("agent owned by a rebalance: nothing is written") {
    auto c = f.fsm.handle(ev::EvacuationStart{{}, 0, 0, /*agent_available=*/false});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::agent_busy);
    CHECK(one<cmd::Reply>(c).ec.message() == "eviction_agent_busy");
    CHECK_FALSE(f.fsm.enabled());
  }
  SECTION("the file cannot be written: the agent is never enabled") {
    auto c = f.start({});
    c = f.fsm.handle(ev::PersistFailed{"disk full"});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::persist_failed);
    CHECK(one<cmd::Log>(c).level == LogLevel::error);
    CHECK_FALSE(f.fsm.enabled());
    CHECK(f.fsm.status({}) == parse_json(R"({"status":"disabled"})"));
  }
  SECTION("the agent refuses after the file was written: the file goes") {
    auto c = f.start({});
    const auto tok = one<cmd::EnableAgent>(c).token;
    c = f.fsm.handle(ev::AgentReply{tok, kSelf, RebalanceErrc::agent_busy});
    CHECK(kinds(c) == Strings{"ClearPersisted", "Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::agent_busy);
    CHECK_FALSE(f.fsm.enabled());
    // and a late, stale reply changes nothing
    CHECK(f.fsm.handle(ev::AgentReply{tok, kSelf, {}}).empty());
  }
}

TEST_CASE("evacuation: stop", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  SECTION("when disabled") {
    auto c = f.fsm.handle(ev::Stop{});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::not_started);
  }
  SECTION("in waiting_health_check, then stale events are ignored") {
    EvacuationOptions o;
    o.wait_health_check = 10s;
    auto c = f.agent_ok(f.start(o));
    auto stop = f.fsm.handle(ev::Stop{});
    CHECK(kinds(stop) == Strings{"CancelTimer", "ClearPersisted", "DisableAgent", "Reply"});
    CHECK(f.fire(c).empty());
    CHECK_FALSE(f.fsm.enabled());
  }
  SECTION("in evicting_sessions while a batch is out") {
    EvacuationOptions o;
    o.wait_takeover = 0s;
    auto c = f.agent_ok(f.start(o));
    c = f.counts(c, 0, 10);
    c = f.fire(c);
    c = f.counts(c, 0, 10, {kPeer});
    REQUIRE(has<cmd::MigrateSessions>(c));
    auto stop = f.fsm.handle(ev::Stop{});
    CHECK(one<cmd::Reply>(stop).request == Request::stop);
    CHECK(f.batch_done(c, 10).empty());
  }
  SECTION("before the agent answered the start") {
    auto c = f.start({});
    auto stop = f.fsm.handle(ev::Stop{});
    const auto replies = all<cmd::Reply>(stop);
    REQUIRE(replies.size() == 2);
    CHECK(replies[0].request == Request::start);
    CHECK(replies[0].ec == RebalanceErrc::cancelled);
    CHECK(replies[1].request == Request::stop);
    CHECK_FALSE(replies[1].ec);
    CHECK(f.agent_ok(c).empty());
  }
  SECTION("a new evacuation after a stop") {
    f.agent_ok(f.start({}));
    f.fsm.handle(ev::Stop{});
    auto c = f.start({}, 5, 6);
    CHECK(kinds(c) == Strings{"Persist", "EnableAgent"});
    CHECK(f.fsm.stats().initial_connected == 5);
  }
}

TEST_CASE("evacuation: restore after a restart", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationOptions o;
  o.wait_health_check = 60s;  // ignored on restore: refuse at once
  o.conn_evict_rate = 30;
  auto c = f.fsm.handle(ev::EvacuationRestore{o, 233, 247, true});
  CHECK(kinds(c) == Strings{"EnableAgent"});  // no Persist (the file is there), no Reply
  CHECK_FALSE(one<cmd::EnableAgent>(c).allow_connections);
  CHECK(one<cmd::Log>(c).message == "Node evacuation is enabled. The node will not receive connections.");
  CHECK(f.fsm.state() == EvacuationState::evicting_conns);
  c = f.agent_ok(c);
  CHECK(kinds(c) == Strings{"FetchCounts"});
  c = f.counts(c, 233, 247);
  CHECK(one<cmd::EvictConnections>(c).count == 30);
  CHECK(f.fsm.stats().initial_connected == 233);
  CHECK(f.fsm.stats().initial_sessions == 247);

  SECTION("a restore while running is ignored") { CHECK(f.fsm.handle(ev::EvacuationRestore{o, 1, 1, true}).empty()); }
}

TEST_CASE("evacuation: restore with a busy agent drops the file", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  auto c = f.fsm.handle(ev::EvacuationRestore{{}, 0, 0, false});
  CHECK(kinds(c) == Strings{"ClearPersisted"});
  CHECK_FALSE(f.fsm.enabled());
  // a refusal of the restore's enable is handled the same way
  c = f.fsm.handle(ev::EvacuationRestore{{}, 0, 0, true});
  c = f.fsm.handle(ev::AgentReply{one<cmd::EnableAgent>(c).token, kSelf, RebalanceErrc::agent_busy});
  CHECK(kinds(c) == Strings{"ClearPersisted", "DisableAgent"});
  CHECK(phases(c) == Strings{"disabled"});
}

TEST_CASE("evacuation: without recipients it retries and never completes",
          "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationOptions o;
  o.wait_takeover = 0s;
  o.migrate_to = std::vector<NodeId>{kPeer};
  auto c = f.agent_ok(f.start(o));
  c = f.counts(c, 0, 40);
  c = f.fire(c);
  CHECK(one<cmd::FetchCounts>(c).targets == std::vector<NodeId>{kPeer});  // migrate_to is kept
  for (int retry = 0; retry < 3; ++retry) {
    c = f.counts(c, 0, 40, {kSelf});  // only this node: no recipient
    CHECK(kinds(c) == Strings{"ArmTimer"});
    CHECK(one<cmd::ArmTimer>(c).after == 30s);
    CHECK(one<cmd::Log>(c).level == LogLevel::warn);
    CHECK(f.fsm.state() == EvacuationState::evicting_sessions);
    const auto status = f.fsm.status({});
    CHECK(status["session_recipients"] == nlohmann::json::array());
    CHECK(status["eta_seconds"].is_null());
    CHECK(status["stats"]["current_sessions"] == 40);
    c = f.fire(c);
  }
  // a recipient comes back
  c = f.counts(c, 0, 40, {kPeer});
  CHECK(one<cmd::MigrateSessions>(c).targets == std::vector<NodeId>{kPeer});
}

TEST_CASE("evacuation: a recipient that becomes available ends the 30 s wait at once",
          "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationOptions o;
  o.wait_takeover = 0s;
  auto c = f.agent_ok(f.start(o));
  CHECK(f.fsm.handle(ev::RecipientsChanged{}).empty());  // not waiting for a recipient: nothing to do
  c = f.counts(c, 0, 40);
  c = f.fire(c);
  c = f.counts(c, 0, 40, {});  // nobody to migrate to: the 30 s wait
  REQUIRE(one<cmd::ArmTimer>(c).after == 30s);
  f.clock.advance(1s);
  c = f.fsm.handle(ev::RecipientsChanged{});
  CHECK(kinds(c) == Strings{"CancelTimer", "FetchCounts"});
  CHECK(f.fsm.handle(ev::RecipientsChanged{}).empty());  // already asking
  c = f.counts(c, 0, 40, {kPeer});
  CHECK(one<cmd::MigrateSessions>(c).targets == std::vector<NodeId>{kPeer});
  CHECK(f.fsm.handle(ev::RecipientsChanged{}).empty());  // migrating
}

TEST_CASE("evacuation: sessions given up are reported, not retried forever",
          "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  auto c = f.to_first_session_batch(10, 12);
  CHECK(one<cmd::MigrateSessions>(c).count == 10);
  c = f.batch_done(c, 8, /*given_up=*/2);
  CHECK(one<cmd::Log>(c).level == LogLevel::error);
  c = f.fire(c);
  c = f.counts(c, 0, 4, {kPeer}, /*stuck=*/2);
  CHECK(one<cmd::MigrateSessions>(c).count == 2);  // the two stuck ones are not offered again
  c = f.batch_done(c, 2);
  c = f.fire(c);
  c = f.counts(c, 0, 2, {kPeer}, /*stuck=*/2);
  CHECK(phases(c) == Strings{"prohibiting"});
  CHECK(one<cmd::Log>(c).level == LogLevel::warn);
  const auto status = f.fsm.status({kPeer});
  CHECK(status["failed_sessions"] == 2);
  CHECK(status["stats"]["current_sessions"] == 2);
  CHECK(f.fsm.stats().sessions_migrated == 10);
}

TEST_CASE("evacuation: the next session tick comes one interval after the batch started",
          "[unit][rebalance][evacuation_fsm]") {
  // The coordinator paces a batch over the second; a full interval after it would halve the rate.
  Fixture f;
  auto c = f.to_first_session_batch(100, 300);
  f.clock.advance(950ms);
  c = f.batch_done(c, 100);
  CHECK(one<cmd::ArmTimer>(c).after == 50ms);
  c = f.fire(c);
  c = f.counts(c, 0, 200, {kPeer});
  f.clock.advance(3s);
  c = f.batch_done(c, 100);
  CHECK(one<cmd::ArmTimer>(c).after == 0ms);
}

TEST_CASE("evacuation: stale and unexpected events are ignored", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  CHECK(f.fsm.handle(ev::TimerFired{1}).empty());
  CHECK(f.fsm.handle(ev::LocalCounts{1, 0, 0, 0, {}}).empty());
  CHECK(f.fsm.handle(ev::BatchDone{1, kSelf, {}, 0, 0, 0}).empty());
  CHECK(f.fsm.handle(ev::PersistFailed{"x"}).empty());
  auto c = f.agent_ok(f.start({}));
  const auto fetch = one<cmd::FetchCounts>(c).token;
  CHECK(f.fsm.handle(ev::LocalCounts{fetch + 100, 5, 5, 0, {}}).empty());
  CHECK(f.fsm.handle(ev::TimerFired{fetch}).empty());  // not waiting for a timer
  c = f.counts(c, 5, 5);
  CHECK(f.fsm.handle(ev::LocalCounts{fetch, 5, 5, 0, {}}).empty());  // answered already
  CHECK(f.fsm.handle(ev::PersistFailed{"late"}).empty());             // the start succeeded
}

TEST_CASE("evacuation: events through the variant", "[unit][rebalance][evacuation_fsm]") {
  Fixture f;
  EvacuationEvent e = ev::EvacuationStart{{}, 1, 1, true};
  auto c = f.fsm.handle(e);
  CHECK(kinds(c) == Strings{"Persist", "EnableAgent"});
  e = ev::AgentReply{one<cmd::EnableAgent>(c).token, kSelf, {}};
  CHECK(kinds(f.fsm.handle(e)) == Strings{"Reply", "FetchCounts"});
  e = ev::Stop{};
  const auto stop = f.fsm.handle(e);
  CHECK(one<cmd::Reply>(stop).request == Request::stop);
}
