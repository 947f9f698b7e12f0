// One message on its way to one subscription of a session, and the node index that says where a
// delivery came from (the cluster numbers its peers; 0 is this node).
#pragma once

#include <cstdint>

#include "tidemq/core/types.hpp"

namespace tidemq::core {

using NodeIndex = std::uint16_t;  // 0 = this node; 1.. = cluster peers (assigned by the cluster layer)

struct Delivery {
  MessagePtr msg;
  std::uint8_t qos = 0;
  bool retain = false;           // RETAIN flag to send
  std::uint32_t sub_id = 0;      // 0 = none
};

}  // namespace tidemq::core
