// The node's v4 admin endpoints (EMQX 4 conventions) and /metrics, over core::Broker.
#pragma once

#include <functional>
#include <string>

#include "admin/admin_auth.hpp"
#include "admin/router.hpp"
#include "core/broker.hpp"

namespace tidemq::admin {

struct NodeInfo {
  std::string node_name;
  std::string version;
  util::TimePoint started_at;
};

struct BrokerApiOptions {
  bool metrics_auth = true;
  std::function<std::string()> extra_metrics;  // more Prometheus text (plugins), appended at scrape time
};

void register_broker_api(Router& router, core::Broker& broker, AdminAuth& auth, NodeInfo node,
                         BrokerApiOptions options);

// The JSON shapes shared with the cluster API (which answers them for other nodes too).
nlohmann::json node_entry_json(core::Broker& broker, const NodeInfo& node);  // one /api/v4/nodes entry
nlohmann::json stats_json(core::Broker& broker, const NodeInfo& node);       // one /api/v4/stats entry
nlohmann::json client_json(const core::ClientInfo& c, const std::string& node);

// Prometheus text exposition of the node's counters.
std::string render_metrics(core::Broker& broker, const NodeInfo& node);

}  // namespace tidemq::admin
