// Value types shared by the broker core, the cluster and plugins: messages, disconnect reasons,
// admission decisions and the self-contained SessionSnapshot used to move a session between nodes.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "tidemq/mqtt/packets.hpp"
#include "tidemq/util/clock.hpp"

namespace tidemq::core {

using ClientId = std::string;

// An application message as it travels through the broker. Immutable once published and shared
// by every subscriber it is delivered to (fan-out copies a pointer, not the payload).
struct Message {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  mqtt::Properties props;  // publish properties without topic alias and subscription ids
  ClientId publisher;      // for No Local
  std::optional<util::TimePoint> expires_at;
  std::uint64_t uid = 0;  // cluster-unique id, for de-duplication during session handoff
};
using MessagePtr = std::shared_ptr<const Message>;

// A fresh cluster-unique message id (random per-thread base + counter); never 0.
std::uint64_t new_message_uid();
// Replaces this thread's base (deterministic simulation: a seed replays the same ids).
void set_message_uid_base(std::uint64_t base);

// Why the server ends a connection (DISCONNECT reason code + optional Server Reference).
struct DisconnectInfo {
  std::uint8_t reason = 0;
  std::optional<std::string> server_reference;
};

// What the admission hook sees of a CONNECT (before authentication).
struct AdmissionRequest {
  const ClientId& client_id;
  std::uint8_t protocol_level;
  const std::optional<std::string>& username;
  const std::string& peer_address;
};

// A refusal from the admission hook: v5 CONNACK reason code (+ Server Reference); 3.1.1 clients
// get the closest return code (0x9C Use another server → 3 Server unavailable).
struct AdmissionRefusal {
  std::uint8_t reason = 0;
  std::optional<std::string> server_reference;
};

// ---- SessionSnapshot: everything a session holds, as plain values ---------------------------

struct SubscriptionSnapshot {
  std::string filter;  // as subscribed, including a "$share/<group>/" prefix
  mqtt::SubscribeOptions options;
  std::uint32_t subscription_id = 0;  // 0 = none
  bool operator==(const SubscriptionSnapshot&) const = default;
};

struct MessageSnapshot {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;        // the delivery QoS (after downgrade to the subscription's)
  bool retain = false;         // the RETAIN flag to send
  mqtt::Properties props;
  std::string publisher;
  std::optional<std::uint32_t> expiry_remaining;  // seconds left of Message Expiry Interval
  std::vector<std::uint32_t> subscription_ids;
  std::uint64_t uid = 0;       // Message::uid, so that a moved session can drop duplicates
  bool operator==(const MessageSnapshot&) const = default;
};

struct InflightSnapshot {
  std::uint16_t packet_id = 0;
  bool pubrel_sent = false;  // QoS 2: PUBREC received, waiting for PUBCOMP
  MessageSnapshot message;
  bool operator==(const InflightSnapshot&) const = default;
};

// What the admin API shows about a session's current or last connection. It moves with the
// session, so that a session migrated to another node reads the same there.
struct ClientDetails {
  std::optional<std::string> username;
  std::string peer_address;             // "ip:port" of the current or last connection; "" = unknown
  std::uint16_t keep_alive = 0;         // seconds, after the server's cap
  bool clean_start = false;             // of the current or last CONNECT
  std::int64_t connected_at_ms = 0;     // wall clock, ms since the Unix epoch; 0 = unknown
  std::int64_t disconnected_at_ms = 0;  // 0 = connected or unknown
  std::int64_t created_at_ms = 0;       // when the session began; 0 = unknown
  bool operator==(const ClientDetails&) const = default;
};

struct SessionSnapshot {
  ClientId client_id;
  std::uint8_t protocol_level = mqtt::kV5;
  std::vector<SubscriptionSnapshot> subscriptions;
  std::vector<InflightSnapshot> inflight;         // in send order
  std::vector<MessageSnapshot> queue;             // not yet sent, in order
  std::vector<std::uint16_t> incoming_qos2;       // QoS 2 ids received, waiting for PUBREL
  std::uint16_t next_packet_id = 1;
  std::optional<mqtt::Will> will;                 // a will still pending (delayed)
  std::uint32_t will_delay_remaining = 0;         // seconds left before that will is due
  std::uint32_t expiry_interval = 0;              // Session Expiry Interval (seconds)
  std::optional<std::uint32_t> expiry_remaining;  // seconds left when offline
  ClientDetails client;                           // all zero from a node that predates it
  bool operator==(const SessionSnapshot&) const = default;
};

void to_json(nlohmann::json& j, const SessionSnapshot& s);
void from_json(const nlohmann::json& j, SessionSnapshot& s);

}  // namespace tidemq::core
