#include "app/plugin_host.hpp"

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

// Cluster services over the real cluster, or — clustering off — over a cluster of one.
struct ClusterServicesImpl final : plugin::ClusterServices {
  asio::io_context& ctx;
  cluster::Cluster* cluster;
  std::string node_name;
  std::map<std::string, std::function<void(const Json&, plugin::Done)>> local_methods;  // lone node
  std::vector<std::pair<std::uint64_t, std::function<void(const std::string&, bool)>>> listeners;
  std::uint64_t next_listener = 1;

  ClusterServicesImpl(asio::io_context& c, cluster::Cluster* cl, std::string name) : ctx(c), cluster(cl), node_name(std::move(name)) {
    if (cluster)
      cluster->add_node_listener([this](const std::string& node, bool up) {
        auto copy = listeners;  // a listener may unregister itself
        for (auto& [_, l] : copy) l(node, up);
      });
  }

  std::string self() const override { return node_name; }
  std::vector<plugin::Member> members() const override {
    std::vector<plugin::Member> out;
    if (!cluster) return {plugin::Member{node_name, true, true, {}}};
    for (auto& m : cluster->members()) out.push_back(plugin::Member{m.name, m.running, m.self, m.mqtt_endpoints});
    return out;
  }
  void call(const std::string& node, const std::string& method, Json args, plugin::Done done) override {
    if (cluster) return cluster->call(node, method, std::move(args), std::move(done));
    if (node != node_name) return done(std::nullopt, "unknown node " + node);
    auto it = local_methods.find(method);
    if (it == local_methods.end()) return done(std::nullopt, "unknown method " + method);
    asio::post(ctx, [h = it->second, args = std::move(args), done = std::move(done)] { h(args, done); });
  }
  plugin::Registration register_method(const std::string& method, std::function<void(const Json&, plugin::Done)> handler) override {
    if (cluster) {
      cluster->register_async_method(method, std::move(handler));
      // Undone when the plugin stops: on the control thread, or at teardown once no thread runs.
      return plugin::Registration([this, method] { cluster->unregister_method(method); });
    }
    local_methods[method] = std::move(handler);
    return plugin::Registration([this, method] { local_methods.erase(method); });
  }
  void migrate_sessions(std::vector<core::ClientId> ids, const std::string& node,
                        std::function<void(MigrationFailures)> done) override {
    if (!cluster) {
      MigrationFailures failed;
      for (auto& id : ids) failed.emplace_back(std::move(id), "clustering is off on this node");
      return done(std::move(failed));
    }
    cluster->migrate_sessions(std::move(ids), node, std::move(done));
  }
  MigrationAudit migration_audit() const override {
    if (!cluster) return {};
    auto a = cluster->migration_audit();
    return MigrationAudit{a.sessions, a.mismatches, a.messages_lost};
  }
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

struct PluginHost::Impl {
  BrokerServicesImpl broker;
  ClusterServicesImpl cluster;
  AdminServicesImpl admin;
  TimersImpl timers;
  plugin::PluginContext context;
  std::vector<std::unique_ptr<plugin::Plugin>> plugins;
  std::vector<plugin::Plugin*> started;

  Impl(asio::io_context& ctx, core::Broker& b, cluster::Cluster* cl, admin::Router& routes, std::string name,
       std::filesystem::path data_dir)
      : broker(b),
        cluster(ctx, cl, std::move(name)),
        admin(routes),
        timers(ctx),
        context{broker, cluster, admin, timers, std::move(data_dir), b.clock()} {}
};

PluginHost::PluginHost(asio::io_context& control, core::Broker& broker, cluster::Cluster* cluster, admin::Router& routes,
                       std::string node_name, std::filesystem::path data_dir)
    : impl_(std::make_unique<Impl>(control, broker, cluster, routes, std::move(node_name), std::move(data_dir))) {}

PluginHost::~PluginHost() { stop(); }

void PluginHost::add(std::unique_ptr<plugin::Plugin> p) { impl_->plugins.push_back(std::move(p)); }

bool PluginHost::start() {
  for (auto& p : impl_->plugins) {
    std::string error = p->start(impl_->context);
    if (!error.empty()) {
      spdlog::critical("plugin {}: {}", p->name(), error);
      return false;
    }
    impl_->started.push_back(p.get());
    spdlog::info("plugin {} started", p->name());
  }
  return true;
}

void PluginHost::stop() {
  for (auto it = impl_->started.rbegin(); it != impl_->started.rend(); ++it) (*it)->stop();
  impl_->started.clear();
}

std::string PluginHost::render_metrics() const {
  std::string out;
  for (const auto& m : impl_->admin.metrics) out += m();
  return out;
}

}  // namespace tidemq::app
