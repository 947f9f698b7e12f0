// Shared helpers for the MQTT codec / topic unit tests: byte-vector builders, one-call decode,
// and Catch2 printers so failed comparisons show the packet bytes instead of "{?}".
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <string_view>

#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/packets.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::mqtt::test {

inline constexpr std::uint32_t kNoLimit = std::numeric_limits<std::uint32_t>::max();

// Bytes from a list of values 0..255: bytes({0xC0, 0x00}).
inline std::string bytes(std::initializer_list<int> values) {
  std::string s;
  s.reserve(values.size());
  for (int v : values) s.push_back(static_cast<char>(static_cast<std::uint8_t>(v)));
  return s;
}

inline std::string hex(std::string_view s, std::size_t limit = 96) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < limit; ++i) {
    if (i) out.push_back(' ');
    auto b = static_cast<std::uint8_t>(s[i]);
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0F]);
  }
  if (s.size() > limit) out += " ... (" + std::to_string(s.size()) + " bytes)";
  return out;
}

// Variable Byte Integer, written independently of the codec's Writer.
inline std::string varint(std::uint32_t v) {
  std::string s;
  do {
    auto b = static_cast<std::uint8_t>(v % 128);
    v /= 128;
    if (v > 0) b |= 0x80;
    s.push_back(static_cast<char>(b));
  } while (v > 0);
  return s;
}

inline std::string u16(std::uint16_t v) { return bytes({v >> 8, v & 0xFF}); }
inline std::string u32(std::uint32_t v) {
  return bytes({static_cast<int>(v >> 24), static_cast<int>((v >> 16) & 0xFF), static_cast<int>((v >> 8) & 0xFF),
                static_cast<int>(v & 0xFF)});
}

// A UTF-8 string / binary data field: two-byte length then the bytes.
inline std::string lstr(std::string_view s) { return u16(static_cast<std::uint16_t>(s.size())) + std::string(s); }

// A property block: Property Length then the properties.
inline std::string props(std::string_view body) { return varint(static_cast<std::uint32_t>(body.size())) + std::string(body); }

// A complete packet: first byte, Remaining Length, body.
inline std::string frame(std::uint8_t first, std::string_view body) {
  return std::string(1, static_cast<char>(first)) + varint(static_cast<std::uint32_t>(body.size())) + std::string(body);
}

struct Decoded {
  DecodeStatus status = DecodeStatus::need_more;
  Packet packet;
  std::size_t consumed = 0;
  DecodeError err;
};

inline Decoded decode(std::string_view buf, std::uint8_t version, std::uint32_t max_packet_size = kNoLimit) {
  Decoded d;
  d.status = decode_packet(buf, version, max_packet_size, d.packet, d.consumed, d.err);
  return d;
}

inline std::string encode(const Packet& p, std::uint8_t version) {
  std::string out;
  encode_packet(p, version, out);
  return out;
}

// CONNECT is decoded before the connection has a version (0); everything else with the version.
inline std::uint8_t decode_version_for(const Packet& p, std::uint8_t version) {
  return std::holds_alternative<Connect>(p) ? 0 : version;
}

// The decoder's version for a CONNECT of this protocol level.
inline std::uint8_t connection_version(std::uint8_t level) { return level == kV5 ? kV5 : kV311; }

// ---- fixtures shared by the codec tests ----

inline const std::string kBinary = std::string("\x00\x01\x7F\x80\xFE\xFF", 6);

inline UserProperties several_user_props() {
  return {{"region", "eu-west"}, {"region", "us-east"}, {"", ""}, {"k\xC3\xA9y", "v\xE2\x82\xAC\xF0\x9F\x98\x80"}};
}

inline Properties all_connect_props() {
  Properties p;
  p.session_expiry = 0xFFFFFFFF;
  p.receive_maximum = 20;
  p.maximum_packet_size = 1048576;
  p.topic_alias_maximum = 10;
  p.request_response_info = 1;
  p.request_problem_info = 0;
  p.user_properties = several_user_props();
  p.auth_method = "SCRAM-SHA-256";
  p.auth_data = kBinary;
  return p;
}

inline Properties all_will_props() {
  Properties p;
  p.will_delay = 30;
  p.payload_format = 1;
  p.message_expiry = 120;
  p.content_type = "text/plain";
  p.response_topic = "replies/device-1";
  p.correlation_data = kBinary;
  p.user_properties = {{"a", "1"}, {"a", "2"}};
  return p;
}

inline Properties all_connack_props() {
  Properties p;
  p.session_expiry = 7200;
  p.receive_maximum = 65535;
  p.maximum_qos = 1;
  p.retain_available = 0;
  p.maximum_packet_size = 268435460;
  p.assigned_client_id = "auto-3F2A";
  p.topic_alias_maximum = 0;
  p.reason_string = "welcome";
  p.user_properties = several_user_props();
  p.wildcard_sub_available = 1;
  p.sub_id_available = 0;
  p.shared_sub_available = 1;
  p.server_keep_alive = 30;
  p.response_info = "resp/base";
  p.server_reference = "other.example:1883";
  p.auth_method = "SCRAM-SHA-1";
  p.auth_data = kBinary;
  return p;
}

inline Properties all_publish_props() {
  Properties p;
  p.payload_format = 1;
  p.message_expiry = 3600;
  p.content_type = "application/json";
  p.response_topic = "reply/to/me";
  p.correlation_data = kBinary;
  p.subscription_ids = {1, 127, 128, 16383, 16384, 268435455};
  p.topic_alias = 7;
  p.user_properties = several_user_props();
  return p;
}

inline Properties reason_and_user_props() {
  Properties p;
  p.reason_string = "because";
  p.user_properties = {{"x", "y"}, {"x", "z"}};
  return p;
}

inline std::vector<Packet> sample_packets(std::uint8_t version) {
  const bool v5 = version == kV5;
  std::vector<Packet> out;
  Connect c;
  c.protocol_level = version;
  c.client_id = "client-1";
  c.keep_alive = 30;
  c.will = Will{"will/topic", "gone", 1, true, v5 ? all_will_props() : Properties{}};
  c.username = "user";
  c.password = kBinary;
  if (v5) c.props = all_connect_props();
  out.push_back(c);
  out.push_back(Connack{true, 0, v5 ? all_connack_props() : Properties{}});
  Publish pub;
  pub.qos = 1;
  pub.packet_id = 42;
  pub.topic = "a/b/c";
  pub.payload = "payload";
  if (v5) pub.props = all_publish_props();
  out.push_back(pub);
  out.push_back(PubResponse{PacketType::puback, 42, 0, {}});
  out.push_back(PubResponse{PacketType::pubrec, 43, v5 ? std::uint8_t{0x10} : std::uint8_t{0},
                            v5 ? reason_and_user_props() : Properties{}});
  out.push_back(PubResponse{PacketType::pubrel, 44, 0, {}});
  out.push_back(PubResponse{PacketType::pubcomp, 45, 0, {}});
  Subscribe s;
  s.packet_id = 7;
  s.entries = {{"a/+", {1}}, {"b/#", {2}}};
  if (v5) s.props.subscription_ids = {99};
  out.push_back(s);
  out.push_back(Suback{7, v5 ? reason_and_user_props() : Properties{}, {1, 2, 0x80}});
  out.push_back(Unsubscribe{8, {}, {"a/+", "b/#"}});
  out.push_back(Unsuback{8, {}, v5 ? std::vector<std::uint8_t>{0x00, 0x11} : std::vector<std::uint8_t>{}});
  out.push_back(Pingreq{});
  out.push_back(Pingresp{});
  Disconnect d;
  if (v5) {
    d.reason = 0x04;
    d.props.session_expiry = 10;
  }
  out.push_back(d);
  if (v5) out.push_back(Auth{0x18, {}});
  return out;
}

}  // namespace tidemq::mqtt::test

namespace Catch {

template <>
struct StringMaker<tidemq::mqtt::DecodeStatus> {
  static std::string convert(tidemq::mqtt::DecodeStatus s) {
    switch (s) {
      case tidemq::mqtt::DecodeStatus::ok: return "ok";
      case tidemq::mqtt::DecodeStatus::need_more: return "need_more";
      case tidemq::mqtt::DecodeStatus::error: return "error";
    }
    return "DecodeStatus(?)";
  }
};

// A packet prints as its type and its v5 encoding (v5 keeps every field the structs carry).
template <>
struct StringMaker<tidemq::mqtt::Packet> {
  static std::string convert(const tidemq::mqtt::Packet& p) {
    using namespace tidemq::mqtt;
    std::string out = packet_type_name(packet_type(p));
    if (const auto* c = std::get_if<Connect>(&p)) {
      out += " level " + std::to_string(c->protocol_level);
      out += " [" + test::hex(test::encode(p, c->protocol_level), 400) + "]";
    } else {
      out += " [" + test::hex(test::encode(p, kV5), 400) + "]";
    }
    return out;
  }
};

}  // namespace Catch
