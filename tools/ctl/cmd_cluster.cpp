// tidemq_ctl cluster status | join <node> | leave — like emqx_ctl cluster:
//   Cluster status: #{running_nodes => ['tidemq1@127.0.0.1','tidemq2@127.0.0.2']}
//   Cluster status: #{running_nodes => ['tidemq1@127.0.0.1'],stopped_nodes => ['tidemq3@127.0.0.3']}
// (stopped_nodes only when some member is down), through GET /api/v4/cluster and
// POST /api/v4/cluster/join|leave. A failed join or leave prints "Failed to join the cluster: <why>"
// (resp. leave) on stderr and exits 1.
#include <algorithm>
#include <cctype>
#include <chrono>
#include <iostream>
#include <memory>
#include <thread>
#include <vector>

#include <CLI/CLI.hpp>

#include "ctl.hpp"

namespace tidemq::ctl {

using nlohmann::json;

namespace {

std::vector<std::string> node_names(const json& data, const char* key) {
  std::vector<std::string> out;
  if (!data.contains(key)) return out;
  const auto& arr = data[key];
  if (!arr.is_array()) throw Failure("unexpected answer from /api/v4/cluster");
  for (const auto& n : arr) out.push_back(text(n));
  std::sort(out.begin(), out.end());
  return out;
}

std::string quoted_list(const std::vector<std::string>& names) {
  std::string out = "[";
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i) out += ',';
    out += '\'' + names[i] + '\'';
  }
  return out + "]";
}

struct ClusterStatus {
  std::vector<std::string> running, stopped;
};

ClusterStatus cluster_status(Api& api) {
  auto doc = api.get("/api/v4/cluster");
  const auto& data = doc["data"];
  if (!data.is_object() || !data.contains("running_nodes")) throw Failure("unexpected answer from /api/v4/cluster");
  return {node_names(data, "running_nodes"), node_names(data, "stopped_nodes")};
}

std::string status_line(const ClusterStatus& s) {
  std::string line = "Cluster status: #{running_nodes => " + quoted_list(s.running);
  if (!s.stopped.empty()) line += ",stopped_nodes => " + quoted_list(s.stopped);
  return line + "}";
}

// "tidemq2@127.0.0.2:4371" -> "tidemq2@127.0.0.2" (the member name, without the cluster port).
std::string member_name(const std::string& node) {
  auto at = node.find('@');
  auto colon = node.rfind(':');
  if (at == std::string::npos || colon == std::string::npos || colon < at || colon + 1 == node.size()) return node;
  if (!std::all_of(node.begin() + static_cast<std::ptrdiff_t>(colon) + 1, node.end(),
                   [](unsigned char c) { return std::isdigit(c) != 0; }))
    return node;
  return node.substr(0, colon);
}

}  // namespace

void add_cluster_commands(CLI::App& app, Context& ctx) {
  auto* group = app.add_subcommand("cluster", "cluster membership: status, join, leave");
  group->require_subcommand(1);

  auto* status = group->add_subcommand("status", "running (and stopped) members of the node's cluster");
  status->callback([&ctx] {
    ctx.action = [](Api& api) { std::cout << status_line(cluster_status(api)) << "\n"; };
  });

  auto join_node = std::make_shared<std::string>();
  auto* join = group->add_subcommand("join", "make the node join the cluster of another node");
  join->add_option("node", *join_node, "a member of the cluster to join: name@host[:cluster port]")->required();
  join->callback([&ctx, join_node] {
    ctx.action = [join_node](Api& api) {
      try {
        api.post("/api/v4/cluster/join", json{{"node", *join_node}});
      } catch (const Failure& e) {
        throw PlainFailure(std::string("Failed to join the cluster: ") + e.what());
      }
      std::cout << "Join the cluster successfully.\n";
      // Membership settles asynchronously: give the new member a moment to show up as running.
      const std::string name = member_name(*join_node);
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      ClusterStatus s = cluster_status(api);
      while (std::find(s.running.begin(), s.running.end(), name) == s.running.end() &&
             std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        s = cluster_status(api);
      }
      std::cout << status_line(s) << "\n";
    };
  });

  auto* leave = group->add_subcommand("leave", "make the node leave its cluster (it keeps running alone)");
  leave->callback([&ctx] {
    ctx.action = [](Api& api) {
      try {
        api.post("/api/v4/cluster/leave", json::object());
      } catch (const Failure& e) {
        throw PlainFailure(std::string("Failed to leave the cluster: ") + e.what());
      }
      std::cout << "Leave the cluster successfully.\n";
    };
  });
}

}  // namespace tidemq::ctl
