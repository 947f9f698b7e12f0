#include "app/plugin_host.hpp"

#include <deque>
#include <map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "admin/router.hpp"
#include "cluster/cluster.hpp"
#include "core/broker.hpp"

namespace tidemq::app {

namespace asio = boost::asio;
using plugin::Json;

namespace {

struct BrokerServicesImpl final : plugin::BrokerServices {
  core::Broker& broker;
  explicit BrokerServicesImpl(core::Broker& b) : broker(b) {}

  std::size_t connection_count() const override { return broker.registry().connection_count(); }
  std::size_t session_count(plugin::SessionFilter f) const override {
    return f == plugin::SessionFilter::any ? broker.registry().session_count() : broker.registry().offline_session_count();
  }
  std::size_t evict_connections(std::size_t max, const core::DisconnectInfo& why) override {
    return broker.registry().evict_connections(max, why);
  }
  std::vector<core::ClientId> pick_sessions(std::size_t max, plugin::SessionFilter f) const override {
    if (f == plugin::SessionFilter::disconnected) return broker.registry().offline_sessions(max);
    auto ids = broker.registry().session_ids();
    if (ids.size() > max) ids.resize(max);
    return ids;
  }
  void discard_session(const core::ClientId& id) override { broker.registry().discard_session(id); }
  plugin::Registration on_admission(int priority, plugin::AdmissionHook hook) override {
    auto handle = broker.hooks().add_admission(priority, std::move(hook));
    return plugin::Registration([this, handle] { broker.hooks().remove_admission(handle); });
  }
};

// Cluster services over the node's cluster (with clustering off, a cluster of one).
struct ClusterServicesImpl final : plugin::ClusterServices {
  cluster::Cluster& cluster;
  std::vector<std::pair<std::uint64_t, std::function<void(const std::string&, bool)>>> listeners;
  std::uint64_t next_listener = 1;

  explicit ClusterServicesImpl(cluster::Cluster& cl) : cluster(cl) {
    cluster.add_node_listener([this](const std::string& node, bool up) {
      auto copy = listeners;  // a listener may unregister itself
      for (auto& [_, l] : copy) l(node, up);
    });
  }

  std::string self() const override { return cluster.self(); }
  std::vector<plugin::Member> members() const override { return cluster.members(); }
  void call(const std::string& node, const std::string& method, Json args, plugin::Done done) override {
    cluster.call(node, method, std::move(args), std::move(done));
  }
  plugin::Registration register_method(const std::string& method, std::function<void(const Json&, plugin::Done)> handler) override {
    cluster.register_async_method(method, std::move(handler));
    // Undone when the plugin stops: on the control thread, or at teardown once no thread runs.
    return plugin::Registration([this, method] { cluster.unregister_method(method); });
  }
  void migrate_sessions(std::vector<core::ClientId> ids, const std::string& node, cluster::MigrationDone done) override {
    cluster.migrate_sessions(std::move(ids), node, std::move(done));
  }
  MigrationAudit migration_audit() const override { return cluster.migration_audit(); }
  plugin::Registration on_node_event(std::function<void(const std::string&, bool)> listener) override {
    const std::uint64_t id = next_listener++;
    listeners.emplace_back(id, std::move(listener));
    return plugin::Registration([this, id] {
      std::erase_if(listeners, [id](const auto& l) { return l.first == id; });
    });
  }
};

struct AdminServicesImpl final : plugin::AdminServices {
  admin::Router& router;
  std::vector<std::function<std::string()>> metrics;
  explicit AdminServicesImpl(admin::Router& r) : router(r) {}

  void add_route(const std::string& method, const std::string& pattern, plugin::HttpHandler handler, bool is_public) override {
    router.add_async(
        method, pattern,
        [handler = std::move(handler)](const admin::HttpRequest& r, const admin::Params& p, admin::Reply reply) {
          plugin::HttpRequest req{r.method, r.path, r.body, {r.query.begin(), r.query.end()}};
          std::vector<std::pair<std::string, std::string>> params(p.begin(), p.end());
          handler(req, params, [reply](plugin::HttpResponse res) {
            reply(admin::HttpResponse{res.status, std::move(res.body), std::move(res.content_type), {}});
          });
        },
        is_public);
  }
  void add_metrics(std::function<std::string()> render) override { metrics.push_back(std::move(render)); }
};

struct TimersImpl final : plugin::Timers {
  asio::io_context& ctx;
  explicit TimersImpl(asio::io_context& c) : ctx(c) {}
  plugin::Registration after(util::Duration delay, std::function<void()> fn) override {
    auto timer = std::make_shared<asio::steady_timer>(ctx, delay);
    timer->async_wait([timer, fn = std::move(fn)](const boost::system::error_code& ec) {
      if (!ec) fn();
    });
    return plugin::Registration([weak = std::weak_ptr<asio::steady_timer>(timer)] {
      if (auto t = weak.lock()) t->cancel();
    });
  }
};

}  // namespace

std::vector<KeySpec> plugin_config_keys(const std::vector<std::unique_ptr<plugin::Plugin>>& plugins) {
  std::vector<KeySpec> keys;
  for (const auto& p : plugins) {
    const std::string prefix = "plugins." + std::string(p->name()) + ".";
    keys.push_back(KeySpec{prefix + "enable", KeySpec::Type::boolean, "true"});
    for (auto k : p->config_keys()) {
      if (k.name.empty() || k.name == "enable" || k.name.find_first_of(".*") != std::string::npos) {
        spdlog::warn("plugin {}: config key '{}' ignored (one word other than 'enable' expected)", p->name(), k.name);
        continue;
      }
      k.name = prefix + k.name;
      keys.push_back(std::move(k));
    }
  }
  return keys;
}

struct PluginHost::Impl {
  struct Entry {
    std::unique_ptr<plugin::Plugin> plugin;
    plugin::Json section;
    std::unique_ptr<plugin::PluginContext> context;  // while started: the plugin keeps a pointer to it
  };
  BrokerServicesImpl broker;
  ClusterServicesImpl cluster;
  AdminServicesImpl admin;
  TimersImpl timers;
  plugin::PluginContext context;  // what every plugin's context starts from
  std::deque<Entry> plugins;  // stable addresses: `started` points into it
  std::vector<Entry*> started;

  Impl(asio::io_context& ctx, core::Broker& b, cluster::Cluster& cl, admin::Router& routes, std::filesystem::path data_dir)
      : broker(b),
        cluster(cl),
        admin(routes),
        timers(ctx),
        context{broker, cluster, admin, timers, std::move(data_dir), b.clock()} {}
};

PluginHost::PluginHost(asio::io_context& control, core::Broker& broker, cluster::Cluster& cluster, admin::Router& routes,
                       std::filesystem::path data_dir)
    : impl_(std::make_unique<Impl>(control, broker, cluster, routes, std::move(data_dir))) {}

PluginHost::~PluginHost() { stop(); }

void PluginHost::add(std::unique_ptr<plugin::Plugin> p, plugin::Json section) {
  impl_->plugins.push_back(Impl::Entry{std::move(p), std::move(section), nullptr});
}

bool PluginHost::start() {
  for (auto& e : impl_->plugins) {
    const std::string_view name = e.plugin->name();
    plugin::Json config = e.section.is_object() ? e.section : plugin::Json::object();
    if (!config.value("enable", true)) {
      spdlog::info("plugin {} disabled (plugins.{}.enable = false)", name, name);
      continue;
    }
    config.erase("enable");
    e.context = std::make_unique<plugin::PluginContext>(impl_->context);
    e.context->config = std::move(config);
    std::string error = e.plugin->start(*e.context);
    if (!error.empty()) {
      spdlog::critical("plugin {}: {}", name, error);
      return false;
    }
    impl_->started.push_back(&e);
    spdlog::info("plugin {} started", name);
  }
  return true;
}

void PluginHost::stop() {
  for (auto it = impl_->started.rbegin(); it != impl_->started.rend(); ++it) (*it)->plugin->stop();
  impl_->started.clear();
}

std::string PluginHost::render_metrics() const {
  std::string out;
  for (const auto& m : impl_->admin.metrics) out += m();
  return out;
}

}  // namespace tidemq::app
