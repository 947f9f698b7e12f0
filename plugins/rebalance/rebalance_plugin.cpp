#include "rebalance/rebalance_plugin.hpp"

#include "rebalance/api/http_routes.hpp"
#include "rebalance/metrics.hpp"
#include "rebalance/plugin_parts.hpp"
#include "rebalance/rpc/node_methods.hpp"

namespace tidemq::rebalance {

namespace {

// Owns the pieces (agent, limiter, coordinators) and wires them to the cluster RPC methods, the
// admin routes and /metrics.
class RebalancePlugin final : public plugin::Plugin {
 public:
  std::string_view name() const noexcept override { return "rebalance"; }

  std::string start(plugin::PluginContext& ctx) override {
    parts_.ctx = &ctx;
    parts_.agent = std::make_unique<EvictionAgent>(ctx.broker, ctx.cluster);
    parts_.peers = std::make_unique<PeerAvailability>(ctx.cluster);
    parts_.agent->on_change([peers = parts_.peers.get()](bool enabled) { peers->local_changed(enabled); });
    parts_.limiter = std::make_unique<util::RateLimiter>(ctx.clock, kDefaultConnEvictRate);
    parts_.evacuation = std::make_unique<EvacuationCoordinator>(ctx, *parts_.agent, *parts_.limiter);
    parts_.rebalance = std::make_unique<RebalanceCoordinator>(ctx, *parts_.agent, *parts_.limiter);
    methods_ = register_node_methods(ctx.cluster, parts_);
    parts_.peers->on_change([evacuation = parts_.evacuation.get()] { evacuation->recipients_changed(); });
    parts_.peers->register_methods(methods_);
    register_http_routes(ctx.admin, parts_);
    ctx.admin.add_metrics([this] { return render_metrics(parts_); });
    parts_.evacuation->restore();  // before any listener accepts: refuse from the first CONNECT
    return "";
  }

  void stop() noexcept override {
    if (parts_.peers) parts_.peers->on_change(nullptr);  // it would reach the evacuation below
    methods_.clear();
    parts_.rebalance.reset();
    parts_.evacuation.reset();
    parts_.limiter.reset();
    parts_.agent.reset();
    parts_.peers.reset();
  }

 private:
  PluginParts parts_;
  std::vector<plugin::Registration> methods_;
};

}  // namespace

std::unique_ptr<plugin::Plugin> make_rebalance_plugin() { return std::make_unique<RebalancePlugin>(); }

}  // namespace tidemq::rebalance
