#include "rebalance/rebalance_plugin.hpp"

#include <fmt/format.h>

#include "rebalance/agent/eviction_agent.hpp"
#include "rebalance/coordinator/evacuation_coordinator.hpp"
#include "rebalance/coordinator/rebalance_coordinator.hpp"
#include "rebalance/core/rebalance_plan.hpp"
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
    rebalance_ = std::make_unique<RebalanceCoordinator>(ctx, *agent_, *limiter_);
    register_methods(ctx.cluster);
    register_routes(ctx.admin);
    ctx.admin.add_metrics([this] { return render_metrics(); });
    evacuation_->restore();  // before any listener accepts: refuse from the first CONNECT
    return "";
  }

  void stop() noexcept override {
    methods_.clear();
    rebalance_.reset();
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
                    [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) { reply(json_reply(200, local_status())); },
                    false);
    admin.add_route("GET", "/api/v4/load_rebalance/{node}/status",
                    [this](const plugin::HttpRequest&, const auto& params, plugin::HttpReply reply) {
                      forward_raw(params, "rebalance.status.v1", Json::object(), std::move(reply));
                    },
                    false);
    admin.add_route("POST", "/api/v4/load_rebalance/{node}/start",
                    [this](const plugin::HttpRequest& r, const auto& params, plugin::HttpReply reply) {
                      on_node(params, "rebalance.start.v1", Json{{"body", r.body}}, std::move(reply));
                    },
                    false);
    admin.add_route("POST", "/api/v4/load_rebalance/{node}/stop",
                    [this](const plugin::HttpRequest&, const auto& params, plugin::HttpReply reply) {
                      on_node(params, "rebalance.stop.v1", Json::object(), std::move(reply));
                    },
                    false);
    admin.add_route("POST", "/api/v4/load_rebalance/{node}/plan",
                    [this](const plugin::HttpRequest& r, const auto& params, plugin::HttpReply reply) {
                      forward_raw(params, "rebalance.plan.v1", Json{{"body", r.body}}, [reply](HttpResponse res) {
                        // {"plan": {...}} → {"code":0,"data":{...}}; errors pass through
                        auto j = Json::parse(res.body, nullptr, false);
                        if (j.is_object() && j.contains("plan")) return reply(json_reply(200, Json{{"code", 0}, {"data", j["plan"]}}));
                        reply(std::move(res));
                      });
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
      reply(Json{{"evacuation", evacuation_->fsm().global_entry(evacuation_->recipients())},
                 {"rebalance", rebalance_->fsm().coordinator_entry(ApiVersion::v4)}},
            "");
    }));
    methods_.push_back(cluster.register_method("rebalance.start.v1", [this](const Json& a, plugin::Done reply) {
      auto opts = parse_rebalance_body(a.value("body", std::string("{}")), cluster_view());
      if (!opts) return reply(Json{{"error", opts.error().message}}, "");
      if (!opts->nodes) opts->nodes = cluster_view().available;
      rebalance_->start(*opts, [reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    }));
    methods_.push_back(cluster.register_method("rebalance.stop.v1", [this](const Json&, plugin::Done reply) {
      rebalance_->stop([reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    }));
    methods_.push_back(cluster.register_method("rebalance.status.v1", [this](const Json&, plugin::Done reply) {
      reply(local_status(), "");
    }));
    methods_.push_back(cluster.register_method("rebalance.plan.v1", [this](const Json& a, plugin::Done reply) { plan(a, reply); }));
    rebalance_->register_methods(methods_);
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

  // Runs `method` on the node in the path and answers with its result as is (v4 errors as 200 + code 400).
  void forward_raw(const std::vector<std::pair<std::string, std::string>>& params, const std::string& method, Json args,
                   plugin::HttpReply reply) {
    std::string node;
    for (const auto& [k, v] : params)
      if (k == "node") node = v;
    bool running = false;
    for (const auto& m : ctx_->cluster.members())
      if (m.name == node) running = m.running;
    if (!running) return reply(json_reply(200, Json{{"code", 400}, {"message", "invalid node: " + node}}));
    ctx_->cluster.call(node, method, std::move(args), [reply, node](std::optional<Json> r, std::string error) {
      if (!r) return reply(v4_result(r, node, error));
      if (r->is_object() && r->contains("error")) return reply(json_reply(200, Json{{"code", 400}, {"message", (*r)["error"]}}));
      reply(json_reply(200, *r));
    });
  }

  void global_status(plugin::HttpReply reply) {
    struct Gather {
      Json evacuations = Json::array();
      Json rebalances = Json::array();
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
        if (r && r->is_object() && (*r)["rebalance"].is_object()) g->rebalances.push_back((*r)["rebalance"]);
        if (--g->remaining == 0) g->reply(json_reply(200, Json{{"rebalances", g->rebalances}, {"evacuations", g->evacuations}}));
      });
  }

  // §6.5 precedence: an evacuation of this node, then this node as a donor, then as coordinator.
  Json local_status() const {
    if (evacuation_->enabled()) return evacuation_->fsm().status(evacuation_->recipients());
    if (auto d = rebalance_->donor_status(ApiVersion::v4)) return *d;
    return rebalance_->fsm().local_status(ApiVersion::v4);
  }

  // The dry run: counts of the nodes now, then what a start with these options would move.
  void plan(const Json& a, plugin::Done reply) {
    auto opts = parse_rebalance_body(a.value("body", std::string("{}")), cluster_view());
    if (!opts) return reply(Json{{"error", opts.error().message}}, "");
    std::vector<std::string> nodes = opts->nodes ? *opts->nodes : cluster_view().available;
    struct Gather {
      NodeCountMap counts;
      std::size_t remaining;
      RebalanceOptions options;
      plugin::Done reply;
    };
    auto g = std::make_shared<Gather>(Gather{{}, nodes.size(), *opts, reply});
    if (nodes.empty()) return reply(Json{{"error", "nothing_to_balance"}}, "");
    for (const auto& node : nodes)
      ctx_->cluster.call(node, "rebalance.counts.v1", Json::object(), [g, node](std::optional<Json> r, std::string) {
        if (r && r->is_object()) {
          NodeCounts n;
          n.connections = r->value("connections", std::uint64_t{0});
          n.sessions = r->value("sessions", std::uint64_t{0});
          n.disconnected_sessions = r->value("disconnected_sessions", std::uint64_t{0});
          n.available = r->value("available", true);
          g->counts[node] = n;
        }
        if (--g->remaining > 0) return;
        g->reply(Json{{"plan", to_json(plan_rebalance(g->options, g->counts))}}, "");
      });
  }

  // Prometheus text (issue 5): the state of each process, eviction totals, what is left, the ETA
  // and the migration audit.
  std::string render_metrics() const {
    if (!agent_) return "";
    std::string out;
    auto family = [&](const char* name, const char* type, const char* help) {
      out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
    };
    family("tidemq_rebalance_state", "gauge", "1 for the current state of each process on this node.");
    out += fmt::format("tidemq_rebalance_state{{process=\"evacuation\",state=\"{}\"}} 1\n", to_string(evacuation_->fsm().state()));
    out += fmt::format("tidemq_rebalance_state{{process=\"rebalance\",state=\"{}\"}} 1\n", to_string(rebalance_->fsm().state()));
    const auto& t = agent_->totals();
    family("tidemq_rebalance_connections_evicted_total", "counter", "Connections told to go by the eviction agent.");
    out += fmt::format("tidemq_rebalance_connections_evicted_total {}\n", t.connections_evicted);
    family("tidemq_rebalance_sessions_migrated_total", "counter", "Sessions migrated to other nodes.");
    out += fmt::format("tidemq_rebalance_sessions_migrated_total {}\n", t.sessions_migrated);
    family("tidemq_rebalance_sessions_migration_failed_total", "counter", "Session migration attempts that failed.");
    out += fmt::format("tidemq_rebalance_sessions_migration_failed_total {}\n", t.sessions_failed);
    const bool evicting = agent_->enabled();
    family("tidemq_rebalance_connections_remaining", "gauge", "Connections still on this node while it is evicting.");
    out += fmt::format("tidemq_rebalance_connections_remaining {}\n", evicting ? agent_->connection_count() : 0);
    family("tidemq_rebalance_sessions_remaining", "gauge", "Sessions still on this node while it is evicting.");
    out += fmt::format("tidemq_rebalance_sessions_remaining {}\n", evicting ? agent_->session_count() : 0);
    Progress p = evacuation_->enabled() ? evacuation_->fsm().progress() : rebalance_->fsm().progress();
    family("tidemq_rebalance_eta_seconds", "gauge", "Estimated seconds left in the current phase (-1: unknown or idle).");
    out += fmt::format("tidemq_rebalance_eta_seconds {}\n",
                       p.eta_seconds && (evacuation_->enabled() || rebalance_->fsm().busy()) ? static_cast<std::int64_t>(*p.eta_seconds) : -1);
    const auto audit = ctx_->cluster.migration_audit();
    family("tidemq_rebalance_messages_lost_total", "counter", "Messages missing after a migration (audit; must stay 0).");
    out += fmt::format("tidemq_rebalance_messages_lost_total {}\n", audit.messages_lost);
    family("tidemq_rebalance_migration_audit_mismatches_total", "counter", "Migrated sessions whose message count dropped.");
    out += fmt::format("tidemq_rebalance_migration_audit_mismatches_total {}\n", audit.mismatches);
    return out;
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
  std::unique_ptr<RebalanceCoordinator> rebalance_;
  std::vector<plugin::Registration> methods_;
};

}  // namespace

std::unique_ptr<plugin::Plugin> make_rebalance_plugin() { return std::make_unique<RebalancePlugin>(); }

}  // namespace tidemq::rebalance
