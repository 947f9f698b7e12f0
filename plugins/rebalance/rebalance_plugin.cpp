#include "rebalance/rebalance_plugin.hpp"

#include "rebalance/agent/eviction_agent.hpp"
#include "rebalance/coordinator/evacuation_coordinator.hpp"
#include "rebalance/core/rate_limiter.hpp"

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
    limiter_ = std::make_unique<RateLimiter>(ctx.clock, kDefaultConnEvictRate);
    evacuation_ = std::make_unique<EvacuationCoordinator>(ctx, *agent_, *limiter_);
    register_methods(ctx.cluster);
    register_routes(ctx.admin);
    evacuation_->restore();  // before any listener accepts: refuse from the first CONNECT
    return "";
  }

  void stop() noexcept override {
    methods_.clear();
    evacuation_.reset();
    limiter_.reset();
    agent_.reset();
  }

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
    admin.add_route("POST", "/api/v4/load_rebalance/{node}/evacuation/start",
                    [this](const plugin::HttpRequest& r, const auto& params, plugin::HttpReply reply) {
                      on_node(params, "rebalance.evacuation.start.v1", Json{{"body", r.body}}, std::move(reply));
                    },
                    false);
    admin.add_route("POST", "/api/v4/load_rebalance/{node}/evacuation/stop",
                    [this](const plugin::HttpRequest&, const auto& params, plugin::HttpReply reply) {
                      on_node(params, "rebalance.evacuation.stop.v1", Json::object(), std::move(reply));
                    },
                    false);
    admin.add_route("GET", "/api/v4/load_rebalance/status",
                    [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      reply(json_reply(200, evacuation_->fsm().status(evacuation_->recipients())));
                    },
                    false);
    admin.add_route("GET", "/api/v4/load_rebalance/global_status",
                    [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) { global_status(std::move(reply)); },
                    false);
    for (const char* path : {"/api/v4/node_eviction/status", "/api/v5/node_eviction/status"})
      admin.add_route("GET", path,
                      [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) { reply(json_reply(200, eviction_status())); },
                      /*is_public=*/false);
  }

  void register_methods(plugin::ClusterServices& cluster) {
    methods_.push_back(cluster.register_method("rebalance.agent.v1", [this](const Json&, plugin::Done reply) {
      reply(Json{{"enabled", agent_->enabled()}}, "");
    }));
    methods_.push_back(cluster.register_method("rebalance.evacuation.start.v1", [this](const Json& a, plugin::Done reply) {
      start_evacuation_here(a.value("body", std::string()), std::move(reply));
    }));
    methods_.push_back(cluster.register_method("rebalance.evacuation.stop.v1", [this](const Json&, plugin::Done reply) {
      evacuation_->stop([reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    }));
    methods_.push_back(cluster.register_method("rebalance.global_entry.v1", [this](const Json&, plugin::Done reply) {
      reply(Json{{"evacuation", evacuation_->fsm().global_entry(evacuation_->recipients())}}, "");
    }));
  }

  // {"ok":true} or {"error":"<token or message>"} — what a node answers to a start/stop.
  static Json result_json(boost::system::error_code ec) {
    if (!ec) return Json{{"ok", true}};
    return Json{{"error", ec.category() == rebalance_category() ? std::string(to_token(static_cast<RebalanceErrc>(ec.value())))
                                                                 : ec.message()}};
  }

  ClusterView cluster_view() const {
    ClusterView v;
    for (const auto& m : ctx_->cluster.members()) {
      v.members.push_back(m.name);
      if (m.running) v.available.push_back(m.name);
    }
    return v;
  }

  void start_evacuation_here(const std::string& body, plugin::Done reply) {
    auto opts = parse_evacuation_body(body.empty() ? "{}" : body, cluster_view());
    if (!opts) return reply(Json{{"error", opts.error().message}, {"invalid", true}}, "");
    evacuation_->start(*opts, [reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
  }

  // v4 (D1): 200 {"code":0,"data":[]} on success; a logical error is 200 {"code":400,"message":...}.
  static HttpResponse v4_result(const std::optional<Json>& r, const std::string& node, const std::string& rpc_error) {
    if (!r) return json_reply(200, Json{{"code", 400}, {"message", "Error communicating with node '" + node + "'" +
                                                                      (rpc_error.empty() ? "" : ": " + rpc_error)}});
    if (r->contains("error")) return json_reply(200, Json{{"code", 400}, {"message", (*r)["error"]}});
    return json_reply(200, Json{{"code", 0}, {"data", Json::array()}});
  }

  // Runs `method` on the node named in the path (here or over RPC) and answers in v4 form.
  void on_node(const std::vector<std::pair<std::string, std::string>>& params, const std::string& method, Json args,
               plugin::HttpReply reply) {
    std::string node;
    for (const auto& [k, v] : params)
      if (k == "node") node = v;
    bool running = false;
    for (const auto& m : ctx_->cluster.members())
      if (m.name == node) running = m.running;
    if (!running) return reply(json_reply(200, Json{{"code", 400}, {"message", "invalid node: " + node}}));
    ctx_->cluster.call(node, method, std::move(args), [reply, node](std::optional<Json> r, std::string error) {
      reply(v4_result(r, node, error));
    });
  }

  void global_status(plugin::HttpReply reply) {
    struct Gather {
      Json evacuations = Json::array();
      std::size_t remaining = 0;
      plugin::HttpReply reply;
    };
    auto g = std::make_shared<Gather>();
    g->reply = std::move(reply);
    std::vector<std::string> running;
    for (const auto& m : ctx_->cluster.members())
      if (m.running) running.push_back(m.name);
    g->remaining = running.size();
    for (const auto& node : running)
      ctx_->cluster.call(node, "rebalance.global_entry.v1", Json::object(), [g](std::optional<Json> r, std::string) {
        if (r && r->is_object() && (*r)["evacuation"].is_object()) g->evacuations.push_back((*r)["evacuation"]);
        if (--g->remaining == 0) g->reply(json_reply(200, Json{{"rebalances", Json::array()}, {"evacuations", g->evacuations}}));
      });
  }

  // spec §6.7
  Json eviction_status() const {
    if (!agent_ || !agent_->enabled()) return Json{{"status", "disabled"}};
    return Json{{"status", "enabled"},
                {"stats", {{"connections", agent_->connection_count()}, {"sessions", agent_->session_count()}}}};
  }

  plugin::PluginContext* ctx_ = nullptr;
  std::unique_ptr<EvictionAgent> agent_;
  std::unique_ptr<RateLimiter> limiter_;  // the node's one eviction limiter (issue 5)
  std::unique_ptr<EvacuationCoordinator> evacuation_;
  std::vector<plugin::Registration> methods_;
};

}  // namespace

std::unique_ptr<plugin::Plugin> make_rebalance_plugin() { return std::make_unique<RebalancePlugin>(); }

}  // namespace tidemq::rebalance
