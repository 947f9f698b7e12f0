#include <catch2/catch.hpp>

#include "rebalance/core/rebalance_plan.hpp"
#include "rebalance_test_helpers.hpp"

using namespace tidemq::rebalance;
using namespace tidemq::rebalance::test;
using namespace std::chrono_literals;

TEST_CASE("plan: 3 × 10 000 + 0 at abs 100", "[unit][rebalance][plan]") {
  RebalanceOptions o;
  o.abs_conn_threshold = 100;
  o.abs_sess_threshold = 100;
  const NodeCountMap m{{"n1", node_counts(10000, 10000, 0)},
                       {"n2", node_counts(10000, 10000, 0)},
                       {"n3", node_counts(10000, 10000, 0)},
                       {"n4", node_counts(0, 0, 0)}};
  const auto plan = plan_rebalance(o, m);
  CHECK_FALSE(plan.nothing_to_balance);
  CHECK(plan.donors == std::vector<NodeId>{"n1", "n2", "n3"});
  CHECK(plan.recipients == std::vector<NodeId>{"n4"});
  // x = 30000/4.3 → 6977 moves, 2326 per donor at most → 5 ticks of 500.
  std::uint64_t evicted = 0;
  for (const auto& n : plan.nodes) evicted += n.connections_to_evict;
  CHECK(evicted == 6977);
  CHECK(plan.nodes[3].connections_to_receive == 6977);
  CHECK(plan.wait_health_check == 60s);
  CHECK(plan.evicting_conns == 5s);
  CHECK(plan.wait_takeover == 60s);
  CHECK(plan.evicting_sessions == 0s);
  CHECK(plan.total() == 125s);
  const auto j = to_json(plan);
  CHECK(j["projected_seconds"]["total"] == 125);
  CHECK(j["nodes"][0] == nlohmann::json::parse(R"({"node":"n1","role":"donor","connections":10000,
      "sessions":10000,"disconnected_sessions":0,"connections_to_evict":2326,"sessions_to_migrate":0})"));
  CHECK(j["nodes"][3]["role"] == "recipient");
  CHECK(j["nodes"][3]["connections_to_receive"] == 6977);
}

TEST_CASE("plan: nothing to balance moves nothing", "[unit][rebalance][plan]") {
  const NodeCountMap m{{"a", node_counts(1000, 1000, 0)},
                       {"b", node_counts(1000, 1000, 0)},
                       {"c", node_counts(0, 0, 0)}};
  const auto plan = plan_rebalance(RebalanceOptions{}, m);
  CHECK(plan.nothing_to_balance);
  CHECK(plan.total() == 0s);
  for (const auto& n : plan.nodes) {
    CHECK(n.connections_to_evict == 0);
    CHECK(n.connections_to_receive == 0);
  }
  CHECK(to_json(plan)["nothing_to_balance"] == true);
}

TEST_CASE("plan: only the given nodes, sessions phase included", "[unit][rebalance][plan]") {
  RebalanceOptions o;
  o.nodes = std::vector<NodeId>{"a", "b", "c"};
  o.abs_conn_threshold = 10;
  o.abs_sess_threshold = 10;
  o.sess_evict_rate = 100;
  o.wait_health_check = 0s;
  o.wait_takeover = 5s;
  const NodeCountMap m{{"a", node_counts(600, 900, 300)},
                       {"b", node_counts(600, 900, 300)},
                       {"c", node_counts(0, 0, 0)},
                       {"d", node_counts(5000, 5000, 0)}};
  const auto plan = plan_rebalance(o, m);
  CHECK(plan.nodes.size() == 3);
  CHECK(plan.donors == std::vector<NodeId>{"a", "b"});
  std::uint64_t migrated = 0;
  for (const auto& n : plan.nodes) migrated += n.sessions_to_migrate;
  CHECK(migrated == 188);  // x = (300 − 0)·2/3.2 = 187.5
  CHECK(plan.evicting_sessions == 1s);
  CHECK(plan.evicting_conns == 1s);  // 375 moves, 188 per donor at 500 per tick
  CHECK(plan.total() == 7s);
}
