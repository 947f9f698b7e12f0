#include "rebalance/rebalance_plugin.hpp"

#include <set>

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
    // The same handlers under v4 and v5 conventions (D1).
    for (ApiVersion api : {ApiVersion::v4, ApiVersion::v5}) {
      const std::string base = api == ApiVersion::v4 ? "/api/v4" : "/api/v5";
      auto node_call = [this, api](const char* method, bool with_body) {
        return [this, api, method, with_body](const plugin::HttpRequest& r, const auto& params, plugin::HttpReply reply) {
          on_node(api, params, method, with_body ? Json{{"body", r.body}} : Json::object(), std::move(reply));
        };
      };
      admin.add_route("POST", base + "/load_rebalance/{node}/evacuation/start", node_call("rebalance.evacuation.start.v1", true), false);
      admin.add_route("POST", base + "/load_rebalance/{node}/evacuation/stop", node_call("rebalance.evacuation.stop.v1", false), false);
      admin.add_route("POST", base + "/load_rebalance/{node}/start", node_call("rebalance.start.v1", true), false);
      admin.add_route("POST", base + "/load_rebalance/{node}/stop", node_call("rebalance.stop.v1", false), false);
      admin.add_route("POST", base + "/load_rebalance/{node}/plan", node_call("rebalance.plan.v1", true), false);
      admin.add_route("GET", base + "/load_rebalance/{node}/status", node_call("rebalance.status.v1", false), false);
      admin.add_route("GET", base + "/load_rebalance/status",
                      [this, api](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                        reply(json_reply(200, local_status(api)));
                      },
                      false);
      admin.add_route("GET", base + "/load_rebalance/global_status",
                      [this, api](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                        global_status(api, std::move(reply));
                      },
                      false);
      admin.add_route("GET", base + "/node_eviction/status",
                      [this](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) { reply(json_reply(200, eviction_status())); },
                      false);
    }
  }

  void register_methods(plugin::ClusterServices& cluster) {
    methods_.push_back(cluster.register_method("rebalance.agent.v1", [this](const Json&, plugin::Done reply) {
      reply(Json{{"enabled", agent_->enabled()}, {"connections", agent_->connection_count()}}, "");
    }));
    methods_.push_back(cluster.register_method("rebalance.evacuation.start.v1", [this](const Json& a, plugin::Done reply) {
      start_evacuation_here(body_of(a), std::move(reply));
    }));
    methods_.push_back(cluster.register_method("rebalance.evacuation.stop.v1", [this](const Json&, plugin::Done reply) {
      evacuation_->stop([reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    }));
    methods_.push_back(cluster.register_method("rebalance.global_entry.v1", [this](const Json& a, plugin::Done reply) {
      reply(Json{{"evacuation", evacuation_->fsm().global_entry(evacuation_->recipients())},
                 {"rebalance", rebalance_->fsm().coordinator_entry(api_of(a))}},
            "");
    }));
    methods_.push_back(cluster.register_method("rebalance.start.v1", [this](const Json& a, plugin::Done reply) {
      with_cluster_view([this, body = body_of(a), reply](ClusterView view) {
        auto opts = parse_rebalance_body(body, view);
        if (!opts) return reply(invalid(opts.error()), "");
        if (!opts->nodes) opts->nodes = view.available;
        rebalance_->start(*opts, [reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
      });
    }));
    methods_.push_back(cluster.register_method("rebalance.stop.v1", [this](const Json&, plugin::Done reply) {
      rebalance_->stop([reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    }));
    methods_.push_back(cluster.register_method("rebalance.status.v1", [this](const Json& a, plugin::Done reply) {
      reply(Json{{"status", local_status(api_of(a))}}, "");
    }));
    methods_.push_back(cluster.register_method("rebalance.plan.v1", [this](const Json& a, plugin::Done reply) { plan(a, reply); }));
    rebalance_->register_methods(methods_);
  }

  static ApiVersion api_of(const Json& a) { return a.value("api", "v4") == "v5" ? ApiVersion::v5 : ApiVersion::v4; }
  static std::string body_of(const Json& a) {
    std::string b = a.value("body", std::string());
    return b.empty() ? "{}" : b;
  }
  // A validation failure, with its v4 text and its v5 code and text.
  static Json invalid(const OptionsError& e) {
    return Json{{"error", e.message},
                {"invalid", true},
                {"malformed", e.code == RebalanceErrc::malformed_body},
                {"v5_code", e.code == RebalanceErrc::nodes_unavailable ? "NOT_FOUND" : "BAD_REQUEST"},
                {"v5_message", v5_message(e)}};
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

  // The view with `available` = running members whose eviction agent is disabled (D12), asked of
  // every running member; a member that does not answer is not available.
  void with_cluster_view(std::function<void(ClusterView)> then) {
    struct Gather {
      ClusterView view;
      std::size_t remaining = 0;
      std::function<void(ClusterView)> then;
    };
    auto g = std::make_shared<Gather>();
    g->then = std::move(then);
    std::vector<std::string> running;
    for (const auto& m : ctx_->cluster.members()) {
      g->view.members.push_back(m.name);
      if (m.running) running.push_back(m.name);
    }
    g->remaining = running.size();
    for (const auto& node : running)
      ctx_->cluster.call(node, "rebalance.agent.v1", Json::object(), [g, node](std::optional<Json> r, std::string) {
        if (r && r->is_object() && !r->value("enabled", true)) g->view.available.push_back(node);
        if (--g->remaining > 0) return;
        std::sort(g->view.available.begin(), g->view.available.end());
        g->then(std::move(g->view));
      });
  }

  void start_evacuation_here(const std::string& body, plugin::Done reply) {
    with_cluster_view([this, body, reply](ClusterView view) {
      auto opts = parse_evacuation_body(body.empty() ? "{}" : body, view);
      if (!opts) return reply(invalid(opts.error()), "");
      evacuation_->start(*opts, [reply](boost::system::error_code ec) { reply(result_json(ec), ""); });
    });
  }

  // The answer to a start/stop/plan/status call on `node`, in the conventions of `api` (D1):
  // v4: 200 {"code":0,"data":[]}, errors 200 {"code":400,"message":...}; v5: 200 {}, errors with
  // real statuses and {"code":"BAD_REQUEST"|"NOT_FOUND"|"RPC_ERROR","message":...}.
  static HttpResponse answer(ApiVersion api, const std::string& node, const std::optional<Json>& r, const std::string& rpc_error) {
    const bool v4 = api == ApiVersion::v4;
    if (!r) {
      if (v4) return json_reply(200, Json{{"code", 400}, {"message", "Error communicating with node '" + node + "'" + (rpc_error.empty() ? "" : ": " + rpc_error)}});
      return json_reply(503, Json{{"code", "RPC_ERROR"}, {"message", "RPC error on node '" + node + "': " + rpc_error}});
    }
    if (r->is_object() && r->contains("error")) {
      const std::string error = (*r)["error"].get<std::string>();
      if (v4 && r->value("malformed", false)) return HttpResponse{400, "Bad Request", "text/plain"};
      if (v4) return json_reply(200, Json{{"code", 400}, {"message", error}});
      if (r->value("invalid", false)) return json_reply(400, Json{{"code", (*r)["v5_code"]}, {"message", (*r)["v5_message"]}});
      return json_reply(400, Json{{"code", "BAD_REQUEST"}, {"message", "error on node '" + node + "': " + error}});
    }
    if (r->is_object() && r->contains("plan")) return json_reply(200, v4 ? Json{{"code", 0}, {"data", (*r)["plan"]}} : (*r)["plan"]);
    if (r->is_object() && r->contains("status")) return json_reply(200, (*r)["status"]);
    return json_reply(200, v4 ? Json{{"code", 0}, {"data", Json::array()}} : Json::object());
  }

  // Runs `method` on the node named in the path (here or over RPC).
  void on_node(ApiVersion api, const std::vector<std::pair<std::string, std::string>>& params, const std::string& method, Json args,
               plugin::HttpReply reply) {
    std::string node;
    for (const auto& [k, v] : params)
      if (k == "node") node = v;
    bool known = false, running = false;
    for (const auto& m : ctx_->cluster.members())
      if (m.name == node) known = true, running = m.running;
    if (!running) {
      if (api == ApiVersion::v5) return reply(json_reply(404, Json{{"code", "NOT_FOUND"}, {"message", "Node not found: " + node}}));
      // v4: a member that is down is unreachable, not unknown (§6.2).
      const std::string message = known ? "Error communicating with node '" + node + "': the node is not running" : "invalid node: " + node;
      return reply(json_reply(200, Json{{"code", 400}, {"message", message}}));
    }
    if (!args.contains("body") && args.is_object()) args["body"] = "";
    args["api"] = api == ApiVersion::v4 ? "v4" : "v5";
    ctx_->cluster.call(node, method, std::move(args), [reply, node, api](std::optional<Json> r, std::string error) {
      reply(answer(api, node, r, error));
    });
  }

  // §6.6 over every running node; a node that has not answered within 2 s is listed under
  // "unreachable" instead of holding the answer up (D14).
  void global_status(ApiVersion api, plugin::HttpReply reply) {
    struct Gather {
      Json evacuations = Json::array();
      Json rebalances = Json::array();
      std::set<std::string> waiting;
      plugin::HttpReply reply;
      ApiVersion api;
      plugin::Registration deadline;
      bool answered = false;
      void finish() {
        if (answered) return;
        answered = true;
        deadline.reset();
        Json body{{"rebalances", rebalances}, {"evacuations", evacuations}};
        if (api == ApiVersion::v5) body["purges"] = Json::array();
        if (!waiting.empty()) body["unreachable"] = Json(std::vector<std::string>(waiting.begin(), waiting.end()));
        reply(json_reply(200, body));
      }
    };
    auto g = std::make_shared<Gather>();
    g->reply = std::move(reply);
    g->api = api;
    for (const auto& m : ctx_->cluster.members())
      if (m.running) g->waiting.insert(m.name);
    g->deadline = ctx_->timers.after(std::chrono::seconds(2), [g] { g->finish(); });
    const std::vector<std::string> nodes(g->waiting.begin(), g->waiting.end());  // `waiting` shrinks as they answer
    for (const auto& node : nodes)
      ctx_->cluster.call(node, "rebalance.global_entry.v1", Json{{"api", api == ApiVersion::v5 ? "v5" : "v4"}},
                         [g, node](std::optional<Json> r, std::string) {
                           if (g->answered) return;
                           if (!r) return;  // stays in `waiting`: reported unreachable at the deadline
                           g->waiting.erase(node);
                           if (r->is_object() && (*r)["evacuation"].is_object()) g->evacuations.push_back((*r)["evacuation"]);
                           if (r->is_object() && (*r)["rebalance"].is_object()) g->rebalances.push_back((*r)["rebalance"]);
                           if (g->waiting.empty()) g->finish();
                         });
  }

  // §6.5 precedence: an evacuation of this node, then this node as a donor, then as coordinator.
  Json local_status(ApiVersion api) const {
    if (evacuation_->enabled()) return evacuation_->fsm().status(evacuation_->recipients());
    if (auto d = rebalance_->donor_status(api)) return *d;
    return rebalance_->fsm().local_status(api);
  }

  // The dry run: counts of the nodes now, then what a start with these options would move.
  void plan(const Json& a, plugin::Done reply) {
    auto opts = parse_rebalance_body(body_of(a), cluster_view());
    if (!opts) return reply(invalid(opts.error()), "");
    std::vector<std::string> nodes = opts->nodes ? *opts->nodes : cluster_view().available;  // running members
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
