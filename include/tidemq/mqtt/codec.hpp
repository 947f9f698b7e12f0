// Sans-I/O MQTT codec: bytes in → packets or a reason code out; packets in → bytes out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "tidemq/mqtt/packets.hpp"

namespace tidemq::mqtt {

enum class DecodeStatus { ok, need_more, error };

struct DecodeError {
  std::uint8_t reason = 0;  // rc::malformed_packet, rc::protocol_error or rc::packet_too_large
  std::string message;
};

// Decodes one packet from the front of `buf`.
// `version` is the connection's protocol level, or 0 before CONNECT (then only CONNECT is accepted,
// and its own protocol level decides how it is read). `max_packet_size` bounds the whole packet;
// a larger one is reported as rc::packet_too_large as soon as its header is seen.
// On ok, `consumed` is the packet's size in bytes.
DecodeStatus decode_packet(std::string_view buf, std::uint8_t version, std::uint32_t max_packet_size,
                           Packet& out, std::size_t& consumed, DecodeError& err);

// Appends the encoding of `p` to `out`. v3.1.1 encodings drop v5-only fields.
void encode_packet(const Packet& p, std::uint8_t version, std::string& out);

// The PUBLISH hot path: encodes without building a Publish (no copies of topic or payload).
// Per-delivery fields (subscription ids, topic alias, remaining expiry) override `props`.
struct PublishView {
  std::string_view topic;
  std::string_view payload;
  std::uint8_t qos = 0;
  bool retain = false;
  bool dup = false;
  std::uint16_t packet_id = 0;
  const Properties* props = nullptr;
  std::span<const std::uint32_t> subscription_ids;
  std::uint16_t topic_alias = 0;                 // 0 = none
  std::optional<std::uint32_t> message_expiry;   // overrides props->message_expiry when set
};
void encode_publish(const PublishView& v, std::uint8_t version, std::string& out);

// Size in bytes that encode_publish would produce (for the client's Maximum Packet Size).
std::size_t encoded_publish_size(const PublishView& v, std::uint8_t version);

bool valid_utf8(std::string_view s);

}  // namespace tidemq::mqtt
