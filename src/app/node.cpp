#include "app/node.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <filesystem>

#include "admin/admin_auth.hpp"
#include "admin/broker_api.hpp"
#include "admin/cluster_api.hpp"
#include "admin/http_server.hpp"
#include "admin/user_api.hpp"
#include "auth/auth_module.hpp"
#include "app/plugin_host.hpp"
#include "cluster/cluster.hpp"
#include "core/broker.hpp"
#include "net/connection_tracker.hpp"
#include "net/listener.hpp"
#include "net/stream_listener.hpp"
#include "runtime/io_pool.hpp"
#include "tidemq/mqtt/reason_codes.hpp"
#include "tidemq/util/prometheus.hpp"

namespace tidemq::app {

namespace asio = boost::asio;
using namespace std::chrono_literals;

namespace {
constexpr auto kSweepInterval = 100ms;   // resolution of will delay and session expiry
constexpr auto kShutdownGrace = 3s;      // connections get this long to take their DISCONNECT
}  // namespace

struct Node::Impl {
  Config config;
  util::SteadyClock clock;
  core::Broker broker;
  runtime::IoPool pool;
  net::ConnectionTracker tracker;
  std::vector<std::unique_ptr<net::Listener>> listeners;
  std::vector<std::unique_ptr<net::StreamListener>> stream_listeners;  // ssl, ws, wss
  asio::steady_timer sweep_timer;
  asio::steady_timer shutdown_timer;
  asio::signal_set signals;
  util::TimePoint shutdown_deadline{};
  std::unique_ptr<admin::AdminAuth> admin_auth;
  admin::Router admin_routes;
  std::vector<std::unique_ptr<admin::HttpServer>> admin_servers;
  std::unique_ptr<auth::AuthModule> auth;  // MQTT authentication and ACL hooks
  std::unique_ptr<cluster::Cluster> cluster;  // with clustering off, a cluster of one
  std::vector<std::unique_ptr<plugin::Plugin>> builtin_plugins;  // until the PluginHost takes them
  std::unique_ptr<PluginHost> plugins;

  Impl(Config c, std::vector<std::unique_ptr<plugin::Plugin>> p)
      : config(std::move(c)),
        broker(config.mqtt, clock),
        pool(config.io_threads),
        sweep_timer(pool.control()),
        shutdown_timer(pool.control()),
        signals(pool.control(), SIGINT, SIGTERM),
        builtin_plugins(std::move(p)) {}

  void schedule_sweep() {
    sweep_timer.expires_after(kSweepInterval);
    sweep_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      broker.sweep();
      schedule_sweep();
    });
  }

  void shutdown(int signal) {
    spdlog::info("signal {}: stopping; {} connection(s) to close", signal, tracker.size());
    for (auto& l : listeners) l->stop();
    for (auto& l : stream_listeners) l->stop();
    for (auto& s : admin_servers) s->stop();
    sweep_timer.cancel();
    // Wills first, so that subscribers still connected receive them before their DISCONNECT.
    broker.publish_all(broker.registry().take_connected_wills());
    tracker.kick_all(core::DisconnectInfo{mqtt::rc::server_shutting_down, std::nullopt});
    shutdown_deadline = clock.now() + kShutdownGrace;
    wait_for_connections();
  }

  void wait_for_connections() {
    if (tracker.size() == 0 || clock.now() >= shutdown_deadline) {
      broker.sweep();  // wills that became due while closing
      if (tracker.size() > 0) spdlog::warn("{} connection(s) still open at exit", tracker.size());
      if (plugins) plugins->stop();
      if (cluster) cluster->stop();
      pool.stop();
      return;
    }
    shutdown_timer.expires_after(10ms);
    shutdown_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) wait_for_connections();
    });
  }
};

Node::Node(Config config, std::vector<std::unique_ptr<plugin::Plugin>> plugins)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(plugins))) {}
Node::~Node() = default;

namespace {

std::string resolve(const std::string& data_dir, const std::string& file) {
  std::filesystem::path p(file);
  return p.is_absolute() ? file : (std::filesystem::path(data_dir) / p).string();
}

// Every MQTT listener's load and the admin servers' connections, for GET /metrics.
std::string render_listener_metrics(const std::vector<std::unique_ptr<net::Listener>>& tcp,
                                    const std::vector<std::unique_ptr<net::StreamListener>>& streams,
                                    const std::vector<std::unique_ptr<admin::HttpServer>>& admin_servers) {
  std::vector<std::shared_ptr<net::ListenerLoad>> loads;
  for (const auto& l : tcp) loads.push_back(l->load());
  for (const auto& l : streams) loads.push_back(l->load());
  std::size_t open = 0;
  std::uint64_t refused = 0;
  for (const auto& s : admin_servers) {
    open += s->open_connections();
    refused += s->refused_connections();
  }
  util::PrometheusText w;
  w.family("tidemq_admin_connections", "gauge", "Open connections to the admin HTTP API.");
  w.sample("tidemq_admin_connections", open);
  w.family("tidemq_admin_connections_refused_total", "counter", "Admin connections turned away at management.max_connections.");
  w.sample("tidemq_admin_connections_refused_total", refused);
  return net::render_listener_metrics(loads) + w.text();
}

}  // namespace

bool Node::start_admin() {
  Impl& n = *impl_;
  const auto& mg = n.config.management;
  n.admin_auth = std::make_unique<admin::AdminAuth>(mg.default_user, mg.default_password,
                                                    resolve(n.config.data_dir, mg.api_keys_file), n.clock,
                                                    admin::LoginLimits{mg.login_max_failures, mg.login_window});
  if (n.admin_auth->using_default_password())
    spdlog::warn("*** admin API: user '{}' still has the DEFAULT PASSWORD 'public' — set management.default_password ***",
                 mg.default_user);
  admin::register_user_api(n.admin_routes, n.auth ? n.auth->users() : nullptr);
  const admin::NodeInfo info{n.config.node_name, TIDEMQ_VERSION, n.clock.now()};
  admin::register_cluster_api(n.admin_routes, *n.cluster, n.broker, info);
  admin::BrokerApiOptions api_options{mg.metrics_auth, nullptr};
  api_options.extra_metrics = [&n] {
    std::string text = render_listener_metrics(n.listeners, n.stream_listeners, n.admin_servers);
    text += n.cluster->render_metrics();
    text += n.plugins->render_metrics();
    return text;
  };
  admin::register_broker_api(n.admin_routes, n.broker, *n.admin_auth, info, std::move(api_options));
  auto open = [&](const TcpListenerConfig& where, admin::HttpServerOptions opts, const char* scheme) {
    auto server = std::make_unique<admin::HttpServer>(n.pool.control(), n.admin_routes, *n.admin_auth, std::move(opts));
    try {
      server->open(where.host, where.port);
    } catch (const std::exception& e) {
      spdlog::critical("admin API: cannot listen on {}:{}: {}", where.host, where.port, e.what());
      return false;
    }
    spdlog::info("admin API on {}://{}:{}", scheme, where.host, server->port());
    server->start();
    n.admin_servers.push_back(std::move(server));
    return true;
  };
  admin::HttpServerOptions base;
  base.body_limit = mg.max_body_size;
  base.read_timeout = mg.request_timeout;
  base.reply_timeout = mg.reply_timeout;
  base.max_connections = mg.max_connections;
  if (mg.http && !open(*mg.http, base, "http")) return false;
  if (mg.https) {
    auto tls = base;
    tls.certfile = mg.https_tls.certfile;
    tls.keyfile = mg.https_tls.keyfile;
    if (!open(*mg.https, tls, "https")) return false;
  }
  return true;
}

bool Node::start_cluster() {
  Impl& n = *impl_;
  const auto& cs = n.config.cluster;
  n.cluster = std::make_unique<cluster::Cluster>(cs, n.pool.control(), n.broker);
  if (!cs.enabled) {
    if (!cs.seeds.empty())
      spdlog::warn("refusing to cluster: cluster.cookie is the default cookie; set a secret cluster.cookie on every "
                   "node (or cluster.allow_default_cookie = true); running alone");
    else
      spdlog::info("clustering off (cluster.cookie is the default cookie)");
    return n.cluster->start();  // a cluster of one: the broker keeps its single-node paths
  }
  if (cs.cookie == cluster::kDefaultCookie)
    spdlog::warn("*** cluster: using the DEFAULT COOKIE (cluster.allow_default_cookie = true); anyone who can reach "
                 "{}:{} can join ***", cs.bind_host, cs.bind_port);
  // The MQTT listeners' real ports (port 0 binds are resolved only when they open) are announced later.
  n.cluster->set_quiescer([&pool = n.pool](std::function<void()> then) { pool.after_data_threads(std::move(then)); });
  if (!n.cluster->start()) return false;
  n.broker.set_cluster(&n.cluster->forwarder(), &n.cluster->locator());
  return true;
}

namespace {

// Every socket is a file descriptor: say so at startup when the listeners' max_connections
// (0: no limit) promise more connections than the process may open.
void warn_about_file_limit(const Config& c) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur == RLIM_INFINITY) return;
  std::uint64_t promised = 0;
  bool unlimited = false;
  auto add = [&](const net::ListenerLimits& l) {
    if (l.max_connections == 0) unlimited = true;
    promised += l.max_connections;
  };
  for (const auto& l : c.tcp_listeners) add(l.limits);
  for (const auto& l : c.extra_listeners) add(l.limits);
  if (unlimited || promised > lim.rlim_cur)
    spdlog::warn("the open file limit is {} (ulimit -n, systemd LimitNOFILE=): about that many connections in total, "
                 "fewer than listeners.*.max_connections allow ({}); beyond it accepts fail and are retried",
                 static_cast<std::uint64_t>(lim.rlim_cur), unlimited ? std::string("no limit") : std::to_string(promised));
}

}  // namespace

int Node::run() {
  Impl& n = *impl_;
  for (const auto& notice : n.config.notices) spdlog::warn("{}", notice);
  warn_about_file_limit(n.config);
  std::error_code dir_ec;
  std::filesystem::create_directories(n.config.data_dir, dir_ec);
  if (dir_ec) {
    spdlog::critical("cannot create node.data_dir {}: {}", n.config.data_dir, dir_ec.message());
    return 1;
  }
  {
    const auto& a = n.config.auth;
    auth::AuthOptions ao{a.allow_anonymous, a.password_file.empty() ? "" : resolve(n.config.data_dir, a.password_file),
                         a.no_match, a.deny_action, {}};
    for (const auto& r : a.rules)
      ao.rules.push_back({r.permission, r.action, r.topics, r.username, r.clientid, r.ipaddr, r.origin});
    try {
      n.auth = std::make_unique<auth::AuthModule>(n.pool.control(), std::move(ao));
    } catch (const std::invalid_argument& e) {
      spdlog::critical("{}", e.what());
      return 1;
    }
    if (!n.auth->start(n.broker.hooks())) return 1;
  }
  if (!start_cluster()) return 1;
  // Plugins start before any listener: an evacuation restored from disk refuses the first CONNECT.
  n.plugins = std::make_unique<PluginHost>(n.pool.control(), n.broker, *n.cluster, n.admin_routes, n.config.data_dir);
  for (auto& p : n.builtin_plugins) {
    const std::string name(p->name());
    n.plugins->add(std::move(p), n.config.plugins[name]);
  }
  if (!n.plugins->start()) return 1;
  for (const auto& lc : n.config.tcp_listeners) {
    auto l = std::make_unique<net::Listener>(lc.name, n.pool, n.broker, n.tracker, std::chrono::seconds(n.config.idle_timeout),
                                             lc.limits);
    try {
      l->open(lc.host, lc.port);
    } catch (const boost::system::system_error& e) {
      spdlog::critical("listener tcp.{}: cannot listen on {}:{}: {}", lc.name, lc.host, lc.port, e.code().message());
      return 1;
    }
    auto ep = l->local_endpoint();
    spdlog::info("listener tcp.{} on {}:{}", lc.name, ep.address().to_string(), ep.port());
    l->start();
    n.listeners.push_back(std::move(l));
  }
  for (const auto& lc : n.config.extra_listeners) {
    using Kind = ExtraListenerConfig::Kind;
    net::StreamListener::Options o;
    o.kind = lc.kind == Kind::ssl ? net::StreamListener::Kind::ssl
             : lc.kind == Kind::ws ? net::StreamListener::Kind::ws
                                   : net::StreamListener::Kind::wss;
    o.name = lc.name;
    o.ws_path = lc.path;
    o.tls = net::TlsOptions{lc.tls.certfile, lc.tls.keyfile, lc.tls.cacertfile, lc.tls.verify_peer, lc.tls.fail_if_no_peer_cert};
    o.connect_timeout = std::chrono::seconds(n.config.idle_timeout);
    o.limits = lc.limits;
    auto l = std::make_unique<net::StreamListener>(std::move(o), n.pool, n.broker, n.tracker);
    try {
      l->open(lc.host, lc.port);
    } catch (const boost::system::system_error& e) {
      spdlog::critical("listener {}: cannot listen on {}:{}: {}", l->label(), lc.host, lc.port, e.code().message());
      return 1;
    } catch (const std::exception& e) {
      spdlog::critical("listener {}: {}", l->label(), e.what());
      return 1;
    }
    spdlog::info("listener {} on {}", l->label(), l->describe_endpoint());
    l->start();
    n.stream_listeners.push_back(std::move(l));
  }
  if (!start_admin()) return 1;
  n.signals.async_wait([&n](const boost::system::error_code& ec, int sig) {
    if (!ec) n.shutdown(sig);
  });
  n.schedule_sweep();
  spdlog::info("node {} running with {} I/O thread(s)", n.config.node_name, n.pool.data_threads());
  n.pool.run();
  spdlog::info("node {} stopped", n.config.node_name);
  return 0;
}

}  // namespace tidemq::app
