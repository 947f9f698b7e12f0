#include <catch2/catch.hpp>

#include "fake_plugin_services.hpp"
#include "rebalance/agent/eviction_agent.hpp"

using tidemq::rebalance::EvictionAgent;
using Errc = EvictionAgent::Errc;

TEST_CASE("eviction agent: enable/disable by kind", "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  EvictionAgent agent(broker, cluster);
  CHECK_FALSE(agent.enabled());
  CHECK(agent.disable("evacuation") == Errc::disabled);
  CHECK(agent.enable("evacuation", std::nullopt, false) == Errc::ok);
  CHECK(agent.enable("evacuation", std::string("other:1883"), false) == Errc::ok);  // same kind: options updated
  CHECK(agent.server_reference() == std::optional<std::string>("other:1883"));
  CHECK(agent.enable("rebalance", std::nullopt, true) == Errc::busy);
  CHECK(agent.disable("rebalance") == Errc::busy);
  CHECK(agent.disable("evacuation") == Errc::ok);
  CHECK_FALSE(agent.enabled());
}

TEST_CASE("eviction agent: refuses CONNECT with 0x9C + reference unless connections are allowed",
          "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  EvictionAgent agent(broker, cluster);
  CHECK_FALSE(broker.admit());
  agent.enable("rebalance", std::nullopt, /*allow_connections=*/true);
  CHECK_FALSE(broker.admit());
  agent.enable("rebalance", std::string("n2:1883"), false);
  auto r = broker.admit();
  REQUIRE(r);
  CHECK(r->reason == 0x9C);
  CHECK(r->server_reference == std::optional<std::string>("n2:1883"));
  agent.disable("rebalance");
  CHECK_FALSE(broker.admit());
}

TEST_CASE("eviction agent: the admission hook goes with the agent", "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  {
    EvictionAgent agent(broker, cluster);
    agent.enable("evacuation", std::nullopt, false);
    CHECK(broker.admit());
  }
  CHECK(broker.hooks.empty());
  CHECK_FALSE(broker.admit());
}

TEST_CASE("eviction agent: evicts connections only while enabled, with 0x9C and the reference",
          "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  broker.connections = 10;
  EvictionAgent agent(broker, cluster);
  CHECK(agent.evict_connections(5) == 0);
  agent.enable("evacuation", std::string("n3:1883"), false);
  CHECK(agent.evict_connections(4) == 4);
  CHECK(broker.connections == 6);
  REQUIRE(broker.evicted.size() == 4);
  CHECK(broker.evicted[0].reason == 0x9C);
  CHECK(broker.evicted[0].server_reference == std::optional<std::string>("n3:1883"));
  CHECK(agent.evict_connections(100) == 6);
  CHECK(agent.evict_connections(1) == 0);
}

TEST_CASE("eviction agent: a reference picker gives each evicted client its own reference", "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  broker.connections = 3;
  EvictionAgent agent(broker, cluster);
  agent.enable("evacuation", std::nullopt, false);
  int turn = 0;
  agent.set_reference_picker([&]() -> std::optional<std::string> { return "node" + std::to_string(++turn) + ":1883"; });
  CHECK(agent.evict_connections(3) == 3);
  REQUIRE(broker.evicted.size() == 3);
  CHECK(broker.evicted[0].server_reference == std::optional<std::string>("node1:1883"));
  CHECK(broker.evicted[2].server_reference == std::optional<std::string>("node3:1883"));
}

TEST_CASE("eviction agent: migrates sessions round-robin and reports failures", "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  cluster.broker = &broker;
  broker.offline = {"a", "b", "c", "d"};
  broker.online = {"live"};
  cluster.migration_errors["c"] = "node n3 is not running";
  EvictionAgent agent(broker, cluster);

  EvictionAgent::MigrationReport report;
  agent.evict_sessions(3, {"n2", "n3"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
  CHECK(cluster.migrations.empty());  // disabled: nothing moves
  CHECK(report.migrated == 0);

  agent.enable("rebalance", std::nullopt, true);
  agent.evict_sessions(3, {"n2", "n3"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) { report = r; });
  // Round-robin over the targets, then one batch per target.
  REQUIRE(cluster.migrations.size() == 3);
  CHECK(cluster.migrations[0] == std::pair<std::string, std::string>{"a", "n2"});
  CHECK(cluster.migrations[1] == std::pair<std::string, std::string>{"c", "n2"});
  CHECK(cluster.migrations[2] == std::pair<std::string, std::string>{"b", "n3"});
  CHECK(cluster.migration_requests == 2);
  CHECK(report.migrated == 2);
  REQUIRE(report.failed.size() == 1);
  CHECK(report.failed[0].first == "c");
  CHECK(broker.offline == std::vector<std::string>{"c", "d"});

  agent.evict_sessions(10, {}, tidemq::plugin::SessionFilter::any, [&](auto r) { report = r; });
  CHECK(report.migrated == 0);  // no targets: nothing to do
}

TEST_CASE("eviction agent: many sessions go in batches, each counted once", "[unit][rebalance][agent]") {
  tidemq::test::FakeBrokerServices broker;
  tidemq::test::FakeClusterServices cluster;
  cluster.broker = &broker;
  for (int i = 0; i < 600; ++i) broker.offline.push_back("s" + std::to_string(i));
  cluster.migration_errors["s7"] = "import refused";
  EvictionAgent agent(broker, cluster);
  agent.enable("evacuation", std::nullopt, false);

  EvictionAgent::MigrationReport report;
  bool done = false;
  agent.evict_sessions(600, {"n2"}, tidemq::plugin::SessionFilter::disconnected, [&](auto r) {
    report = r;
    done = true;
  });
  REQUIRE(done);
  CHECK(cluster.migration_requests == 3);  // 256 + 256 + 88
  CHECK(cluster.migrations.size() == 600);
  CHECK(report.migrated == 599);
  REQUIRE(report.failed.size() == 1);
  CHECK(report.failed[0] == std::pair<std::string, std::string>{"s7", "import refused"});
  CHECK(agent.totals().sessions_migrated == 599);
  CHECK(agent.totals().sessions_failed == 1);
}
