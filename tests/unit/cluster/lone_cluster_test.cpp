// With clustering off a node is a cluster of one: it lists itself, runs calls to itself, and
// refuses join, leave and migration with one message (the admin API answers those 409).
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "cluster/cluster.hpp"
#include "core/broker.hpp"
#include "fake_clock.hpp"

using namespace tidemq;

namespace {

struct LoneNode {
  boost::asio::io_context ctx;
  test::FakeClock clock;
  core::Broker broker{settings(), clock};
  cluster::Cluster cluster{cluster_settings(), ctx, broker};

  static core::BrokerSettings settings() {
    core::BrokerSettings s;
    s.node_name = "lone@127.0.0.1";
    return s;
  }
  static cluster::ClusterSettings cluster_settings() {
    cluster::ClusterSettings s;
    s.node_name = "lone@127.0.0.1";
    s.enabled = false;
    s.bind_port = 1;  // would fail to bind if a cluster of one opened a listener
    return s;
  }
};

}  // namespace

TEST_CASE("cluster of one: itself as the only member, calls to itself", "[unit][cluster]") {
  LoneNode n;
  REQUIRE(n.cluster.start());
  const auto members = n.cluster.members();
  REQUIRE(members.size() == 1);
  CHECK(members[0].name == "lone@127.0.0.1");
  CHECK(members[0].running);
  CHECK(members[0].self);
  CHECK(n.cluster.running_members() == std::vector<std::string>{"lone@127.0.0.1"});

  n.cluster.register_method("echo.v1", [](const cluster::Json& a) { return a; });
  std::optional<cluster::Json> result;
  std::string error = "not called";
  n.cluster.call("lone@127.0.0.1", "echo.v1", cluster::Json{{"x", 1}}, [&](std::optional<cluster::Json> r, std::string e) {
    result = std::move(r);
    error = std::move(e);
  });
  n.ctx.run();
  CHECK(error.empty());
  CHECK(result == cluster::Json{{"x", 1}});

  n.ctx.restart();
  n.cluster.call("other@127.0.0.2", "echo.v1", cluster::Json::object(), [&](std::optional<cluster::Json> r, std::string e) {
    result = std::move(r);
    error = std::move(e);
  });
  n.ctx.run();
  CHECK_FALSE(result);
  CHECK(error == "unknown node other@127.0.0.2");
  CHECK(n.cluster.render_metrics().empty());
}

TEST_CASE("cluster of one: join, leave and migration are refused", "[unit][cluster]") {
  LoneNode n;
  REQUIRE(n.cluster.start());
  std::string join_error;
  n.cluster.join("other@127.0.0.2", [&](std::string e) { join_error = std::move(e); });
  CHECK(join_error == cluster::Cluster::kClusteringOff);
  CHECK(n.cluster.leave() == cluster::Cluster::kClusteringOff);

  cluster::MigrationFailures failed;
  n.cluster.migrate_sessions({"a", "b"}, "lone@127.0.0.1", [&](cluster::MigrationFailures f) { failed = std::move(f); });
  REQUIRE(failed.size() == 2);
  CHECK(failed[0] == std::pair<std::string, std::string>{"a", cluster::Cluster::kClusteringOff});
  bool found = false;
  std::string owner = "unset", error = "unset";
  n.cluster.find_client("nobody", [&](std::string node, std::string e) {
    found = true;
    owner = std::move(node);
    error = std::move(e);
  });
  n.ctx.run();
  REQUIRE(found);
  CHECK(owner.empty());
  CHECK(error.empty());
}
