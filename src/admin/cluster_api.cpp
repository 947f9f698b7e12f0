#include "admin/cluster_api.hpp"

#include <memory>

#include "admin/cluster_kick.hpp"

namespace tidemq::admin {

using nlohmann::json;

namespace {

json stopped_entry(const std::string& name) { return json{{"node", name}, {"node_status", "Stopped"}}; }

// Collects one answer per member (in member order) and replies once all have answered.
void gather_nodes(cluster::Cluster& cluster, core::Broker& broker, const NodeInfo& node,
                  std::vector<cluster::Member> members, std::function<void(json)> done) {
  struct State {
    json entries;
    std::size_t remaining;
    std::function<void(json)> done;
  };
  auto st = std::make_shared<State>(State{json::array(), members.size(), std::move(done)});
  for (std::size_t i = 0; i < members.size(); ++i) st->entries.push_back(nullptr);
  auto finish_one = [st](std::size_t i, json entry) {
    st->entries[i] = std::move(entry);
    if (--st->remaining == 0) st->done(std::move(st->entries));
  };
  for (std::size_t i = 0; i < members.size(); ++i) {
    const auto& m = members[i];
    if (m.self) {
      finish_one(i, node_entry_json(broker, node));
    } else if (!m.running) {
      finish_one(i, stopped_entry(m.name));
    } else {
      cluster.call(m.name, "node.info.v1", json::object(), [finish_one, i, name = m.name](std::optional<json> r, std::string) {
        finish_one(i, r ? std::move(*r) : stopped_entry(name));
      });
    }
  }
}

// The HTTP status of a session migration that did not happen: no such session, a refusal that
// the node's state explains (the client is connected, or clustering is off), or the cluster failed.
int migration_error_status(const std::string& error) {
  if (error.starts_with("no session")) return 404;
  if (error.find("connected") != std::string::npos || error == cluster::Cluster::kClusteringOff) return 409;
  return 502;
}

std::optional<cluster::Member> find_member(cluster::Cluster& cluster, const std::string& name) {
  for (auto& m : cluster.members())
    if (m.name == name) return m;
  return std::nullopt;
}

}  // namespace

void register_cluster_api(Router& router, cluster::Cluster& cluster, core::Broker& broker, NodeInfo node) {
  cluster.register_method("node.info.v1", [&broker, node](const json&) { return node_entry_json(broker, node); });
  cluster.register_method("node.stats.v1", [&broker, node](const json&) { return stats_json(broker, node); });
  cluster.register_method("client.info.v1", [&broker, node](const json& a) -> json {
    auto info = broker.registry().info(a.at("c").get<std::string>());
    return info ? client_json(*info, node.node_name) : json();
  });

  router.add_async("GET", "/api/v4/nodes", [&cluster, &broker, node](const HttpRequest&, const Params&, Reply reply) {
    gather_nodes(cluster, broker, node, cluster.members(), [reply](json entries) { reply(v4_ok(std::move(entries))); });
  });
  router.add_async("GET", "/api/v4/nodes/{node}", [&cluster, &broker, node](const HttpRequest&, const Params& p, Reply reply) {
    auto m = find_member(cluster, p.at("node"));
    if (!m) return reply(v4_error(404, "node not found: " + p.at("node")));
    gather_nodes(cluster, broker, node, {*m}, [reply](json entries) { reply(v4_ok(std::move(entries[0]))); });
  });
  router.add_async("GET", "/api/v4/nodes/{node}/stats", [&cluster, &broker, node](const HttpRequest&, const Params& p, Reply reply) {
    auto m = find_member(cluster, p.at("node"));
    if (!m) return reply(v4_error(404, "node not found: " + p.at("node")));
    if (m->self) return reply(v4_ok(stats_json(broker, node)));
    if (!m->running) return reply(v4_error(503, "node " + m->name + " is not running"));
    cluster.call(m->name, "node.stats.v1", json::object(), [reply](std::optional<json> r, std::string error) {
      reply(r ? v4_ok(std::move(*r)) : v4_error(502, error));
    });
  });
  router.add_async("GET", "/api/v4/clients/{clientid}", [&cluster, &broker, node](const HttpRequest&, const Params& p, Reply reply) {
    const std::string cid = p.at("clientid");
    if (auto info = broker.registry().info(cid)) return reply(v4_ok(json::array({client_json(*info, node.node_name)})));
    cluster.find_client(cid, [&cluster, cid, reply](std::string owner, std::string error) {
      if (!error.empty()) return reply(v4_error(502, "cannot look the client up: " + error));
      if (owner.empty() || owner == cluster.self()) return reply(v4_ok(json::array()));
      cluster.call(owner, "client.info.v1", json{{"c", cid}}, [reply](std::optional<json> r, std::string error) {
        if (!r) return reply(v4_error(502, error));
        reply(v4_ok(r->is_null() ? json::array() : json::array({std::move(*r)})));
      });
    });
  });
  register_cluster_kick(router, cluster, broker);
  // Moves an offline session from this node to another (the primitive evacuation and rebalance use).
  router.add_async("POST", "/api/v4/clients/{clientid}/migrate", [&cluster](const HttpRequest& r, const Params& p, Reply reply) {
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("node") || !body["node"].is_string())
      return reply(v4_error(400, "'node' (string, the target node name) is required"));
    const std::string target = body["node"].get<std::string>();
    if (!find_member(cluster, target)) return reply(v4_error(404, "node not found: " + target));
    cluster.migrate_sessions({p.at("clientid")}, target, [reply](cluster::MigrationFailures failed) {
      if (failed.empty()) return reply(json_response(200, {{"code", 0}}));
      const std::string& error = failed.front().second;
      reply(v4_error(migration_error_status(error), error));
    });
  });
  router.add("GET", "/api/v4/routes", [&cluster](const HttpRequest&, const Params&) {
    json data = json::array();
    for (auto& [filter, owner] : cluster.routes()) data.push_back({{"topic", filter}, {"node", owner}});
    return v4_ok(data);
  });
  router.add("GET", "/api/v4/cluster", [&cluster](const HttpRequest&, const Params&) {
    json running = json::array(), stopped = json::array();
    for (const auto& m : cluster.members()) (m.running ? running : stopped).push_back(m.name);
    return v4_ok({{"running_nodes", running}, {"stopped_nodes", stopped}});
  });
  router.add_async("POST", "/api/v4/cluster/join", [&cluster](const HttpRequest& r, const Params&, Reply reply) {
    json body = json::parse(r.body, nullptr, false);
    if (!body.is_object() || !body.contains("node") || !body["node"].is_string())
      return reply(v4_error(400, "'node' (string, name@host[:port]) is required"));
    cluster.join(body["node"].get<std::string>(), [reply](std::string error) {
      if (error.empty()) return reply(json_response(200, {{"code", 0}}));
      const bool bad_input = error.starts_with("bad node name") || error.starts_with("cannot join this node");
      reply(v4_error(bad_input ? 400 : error == cluster::Cluster::kClusteringOff ? 409 : 502, error));
    });
  });
  router.add("POST", "/api/v4/cluster/leave", [&cluster](const HttpRequest&, const Params&) {
    if (auto error = cluster.leave(); !error.empty()) return v4_error(409, error);
    return json_response(200, {{"code", 0}});
  });
}

}  // namespace tidemq::admin
