#include "rebalance/rpc/node_methods.hpp"

#include <algorithm>

#include "rebalance/core/erlang_format.hpp"
#include "rebalance/core/rebalance_plan.hpp"

namespace tidemq::rebalance {

namespace {

using plugin::Json;

ApiVersion api_of(const Json& a) { return a.value("api", "v4") == "v5" ? ApiVersion::v5 : ApiVersion::v4; }

std::string body_of(const Json& a) {
  std::string b = a.value("body", std::string());
  return b.empty() ? "{}" : b;
}

// A validation failure, with its v4 text and its v5 code and text.
Json invalid(const OptionsError& e) {
  return Json{{"error", e.message},
              {"invalid", true},
              {"malformed", e.code == RebalanceErrc::malformed_body},
              {"v5_code", e.code == RebalanceErrc::nodes_unavailable ? "NOT_FOUND" : "BAD_REQUEST"},
              {"v5_message", v5_message(e)}};
}

// {"ok":true} or {"error":"<token or message>"} — what a node answers to a start/stop.
Json result_json(boost::system::error_code ec) {
  if (!ec) return Json{{"ok", true}};
  return Json{{"error", ec.category() == rebalance_category() ? std::string(to_token(static_cast<RebalanceErrc>(ec.value())))
                                                               : ec.message()}};
}

// Answers a start/stop call once the coordinator has.
auto answer_with_result(plugin::Done reply) {
  return [reply = std::move(reply)](boost::system::error_code ec) { reply(result_json(ec), ""); };
}

ClusterView cluster_view(plugin::ClusterServices& cluster) {
  ClusterView v;
  for (const auto& m : cluster.members()) {
    v.members.push_back(m.name);
    if (m.running) v.available.push_back(m.name);
  }
  return v;
}

// The view with `available` = running members whose eviction agent is disabled, asked of
// every running member; a member that does not answer is not available.
void with_cluster_view(plugin::ClusterServices& cluster, std::function<void(ClusterView)> then) {
  struct Gather {
    ClusterView view;
    std::size_t remaining = 0;
    std::function<void(ClusterView)> then;
  };
  auto g = std::make_shared<Gather>();
  g->then = std::move(then);
  std::vector<std::string> running;
  for (const auto& m : cluster.members()) {
    g->view.members.push_back(m.name);
    if (m.running) running.push_back(m.name);
  }
  g->remaining = running.size();
  for (const auto& node : running)
    cluster.call(node, "rebalance.agent.v1", Json::object(), [g, node](std::optional<Json> r, std::string) {
      if (r && r->is_object() && !r->value("enabled", true)) g->view.available.push_back(node);
      if (--g->remaining > 0) return;
      std::sort(g->view.available.begin(), g->view.available.end());
      g->then(std::move(g->view));
    });
}

void start_evacuation_here(PluginParts& parts, const std::string& body, plugin::Done reply) {
  with_cluster_view(parts.ctx->cluster, [&parts, body, reply](ClusterView view) {
    auto opts = parse_evacuation_body(body, view);
    if (!opts) return reply(invalid(opts.error()), "");
    // The node cannot take its own sessions: a migrate_to naming it is a mistake, said so.
    const std::string self = parts.ctx->cluster.self();
    if (opts->migrate_to && std::find(opts->migrate_to->begin(), opts->migrate_to->end(), self) != opts->migrate_to->end())
      return reply(invalid(OptionsError{RebalanceErrc::invalid_options,
                                        "migrate_to contains the evacuated node itself: " + erl_atom(self), {}}),
                   "");
    parts.evacuation->start(*opts, answer_with_result(reply));
  });
}

void start_rebalance_here(PluginParts& parts, const std::string& body, plugin::Done reply) {
  with_cluster_view(parts.ctx->cluster, [&parts, body, reply](ClusterView view) {
    auto opts = parse_rebalance_body(body, view);
    if (!opts) return reply(invalid(opts.error()), "");
    if (!opts->nodes) opts->nodes = view.available;
    parts.rebalance->start(*opts, answer_with_result(reply));
  });
}

// The dry run: counts of the nodes now, then what a start with these options would move.
void plan(plugin::ClusterServices& cluster, const Json& a, plugin::Done reply) {
  auto opts = parse_rebalance_body(body_of(a), cluster_view(cluster));
  if (!opts) return reply(invalid(opts.error()), "");
  std::vector<std::string> nodes = opts->nodes ? *opts->nodes : cluster_view(cluster).available;  // running members
  struct Gather {
    NodeCountMap counts;
    std::size_t remaining;
    RebalanceOptions options;
    plugin::Done reply;
  };
  auto g = std::make_shared<Gather>(Gather{{}, nodes.size(), *opts, reply});
  if (nodes.empty()) return reply(Json{{"error", "nothing_to_balance"}}, "");
  for (const auto& node : nodes)
    cluster.call(node, "rebalance.counts.v1", Json::object(), [g, node](std::optional<Json> r, std::string) {
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

}  // namespace

std::vector<plugin::Registration> register_node_methods(plugin::ClusterServices& cluster, PluginParts& parts) {
  std::vector<plugin::Registration> out;
  auto add = [&](const char* method, std::function<void(const Json&, plugin::Done)> handler) {
    out.push_back(cluster.register_method(method, std::move(handler)));
  };
  add("rebalance.agent.v1", [&parts](const Json&, plugin::Done reply) {
    Json r = parts.peers->local_report(parts.agent->enabled());
    r["connections"] = parts.agent->connection_count();
    reply(r, "");
  });
  add("rebalance.evacuation.start.v1",
      [&parts](const Json& a, plugin::Done reply) { start_evacuation_here(parts, body_of(a), std::move(reply)); });
  add("rebalance.evacuation.stop.v1",
      [&parts](const Json&, plugin::Done reply) { parts.evacuation->stop(answer_with_result(std::move(reply))); });
  add("rebalance.global_entry.v1", [&parts](const Json& a, plugin::Done reply) {
    reply(Json{{"evacuation", parts.evacuation->fsm().global_entry(parts.session_recipients())},
               {"rebalance", parts.rebalance->fsm().coordinator_entry(api_of(a))}},
          "");
  });
  add("rebalance.start.v1", [&parts](const Json& a, plugin::Done reply) { start_rebalance_here(parts, body_of(a), std::move(reply)); });
  add("rebalance.stop.v1", [&parts](const Json&, plugin::Done reply) { parts.rebalance->stop(answer_with_result(std::move(reply))); });
  add("rebalance.status.v1", [&parts](const Json& a, plugin::Done reply) { reply(Json{{"status", parts.local_status(api_of(a))}}, ""); });
  add("rebalance.plan.v1", [&parts](const Json& a, plugin::Done reply) { plan(parts.ctx->cluster, a, std::move(reply)); });
  parts.rebalance->register_methods(out);
  return out;
}

}  // namespace tidemq::rebalance
