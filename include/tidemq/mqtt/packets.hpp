// MQTT 3.1.1 / 5.0 packets as plain value types. No I/O, no Asio: the codec and the
// per-client protocol logic work on these, so they can be unit-tested with byte vectors.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace tidemq::mqtt {

// Protocol levels carried in CONNECT. MQTT 3.1 ("MQIsdp", level 3) is treated as 3.1.1.
inline constexpr std::uint8_t kV31 = 3;
inline constexpr std::uint8_t kV311 = 4;
inline constexpr std::uint8_t kV5 = 5;

enum class PacketType : std::uint8_t {
  connect = 1, connack, publish, puback, pubrec, pubrel, pubcomp,
  subscribe, suback, unsubscribe, unsuback, pingreq, pingresp, disconnect, auth
};

using UserProperties = std::vector<std::pair<std::string, std::string>>;

// MQTT 5 properties. Absent means "not sent". Only the properties legal for a packet
// type are accepted by the decoder (others are a protocol error).
struct Properties {
  std::optional<std::uint8_t> payload_format;
  std::optional<std::uint32_t> message_expiry;
  std::optional<std::string> content_type;
  std::optional<std::string> response_topic;
  std::optional<std::string> correlation_data;
  std::vector<std::uint32_t> subscription_ids;
  std::optional<std::uint32_t> session_expiry;
  std::optional<std::string> assigned_client_id;
  std::optional<std::uint16_t> server_keep_alive;
  std::optional<std::string> auth_method;
  std::optional<std::string> auth_data;
  std::optional<std::uint8_t> request_problem_info;
  std::optional<std::uint32_t> will_delay;
  std::optional<std::uint8_t> request_response_info;
  std::optional<std::string> response_info;
  std::optional<std::string> server_reference;
  std::optional<std::string> reason_string;
  std::optional<std::uint16_t> receive_maximum;
  std::optional<std::uint16_t> topic_alias_maximum;
  std::optional<std::uint16_t> topic_alias;
  std::optional<std::uint8_t> maximum_qos;
  std::optional<std::uint8_t> retain_available;
  UserProperties user_properties;
  std::optional<std::uint32_t> maximum_packet_size;
  std::optional<std::uint8_t> wildcard_sub_available;
  std::optional<std::uint8_t> sub_id_available;
  std::optional<std::uint8_t> shared_sub_available;

  bool operator==(const Properties&) const = default;
};

struct Will {
  std::string topic;
  std::string payload;
  std::uint8_t qos = 0;
  bool retain = false;
  Properties props;
  bool operator==(const Will&) const = default;
};

struct Connect {
  std::string protocol_name = "MQTT";
  std::uint8_t protocol_level = kV311;
  bool clean_start = true;
  std::uint16_t keep_alive = 60;
  std::string client_id;
  std::optional<Will> will;
  std::optional<std::string> username;
  std::optional<std::string> password;
  Properties props;
  bool operator==(const Connect&) const = default;
};

struct Connack {
  bool session_present = false;
  std::uint8_t reason = 0;  // v5 reason code, or v3.1.1 return code
  Properties props;
  bool operator==(const Connack&) const = default;
};

struct Publish {
  bool dup = false;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string topic;
  std::uint16_t packet_id = 0;
  Properties props;
  std::string payload;
  bool operator==(const Publish&) const = default;
};

// PUBACK, PUBREC, PUBREL and PUBCOMP share one shape.
struct PubResponse {
  PacketType type = PacketType::puback;
  std::uint16_t packet_id = 0;
  std::uint8_t reason = 0;
  Properties props;
  bool operator==(const PubResponse&) const = default;
};

struct SubscribeOptions {
  std::uint8_t qos = 0;
  bool no_local = false;
  bool retain_as_published = false;
  std::uint8_t retain_handling = 0;
  bool operator==(const SubscribeOptions&) const = default;
};

struct SubscribeEntry {
  std::string filter;
  SubscribeOptions options;
  bool operator==(const SubscribeEntry&) const = default;
};

struct Subscribe {
  std::uint16_t packet_id = 0;
  Properties props;
  std::vector<SubscribeEntry> entries;
  bool operator==(const Subscribe&) const = default;
};

struct Suback {
  std::uint16_t packet_id = 0;
  Properties props;
  std::vector<std::uint8_t> reasons;
  bool operator==(const Suback&) const = default;
};

struct Unsubscribe {
  std::uint16_t packet_id = 0;
  Properties props;
  std::vector<std::string> filters;
  bool operator==(const Unsubscribe&) const = default;
};

struct Unsuback {
  std::uint16_t packet_id = 0;
  Properties props;
  std::vector<std::uint8_t> reasons;  // v5 only; empty for 3.1.1
  bool operator==(const Unsuback&) const = default;
};

struct Pingreq {
  bool operator==(const Pingreq&) const = default;
};
struct Pingresp {
  bool operator==(const Pingresp&) const = default;
};

struct Disconnect {
  std::uint8_t reason = 0;
  Properties props;
  bool operator==(const Disconnect&) const = default;
};

struct Auth {
  std::uint8_t reason = 0;
  Properties props;
  bool operator==(const Auth&) const = default;
};

using Packet = std::variant<Connect, Connack, Publish, PubResponse, Subscribe, Suback, Unsubscribe,
                            Unsuback, Pingreq, Pingresp, Disconnect, Auth>;

PacketType packet_type(const Packet& p);
const char* packet_type_name(PacketType t);

}  // namespace tidemq::mqtt
