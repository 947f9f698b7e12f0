// mqtt_codec_fuzz: the MQTT codec (decode_packet / encode_packet), the first code to read what a
// client sends, before any authentication.
//
// Input: one byte of choices (protocol level 0 = before CONNECT, 3, 4 or 5; the maximum packet
// size), then the bytes of a connection. They are decoded packet after packet as a Channel does:
// before CONNECT at level 0, afterwards at the CONNECT's level. Checked, beyond the sanitizers:
//   - an error carries one of the three reason codes the codec promises;
//   - a decoded packet's size is what it says and fits the maximum packet size;
//   - a decoded packet encodes to bytes that decode again, whole, to the same packet (the one
//     thing the encoder drops is a PUBLISH's Topic Alias 0, which means "no alias" to it), and
//     encoding that is a fixed point;
//   - encoded_publish_size() is the size encode_publish() writes.
#include <array>
#include <cstdint>
#include <string>

#include "fuzz_support.hpp"
#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

namespace {

using namespace tidemq::mqtt;

// Largest packet the codec can express: a 4-byte remaining length and a 5-byte fixed header.
constexpr std::uint32_t kLargest = 268435455 + 5;

constexpr std::array<std::uint8_t, 4> kLevels = {0, kV31, kV311, kV5};
constexpr std::array<std::uint32_t, 8> kMaxSizes = {64, 128, 1024, 4096, 65536, 1048576, 268435455, kLargest};

// What decode(encode(p)) gives back: the encoder writes no Topic Alias of 0.
Packet normalized(Packet p) {
  if (auto* pub = std::get_if<Publish>(&p); pub && pub->props.topic_alias == 0) pub->props.topic_alias.reset();
  return p;
}

void check_round_trip(const Packet& p, std::uint8_t level) {
  std::string encoded;
  encode_packet(p, level, encoded);

  Packet again;
  std::size_t used = 0;
  DecodeError err;
  const auto st = decode_packet(encoded, level, kLargest, again, used, err);
  if (st != DecodeStatus::ok) std::fprintf(stderr, "re-decoding failed: %s\n", err.message.c_str());
  FUZZ_CHECK(st == DecodeStatus::ok);
  FUZZ_CHECK(used == encoded.size());
  FUZZ_CHECK(again == normalized(p));

  std::string encoded_again;
  encode_packet(again, level, encoded_again);
  FUZZ_CHECK(encoded_again == encoded);

  if (const auto* pub = std::get_if<Publish>(&p)) {
    PublishView v{pub->topic, pub->payload, pub->qos, pub->retain, pub->dup, pub->packet_id, &pub->props,
                  pub->props.subscription_ids, pub->props.topic_alias.value_or(0), std::nullopt};
    std::string direct;
    encode_publish(v, level, direct);
    FUZZ_CHECK(direct.size() == encoded_publish_size(v, level));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tidemq::fuzz::Input in(data, size);
  const std::uint8_t choice = in.byte();
  std::uint8_t level = kLevels[choice & 3];
  const std::uint32_t max_size = kMaxSizes[(choice >> 2) & 7];
  std::string_view bytes = in.rest();

  while (true) {
    Packet p;
    std::size_t used = 0;
    DecodeError err;
    const auto st = decode_packet(bytes, level, max_size, p, used, err);
    if (tidemq::fuzz::verbose())
      std::fprintf(stderr, "level %u: %s\n", level,
                   st == DecodeStatus::ok ? packet_type_name(packet_type(p))
                   : st == DecodeStatus::need_more ? "need more" : err.message.c_str());
    if (st == DecodeStatus::need_more) break;
    if (st == DecodeStatus::error) {
      FUZZ_CHECK(err.reason == rc::malformed_packet || err.reason == rc::protocol_error ||
                 err.reason == rc::packet_too_large);
      break;
    }
    FUZZ_CHECK(used >= 2 && used <= bytes.size() && used <= max_size);
    check_round_trip(p, level);
    bytes.remove_prefix(used);
    if (level == 0) {
      // After CONNECT the connection speaks its level, or (unknown level) is refused and closed.
      const auto& c = std::get<Connect>(p);
      if (c.protocol_level != kV31 && c.protocol_level != kV311 && c.protocol_level != kV5) break;
      level = c.protocol_level;
    }
  }
  return 0;
}
