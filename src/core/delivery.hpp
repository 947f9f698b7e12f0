// One message on its way to a session (one copy for all its matching subscriptions, or for one
// shared subscription), and the node index that says where a delivery came from (the cluster
// numbers its peers; 0 is this node).
#pragma once

#include <cstdint>

#include "core/subscription_ids.hpp"
#include "tidemq/core/types.hpp"

namespace tidemq::core {

using NodeIndex = std::uint16_t;  // 0 = this node; 1.. = cluster peers (assigned by the cluster layer)

struct Delivery {
  MessagePtr msg;
  std::uint8_t qos = 0;
  bool retain = false;           // RETAIN flag to send
  SubscriptionIds sub_ids;       // of every subscription this one copy stands for (MQTT 5)
};

}  // namespace tidemq::core
