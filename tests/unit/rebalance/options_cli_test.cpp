#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "rebalance/core/options.hpp"

using namespace tidemq::rebalance;
using namespace std::chrono_literals;
using Args = std::vector<std::string>;

namespace {

const ClusterView kCluster{
    {"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1", "n4@127.0.0.1"},
    {"n1@127.0.0.1", "n2@127.0.0.1", "n3@127.0.0.1"},  // n4 is busy
};

StartArgs ok(const Args& args) {
  auto r = parse_start_args(args, kCluster);
  INFO((r ? std::string("ok") : r.error().message));
  REQUIRE(r.has_value());
  return *r;
}

RebalanceOptions rebalance(const Args& args) {
  auto s = ok(args);
  REQUIRE(s.mode == StartMode::rebalance);
  return s.rebalance;
}

EvacuationOptions evacuation(Args args) {
  args.insert(args.begin(), "--evacuation");
  auto s = ok(args);
  REQUIRE(s.mode == StartMode::evacuation);
  return s.evacuation;
}

std::string err(const Args& args) {
  auto r = parse_start_args(args, kCluster);
  REQUIRE_FALSE(r.has_value());
  return r.error().message;
}

}  // namespace

TEST_CASE("cli: defaults of both modes", "[unit][rebalance][options][cli]") {
  CHECK(rebalance({}) == RebalanceOptions{});
  CHECK(evacuation({}) == EvacuationOptions{});
  CHECK(evacuation({}).wait_health_check == 0s);  // evacuation default
  CHECK(rebalance({}).wait_health_check == 60s);
}

TEST_CASE("cli: positive integers", "[unit][rebalance][options][cli]") {
  struct Opt {
    const char* flag;
    std::uint32_t (*get)(const RebalanceOptions&);
  };
  const Opt opts[] = {
      {"--conn-evict-rate", [](const RebalanceOptions& o) { return o.conn_evict_rate; }},
      {"--sess-evict-rate", [](const RebalanceOptions& o) { return o.sess_evict_rate; }},
      {"--abs-conn-threshold", [](const RebalanceOptions& o) { return o.abs_conn_threshold; }},
      {"--abs-sess-threshold", [](const RebalanceOptions& o) { return o.abs_sess_threshold; }},
  };
  for (const auto& o : opts) {
    INFO(o.flag);
    CHECK(o.get(rebalance({o.flag, "7"})) == 7);
    CHECK(o.get(rebalance({o.flag, "+7"})) == 7);
    CHECK(o.get(rebalance({o.flag, "007"})) == 7);
    CHECK(o.get(rebalance({o.flag, "2147483647"})) == 2147483647u);
    for (const char* bad : {"0", "-1", "+0", "2147483648", "5.0", " 5", "5 ", "", "abc", "5x", "+"}) {
      CHECK(err({o.flag, bad}) == std::string("invalid ") + o.flag + " value");
    }
  }
  CHECK(evacuation({"--conn-evict-rate", "30"}).conn_evict_rate == 30);
  CHECK(evacuation({"--sess-evict-rate", "31"}).sess_evict_rate == 31);
  CHECK(err({"--evacuation", "--sess-evict-rate", "0"}) == "invalid --sess-evict-rate value");
}

TEST_CASE("cli: relative thresholds accept 2 as well as 2.0", "[unit][rebalance][options][cli]") {
  for (std::string flag : {"--rel-conn-threshold", "--rel-sess-threshold"}) {
    auto get = [&](const RebalanceOptions& o) {
      return flag == "--rel-conn-threshold" ? o.rel_conn_threshold : o.rel_sess_threshold;
    };
    INFO(flag);
    CHECK(get(rebalance({flag, "2"})) == 2.0);
    CHECK(get(rebalance({flag, "2.0"})) == 2.0);
    CHECK(get(rebalance({flag, "1.25"})) == 1.25);
    CHECK(get(rebalance({flag, "+1.5"})) == 1.5);
    CHECK(get(rebalance({flag, "1.5e1"})) == 15.0);
    for (const char* bad : {"1", "1.0", "0.9", "-2", "abc", ".5", "2.", "inf", "nan", "0x2", "", "1,5"}) {
      CHECK(err({flag, bad}) == "invalid " + flag + " value");
    }
  }
}

TEST_CASE("cli: waits in seconds, 0 allowed", "[unit][rebalance][options][cli]") {
  CHECK(rebalance({"--wait-health-check", "0"}).wait_health_check == 0s);
  CHECK(rebalance({"--wait-health-check", "30"}).wait_health_check == 30s);
  CHECK(rebalance({"--wait-takeover", "4294967"}).wait_takeover == 4294967s);
  CHECK(evacuation({"--wait-health-check", "12"}).wait_health_check == 12s);  // accepted in an evacuation
  CHECK(evacuation({"--wait-takeover", "0"}).wait_takeover == 0s);
  for (std::string flag : {"--wait-health-check", "--wait-takeover"}) {
    for (const char* bad : {"-1", "4294968", "10s", "1.5", ""}) {
      CHECK(err({flag, bad}) == "invalid " + flag + " value");
      CHECK(err({"--evacuation", flag, bad}) == "invalid " + flag + " value");
    }
  }
}

TEST_CASE("cli: rpc timeouts in seconds", "[unit][rebalance][options][cli]") {
  CHECK(rebalance({"--conn-evict-rpc-timeout", "30"}).conn_evict_rpc_timeout == 30000ms);
  CHECK(rebalance({"--sess-evict-rpc-timeout", "+2"}).sess_evict_rpc_timeout == 2000ms);
  for (std::string flag : {"--conn-evict-rpc-timeout", "--sess-evict-rpc-timeout"}) {
    for (const char* bad : {"0", "-3", "1.5", "4294968", "x"}) CHECK(err({flag, bad}) == "invalid " + flag + " value");
  }
  CHECK(err({"--evacuation", "--conn-evict-rpc-timeout", "5"}) ==
        R"(unknown evacuation arguments: [{"--conn-evict-rpc-timeout","5"},{"--evacuation",true}])");
}

TEST_CASE("cli: --nodes", "[unit][rebalance][options][cli]") {
  const std::vector<NodeId> two{"n1@127.0.0.1", "n2@127.0.0.1"};
  CHECK(rebalance({"--nodes", "n1@127.0.0.1,n2@127.0.0.1"}).nodes == two);
  CHECK(rebalance({"--nodes", "n1@127.0.0.1 n2@127.0.0.1"}).nodes == two);
  CHECK(rebalance({"--nodes", " ,n1@127.0.0.1, ,n2@127.0.0.1,,"}).nodes == two);
  CHECK_FALSE(rebalance({}).nodes.has_value());
  CHECK(err({"--nodes", "x@h,n1@127.0.0.1,y"}) == R"(invalid --nodes, invalid nodes: ["x@h","y"])");
  CHECK(err({"--nodes", ""}) == "invalid --nodes, no nodes");
  CHECK(err({"--nodes", " , "}) == "invalid --nodes, no nodes");
  CHECK(err({"--nodes", "n4@127.0.0.1"}) == "invalid --nodes, no nodes");  // none available
  CHECK(err({"--nodes", "n1@127.0.0.1 n4@127.0.0.1"}) == "invalid --nodes, unavailable nodes: ['n4@127.0.0.1']");
  auto r = parse_start_args({"--nodes", "n1@127.0.0.1 n4@127.0.0.1"}, kCluster);
  CHECK(r.error().code == RebalanceErrc::nodes_unavailable);
  CHECK(parse_start_args({"--nodes", "zz"}, kCluster).error().code == RebalanceErrc::invalid_nodes);
}

TEST_CASE("cli: --migrate-to and --redirect-to", "[unit][rebalance][options][cli]") {
  CHECK(evacuation({"--migrate-to", "n2@127.0.0.1 n3@127.0.0.1"}).migrate_to ==
        std::vector<NodeId>{"n2@127.0.0.1", "n3@127.0.0.1"});
  CHECK_FALSE(evacuation({}).migrate_to.has_value());
  CHECK(err({"--evacuation", "--migrate-to", "bad"}) == R"(invalid --migrate-to, invalid nodes: ["bad"])");
  CHECK(err({"--evacuation", "--migrate-to", ""}) == "invalid --migrate-to, no nodes");
  CHECK(err({"--evacuation", "--migrate-to", "n2@127.0.0.1,n4@127.0.0.1"}) ==
        "invalid --migrate-to, unavailable nodes: ['n4@127.0.0.1']");

  CHECK(evacuation({"--redirect-to", "h1:1883 h2:1883"}).server_reference == "h1:1883 h2:1883");
  CHECK(evacuation({"--redirect-to", ""}).server_reference == "");
  CHECK_FALSE(evacuation({}).server_reference.has_value());
}

TEST_CASE("cli: --redirect-policy of an evacuation", "[unit][rebalance][options][cli]") {
  CHECK(evacuation({"--redirect-policy", "least_loaded"}).redirect_least_loaded);
  CHECK_FALSE(evacuation({"--redirect-policy", "static"}).redirect_least_loaded);
  CHECK_FALSE(evacuation({}).redirect_least_loaded);
  CHECK(err({"--evacuation", "--redirect-policy", "random"}) == "invalid --redirect-policy: expected static or least_loaded");
  CHECK(err({"--redirect-policy", "least_loaded"}) ==
        R"(unknown rebalance arguments: [{"--redirect-policy","least_loaded"}])");
}

TEST_CASE("cli: unknown arguments print the rest", "[unit][rebalance][options][cli]") {
  CHECK(err({"--foo-bar"}) == R"(unknown arguments: ["--foo-bar"])");
  CHECK(err({"--nodes"}) == R"(unknown arguments: ["--nodes"])");  // a flag without its value
  CHECK(err({"--conn-evict-rate", "5", "--foo", "x", "--nodes", "y"}) ==
        R"(unknown arguments: ["--foo","x","--nodes","y"])");
  CHECK(err({"stray"}) == R"(unknown arguments: ["stray"])");
  CHECK(err({"--purge"}) == R"(unknown arguments: ["--purge"])");  // no purge
  CHECK(err({"--evacuation", "--purge-rate", "5"}) == R"(unknown arguments: ["--purge-rate","5"])");
}

TEST_CASE("cli: options of the other mode", "[unit][rebalance][options][cli]") {
  CHECK(err({"--evacuation", "--nodes", "x"}) == R"(unknown evacuation arguments: [{"--nodes","x"}])");
  CHECK(err({"--redirect-to", "x"}) == R"(unknown rebalance arguments: [{"--redirect-to","x"}])");
  CHECK(err({"--migrate-to", "n2@127.0.0.1"}) == R"(unknown rebalance arguments: [{"--migrate-to","n2@127.0.0.1"}])");
  // Validated in lexicographic order; the rest (flags print as true) follows the first offender.
  CHECK(err({"--wait-takeover", "5", "--evacuation", "--nodes", "x", "--abs-conn-threshold", "1"}) ==
        R"(unknown evacuation arguments: [{"--abs-conn-threshold","1"},{"--evacuation",true},{"--nodes","x"},{"--wait-takeover","5"}])");
  // --evacuation is looked for first, wherever it is.
  CHECK(ok({"--wait-takeover", "5", "--evacuation"}).mode == StartMode::evacuation);
}

TEST_CASE("cli: lexicographic validation order and repeated options", "[unit][rebalance][options][cli]") {
  CHECK(err({"--wait-takeover", "x", "--conn-evict-rate", "0"}) == "invalid --conn-evict-rate value");
  CHECK(err({"--sess-evict-rate", "0", "--nodes", "bad"}) == R"(invalid --nodes, invalid nodes: ["bad"])");
  CHECK(rebalance({"--conn-evict-rate", "0", "--conn-evict-rate", "9"}).conn_evict_rate == 9);  // last wins
  CHECK(err({"--conn-evict-rate", "9", "--conn-evict-rate", "0"}) == "invalid --conn-evict-rate value");
}

TEST_CASE("cli: a full rebalance command", "[unit][rebalance][options][cli]") {
  const auto o = rebalance({"--nodes", "n1@127.0.0.1,n2@127.0.0.1", "--wait-health-check", "5", "--conn-evict-rate",
                            "10", "--conn-evict-rpc-timeout", "7", "--abs-conn-threshold", "30",
                            "--rel-conn-threshold", "1.2", "--wait-takeover", "6", "--sess-evict-rate", "20",
                            "--sess-evict-rpc-timeout", "8", "--abs-sess-threshold", "40", "--rel-sess-threshold",
                            "2"});
  CHECK(o.nodes == std::vector<NodeId>{"n1@127.0.0.1", "n2@127.0.0.1"});
  CHECK(o.wait_health_check == 5s);
  CHECK(o.conn_evict_rate == 10);
  CHECK(o.conn_evict_rpc_timeout == 7000ms);
  CHECK(o.abs_conn_threshold == 30);
  CHECK(o.rel_conn_threshold == 1.2);
  CHECK(o.wait_takeover == 6s);
  CHECK(o.sess_evict_rate == 20);
  CHECK(o.sess_evict_rpc_timeout == 8000ms);
  CHECK(o.abs_sess_threshold == 40);
  CHECK(o.rel_sess_threshold == 2.0);
}
