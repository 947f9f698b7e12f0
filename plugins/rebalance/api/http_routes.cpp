#include "rebalance/api/http_routes.hpp"

#include <set>

#include "rebalance/core/options.hpp"

namespace tidemq::rebalance {

namespace {

using plugin::HttpResponse;
using plugin::Json;

// Node names come from the request path, percent-decoded: any bytes. Invalid UTF-8 is replaced in
// the answer (as the broker's admin routes do) instead of making dump() throw (a 500).
HttpResponse json_reply(int status, const Json& j) {
  return HttpResponse{status, j.dump(-1, ' ', false, Json::error_handler_t::replace), "application/json"};
}

// The answer to a start/stop/plan/status call on `node`, in the conventions of `api`
// (docs/rebalance.md, "v4 replies and errors", "v5 replies and errors"):
// v4: 200 {"code":0,"data":[]}, errors 200 {"code":400,"message":...}; v5: 200 {}, errors with
// real statuses and {"code":"BAD_REQUEST"|"NOT_FOUND"|"RPC_ERROR","message":...}.
HttpResponse answer(ApiVersion api, const std::string& node, const std::optional<Json>& r, const std::string& rpc_error) {
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

// v5 validates in the order schema → path node → node list → RPC. The body's schema is
// checked here, before the path node, with every node name it gives taken as a known, available
// node, so that only schema failures (wrong types, bad values, unknown fields, empty lists) show.
std::optional<OptionsError> schema_error(const std::string& method, const std::string& body) {
  const bool evacuation = method == "rebalance.evacuation.start.v1";
  if (!evacuation && method != "rebalance.start.v1" && method != "rebalance.plan.v1") return std::nullopt;
  ClusterView everyone;
  auto doc = nlohmann::ordered_json::parse(body.empty() ? std::string_view("{}") : std::string_view(body), nullptr, false);
  if (doc.is_object())
    for (const char* key : {"nodes", "migrate_to"})
      if (doc.contains(key) && doc[key].is_array())
        for (const auto& n : doc[key])
          if (n.is_string()) everyone.members.push_back(n.get<std::string>());
  everyone.available = everyone.members;
  if (evacuation) {
    auto r = parse_evacuation_body(body, everyone);
    if (!r) return r.error();
  } else {
    auto r = parse_rebalance_body(body, everyone);
    if (!r) return r.error();
  }
  return std::nullopt;
}

// Runs `method` on the node named in the path (here or over RPC).
void on_node(plugin::ClusterServices& cluster, ApiVersion api, const std::vector<std::pair<std::string, std::string>>& params,
             const std::string& method, Json args, plugin::HttpReply reply) {
  std::string node;
  for (const auto& [k, v] : params)
    if (k == "node") node = v;
  bool known = false, running = false;
  for (const auto& m : cluster.members())
    if (m.name == node) known = true, running = m.running;
  if (!running) {
    if (api == ApiVersion::v5) {
      if (auto e = schema_error(method, args.value("body", std::string())))
        return reply(json_reply(400, Json{{"code", "BAD_REQUEST"}, {"message", v5_message(*e)}}));
      return reply(json_reply(404, Json{{"code", "NOT_FOUND"}, {"message", "Node not found: " + node}}));
    }
    // v4: a member that is down is unreachable, not unknown.
    const std::string message = known ? "Error communicating with node '" + node + "': the node is not running" : "invalid node: " + node;
    return reply(json_reply(200, Json{{"code", 400}, {"message", message}}));
  }
  if (!args.contains("body") && args.is_object()) args["body"] = "";
  args["api"] = api == ApiVersion::v4 ? "v4" : "v5";
  cluster.call(node, method, std::move(args), [reply, node, api](std::optional<Json> r, std::string error) {
    reply(answer(api, node, r, error));
  });
}

// docs/rebalance.md, "Global status": every running node; a node that has not answered within
// 2 s is listed under "unreachable" instead of holding the answer up.
void global_status(plugin::PluginContext& ctx, ApiVersion api, plugin::HttpReply reply) {
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
  for (const auto& m : ctx.cluster.members())
    if (m.running) g->waiting.insert(m.name);
  g->deadline = ctx.timers.after(std::chrono::seconds(2), [g] { g->finish(); });
  const std::vector<std::string> nodes(g->waiting.begin(), g->waiting.end());  // `waiting` shrinks as they answer
  for (const auto& node : nodes)
    ctx.cluster.call(node, "rebalance.global_entry.v1", Json{{"api", api == ApiVersion::v5 ? "v5" : "v4"}},
                     [g, node](std::optional<Json> r, std::string) {
                       if (g->answered) return;
                       if (!r) return;  // stays in `waiting`: reported unreachable at the deadline
                       g->waiting.erase(node);
                       if (r->is_object() && (*r)["evacuation"].is_object()) g->evacuations.push_back((*r)["evacuation"]);
                       if (r->is_object() && (*r)["rebalance"].is_object()) g->rebalances.push_back((*r)["rebalance"]);
                       if (g->waiting.empty()) g->finish();
                     });
}

}  // namespace

void register_http_routes(plugin::AdminServices& admin, const PluginParts& parts) {
  // Load balancers probe this (docs/rebalance.md, "availability_check"): public, 200 while the agent
  // is disabled, 503 while enabled.
  admin.add_route("GET", "/api/v4/load_rebalance/availability_check",
                  [&parts](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                    reply(json_reply(parts.agent && parts.agent->enabled() ? 503 : 200, Json::object()));
                  },
                  /*is_public=*/true);
  admin.add_route("GET", "/api/v5/load_rebalance/availability_check",
                  [&parts](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                    if (parts.agent && parts.agent->enabled())
                      return reply(json_reply(503, Json{{"code", "NODE_EVACUATING"}, {"message", "Node Evacuating"}}));
                    reply(json_reply(200, Json::object()));
                  },
                  /*is_public=*/true);
  // The same handlers under v4 and v5 conventions.
  for (ApiVersion api : {ApiVersion::v4, ApiVersion::v5}) {
    const std::string base = api == ApiVersion::v4 ? "/api/v4" : "/api/v5";
    auto node_call = [&parts, api](const char* method, bool with_body) {
      return [&parts, api, method, with_body](const plugin::HttpRequest& r, const auto& params, plugin::HttpReply reply) {
        on_node(parts.ctx->cluster, api, params, method, with_body ? Json{{"body", r.body}} : Json::object(), std::move(reply));
      };
    };
    admin.add_route("POST", base + "/load_rebalance/{node}/evacuation/start", node_call("rebalance.evacuation.start.v1", true), false);
    admin.add_route("POST", base + "/load_rebalance/{node}/evacuation/stop", node_call("rebalance.evacuation.stop.v1", false), false);
    admin.add_route("POST", base + "/load_rebalance/{node}/start", node_call("rebalance.start.v1", true), false);
    admin.add_route("POST", base + "/load_rebalance/{node}/stop", node_call("rebalance.stop.v1", false), false);
    admin.add_route("POST", base + "/load_rebalance/{node}/plan", node_call("rebalance.plan.v1", true), false);
    admin.add_route("GET", base + "/load_rebalance/{node}/status", node_call("rebalance.status.v1", false), false);
    admin.add_route("GET", base + "/load_rebalance/status",
                    [&parts, api](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      reply(json_reply(200, parts.local_status(api)));
                    },
                    false);
    admin.add_route("GET", base + "/load_rebalance/global_status",
                    [&parts, api](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      global_status(*parts.ctx, api, std::move(reply));
                    },
                    false);
    admin.add_route("GET", base + "/node_eviction/status",
                    [&parts](const plugin::HttpRequest&, const auto&, plugin::HttpReply reply) {
                      reply(json_reply(200, parts.eviction_status()));
                    },
                    false);
  }
}

}  // namespace tidemq::rebalance
