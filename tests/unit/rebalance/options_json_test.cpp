#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rebalance/core/options.hpp"

using namespace tidemq::rebalance;
using namespace std::chrono_literals;

namespace {

const ClusterView kCluster{
    {"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1", "n4@127.0.0.1"},
    {"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"},  // n4 is busy (evacuating)
};

RebalanceOptions rebalance_ok(const std::string& body) {
  auto r = parse_rebalance_body(body, kCluster);
  INFO(body << " → " << (r ? std::string("ok") : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

OptionsError rebalance_err(const std::string& body) {
  auto r = parse_rebalance_body(body, kCluster);
  INFO(body);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

EvacuationOptions evacuation_ok(const std::string& body) {
  auto r = parse_evacuation_body(body, kCluster);
  INFO(body << " → " << (r ? std::string("ok") : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

OptionsError evacuation_err(const std::string& body) {
  auto r = parse_evacuation_body(body, kCluster);
  INFO(body);
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

std::string body(const std::string& key, const std::string& value) { return "{\"" + key + "\":" + value + "}"; }

}  // namespace

TEST_CASE("rebalance body: defaults", "[unit][rebalance][options]") {
  for (const char* b : {"", "  \n", "{}"}) {
    const auto o = rebalance_ok(b);
    CHECK(o == RebalanceOptions{});
    CHECK_FALSE(o.nodes.has_value());
    CHECK(o.wait_health_check == 60s);
    CHECK(o.conn_evict_rate == 500);
    CHECK(o.sess_evict_rate == 500);
    CHECK(o.abs_conn_threshold == 1000);
    CHECK(o.abs_sess_threshold == 1000);
    CHECK(o.rel_conn_threshold == 1.1);
    CHECK(o.rel_sess_threshold == 1.1);
    CHECK(o.wait_takeover == 60s);
    CHECK(o.conn_evict_rpc_timeout == 15000ms);
    CHECK(o.sess_evict_rpc_timeout == 15000ms);
  }
}

TEST_CASE("rebalance body: positive integers", "[unit][rebalance][options]") {
  for (std::string key : {"conn_evict_rate", "sess_evict_rate", "abs_conn_threshold", "abs_sess_threshold"}) {
    auto field = [&](const RebalanceOptions& o) {
      if (key == "conn_evict_rate") return o.conn_evict_rate;
      if (key == "sess_evict_rate") return o.sess_evict_rate;
      if (key == "abs_conn_threshold") return o.abs_conn_threshold;
      return o.abs_sess_threshold;
    };
    INFO(key);
    CHECK(field(rebalance_ok(body(key, "1"))) == 1);
    CHECK(field(rebalance_ok(body(key, "42"))) == 42);
    CHECK(field(rebalance_ok(body(key, "2147483647"))) == 2147483647u);  // 2^31−1
    for (const char* bad : {"0", "-1", "2147483648", "1.5", "500.0", "\"500\"", "true", "null", "[]", "{}"}) {
      const auto e = rebalance_err(body(key, bad));
      CHECK(e.code == RebalanceErrc::invalid_options);
      CHECK(e.message == "invalid " + key + " value");
    }
  }
}

TEST_CASE("rebalance body: relative thresholds", "[unit][rebalance][options]") {
  for (std::string key : {"rel_conn_threshold", "rel_sess_threshold"}) {
    auto field = [&](const RebalanceOptions& o) {
      return key == "rel_conn_threshold" ? o.rel_conn_threshold : o.rel_sess_threshold;
    };
    INFO(key);
    CHECK(field(rebalance_ok(body(key, "1.5"))) == 1.5);
    CHECK(field(rebalance_ok(body(key, "2"))) == 2.0);  // integers are numbers (API)
    CHECK(field(rebalance_ok(body(key, "1.0001"))) == 1.0001);
    for (const char* bad : {"1.0", "1", "0.5", "-2", "0", "\"1.5\"", "true", "null", "[1.5]"}) {
      CHECK(rebalance_err(body(key, bad)).message == "invalid " + key + " value");
    }
  }
}

TEST_CASE("rebalance body: waits in seconds", "[unit][rebalance][options]") {
  for (std::string key : {"wait_health_check", "wait_takeover"}) {
    auto field = [&](const RebalanceOptions& o) {
      return key == "wait_takeover" ? o.wait_takeover : o.wait_health_check;
    };
    INFO(key);
    CHECK(field(rebalance_ok(body(key, "10"))) == 10s);
    CHECK(field(rebalance_ok(body(key, "0"))) == 0s);  // 0 allowed for waits
    CHECK(field(rebalance_ok(body(key, "4294967"))) == 4294967s);
    CHECK(field(rebalance_ok(body(key, "\"10s\""))) == 10s);
    CHECK(field(rebalance_ok(body(key, "\"1m30s\""))) == 90s);
    CHECK(field(rebalance_ok(body(key, "\"500ms\""))) == 1s);  // rounded up
    CHECK(field(rebalance_ok(body(key, "\"1h\""))) == 3600s);
    for (const char* bad : {"-1", "4294968", "1.5", "\"10\"", "\"abc\"", "\"10x\"", "\"\"", "\"49711d\"", "true",
                            "null"}) {
      CHECK(rebalance_err(body(key, bad)).message == "invalid " + key + " value");
    }
  }
}

TEST_CASE("rebalance body: rpc timeouts in milliseconds", "[unit][rebalance][options]") {
  for (std::string key : {"conn_evict_rpc_timeout", "sess_evict_rpc_timeout"}) {
    auto field = [&](const RebalanceOptions& o) {
      return key == "conn_evict_rpc_timeout" ? o.conn_evict_rpc_timeout : o.sess_evict_rpc_timeout;
    };
    INFO(key);
    CHECK(field(rebalance_ok(body(key, "1"))) == 1ms);
    CHECK(field(rebalance_ok(body(key, "30000"))) == 30000ms);
    CHECK(field(rebalance_ok(body(key, "4294967295"))) == 4294967295ms);
    CHECK(field(rebalance_ok(body(key, "\"10s\""))) == 10000ms);
    CHECK(field(rebalance_ok(body(key, "\"250ms\""))) == 250ms);
    for (const char* bad : {"0", "-1", "4294967296", "1.5", "\"abc\"", "\"0s\"", "true", "null"}) {
      CHECK(rebalance_err(body(key, bad)).message == "invalid " + key + " value");
    }
  }
}

TEST_CASE("rebalance body: nodes", "[unit][rebalance][options]") {
  SECTION("good") {
    const auto o = rebalance_ok(R"({"nodes":["n1@127.0.0.1","n2@127.0.0.1","n1@127.0.0.1"]})");
    CHECK(o.nodes == std::vector<NodeId>{"n1@127.0.0.1", "n2@127.0.0.1"});
  }
  SECTION("not a list of strings") {
    auto e = rebalance_err(R"({"nodes":"n1@127.0.0.1"})");
    CHECK(e.code == RebalanceErrc::invalid_options);
    CHECK(e.message == R"(invalid node list in nodes: <<"n1@127.0.0.1">>)");
    CHECK(rebalance_err(R"({"nodes":[1]})").message == "invalid node list in nodes: [1]");
    CHECK(rebalance_err(R"({"nodes":null})").message == "invalid node list in nodes: null");
    CHECK(rebalance_err(R"({"nodes":{"a":1}})").message == R"(invalid node list in nodes: [{<<"a">>,1}])");
  }
  SECTION("unknown node") {
    auto e = rebalance_err(R"({"nodes":["n1@127.0.0.1","bad@host","worse"]})");
    CHECK(e.code == RebalanceErrc::invalid_nodes);
    CHECK(e.message == "invalid node: bad@host");
    CHECK(e.nodes == std::vector<NodeId>{"bad@host", "worse"});
    CHECK(v5_message(e) == R"(Invalid nodes: [<<"bad@host">>,<<"worse">>])");
  }
  SECTION("empty list") {
    // v4 keeps its text; on v5 an empty list is a schema error (400 BAD_REQUEST), not "unavailable"
    auto e = rebalance_err(R"({"nodes":[]})");
    CHECK(e.code == RebalanceErrc::invalid_options);
    CHECK(e.message == "no available nodes list in nodes: []");
    CHECK(v5_message(e) == "nodes: expected a non-empty list of node names");
    auto m = evacuation_err(R"({"migrate_to":[]})");
    CHECK(m.code == RebalanceErrc::invalid_options);
    CHECK(v5_message(m) == "migrate_to: expected a non-empty list of node names");
    CHECK(v5_message(rebalance_err(R"({"nodes":"n1@127.0.0.1"})")) == "nodes: expected a non-empty list of node names");
  }
  SECTION("none available") {
    auto e = rebalance_err(R"({"nodes":["n4@127.0.0.1"]})");
    CHECK(e.code == RebalanceErrc::nodes_unavailable);
    CHECK(e.message == "no available nodes list in nodes: ['n4@127.0.0.1']");
  }
  SECTION("some unavailable") {
    auto e = rebalance_err(R"({"nodes":["n1@127.0.0.1","n4@127.0.0.1"]})");
    CHECK(e.code == RebalanceErrc::nodes_unavailable);
    CHECK(e.message == "unavailable nodes in nodes: ['n4@127.0.0.1']");
    CHECK(e.nodes == std::vector<NodeId>{"n4@127.0.0.1"});
    CHECK(v5_message(e) == "Nodes unavailable: ['n4@127.0.0.1']");
  }
  SECTION("default") { CHECK_FALSE(rebalance_ok("{}").nodes.has_value()); }
}

TEST_CASE("rebalance body: unknown parameters", "[unit][rebalance][options]") {
  CHECK(rebalance_err(R"({"foo":1})").message == R"(Unknown rebalance param: {<<"foo">>,1})");
  CHECK(rebalance_err(R"({"foo":"bar"})").message == R"(Unknown rebalance param: {<<"foo">>,<<"bar">>})");
  CHECK(rebalance_err(R"({"redirect_to":"h:1883"})").message ==
        R"(Unknown rebalance param: {<<"redirect_to">>,<<"h:1883">>})");
  CHECK(rebalance_err(R"({"foo":{"a":[1.5,null,true]}})").message ==
        R"(Unknown rebalance param: {<<"foo">>,[{<<"a">>,[1.5,null,true]}]})");
  CHECK(rebalance_err(R"({"foo":{}})").message == R"(Unknown rebalance param: {<<"foo">>,[{}]})");
  CHECK(rebalance_err(R"({"foo":1000.0})").message == R"(Unknown rebalance param: {<<"foo">>,1.0e3})");
}

TEST_CASE("rebalance body: parameters are checked in body order", "[unit][rebalance][options]") {
  CHECK(rebalance_err(R"({"conn_evict_rate":0,"foo":1})").message == "invalid conn_evict_rate value");
  CHECK(rebalance_err(R"({"foo":1,"conn_evict_rate":0})").message == R"(Unknown rebalance param: {<<"foo">>,1})");
  CHECK(rebalance_err(R"({"wait_takeover":-1,"conn_evict_rate":0})").message == "invalid wait_takeover value");
}

TEST_CASE("rebalance body: a full body", "[unit][rebalance][options]") {
  const auto o = rebalance_ok(R"({"nodes":["n1@127.0.0.1","n3@127.0.0.1"],"wait_health_check":5,
      "conn_evict_rate":10,"sess_evict_rate":20,"abs_conn_threshold":30,"rel_conn_threshold":1.2,
      "abs_sess_threshold":40,"rel_sess_threshold":1.3,"wait_takeover":6,
      "conn_evict_rpc_timeout":7000,"sess_evict_rpc_timeout":8000})");
  RebalanceOptions want;
  want.nodes = std::vector<NodeId>{"n1@127.0.0.1", "n3@127.0.0.1"};
  want.wait_health_check = 5s;
  want.conn_evict_rate = 10;
  want.sess_evict_rate = 20;
  want.abs_conn_threshold = 30;
  want.rel_conn_threshold = 1.2;
  want.abs_sess_threshold = 40;
  want.rel_sess_threshold = 1.3;
  want.wait_takeover = 6s;
  want.conn_evict_rpc_timeout = 7000ms;
  want.sess_evict_rpc_timeout = 8000ms;
  CHECK(o == want);
  CHECK(to_json(o) == nlohmann::json::parse(R"({"nodes":["n1@127.0.0.1","n3@127.0.0.1"],"wait_health_check":5,
      "conn_evict_rate":10,"sess_evict_rate":20,"abs_conn_threshold":30,"rel_conn_threshold":1.2,
      "abs_sess_threshold":40,"rel_sess_threshold":1.3,"wait_takeover":6,
      "conn_evict_rpc_timeout":7000,"sess_evict_rpc_timeout":8000})"));
}

TEST_CASE("bodies that are not JSON objects", "[unit][rebalance][options]") {
  for (const char* b : {"not json", "[1]", "5", "\"x\"", "{\"a\":", "null"}) {
    INFO(b);
    auto e = rebalance_err(b);
    CHECK(e.code == RebalanceErrc::malformed_body);
    CHECK(e.message == "Bad Request");
    CHECK(evacuation_err(b).code == RebalanceErrc::malformed_body);
  }
}

TEST_CASE("evacuation body: defaults", "[unit][rebalance][options]") {
  const auto o = evacuation_ok("{}");
  CHECK(o == EvacuationOptions{});
  CHECK_FALSE(o.server_reference.has_value());
  CHECK(o.conn_evict_rate == 500);
  CHECK(o.sess_evict_rate == 500);
  CHECK(o.wait_takeover == 60s);
  CHECK(o.wait_health_check == 0s);  // refuse connections at once
  CHECK_FALSE(o.migrate_to.has_value());
  CHECK(evacuation_ok("") == EvacuationOptions{});
}

TEST_CASE("evacuation body: redirect_to", "[unit][rebalance][options]") {
  CHECK(evacuation_ok(R"({"redirect_to":"host1:1883 host2:1883"})").server_reference == "host1:1883 host2:1883");
  CHECK(evacuation_ok(R"({"redirect_to":""})").server_reference == "");  // sent as an empty property
  CHECK_FALSE(evacuation_ok(R"({"redirect_to":null})").server_reference.has_value());
  for (const char* bad : {"5", "true", "[]", "{}", "[\"a\"]"}) {
    auto e = evacuation_err(body("redirect_to", bad));
    CHECK(e.code == RebalanceErrc::invalid_options);
    CHECK(e.message == "invalid string in server_reference");
  }
}

TEST_CASE("evacuation body: rates and waits", "[unit][rebalance][options]") {
  CHECK(evacuation_ok(R"({"conn_evict_rate":30})").conn_evict_rate == 30);
  CHECK(evacuation_ok(R"({"sess_evict_rate":31})").sess_evict_rate == 31);
  CHECK(evacuation_ok(R"({"wait_takeover":0})").wait_takeover == 0s);
  CHECK(evacuation_ok(R"({"wait_takeover":"2m"})").wait_takeover == 120s);
  CHECK(evacuation_ok(R"({"wait_health_check":15})").wait_health_check == 15s);  // accepted in an evacuation
  for (std::string key : {"conn_evict_rate", "sess_evict_rate"}) {
    for (const char* bad : {"0", "-5", "2147483648", "2.5", "\"5\"", "null"}) {
      CHECK(evacuation_err(body(key, bad)).message == "invalid " + key + " value");
    }
  }
  for (std::string key : {"wait_takeover", "wait_health_check"}) {
    for (const char* bad : {"-1", "4294968", "0.5", "\"soon\"", "false"}) {
      CHECK(evacuation_err(body(key, bad)).message == "invalid " + key + " value");
    }
  }
}

TEST_CASE("evacuation body: migrate_to and its alias nodes", "[unit][rebalance][options]") {
  const std::vector<NodeId> two{"n2@127.0.0.1", "n3@127.0.0.1"};
  CHECK(evacuation_ok(R"({"migrate_to":["n2@127.0.0.1","n3@127.0.0.1"]})").migrate_to == two);
  CHECK(evacuation_ok(R"({"nodes":["n2@127.0.0.1","n3@127.0.0.1"]})").migrate_to == two);
  // The evacuated node itself is accepted here; it is filtered out at run time.
  CHECK(evacuation_ok(R"({"migrate_to":["n1@127.0.0.1"]})").migrate_to == std::vector<NodeId>{"n1@127.0.0.1"});

  CHECK(evacuation_err(R"({"migrate_to":["n2@127.0.0.1"],"nodes":["n3@127.0.0.1"]})").message ==
        "nodes is an alias of migrate_to, give only one of them");
  CHECK(evacuation_err(R"({"migrate_to":"n2@127.0.0.1"})").message ==
        R"(invalid node list in migrate_to: <<"n2@127.0.0.1">>)");
  CHECK(evacuation_err(R"({"nodes":5})").message == "invalid node list in nodes: 5");
  CHECK(evacuation_err(R"({"migrate_to":["zz@h"]})").message == "invalid node: zz@h");
  CHECK(evacuation_err(R"({"migrate_to":[]})").message == "no available nodes list in migrate_to: []");
  CHECK(evacuation_err(R"({"migrate_to":["n4@127.0.0.1"]})").message ==
        "no available nodes list in migrate_to: ['n4@127.0.0.1']");
  CHECK(evacuation_err(R"({"nodes":["n2@127.0.0.1","n4@127.0.0.1"]})").message ==
        "unavailable nodes in nodes: ['n4@127.0.0.1']");
}

TEST_CASE("evacuation body: unknown parameters", "[unit][rebalance][options]") {
  CHECK(evacuation_err(R"({"abs_conn_threshold":5})").message ==
        R"(Unknown evacuation param: {<<"abs_conn_threshold">>,5})");
  CHECK(evacuation_err(R"({"server_reference":"x"})").message ==
        R"(Unknown evacuation param: {<<"server_reference">>,<<"x">>})");
}

TEST_CASE("evacuation options as JSON (the evacuation file's keys)", "[unit][rebalance][options]") {
  EvacuationOptions o;
  CHECK(to_json(o) == nlohmann::json::parse(R"({"server_reference":null,"conn_evict_rate":500,
      "sess_evict_rate":500,"wait_takeover":60,"wait_health_check":0,"migrate_to":null})"));
  o.server_reference = "h:1";
  o.migrate_to = std::vector<NodeId>{"n2@127.0.0.1"};
  CHECK(to_json(o)["server_reference"] == "h:1");
  CHECK(to_json(o)["migrate_to"] == nlohmann::json::array({"n2@127.0.0.1"}));
}

TEST_CASE("an options error thrown from value()", "[unit][rebalance][options]") {
  auto r = parse_rebalance_body(R"({"conn_evict_rate":0})", kCluster);
  CHECK_THROWS_WITH(r.value(), "invalid conn_evict_rate value");
}

TEST_CASE("bodies nested deeper than any option are refused unread", "[unit][rebalance][options]") {
  std::string deep;
  for (int i = 0; i < 20000; ++i) deep += R"({"a":)";
  deep += "1" + std::string(20000, '}');
  for (const auto& e : {rebalance_err(deep), evacuation_err(deep)}) {
    CHECK(e.code == RebalanceErrc::invalid_options);
    CHECK(e.message == "the body is nested more than 32 levels deep");
  }
  // brackets inside strings do not count; 32 levels are fine (and then an unknown param, echoed bounded)
  std::string ok;
  for (int i = 0; i < 31; ++i) ok += R"({"[[[[{{{{":)";
  ok += "1" + std::string(31, '}');
  const auto e = rebalance_err(ok);
  CHECK(e.message.starts_with("Unknown rebalance param: "));
  CHECK(e.message.size() < 400);
}
