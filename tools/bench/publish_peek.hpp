// Reading a PUBLISH in place (fixed header, topic, packet id, MQTT 5 properties skipped, payload).
// PUBLISH is what a subscriber receives by the million, so the load engine takes QoS, packet id and
// payload straight from its read buffer (no copies); every other packet goes through the
// tidemq_mqtt codec.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tidemq::bench {

struct PublishPeek {
  std::uint8_t qos = 0;
  std::uint16_t packet_id = 0;
  std::string_view payload;   // points into the buffer
  std::size_t size = 0;       // bytes of the whole packet
  const char* error = nullptr;
};

// `b` starts with a PUBLISH fixed header. Returns false when more bytes are needed; otherwise
// fills `out` (or sets out.error on a malformed packet). Inline: it runs once per message received.
inline bool peek_publish(std::string_view b, bool v5, PublishPeek& out) {
  std::size_t pos = 1;
  std::uint32_t remaining = 0;
  for (int i = 0;; ++i) {
    if (i == 4) {
      out.error = "remaining length longer than 4 bytes";
      return true;
    }
    if (pos >= b.size()) return false;
    auto c = static_cast<std::uint8_t>(b[pos++]);
    remaining |= static_cast<std::uint32_t>(c & 0x7F) << (7 * i);
    if (!(c & 0x80)) break;
  }
  if (b.size() - pos < remaining) return false;
  out.size = pos + remaining;
  const auto flags = static_cast<std::uint8_t>(b[0]) & 0x0F;
  out.qos = (flags >> 1) & 0x03;
  if (out.qos == 3) {
    out.error = "PUBLISH QoS 3";
    return true;
  }
  std::string_view body = b.substr(pos, remaining);
  auto u16 = [&](std::size_t at) {
    return static_cast<std::uint16_t>((static_cast<std::uint8_t>(body[at]) << 8) | static_cast<std::uint8_t>(body[at + 1]));
  };
  std::size_t at = 0;
  if (body.size() < 2 || body.size() - 2 < u16(0)) {
    out.error = "PUBLISH shorter than its topic";
    return true;
  }
  at = 2 + u16(0);
  if (out.qos) {
    if (body.size() - at < 2 || u16(at) == 0) {
      out.error = "PUBLISH without a valid packet identifier";
      return true;
    }
    out.packet_id = u16(at);
    at += 2;
  }
  if (v5) {
    std::uint32_t plen = 0;
    for (int i = 0;; ++i) {
      if (i == 4 || at >= body.size()) {
        out.error = "bad PUBLISH property length";
        return true;
      }
      auto c = static_cast<std::uint8_t>(body[at++]);
      plen |= static_cast<std::uint32_t>(c & 0x7F) << (7 * i);
      if (!(c & 0x80)) break;
    }
    if (body.size() - at < plen) {
      out.error = "PUBLISH properties longer than the packet";
      return true;
    }
    at += plen;
  }
  out.payload = body.substr(at);
  return true;
}

}  // namespace tidemq::bench
