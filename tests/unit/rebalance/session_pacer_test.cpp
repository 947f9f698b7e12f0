#include <catch2/catch.hpp>

#include "fake_clock.hpp"
#include "fake_plugin_services.hpp"
#include "rebalance/coordinator/session_pacer.hpp"

using namespace std::chrono_literals;
using tidemq::rebalance::EvictionAgent;
using tidemq::util::RateLimiter;
using tidemq::rebalance::SessionPacer;

namespace {

struct PacerFixture {
  tidemq::test::FakeClock clock;
  tidemq::test::FakeTimers timers{clock};
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  EvictionAgent agent{broker, cluster};
  RateLimiter limiter{clock, 1000};
  SessionPacer pacer{agent, limiter, timers};

  explicit PacerFixture(int sessions) {
    cluster.broker = &broker;
    for (int i = 0; i < sessions; ++i) broker.offline.push_back("s" + std::to_string(i));
    agent.enable("evacuation", std::nullopt, false);
  }
};

}  // namespace

TEST_CASE("session pacer: a tick's batch moves at the rate, spread over the second",
          "[unit][rebalance][pacer]") {
  PacerFixture f(2000);
  std::optional<SessionPacer::Report> report;
  f.pacer.migrate(500, 500, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });

  // No 100 ms window moves more than 0.15 * r + 1 sessions.
  std::size_t before = f.cluster.migrations.size();
  for (int window = 0; window < 9; ++window) {
    f.timers.advance(100ms);
    CHECK(f.cluster.migrations.size() - before <= 76);
    before = f.cluster.migrations.size();
  }
  f.timers.advance(200ms);
  REQUIRE(report);
  CHECK(report->migrated == 500);  // the whole tick's batch, not one burst's worth
  CHECK(f.cluster.migrations.size() == 500);
  CHECK(f.broker.offline.size() == 1500);
}

TEST_CASE("session pacer: an unlimited rate moves everything at once", "[unit][rebalance][pacer]") {
  PacerFixture f(3000);
  std::optional<SessionPacer::Report> report;
  f.clock.advance(1ms);  // the limiter earns from the moment its rate is set
  f.pacer.migrate(3000, 2147483647, {"n2", "n3"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
  f.timers.advance(20ms);
  REQUIRE(report);
  CHECK(report->migrated == 3000);
  CHECK(f.broker.offline.empty());
}

TEST_CASE("session pacer: fewer sessions than asked ends the batch early", "[unit][rebalance][pacer]") {
  PacerFixture f(30);
  std::optional<SessionPacer::Report> report;
  f.pacer.migrate(500, 500, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
  f.timers.advance(200ms);
  REQUIRE(report);
  CHECK(report->migrated == 30);
  CHECK(f.timers.due.empty());  // no step left armed
}

TEST_CASE("session pacer: a session failing 3 times is given up and counted as stuck", "[unit][rebalance][pacer]") {
  PacerFixture f(3);
  f.cluster.migration_errors["s1"] = "import refused";
  for (int tick = 1; tick <= 4; ++tick) {
    std::optional<SessionPacer::Report> report;
    f.pacer.migrate(10, 1000, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
    f.timers.advance(1s);
    REQUIRE(report);
    if (tick == 1) CHECK(report->migrated == 2);
    CHECK(report->failed + report->given_up == (tick <= 3 ? 1u : 0u));
    CHECK(report->given_up == (tick == 3 ? 1u : 0u));
  }
  CHECK(f.pacer.stuck_sessions() == 1);
  f.pacer.reset_attempts();
  CHECK(f.pacer.stuck_sessions() == 0);
}

TEST_CASE("session pacer: stop abandons the batch; a disabled agent moves nothing", "[unit][rebalance][pacer]") {
  PacerFixture f(1000);
  bool called = false;
  f.pacer.migrate(500, 500, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto) { called = true; });
  f.timers.advance(100ms);
  f.pacer.stop();
  const auto moved = f.cluster.migrations.size();
  f.timers.advance(2s);
  CHECK_FALSE(called);
  CHECK(f.cluster.migrations.size() == moved);

  f.agent.disable("evacuation");
  std::optional<SessionPacer::Report> report;
  f.pacer.migrate(500, 500, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
  REQUIRE(report);
  CHECK(report->migrated == 0);
}
