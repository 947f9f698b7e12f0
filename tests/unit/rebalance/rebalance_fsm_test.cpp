#include <catch2/catch.hpp>

#include <cmath>
#include <deque>
#include <set>

#include "rebalance/core/rebalance_fsm.hpp"
#include "rebalance_test_helpers.hpp"

using namespace tidemq;
using namespace tidemq::rebalance;
using namespace tidemq::rebalance::test;
using namespace std::chrono_literals;

namespace {

const NodeId kN1 = "n1@127.0.0.1";
const NodeId kN2 = "n2@127.0.0.1";
const NodeId kN3 = "n3@127.0.0.1";
const NodeId kN4 = "n4@127.0.0.1";

// 2024-05-01T12:00:00Z
const auto kWallNow = std::chrono::system_clock::time_point(std::chrono::seconds(1714564800));

RebalanceOptions spec_options();  // below: the options of docs/rebalance.md, "Rebalance example"

struct Fixture : FsmFixture<RebalanceFsm, TokenOf::first_command> {
  Fixture() : FsmFixture(kN1, Timing{kEvictInterval, kNoTargetRetry, [] { return kWallNow; }}) {}

  Commands counts(const Commands& c, NodeCountMap m) { return fsm.handle(ev::ClusterCounts{token<cmd::FetchCounts>(c), std::move(m)}); }
  // Every donor of the EnableAgent in `c` says ok; the output of the last reply.
  Commands enable_all(const Commands& c) {
    const auto e = one<cmd::EnableAgent>(c);
    Commands out;
    for (const auto& n : e.nodes) {
      out = fsm.handle(ev::AgentReply{e.token, n, {}});
      if (&n != &e.nodes.back()) CHECK(out.empty());
    }
    return out;
  }
  // Every batch of `c` is done.
  template <class T>
  Commands batches_done(const Commands& c, std::uint64_t given_up = 0) {
    Commands out;
    for (const auto& b : all<T>(c)) out = fsm.handle(ev::BatchDone{b.token, b.node, {}, b.count, 0, given_up});
    return out;
  }

  // A run without waits (n1, n2 donors, n3 recipient) whose connections are already balanced
  // as `balanced` says: it has entered evicting_sessions and asks for the first session counts.
  Commands to_session_phase(NodeCountMap balanced) {
    RebalanceOptions o = spec_options();
    o.wait_health_check = 0s;
    o.wait_takeover = 0s;
    o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
    auto c = fsm.handle(ev::RebalanceStart{o});
    c = counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    c = enable_all(c);
    c = counts(c, std::move(balanced));
    return fire(c);  // wait_takeover 0
  }

  // A run that has reached evicting_conns with n1, n2 donors and n3 recipient.
  Commands to_evicting_conns(RebalanceOptions o) {
    o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
    auto c = fsm.handle(ev::RebalanceStart{o});
    c = counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    c = enable_all(c);
    if (o.wait_health_check.count() > 0) {
      c = fire(c);
      c = enable_all(c);
    }
    REQUIRE(fsm.state() == RebalanceState::evicting_conns);
    REQUIRE(has<cmd::FetchCounts>(c));
    return c;
  }
};

RebalanceOptions spec_options() {
  RebalanceOptions o;
  o.abs_conn_threshold = 100;
  o.abs_sess_threshold = 100;
  return o;
}

}  // namespace

TEST_CASE("rebalance: the documented rebalance example (docs/rebalance.md), event by event", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o = spec_options();
  o.nodes = std::vector<NodeId>{kN3, kN2, kN1};

  // start: counts of every node first
  auto c = f.fsm.handle(ev::RebalanceStart{o});
  CHECK(kinds(c) == Strings{"FetchCounts"});
  CHECK(one<cmd::FetchCounts>(c).nodes == std::vector<NodeId>{kN1, kN2, kN3});
  CHECK(f.fsm.busy());
  CHECK_FALSE(f.fsm.running());
  CHECK(f.fsm.local_status(ApiVersion::v4) == parse_json(R"({"status":"disabled"})"));

  // donors n1, n2 (>= mean 2000), recipient n3; donors enabled with connections allowed
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  CHECK(kinds(c) == Strings{"EnableAgent"});
  auto enable = one<cmd::EnableAgent>(c);
  CHECK(enable.nodes == std::vector<NodeId>{kN1, kN2});
  CHECK(enable.kind == "rebalance");
  CHECK_FALSE(enable.server_reference.has_value());  // rebalance never redirects
  CHECK(enable.allow_connections);
  CHECK(f.fsm.handle(ev::AgentReply{enable.token, kN1, {}}).empty());
  c = f.fsm.handle(ev::AgentReply{enable.token, kN2, {}});
  CHECK(kinds(c) == Strings{"Reply", "ArmTimer"});
  CHECK_FALSE(one<cmd::Reply>(c).ec);
  CHECK(one<cmd::ArmTimer>(c).after == 60s);
  CHECK(phases(c) == Strings{"wait_health_check"});

  CHECK(f.fsm.coordinator_entry(ApiVersion::v4) == parse_json(R"({"node":"n1@127.0.0.1","state":"wait_health_check",
      "coordinator_node":"n1@127.0.0.1","connection_eviction_rate":500,"session_eviction_rate":500,
      "donors":["n1@127.0.0.1","n2@127.0.0.1"],"recipients":["n3@127.0.0.1"],"progress":0,"eta_seconds":60})"));
  CHECK(f.fsm.coordinator_entry(ApiVersion::v5) == parse_json(R"({"node":"n1@127.0.0.1","state":"wait_health_check",
      "coordinator_node":"n1@127.0.0.1","connection_eviction_rate":500,"session_eviction_rate":500,
      "connection_eviction_rpc_timeout":15000,"session_eviction_rpc_timeout":15000,
      "donors":["n1@127.0.0.1","n2@127.0.0.1"],"recipients":["n3@127.0.0.1"],"progress":0,"eta_seconds":60})"));

  // health check over: donors refuse connections, then the first tick
  f.clock.advance(60s);
  c = f.fire(c);
  CHECK(phases(c) == Strings{"evicting_conns"});
  CHECK(kinds(c) == Strings{"EnableAgent"});
  CHECK_FALSE(one<cmd::EnableAgent>(c).allow_connections);
  c = f.enable_all(c);
  CHECK(kinds(c) == Strings{"FetchCounts"});

  // tick 1: 3000, 3000, 0 → 500 each
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  CHECK(kinds(c) == Strings{"EvictConnections", "EvictConnections"});
  for (const auto& e : all<cmd::EvictConnections>(c)) {
    CHECK(e.count == 500);
    CHECK(e.timeout == 15000ms);
  }
  CHECK(f.fsm.progress() == Progress{0, 2});
  auto done = f.fsm.handle(ev::BatchDone{one<cmd::EvictConnections>(Commands{c[0]}).token, kN1, {}, 500, 0, 0});
  CHECK(done.empty());  // the next tick waits for every donor
  c = f.fsm.handle(ev::BatchDone{all<cmd::EvictConnections>(c)[1].token, kN2, {}, 500, 0, 0});
  CHECK(kinds(c) == Strings{"ArmTimer"});
  CHECK(one<cmd::ArmTimer>(c).after == 1000ms);

  // tick 2: 2500, 2500, 1000 → status shows goal 1000.0 and donor avg 2500.0
  c = f.fire(c);
  c = f.counts(c, {{kN1, node_counts(2500, 3000)}, {kN2, node_counts(2500, 3000)}, {kN3, node_counts(1000, 1000)}});
  CHECK(all<cmd::EvictConnections>(c).size() == 2);
  const auto entry = f.fsm.coordinator_entry(ApiVersion::v4);
  CHECK(entry["connection_goal"] == 1000.0);
  CHECK(entry["connection_goal"].is_number_float());
  CHECK(entry["donor_conn_avg"] == 2500.0);
  CHECK(entry["donor_conn_avg"].is_number_float());
  CHECK_FALSE(entry.contains("disconnected_session_goal"));
  CHECK(f.fsm.progress() == Progress{53, 1});  // 1875 moves needed at tick 1, 875 now

  // the donor's own status (docs/rebalance.md, "Local status"), with its live counts
  const auto view = f.fsm.donor_view(kN2);
  REQUIRE(view.has_value());
  CHECK(render_donor_status(*view, LiveCounts{2400, 3000, 600}, ApiVersion::v5) ==
        parse_json(R"({"status":"enabled","process":"rebalance","state":"evicting_conns",
            "coordinator_node":"n1@127.0.0.1","connection_eviction_rate":500,"session_eviction_rate":500,
            "connection_eviction_rpc_timeout":15000,"session_eviction_rpc_timeout":15000,
            "recipients":["n3@127.0.0.1"],"connection_goal":1000.0,
            "stats":{"initial_connected":3000,"initial_sessions":3000,"current_connected":2400,
                     "current_sessions":3000,"current_disconnected_sessions":600},
            "progress":53,"eta_seconds":1})"));
  CHECK_FALSE(render_donor_status(*view, LiveCounts{}, ApiVersion::v4).contains("connection_eviction_rpc_timeout"));
  CHECK_FALSE(f.fsm.donor_view(kN3).has_value());  // a recipient

  // tick 3: balanced → wait_takeover
  c = f.batches_done<cmd::EvictConnections>(c);
  c = f.fire(c);
  c = f.counts(c, {{kN1, node_counts(2000, 3000, 600)}, {kN2, node_counts(2000, 3000, 600)},
                   {kN3, node_counts(2000, 2000)}});
  CHECK(phases(c) == Strings{"wait_takeover"});
  CHECK(kinds(c) == Strings{"ArmTimer"});
  CHECK(one<cmd::ArmTimer>(c).after == 60s);
  CHECK(f.fsm.counters().connections_evicted == 2000);

  // sessions: disconnected 600, 600, 0 → 200 each to n3
  c = f.fire(c);
  CHECK(phases(c) == Strings{"evicting_sessions"});
  CHECK(kinds(c) == Strings{"FetchCounts"});
  c = f.counts(c, {{kN1, node_counts(2000, 2600, 600)}, {kN2, node_counts(2000, 2600, 600)},
                   {kN3, node_counts(2000, 2000, 0)}});
  CHECK(kinds(c) == Strings{"MigrateSessions", "MigrateSessions"});
  for (const auto& m : all<cmd::MigrateSessions>(c)) {
    CHECK(m.count == 200);
    CHECK(m.targets == std::vector<NodeId>{kN3});
    CHECK(m.filter == SessionFilter::disconnected);
    CHECK(m.timeout == 15000ms);
  }
  CHECK(f.fsm.coordinator_entry(ApiVersion::v4)["disconnected_session_goal"] == 0.0);
  CHECK(f.fsm.coordinator_entry(ApiVersion::v4)["donor_sess_avg"] == 600.0);
  c = f.batches_done<cmd::MigrateSessions>(c);
  c = f.fire(c);

  // balanced: donors released, run completed, last_result kept
  c = f.counts(c, {{kN1, node_counts(2000, 2400, 400)}, {kN2, node_counts(2000, 2400, 400)},
                   {kN3, node_counts(2000, 2400, 400)}});
  CHECK(kinds(c) == Strings{"DisableAgent", "Finished"});
  CHECK(one<cmd::DisableAgent>(c).nodes == std::vector<NodeId>{kN1, kN2});
  CHECK(one<cmd::DisableAgent>(c).kind == "rebalance");
  CHECK(one<cmd::Finished>(c).result == RunResult::completed);
  CHECK(phases(c) == Strings{"disabled"});
  CHECK_FALSE(f.fsm.busy());
  CHECK(f.fsm.coordinator_entry(ApiVersion::v4).is_null());
  CHECK(f.fsm.local_status(ApiVersion::v4) == parse_json(R"({"status":"disabled","last_result":{"result":"completed",
      "reason":null,"finished_at":"2024-05-01T12:00:00.000Z"}})"));
  CHECK(f.fsm.counters().sessions_migrated == 400);
}

TEST_CASE("rebalance: nothing to balance", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o;  // default thresholds: 1000, 1000, 0 is balanced
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
  auto c = f.fsm.handle(ev::RebalanceStart{o});
  c = f.counts(c, {{kN1, node_counts(1000, 1000)}, {kN2, node_counts(1000, 1000)}, {kN3, node_counts(0, 0)}});
  CHECK(kinds(c) == Strings{"Reply"});
  CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::nothing_to_balance);
  CHECK_FALSE(f.fsm.busy());

  SECTION("single node") {
    o.nodes = std::vector<NodeId>{kN1};
    c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.counts(c, {{kN1, node_counts(5000, 5000)}});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::nothing_to_balance);
  }
  SECTION("no nodes at all") {
    o.nodes = std::vector<NodeId>{};
    c = f.fsm.handle(ev::RebalanceStart{o});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::nothing_to_balance);
  }
}

TEST_CASE("rebalance: start refused or failing", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o = spec_options();
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
  const NodeCountMap loaded{{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}};

  SECTION("already started, while starting and while running") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    CHECK(one<cmd::Reply>(f.fsm.handle(ev::RebalanceStart{o})).ec == RebalanceErrc::already_started);
    c = f.counts(c, loaded);
    c = f.enable_all(c);
    auto again = f.fsm.handle(ev::RebalanceStart{o});
    CHECK(kinds(again) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(again).ec == RebalanceErrc::already_started);
    CHECK(f.fsm.state() == RebalanceState::wait_health_check);
  }
  SECTION("counts cannot be read") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.fsm.handle(ev::CountsFailed{one<cmd::FetchCounts>(c).token, kN3, "timeout"});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::rpc_failed);
    CHECK_FALSE(f.fsm.busy());
    CHECK_FALSE(f.fsm.last_result().has_value());  // a failed start is not a run
  }
  SECTION("a node missing from the counts") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::rpc_failed);
  }
  SECTION("a donor's agent is busy: the others are released") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.counts(c, loaded);
    const auto tok = one<cmd::EnableAgent>(c).token;
    CHECK(f.fsm.handle(ev::AgentReply{tok, kN1, {}}).empty());
    c = f.fsm.handle(ev::AgentReply{tok, kN2, RebalanceErrc::agent_busy});
    CHECK(kinds(c) == Strings{"DisableAgent", "Reply"});
    CHECK(one<cmd::DisableAgent>(c).nodes == std::vector<NodeId>{kN1});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::agent_busy);
    CHECK(one<cmd::Reply>(c).ec.message() == "eviction_agent_busy");
    CHECK_FALSE(f.fsm.busy());
  }
  SECTION("a node goes down while donors are being enabled") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.counts(c, loaded);
    c = f.fsm.handle(ev::NodeDown{kN2});
    CHECK(one<cmd::DisableAgent>(c).nodes == std::vector<NodeId>{kN1});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::rpc_failed);
  }
  SECTION("a stop overtakes the start") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    auto stop = f.fsm.handle(ev::Stop{});
    const auto replies = all<cmd::Reply>(stop);
    REQUIRE(replies.size() == 2);
    CHECK(replies[0].request == Request::start);
    CHECK(replies[0].ec == RebalanceErrc::cancelled);
    CHECK(replies[1].request == Request::stop);
    CHECK_FALSE(replies[1].ec);
    CHECK(f.counts(c, loaded).empty());  // stale
  }
  SECTION("a stop while donors are being enabled releases them") {
    auto c = f.fsm.handle(ev::RebalanceStart{o});
    c = f.counts(c, loaded);
    auto stop = f.fsm.handle(ev::Stop{});
    CHECK(kinds(stop) == Strings{"DisableAgent", "Reply", "Reply"});
    CHECK(one<cmd::DisableAgent>(stop).nodes == std::vector<NodeId>{kN1, kN2});
    CHECK(f.enable_all(c).empty());
  }
}

TEST_CASE("rebalance: wait_health_check 0 refuses connections from the start", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o = spec_options();
  o.wait_health_check = 0s;
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
  auto c = f.fsm.handle(ev::RebalanceStart{o});
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  CHECK_FALSE(one<cmd::EnableAgent>(c).allow_connections);
  c = f.enable_all(c);
  CHECK(kinds(c) == Strings{"Reply", "FetchCounts"});
  CHECK(phases(c) == Strings{"evicting_conns"});
}

TEST_CASE("rebalance: stop", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  SECTION("when disabled") {
    auto c = f.fsm.handle(ev::Stop{});
    CHECK(kinds(c) == Strings{"Reply"});
    CHECK(one<cmd::Reply>(c).ec == RebalanceErrc::not_started);
  }
  SECTION("while evicting: donors released, last_result stopped, stale events ignored") {
    auto c = f.to_evicting_conns(spec_options());
    c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    auto stop = f.fsm.handle(ev::Stop{});
    CHECK(kinds(stop) == Strings{"CancelTimer", "DisableAgent", "Finished", "Reply"});
    CHECK(one<cmd::DisableAgent>(stop).nodes == std::vector<NodeId>{kN1, kN2});
    CHECK(one<cmd::Finished>(stop).result == RunResult::stopped);
    CHECK(one<cmd::Reply>(stop).request == Request::stop);
    CHECK(f.fsm.local_status(ApiVersion::v4)["last_result"]["result"] == "stopped");
    CHECK(f.batches_done<cmd::EvictConnections>(c).empty());
    CHECK(one<cmd::Reply>(f.fsm.handle(ev::Stop{})).ec == RebalanceErrc::not_started);
  }
}

TEST_CASE("rebalance: aborts release every donor and leave a reason", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  auto c = f.to_evicting_conns(spec_options());

  SECTION("a recipient goes down") {
    auto a = f.fsm.handle(ev::NodeDown{kN3});
    CHECK(kinds(a) == Strings{"CancelTimer", "DisableAgent", "Finished"});
    CHECK(one<cmd::DisableAgent>(a).nodes == std::vector<NodeId>{kN1, kN2});
    CHECK(one<cmd::Finished>(a).result == RunResult::aborted);
    CHECK(one<cmd::Finished>(a).reason == "node 'n3@127.0.0.1' down");
    CHECK(one<cmd::Log>(a).level == LogLevel::error);
    CHECK(phases(a) == Strings{"disabled"});
    CHECK(f.fsm.local_status(ApiVersion::v4) == parse_json(R"({"status":"disabled","last_result":{"result":"aborted",
        "reason":"node 'n3@127.0.0.1' down","finished_at":"2024-05-01T12:00:00.000Z"}})"));
    CHECK(f.counts(c, {}).empty());  // stale
  }
  SECTION("a donor goes down: the others are released") {
    auto a = f.fsm.handle(ev::NodeDown{kN2});
    CHECK(one<cmd::DisableAgent>(a).nodes == std::vector<NodeId>{kN1});
  }
  SECTION("a node that takes no part going down changes nothing") {
    CHECK(f.fsm.handle(ev::NodeDown{kN4}).empty());
    CHECK(f.fsm.running());
  }
  SECTION("a donor's agent was reset") {
    auto a = f.fsm.handle(ev::DonorLost{kN1, "lease lapsed"});
    CHECK(one<cmd::Finished>(a).reason == "donor 'n1@127.0.0.1' lost: lease lapsed");
    CHECK(one<cmd::DisableAgent>(a).nodes == std::vector<NodeId>{kN2});
  }
  SECTION("counts cannot be read") {
    auto a = f.fsm.handle(ev::CountsFailed{one<cmd::FetchCounts>(c).token, kN2, "timeout"});
    CHECK(one<cmd::Finished>(a).reason == "cannot read counts from 'n2@127.0.0.1': timeout");
  }
  SECTION("a node missing from the counts") {
    auto a = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    CHECK(one<cmd::Finished>(a).reason == "no counts from 'n2@127.0.0.1'");
  }
  SECTION("an eviction fails") {
    c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    const auto evict = all<cmd::EvictConnections>(c).at(1);
    auto a = f.fsm.handle(ev::BatchDone{evict.token, evict.node, RebalanceErrc::agent_disabled, 0, 0, 0});
    CHECK(one<cmd::Finished>(a).result == RunResult::aborted);
    CHECK(one<cmd::Finished>(a).reason == "connection eviction on 'n2@127.0.0.1' failed: disabled");
  }
  SECTION("a new start clears last_result once it runs") {
    f.fsm.handle(ev::NodeDown{kN3});
    REQUIRE(f.fsm.last_result().has_value());
    RebalanceOptions o = spec_options();
    o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
    auto s = f.fsm.handle(ev::RebalanceStart{o});
    s = f.counts(s, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
    CHECK(f.fsm.last_result().has_value());  // not yet: the start may still fail
    f.enable_all(s);
    CHECK_FALSE(f.fsm.last_result().has_value());
  }
}

TEST_CASE("rebalance: the re-enable after the health check is refused", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o = spec_options();
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3};
  auto c = f.fsm.handle(ev::RebalanceStart{o});
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  c = f.enable_all(c);
  c = f.fire(c);
  const auto tok = one<cmd::EnableAgent>(c).token;
  auto a = f.fsm.handle(ev::AgentReply{tok, kN2, RebalanceErrc::invalid_coordinator});
  CHECK(one<cmd::Finished>(a).result == RunResult::aborted);
  CHECK(one<cmd::DisableAgent>(a).nodes == std::vector<NodeId>{kN1});
}

TEST_CASE("rebalance: sessions go only to available recipients", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  RebalanceOptions o = spec_options();
  o.wait_health_check = 0s;
  o.wait_takeover = 0s;
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3, kN4};
  auto c = f.fsm.handle(ev::RebalanceStart{o});
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)},
                   {kN3, node_counts(0, 0)}, {kN4, node_counts(0, 0)}});
  c = f.enable_all(c);
  c = f.counts(c, {{kN1, node_counts(1500, 3000)}, {kN2, node_counts(1500, 3000)},
                   {kN3, node_counts(1500, 0)}, {kN4, node_counts(1500, 0)}});
  c = f.fire(c);  // wait_takeover 0
  SECTION("one recipient started evacuating") {
    c = f.counts(c, {{kN1, node_counts(1500, 3000, 1500)},
                     {kN2, node_counts(1500, 3000, 1500)},
                     {kN3, node_counts(1500, 1500, 0, /*available=*/false)},
                     {kN4, node_counts(1500, 1500, 0)}});
    for (const auto& m : all<cmd::MigrateSessions>(c)) CHECK(m.targets == std::vector<NodeId>{kN4});
  }
  SECTION("no recipient is available any more") {
    c = f.counts(c, {{kN1, node_counts(1500, 3000, 1500)},
                     {kN2, node_counts(1500, 3000, 1500)},
                     {kN3, node_counts(1500, 1500, 0, false)},
                     {kN4, node_counts(1500, 1500, 0, false)}});
    CHECK(one<cmd::Finished>(c).result == RunResult::aborted);
    CHECK(one<cmd::Finished>(c).reason == "no recipient is available for sessions");
  }
}

TEST_CASE("rebalance: the next tick comes one interval after a batch started, not after it ended",
          "[unit][rebalance][rebalance_fsm]") {
  // Donors pace a batch over the second; waiting a full interval after it would halve the rate.
  Fixture f;
  auto c = f.to_session_phase({{kN1, node_counts(1000, 3000)}, {kN2, node_counts(1000, 3000)}, {kN3, node_counts(1000, 0)}});
  c = f.counts(c, {{kN1, node_counts(1000, 3000, 3000)}, {kN2, node_counts(1000, 3000, 3000)}, {kN3, node_counts(1000, 0, 0)}});
  REQUIRE(all<cmd::MigrateSessions>(c).size() == 2);
  f.clock.advance(700ms);
  c = f.batches_done<cmd::MigrateSessions>(c);
  CHECK(one<cmd::ArmTimer>(c).after == kEvictInterval - 700ms);
  c = f.fire(c);
  c = f.counts(c, {{kN1, node_counts(1000, 3000, 2500)}, {kN2, node_counts(1000, 3000, 2500)}, {kN3, node_counts(1000, 1000, 1000)}});
  f.clock.advance(1500ms);  // a batch that overran the interval: the next tick at once
  c = f.batches_done<cmd::MigrateSessions>(c);
  CHECK(one<cmd::ArmTimer>(c).after == 0ms);
}

TEST_CASE("rebalance: sessions that cannot be migrated end the run", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  auto c = f.to_session_phase({{kN1, node_counts(2000, 3000)}, {kN2, node_counts(2000, 3000)}, {kN3, node_counts(2000, 2000)}});
  c = f.counts(c, {{kN1, node_counts(2000, 2600, 600)}, {kN2, node_counts(2000, 2600, 600)},
                   {kN3, node_counts(2000, 2000)}});
  const auto first = all<cmd::MigrateSessions>(c);
  REQUIRE(first.size() == 2);
  c = f.fsm.handle(ev::BatchDone{first[0].token, first[0].node, {}, 0, 0, 600});
  CHECK(one<cmd::Log>(c).level == LogLevel::error);
  c = f.fsm.handle(ev::BatchDone{first[1].token, first[1].node, {}, 0, 0, 600});
  c = f.fire(c);
  c = f.counts(c, {{kN1, node_counts(2000, 2600, 600, false, 600)},
                   {kN2, node_counts(2000, 2600, 600, false, 600)},
                   {kN3, node_counts(2000, 2000)}});
  CHECK(one<cmd::Finished>(c).result == RunResult::completed);
  CHECK(one<cmd::Finished>(c).reason == "1200 disconnected session(s) could not be migrated");
  CHECK(f.fsm.counters().sessions_failed == 1200);
  CHECK(f.fsm.local_status(ApiVersion::v4)["last_result"]["reason"] == "1200 disconnected session(s) could not be migrated");
}

TEST_CASE("rebalance: the coordinator's own status while running", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  auto c = f.to_evicting_conns(spec_options());
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  CHECK(f.fsm.local_status(ApiVersion::v4) == parse_json(R"({"status":"enabled","process":"rebalance",
      "state":"evicting_conns","coordinator_node":"n1@127.0.0.1","connection_eviction_rate":500,
      "session_eviction_rate":500,"donors":["n1@127.0.0.1","n2@127.0.0.1"],"recipients":["n3@127.0.0.1"],
      "connection_goal":0.0,"donor_conn_avg":3000.0,"progress":0,"eta_seconds":2})"));
  CHECK(f.fsm.is_donor(kN1));
  CHECK_FALSE(f.fsm.is_donor(kN3));
}

TEST_CASE("rebalance: stale and unexpected events are ignored", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  CHECK(f.fsm.handle(ev::TimerFired{1}).empty());
  CHECK(f.fsm.handle(ev::ClusterCounts{1, {}}).empty());
  CHECK(f.fsm.handle(ev::AgentReply{1, kN1, {}}).empty());
  CHECK(f.fsm.handle(ev::BatchDone{1, kN1, {}, 0, 0, 0}).empty());
  CHECK(f.fsm.handle(ev::NodeDown{kN1}).empty());
  CHECK(f.fsm.handle(ev::DonorLost{kN1, "x"}).empty());
  auto c = f.to_evicting_conns(spec_options());
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  const auto evict = all<cmd::EvictConnections>(c).at(0);
  CHECK(f.fsm.handle(ev::BatchDone{evict.token, kN3, {}, 1, 0, 0}).empty());  // not asked of n3
  CHECK(f.fsm.handle(ev::BatchDone{evict.token + 7, evict.node, {}, 1, 0, 0}).empty());
  CHECK(f.fsm.handle(ev::DonorLost{kN3, "not a donor"}).empty());
  RebalanceEvent e = ev::Stop{};
  CHECK(has<cmd::Finished>(f.fsm.handle(e)));
}

TEST_CASE("rebalance: donor views travel as JSON", "[unit][rebalance][rebalance_fsm]") {
  Fixture f;
  auto c = f.to_evicting_conns(spec_options());
  c = f.counts(c, {{kN1, node_counts(3000, 3000)}, {kN2, node_counts(3000, 3000)}, {kN3, node_counts(0, 0)}});
  const auto view = f.fsm.donor_view(kN2);
  REQUIRE(view);
  const auto back = donor_view_from_json(to_json(*view));
  REQUIRE(back);
  CHECK(*back == *view);
  CHECK_FALSE(donor_view_from_json(nlohmann::json::parse(R"({"state":"nope"})")).has_value());
  CHECK_FALSE(donor_view_from_json(nlohmann::json::array()).has_value());
}

// ---- a simulated cluster driving the machine end to end ----------------------------------------

namespace {

struct SimCluster {
  NodeCountMap nodes;
  std::set<NodeId> enabled;
  std::size_t next_recipient = 0;
  std::size_t ticks = 0;
  std::optional<cmd::Finished> finished;
  bool donor_below_goal = false;

  NodeCountMap snapshot() const {
    NodeCountMap m = nodes;
    for (auto& [n, c] : m) c.available = !enabled.count(n);
    return m;
  }
  // Where a client goes when it reconnects: round robin over nodes that accept connections.
  NodeId landing() {
    std::vector<NodeId> open;
    for (const auto& [n, c] : nodes) {
      if (!enabled.count(n)) open.push_back(n);
    }
    return open.at(next_recipient++ % open.size());
  }

  void run(Fixture& f, Commands first) {
    std::deque<Command> queue(first.begin(), first.end());
    for (int step = 0; !queue.empty() && step < 100000; ++step) {
      Command c = queue.front();
      queue.pop_front();
      Commands out;
      std::visit(
          [&](const auto& x) {
            using T = std::decay_t<decltype(x)>;
            if constexpr (std::is_same_v<T, cmd::FetchCounts>) {
              out = f.fsm.handle(ev::ClusterCounts{x.token, snapshot()});
            } else if constexpr (std::is_same_v<T, cmd::EnableAgent>) {
              for (const auto& n : x.nodes) {
                enabled.insert(n);
                auto o = f.fsm.handle(ev::AgentReply{x.token, n, {}});
                out.insert(out.end(), o.begin(), o.end());
              }
            } else if constexpr (std::is_same_v<T, cmd::DisableAgent>) {
              for (const auto& n : x.nodes) enabled.erase(n);
            } else if constexpr (std::is_same_v<T, cmd::EvictConnections>) {
              ++ticks;
              for (std::uint64_t i = 0; i < x.count; ++i) {  // each client reconnects, taking its session
                auto& from = nodes.at(x.node);
                --from.connections;
                --from.sessions;
                auto& to = nodes.at(landing());
                ++to.connections;
                ++to.sessions;
              }
              out = f.fsm.handle(ev::BatchDone{x.token, x.node, {}, x.count, 0, 0});
            } else if constexpr (std::is_same_v<T, cmd::MigrateSessions>) {
              for (std::uint64_t i = 0; i < x.count; ++i) {
                auto& from = nodes.at(x.node);
                --from.sessions;
                --from.disconnected_sessions;
                auto& to = nodes.at(x.targets.at(i % x.targets.size()));
                ++to.sessions;
                ++to.disconnected_sessions;
              }
              out = f.fsm.handle(ev::BatchDone{x.token, x.node, {}, x.count, 0, 0});
            } else if constexpr (std::is_same_v<T, cmd::ArmTimer>) {
              f.clock.advance(x.after);
              out = f.fsm.handle(ev::TimerFired{x.token});
            } else if constexpr (std::is_same_v<T, cmd::Finished>) {
              finished = x;
            }
          },
          c);
      queue.insert(queue.end(), out.begin(), out.end());
    }
  }
};

std::uint64_t total(const NodeCountMap& m, std::uint64_t NodeCounts::*field) {
  std::uint64_t s = 0;
  for (const auto& [n, c] : m) s += c.*field;
  return s;
}

}  // namespace

TEST_CASE("rebalance: 4 nodes loaded 3×10 000 + 0 end within thresholds, total unchanged",
          "[unit][rebalance][rebalance_fsm][simulation]") {
  Fixture f;
  SimCluster sim;
  sim.nodes = {{kN1, node_counts(10000, 13000, 3000)},
               {kN2, node_counts(10000, 13000, 3000)},
               {kN3, node_counts(10000, 13000, 3000)},
               {kN4, node_counts(0, 0, 0)}};
  RebalanceOptions o = spec_options();
  o.nodes = std::vector<NodeId>{kN1, kN2, kN3, kN4};
  const auto start = f.clock.now();
  sim.run(f, f.fsm.handle(ev::RebalanceStart{o}));

  REQUIRE(sim.finished.has_value());
  CHECK(sim.finished->result == RunResult::completed);
  CHECK(sim.enabled.empty());  // every donor released
  CHECK(total(sim.nodes, &NodeCounts::connections) == 30000);
  CHECK(total(sim.nodes, &NodeCounts::sessions) == 39000);
  const std::vector<NodeId> donors{kN1, kN2, kN3};
  for (const auto& d : donors) {
    CHECK(sim.nodes.at(d).connections >= 7500);  // never below the mean (no overshoot)
    CHECK(sim.nodes.at(d).disconnected_sessions >= 2250);
  }
  const double donor_conns = (sim.nodes.at(kN1).connections + sim.nodes.at(kN2).connections +
                              sim.nodes.at(kN3).connections) / 3.0;
  CHECK(within_thresholds(donor_conns, static_cast<double>(sim.nodes.at(kN4).connections), {100, 1.1}));
  // 60 s health check + 5 ticks + 60 s takeover + 2 ticks
  CHECK(f.clock.now() - start == 60s + 5s + 60s + 2s);
  CHECK(f.fsm.local_status(ApiVersion::v4)["last_result"]["result"] == "completed");
}

TEST_CASE("rebalance: simulated runs always finish and never overshoot", "[unit][rebalance][rebalance_fsm][simulation]") {
  struct Row {
    std::vector<std::uint64_t> conns;
    std::uint32_t rate;
    std::uint32_t abs;
  };
  const Row rows[] = {
      {{10, 0}, 1, 1},           {{100, 100, 0}, 7, 1},      {{5000, 10, 20, 30}, 500, 100},
      {{2, 2, 2, 2, 2, 2, 2, 0}, 500, 1},  {{999, 0, 0, 0, 0}, 1000, 10}, {{12345, 6789, 0}, 300, 50},
  };
  for (const auto& r : rows) {
    Fixture f;
    SimCluster sim;
    RebalanceOptions o;
    o.wait_health_check = 0s;
    o.wait_takeover = 0s;
    o.abs_conn_threshold = r.abs;
    o.abs_sess_threshold = r.abs;
    o.conn_evict_rate = r.rate;
    o.sess_evict_rate = r.rate;
    std::vector<NodeId> names;
    std::uint64_t sum = 0;
    for (std::size_t i = 0; i < r.conns.size(); ++i) {
      names.push_back("n" + std::to_string(i) + "@h");
      sim.nodes[names.back()] = node_counts(r.conns[i], r.conns[i] * 2, r.conns[i]);
      sum += r.conns[i];
    }
    o.nodes = names;
    sim.run(f, f.fsm.handle(ev::RebalanceStart{o}));
    INFO("first node " << r.conns[0] << " rate " << r.rate);
    if (!sim.finished) {
      CHECK_FALSE(f.fsm.busy());  // nothing to balance
      continue;
    }
    CHECK(sim.finished->result == RunResult::completed);
    CHECK(total(sim.nodes, &NodeCounts::connections) == sum);
    const double mean = static_cast<double>(sum) / static_cast<double>(r.conns.size());
    for (std::size_t i = 0; i < r.conns.size(); ++i) {
      if (static_cast<double>(r.conns[i]) >= mean) {  // a donor
        CHECK(static_cast<double>(sim.nodes.at(names[i]).connections) >= std::floor(mean));
      }
    }
  }
}
