#include "rebalance/rebalance_plugin.hpp"

#include "rebalance/agent/eviction_agent.hpp"

namespace tidemq::rebalance {

namespace {

using plugin::HttpResponse;
using plugin::Json;

HttpResponse json_reply(int status, const Json& j) { return HttpResponse{status, j.dump(), "application/json"}; }

class RebalancePlugin final : public plugin::Plugin {
 public:
  std::string_view name() const noexcept override { return "rebalance"; }

  std::string start(plugin::PluginContext& ctx) override {
    ctx_ = &ctx;
    agent_ = std::make_unique<EvictionAgent>(ctx.broker, ctx.cluster);
    register_routes(ctx.admin);
    return "";
  }

  void stop() noexcept override { agent_.reset(); }

 private:
  void register_routes(plugin::AdminServices& admin) {
    // Load balancers probe this (spec §6.4, D2): public, 200 while the agent is disabled, 503 while enabled.
    admin.add_route("GET", "/api/v4/load_rebalance/availability_check",
                    [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      reply(json_reply(agent_ && agent_->enabled() ? 503 : 200, Json::object()));
                    },
                    /*is_public=*/true);
    admin.add_route("GET", "/api/v5/load_rebalance/availability_check",
                    [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      if (agent_ && agent_->enabled())
                        return reply(json_reply(503, Json{{"code", "NODE_EVACUATING"}, {"message", "Node Evacuating"}}));
                      reply(json_reply(200, Json::object()));
                    },
                    /*is_public=*/true);
    for (const char* path : {"/api/v4/node_eviction/status", "/api/v5/node_eviction/status"})
      admin.add_route("GET", path,
                      [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) { reply(json_reply(200, eviction_status())); },
                      /*is_public=*/false);
  }

  // spec §6.7
  Json eviction_status() const {
    if (!agent_ || !agent_->enabled()) return Json{{"status", "disabled"}};
    return Json{{"status", "enabled"},
                {"stats", {{"connections", agent_->connection_count()}, {"sessions", agent_->session_count()}}}};
  }

  plugin::PluginContext* ctx_ = nullptr;
  std::unique_ptr<EvictionAgent> agent_;
};

}  // namespace

std::unique_ptr<plugin::Plugin> make_rebalance_plugin() { return std::make_unique<RebalancePlugin>(); }

}  // namespace tidemq::rebalance
