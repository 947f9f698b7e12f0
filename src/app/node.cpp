#include "app/node.hpp"

#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "core/broker.hpp"
#include "net/connection_tracker.hpp"
#include "net/listener.hpp"
#include "runtime/io_pool.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

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
  asio::steady_timer sweep_timer;
  asio::steady_timer shutdown_timer;
  asio::signal_set signals;
  util::TimePoint shutdown_deadline{};

  explicit Impl(Config c)
      : config(std::move(c)),
        broker(config.mqtt, clock),
        pool(config.io_threads),
        sweep_timer(pool.control()),
        shutdown_timer(pool.control()),
        signals(pool.control(), SIGINT, SIGTERM) {}

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
      pool.stop();
      return;
    }
    shutdown_timer.expires_after(10ms);
    shutdown_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) wait_for_connections();
    });
  }
};

Node::Node(Config config) : impl_(std::make_unique<Impl>(std::move(config))) {}
Node::~Node() = default;

int Node::run() {
  Impl& n = *impl_;
  for (const auto& lc : n.config.tcp_listeners) {
    auto l = std::make_unique<net::Listener>(lc.name, n.pool, n.broker, n.tracker, std::chrono::seconds(n.config.idle_timeout));
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
