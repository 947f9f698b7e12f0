// A broker node without sockets, for the fuzz targets that reach the admin API and the cluster's
// control methods: the broker with a few clients, the admin routes registered as
// Node::start_admin() registers them, and the rebalance plugin started through the real
// PluginHost. Built afresh for every input, so that an input's effect does not depend on the
// inputs before it (and a crash replays from its input alone).
//
// `clustered`: with clustering on, but the Cluster never started (no listener, no peers, no
// built-in methods: the cluster of one that clustering on gives until a peer joins); otherwise
// clustering is off (a started cluster of one, as a node without a cookie has). Everything runs
// on one io_context, polled by settle(); nothing waits for time to pass.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "admin/admin_auth.hpp"
#include "admin/broker_api.hpp"
#include "admin/cluster_api.hpp"
#include "admin/router.hpp"
#include "admin/user_api.hpp"
#include "app/plugin_host.hpp"
#include "auth/password_file.hpp"
#include "channel_harness.hpp"
#include "cluster/cluster.hpp"
#include "core/broker.hpp"
#include "fake_clock.hpp"
#include "fuzz_support.hpp"
#include "rebalance/rebalance_plugin.hpp"
#include "util/password_hash.hpp"

namespace tidemq::fuzz {

inline constexpr const char* kNodeName = "fuzz@127.0.0.1";
inline constexpr const char* kCookie = "fuzzcookie";

class LoneNode {
 public:
  LoneNode(const std::filesystem::path& data_dir, admin::AdminAuth& admin_auth, bool clustered)
      : broker(settings(), clock) {
    std::filesystem::remove_all(data_dir);
    std::filesystem::create_directories(data_dir);
    cluster::ClusterSettings cs;
    cs.enabled = clustered;
    cs.node_name = kNodeName;
    cs.bind_host = "127.0.0.1";
    cs.cookie = kCookie;
    cs.data_dir = data_dir.string();
    cluster = std::make_unique<cluster::Cluster>(cs, ctx, broker);
    if (!clustered) FUZZ_CHECK(cluster->start());
    // An MQTT user file with one user (a hash of one PBKDF2 round: the file is read, not cracked).
    static const std::string kUsers = "fuzzuser:" + util::hash_password("fuzzpass", 1) + "\n";
    const auto users_path = data_dir / "users.txt";
    write_file(users_path, kUsers);
    users = std::make_unique<auth::PasswordFile>(users_path.string());
    users->load();

    // The order of Node::start_admin() and Node::run(): user API, cluster API, broker API, plugins.
    admin::register_user_api(routes, users.get());
    const admin::NodeInfo info{kNodeName, "0.0.0-fuzz", clock.now()};
    admin::register_cluster_api(routes, *cluster, broker, info);
    admin::BrokerApiOptions api_options{true, nullptr};
    api_options.extra_metrics = [this] { return plugins ? plugins->render_metrics() : std::string(); };
    admin::register_broker_api(routes, broker, admin_auth, info, std::move(api_options));
    plugins = std::make_unique<app::PluginHost>(ctx, broker, *cluster, routes, data_dir);
    plugins->add(rebalance::make_rebalance_plugin(), plugin::Json::object());
    FUZZ_CHECK(plugins->start());
    add_clients();
    settle();
  }

  ~LoneNode() {
    plugins.reset();  // stops the plugin: its timers and methods go
    clients.clear();
    cluster.reset();
    settle();
  }

  LoneNode(const LoneNode&) = delete;
  LoneNode& operator=(const LoneNode&) = delete;

  // Runs every handler that is ready (posted work, RPC answers on this node), none that waits.
  void settle() {
    for (int round = 0; round < 1000; ++round) {
      ctx.restart();
      if (ctx.poll() == 0) return;
    }
  }

  boost::asio::io_context ctx;
  test::FakeClock clock;
  core::Broker broker;
  std::unique_ptr<cluster::Cluster> cluster;
  std::unique_ptr<auth::PasswordFile> users;
  admin::Router routes;
  std::unique_ptr<app::PluginHost> plugins;
  std::vector<std::shared_ptr<test::ChannelHarness>> clients;

 private:
  static core::BrokerSettings settings() {
    core::BrokerSettings s;
    s.node_name = kNodeName;
    return s;
  }

  // "c1": MQTT 5, connected, subscribed (plain and shared); "c2": 3.1.1, offline with a session
  // and a queued message; one retained message. The admin routes and the evacuation find them.
  void add_clients() {
    using namespace mqtt;
    auto c1 = test::ChannelHarness::make(broker, "127.0.0.1:40001");
    Connect connect;
    connect.protocol_level = kV5;
    connect.client_id = "c1";
    connect.props.session_expiry = 3600;
    c1->send(connect);
    Subscribe sub;
    sub.packet_id = 1;
    sub.entries = {SubscribeEntry{"fuzz/#", SubscribeOptions{1}}, SubscribeEntry{"$share/g/fuzz/+", SubscribeOptions{2}}};
    c1->send(sub);

    auto c2 = test::ChannelHarness::make(broker, "127.0.0.1:40002");
    Connect connect2;
    connect2.client_id = "c2";
    connect2.clean_start = false;
    c2->send(connect2);
    Subscribe sub2;
    sub2.packet_id = 1;
    sub2.entries = {SubscribeEntry{"a/b", SubscribeOptions{2}}};
    c2->send(sub2);
    c2->send(Disconnect{});

    Publish retained;
    retained.topic = "a/b";
    retained.qos = 1;
    retained.retain = true;
    retained.packet_id = 7;
    retained.payload = "queued for c2, retained";
    c1->send(retained);
    clients = {c1, c2};
  }
};

}  // namespace tidemq::fuzz
