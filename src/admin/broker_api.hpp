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
};

void register_broker_api(Router& router, core::Broker& broker, AdminAuth& auth, NodeInfo node,
                         BrokerApiOptions options);

// Prometheus text exposition of the node's counters.
std::string render_metrics(core::Broker& broker, const NodeInfo& node);

}  // namespace tidemq::admin
