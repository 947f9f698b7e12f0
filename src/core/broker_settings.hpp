// The MQTT limits and switches of one node (the `mqtt.*` config keys), as the core sees them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tidemq::core {

struct BrokerSettings {
  std::string node_name = "tidemq@127.0.0.1";
  std::uint32_t max_packet_size = 1048576;   // both directions' limit for what we accept
  std::uint16_t max_inflight = 32;           // our Receive Maximum
  std::size_t max_mqueue_len = 1000;         // per session; when full the oldest message is dropped
  std::uint16_t max_keepalive = 65535;
  std::uint16_t max_topic_alias = 65535;
  bool retain_available = true;
  bool shared_subscription = true;
  bool wildcard_subscription = true;
  std::uint8_t max_qos = 2;
  std::size_t max_connections = 1000000;
  std::uint32_t session_expiry_max = 7200;   // caps v5 Session Expiry; expiry of 3.1.1 persistent sessions
  std::size_t max_clientid_len = 65535;
  std::size_t output_high_water = 256 * 1024;  // stop moving queued messages to a socket past this
};

}  // namespace tidemq::core
