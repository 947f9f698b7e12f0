// MQTT codec: malformed and illegal input must come back as DecodeStatus::error with the
// right reason code (0x81 malformed, 0x82 protocol error, 0x95 packet too large), never a crash.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdio>
#include <iterator>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "mqtt_test_helpers.hpp"
#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/packets.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

using namespace tidemq::mqtt;
using namespace tidemq::mqtt::test;

namespace {

std::string rc_hex(std::uint8_t r) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", r);
  return buf;
}

std::string b(int v) { return bytes({v}); }

void expect_error(const std::string& wire, std::uint8_t version, std::uint8_t reason,
                  std::uint32_t max_packet_size = kNoLimit) {
  INFO("wire: " << hex(wire) << "  (connection version " << int(version) << ")");
  Packet out;
  std::size_t consumed = 777;
  DecodeError err;
  DecodeStatus st = DecodeStatus::ok;
  REQUIRE_NOTHROW(st = decode_packet(wire, version, max_packet_size, out, consumed, err));
  INFO("message: " << err.message);
  REQUIRE(st == DecodeStatus::error);
  CHECK(rc_hex(err.reason) == rc_hex(reason));
  CHECK_FALSE(err.message.empty());
  CHECK(consumed == 777);
}

void expect_ok(const std::string& wire, std::uint8_t version) {
  INFO("wire: " << hex(wire) << "  (connection version " << int(version) << ")");
  Decoded d = decode(wire, version);
  INFO("error " << rc_hex(d.err.reason) << ": " << d.err.message);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.consumed == wire.size());
}

// A CONNECT: protocol name for the level, flags, keep alive 60, then `rest`.
std::string connect_pkt(std::uint8_t level, std::uint8_t flags, const std::string& rest) {
  return frame(0x10, lstr(level == kV31 ? "MQIsdp" : "MQTT") + bytes({level, flags, 0x00, 0x3C}) + rest);
}

// Properties, one value each, written by hand.
std::string p_u8(int id, int v) { return bytes({id, v}); }
std::string p_u16(int id, std::uint16_t v) { return b(id) + u16(v); }
std::string p_u32(int id, std::uint32_t v) { return b(id) + u32(v); }
std::string p_str(int id, std::string_view s) { return b(id) + lstr(s); }
std::string p_var(int id, std::uint32_t v) { return b(id) + varint(v); }
std::string p_user(std::string_view k, std::string_view v) { return b(0x26) + lstr(k) + lstr(v); }

// A valid encoding of every MQTT 5 property, by identifier.
const std::map<int, std::string>& property_samples() {
  static const std::map<int, std::string> m = {
      {0x01, p_u8(0x01, 1)},          {0x02, p_u32(0x02, 60)},       {0x03, p_str(0x03, "text/plain")},
      {0x08, p_str(0x08, "reply")},   {0x09, p_str(0x09, "\x01\xFF")}, {0x0B, p_var(0x0B, 300)},
      {0x11, p_u32(0x11, 10)},        {0x12, p_str(0x12, "cid")},    {0x13, p_u16(0x13, 30)},
      {0x15, p_str(0x15, "PLAIN")},   {0x16, p_str(0x16, std::string_view("\x00\xFF", 2))}, {0x17, p_u8(0x17, 1)},
      {0x18, p_u32(0x18, 5)},         {0x19, p_u8(0x19, 1)},         {0x1A, p_str(0x1A, "info")},
      {0x1C, p_str(0x1C, "srv:1883")}, {0x1F, p_str(0x1F, "why")},   {0x21, p_u16(0x21, 10)},
      {0x22, p_u16(0x22, 5)},         {0x23, p_u16(0x23, 3)},        {0x24, p_u8(0x24, 1)},
      {0x25, p_u8(0x25, 1)},          {0x26, p_user("k", "v")},      {0x27, p_u32(0x27, 1000)},
      {0x28, p_u8(0x28, 1)},          {0x29, p_u8(0x29, 1)},         {0x2A, p_u8(0x2A, 1)},
  };
  return m;
}

// Where each property may appear, from the MQTT 5.0 specification (§2.2.2.2 table and §3.x).
struct PropertyContext {
  const char* name;
  std::uint8_t version;  // connection version used to decode
  std::string (*build)(const std::string& prop_body);
  std::set<int> allowed;
};

const std::vector<PropertyContext>& property_contexts() {
  static const std::vector<PropertyContext> v = {
      {"CONNECT", 0,
       [](const std::string& p) { return connect_pkt(kV5, 0x02, props(p) + lstr("id")); },
       {0x11, 0x21, 0x27, 0x22, 0x19, 0x17, 0x26, 0x15, 0x16}},
      {"CONNECT will", 0,
       [](const std::string& p) { return connect_pkt(kV5, 0x06, props("") + lstr("id") + props(p) + lstr("wt") + lstr("wp")); },
       {0x18, 0x01, 0x02, 0x03, 0x08, 0x09, 0x26}},
      {"CONNACK", kV5, [](const std::string& p) { return frame(0x20, bytes({0x00, 0x00}) + props(p)); },
       {0x11, 0x21, 0x24, 0x25, 0x27, 0x12, 0x22, 0x1F, 0x26, 0x28, 0x29, 0x2A, 0x13, 0x1A, 0x1C, 0x15, 0x16}},
      {"PUBLISH", kV5, [](const std::string& p) { return frame(0x32, lstr("t") + u16(1) + props(p) + "payload"); },
       {0x01, 0x02, 0x23, 0x08, 0x09, 0x26, 0x0B, 0x03}},
      {"PUBACK", kV5, [](const std::string& p) { return frame(0x40, u16(1) + b(0x00) + props(p)); }, {0x1F, 0x26}},
      {"PUBREC", kV5, [](const std::string& p) { return frame(0x50, u16(1) + b(0x00) + props(p)); }, {0x1F, 0x26}},
      {"PUBREL", kV5, [](const std::string& p) { return frame(0x62, u16(1) + b(0x00) + props(p)); }, {0x1F, 0x26}},
      {"PUBCOMP", kV5, [](const std::string& p) { return frame(0x70, u16(1) + b(0x00) + props(p)); }, {0x1F, 0x26}},
      {"SUBSCRIBE", kV5, [](const std::string& p) { return frame(0x82, u16(1) + props(p) + lstr("a/#") + b(0x01)); },
       {0x0B, 0x26}},
      {"SUBACK", kV5, [](const std::string& p) { return frame(0x90, u16(1) + props(p) + b(0x01)); }, {0x1F, 0x26}},
      {"UNSUBSCRIBE", kV5, [](const std::string& p) { return frame(0xA2, u16(1) + props(p) + lstr("a/#")); }, {0x26}},
      {"UNSUBACK", kV5, [](const std::string& p) { return frame(0xB0, u16(1) + props(p) + b(0x00)); }, {0x1F, 0x26}},
      {"DISCONNECT", kV5, [](const std::string& p) { return frame(0xE0, b(0x00) + props(p)); },
       {0x11, 0x1F, 0x26, 0x1C}},
      {"AUTH", kV5, [](const std::string& p) { return frame(0xF0, b(0x18) + props(p)); }, {0x15, 0x16, 0x1F, 0x26}},
  };
  return v;
}

// Property ids that may be repeated in a context.
bool repeatable(int id, const std::string& ctx) { return id == 0x26 || (id == 0x0B && ctx == "PUBLISH"); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Fixed header
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: Remaining Length longer than 4 bytes", "[unit][mqtt][codec]") {
  for (std::uint8_t version : {kV311, kV5}) {
    CAPTURE(int(version));
    expect_error(bytes({0x30, 0xFF, 0xFF, 0xFF, 0xFF, 0x01}), version, rc::malformed_packet);
    expect_error(bytes({0x30, 0x80, 0x80, 0x80, 0x80, 0x00}), version, rc::malformed_packet);
    expect_error(bytes({0xC0, 0x80, 0x80, 0x80, 0x80}), version, rc::malformed_packet);  // no fifth byte needed
  }
  expect_error(bytes({0x10, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F}), 0, rc::malformed_packet);
}

TEST_CASE("malformed: empty and short buffers", "[unit][mqtt][codec]") {
  CHECK(decode("", kV311).status == DecodeStatus::need_more);
  CHECK(decode("", 0).status == DecodeStatus::need_more);
  CHECK(decode(bytes({0x30}), kV311).status == DecodeStatus::need_more);
  CHECK(decode(bytes({0x30, 0x80}), kV311).status == DecodeStatus::need_more);
}

TEST_CASE("malformed: packet type 0 is reserved", "[unit][mqtt][codec]") {
  for (std::uint8_t version : {kV311, kV5}) {
    CAPTURE(int(version));
    expect_error(bytes({0x00, 0x00}), version, rc::malformed_packet);
    expect_error(bytes({0x0F, 0x02, 0x00, 0x01}), version, rc::malformed_packet);
  }
  CHECK(decode(bytes({0x00, 0x00}), 0).status == DecodeStatus::error);
}

TEST_CASE("malformed: reserved fixed-header flags", "[unit][mqtt][codec]") {
  struct Case {
    const char* name;
    std::string wire;
    std::uint8_t version;
  };
  const std::string connect_body = lstr("MQTT") + bytes({0x04, 0x02, 0x00, 0x3C}) + lstr("id");
  const std::string sub_body = u16(1) + lstr("a") + b(0x00);
  const std::string unsub_body = u16(1) + lstr("a");
  const std::vector<Case> cases = {
      {"CONNECT flags 1", frame(0x11, connect_body), 0},
      {"CONNECT flags 8", frame(0x18, connect_body), 0},
      {"CONNACK flags 2", bytes({0x22, 0x02, 0x00, 0x00}), kV311},
      {"PUBACK flags 2", bytes({0x42, 0x02, 0x00, 0x01}), kV311},
      {"PUBREC flags 1", bytes({0x51, 0x02, 0x00, 0x01}), kV311},
      {"PUBREL flags 0", bytes({0x60, 0x02, 0x00, 0x01}), kV311},
      {"PUBREL flags 0 (v5)", bytes({0x60, 0x02, 0x00, 0x01}), kV5},
      {"PUBREL flags 3", bytes({0x63, 0x02, 0x00, 0x01}), kV311},
      {"PUBCOMP flags 2", bytes({0x72, 0x02, 0x00, 0x01}), kV5},
      {"SUBSCRIBE flags 0", frame(0x80, sub_body), kV311},
      {"SUBSCRIBE flags 0 (v5)", frame(0x80, u16(1) + b(0) + lstr("a") + b(0)), kV5},
      {"SUBSCRIBE flags 3", frame(0x83, sub_body), kV311},
      {"SUBSCRIBE flags 0xA", frame(0x8A, sub_body), kV311},
      {"SUBACK flags 2", bytes({0x92, 0x03, 0x00, 0x01, 0x00}), kV311},
      {"UNSUBSCRIBE flags 0", frame(0xA0, unsub_body), kV311},
      {"UNSUBSCRIBE flags 6", frame(0xA6, unsub_body), kV311},
      {"UNSUBACK flags 1", bytes({0xB1, 0x02, 0x00, 0x01}), kV311},
      {"PINGREQ flags 1", bytes({0xC1, 0x00}), kV311},
      {"PINGREQ flags 2", bytes({0xC2, 0x00}), kV5},
      {"PINGREQ flags 8", bytes({0xC8, 0x00}), kV311},
      {"PINGRESP flags 1", bytes({0xD1, 0x00}), kV311},
      {"DISCONNECT flags 1", bytes({0xE1, 0x00}), kV311},
      {"DISCONNECT flags 2 (v5)", bytes({0xE2, 0x00}), kV5},
      {"AUTH flags 1", bytes({0xF1, 0x00}), kV5},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    expect_error(c.wire, c.version, rc::malformed_packet);
  }
}

TEST_CASE("malformed: the first packet must be CONNECT (protocol error)", "[unit][mqtt][codec]") {
  expect_error(bytes({0xC0, 0x00}), 0, rc::protocol_error);
  expect_error(bytes({0x20, 0x02, 0x00, 0x00}), 0, rc::protocol_error);
  expect_error(frame(0x30, lstr("t") + "x"), 0, rc::protocol_error);
  expect_error(frame(0x82, u16(1) + lstr("a") + b(0)), 0, rc::protocol_error);
  expect_error(bytes({0xE0, 0x00}), 0, rc::protocol_error);
  expect_error(bytes({0xF0, 0x00}), 0, rc::protocol_error);
  // Detected from the header alone, before the body arrives.
  expect_error(bytes({0x30, 0x05}), 0, rc::protocol_error);
  // and a CONNECT is fine
  expect_ok(connect_pkt(kV311, 0x02, lstr("id")), 0);
}

TEST_CASE("malformed: packet larger than max_packet_size is 0x95 from the header alone", "[unit][mqtt][codec]") {
  // Remaining Length 16383, total 16386: only the header is present.
  expect_error(bytes({0x30, 0xFF, 0x7F}), kV5, rc::packet_too_large, 1000);
  expect_error(bytes({0x30, 0xFF, 0x7F}), kV311, rc::packet_too_large, 16385);
  CHECK(decode(bytes({0x30, 0xFF, 0x7F}), kV5, 16386).status == DecodeStatus::need_more);
  // Before CONNECT too.
  expect_error(bytes({0x10, 0xFF, 0x7F}), 0, rc::packet_too_large, 1024);
  // The limit counts the whole packet, header included.
  const std::string pub = frame(0x30, lstr("t") + std::string(15, 'x'));  // 2 + 18 = 20 bytes
  REQUIRE(pub.size() == 20);
  expect_error(pub, kV311, rc::packet_too_large, 19);
  CHECK(decode(pub, kV311, 20).status == DecodeStatus::ok);
  expect_error(bytes({0xC0, 0x00}), kV311, rc::packet_too_large, 1);
  CHECK(decode(bytes({0xC0, 0x00}), kV311, 2).status == DecodeStatus::ok);
}

// ---------------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: PUBLISH", "[unit][mqtt][codec]") {
  for (std::uint8_t version : {kV311, kV5}) {
    CAPTURE(int(version));
    const std::string pr = version == kV5 ? props("") : "";
    DYNAMIC_SECTION("QoS 3, version " << int(version)) {
      expect_error(frame(0x36, lstr("t") + u16(1) + pr + "x"), version, rc::malformed_packet);
      expect_error(frame(0x37, lstr("t") + u16(1) + pr + "x"), version, rc::malformed_packet);
      expect_error(frame(0x3E, lstr("t") + u16(1) + pr + "x"), version, rc::malformed_packet);
    }
    DYNAMIC_SECTION("DUP on QoS 0, version " << int(version)) {
      expect_error(frame(0x38, lstr("t") + pr + "x"), version, rc::malformed_packet);
      expect_error(frame(0x39, lstr("t") + pr + "x"), version, rc::malformed_packet);
    }
    DYNAMIC_SECTION("packet identifier 0, version " << int(version)) {
      expect_error(frame(0x32, lstr("t") + u16(0) + pr + "x"), version, rc::malformed_packet);
      expect_error(frame(0x34, lstr("t") + u16(0) + pr), version, rc::malformed_packet);
    }
    DYNAMIC_SECTION("topic longer than the packet, version " << int(version)) {
      expect_error(frame(0x30, u16(5) + "t"), version, rc::malformed_packet);
      expect_error(frame(0x30, u16(0xFFFF)), version, rc::malformed_packet);
      expect_error(frame(0x30, b(0x00)), version, rc::malformed_packet);
      expect_error(frame(0x30, ""), version, rc::malformed_packet);
    }
    DYNAMIC_SECTION("packet identifier cut short, version " << int(version)) {
      expect_error(frame(0x32, lstr("t") + b(0x01)), version, rc::malformed_packet);
      expect_error(frame(0x32, lstr("t")), version, rc::malformed_packet);
    }
    DYNAMIC_SECTION("topic is not valid UTF-8, version " << int(version)) {
      for (const std::string& bad : {bytes({'a', 0x00}), bytes({0xC0, 0x80}), bytes({0xED, 0xA0, 0x80}),
                                     bytes({0xFF}), bytes({0xF4, 0x90, 0x80, 0x80}), bytes({0xE2, 0x82})}) {
        CAPTURE(hex(bad));
        expect_error(frame(0x30, lstr(bad) + pr + "x"), version, rc::malformed_packet);
      }
    }
  }
  SECTION("v5 PUBLISH without a property length") {
    expect_error(frame(0x30, lstr("t")), kV5, rc::malformed_packet);
    expect_error(frame(0x32, lstr("t") + u16(1)), kV5, rc::malformed_packet);
  }
  SECTION("the payload may hold any bytes") {
    expect_ok(frame(0x30, lstr("t") + bytes({0x00, 0xFF, 0xC0, 0x80, 0xED, 0xA0, 0x80})), kV311);
  }
}

// ---------------------------------------------------------------------------------------------
// PUBACK / PUBREC / PUBREL / PUBCOMP, CONNACK, SUBACK, UNSUBACK, PING, DISCONNECT, AUTH
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: publish responses", "[unit][mqtt][codec]") {
  for (int first : {0x40, 0x50, 0x62, 0x70}) {
    CAPTURE(first);
    for (std::uint8_t version : {kV311, kV5}) {
      CAPTURE(int(version));
      expect_error(bytes({first, 0x02, 0x00, 0x00}), version, rc::malformed_packet);  // packet id 0
      expect_error(bytes({first, 0x01, 0x00}), version, rc::malformed_packet);        // id cut short
      expect_error(bytes({first, 0x00}), version, rc::malformed_packet);
    }
    expect_error(bytes({first, 0x03, 0x00, 0x01, 0x00}), kV311, rc::malformed_packet);  // trailing in 3.1.1
    expect_error(bytes({first, 0x05, 0x00, 0x01, 0x00, 0x05, 0x1F}), kV5, rc::malformed_packet);  // props too long
    expect_error(bytes({first, 0x05, 0x00, 0x01, 0x00, 0x00, 0xFF}), kV5, rc::malformed_packet);  // trailing
    expect_error(frame(static_cast<std::uint8_t>(first), u16(1) + b(0) + props(p_str(0x1F, "\xC0\x80"))), kV5,
                 rc::malformed_packet);
  }
}

TEST_CASE("malformed: CONNACK", "[unit][mqtt][codec]") {
  for (std::uint8_t version : {kV311, kV5}) {
    CAPTURE(int(version));
    expect_error(bytes({0x20, 0x02, 0x02, 0x00}), version, rc::malformed_packet);  // reserved ack flags
    expect_error(bytes({0x20, 0x02, 0x80, 0x00}), version, rc::malformed_packet);
    expect_error(bytes({0x20, 0x01, 0x00}), version, rc::malformed_packet);
    expect_error(bytes({0x20, 0x00}), version, rc::malformed_packet);
  }
  expect_error(bytes({0x20, 0x03, 0x00, 0x00, 0x00}), kV311, rc::malformed_packet);  // trailing in 3.1.1
  expect_error(bytes({0x20, 0x04, 0x00, 0x00, 0x00, 0x00}), kV5, rc::malformed_packet);
  expect_error(bytes({0x20, 0x04, 0x00, 0x00, 0x02, 0x24}), kV5, rc::malformed_packet);  // property cut short
}

TEST_CASE("malformed: SUBACK and UNSUBACK", "[unit][mqtt][codec]") {
  expect_error(bytes({0x90, 0x01, 0x00}), kV311, rc::malformed_packet);
  expect_error(bytes({0xB0, 0x03, 0x00, 0x01, 0x00}), kV311, rc::malformed_packet);  // 3.1.1 UNSUBACK has no reasons
  expect_error(bytes({0xB0, 0x01, 0x00}), kV311, rc::malformed_packet);
  expect_error(bytes({0x90, 0x04, 0x00, 0x01, 0x05, 0x00}), kV5, rc::malformed_packet);  // props past the end
  expect_error(bytes({0xB0, 0x02, 0x00, 0x01}), kV5, rc::malformed_packet);              // v5 needs props length
}

TEST_CASE("malformed: PINGREQ, PINGRESP and DISCONNECT with trailing bytes", "[unit][mqtt][codec]") {
  for (std::uint8_t version : {kV311, kV5}) {
    CAPTURE(int(version));
    expect_error(bytes({0xC0, 0x01, 0x00}), version, rc::malformed_packet);
    expect_error(bytes({0xD0, 0x01, 0x00}), version, rc::malformed_packet);
  }
  expect_error(bytes({0xE0, 0x01, 0x00}), kV311, rc::malformed_packet);
  expect_error(bytes({0xE0, 0x03, 0x00, 0x00, 0xFF}), kV5, rc::malformed_packet);
  expect_error(bytes({0xE0, 0x03, 0x00, 0x05, 0x11}), kV5, rc::malformed_packet);
}

TEST_CASE("malformed: AUTH", "[unit][mqtt][codec]") {
  SECTION("AUTH does not exist in 3.1.1") {
    expect_error(bytes({0xF0, 0x00}), kV311, rc::malformed_packet);
    expect_error(bytes({0xF0, 0x02, 0x18, 0x00}), kV311, rc::malformed_packet);
    expect_error(bytes({0xF0, 0x00}), kV31, rc::malformed_packet);
  }
  SECTION("v5 trailing bytes and short properties") {
    expect_error(bytes({0xF0, 0x03, 0x18, 0x00, 0xFF}), kV5, rc::malformed_packet);
    expect_error(bytes({0xF0, 0x03, 0x18, 0x03, 0x15}), kV5, rc::malformed_packet);
  }
}

// ---------------------------------------------------------------------------------------------
// CONNECT
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: CONNECT flags", "[unit][mqtt][codec]") {
  const std::string will = lstr("wt") + lstr("wp");
  for (std::uint8_t level : {kV31, kV311, kV5}) {
    CAPTURE(int(level));
    const std::string pr = level == kV5 ? props("") : "";
    DYNAMIC_SECTION("reserved flag, level " << int(level)) {
      expect_error(connect_pkt(level, 0x03, pr + lstr("id")), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x01, pr + lstr("id")), 0, rc::malformed_packet);
    }
    DYNAMIC_SECTION("will QoS or will retain without the will flag, level " << int(level)) {
      expect_error(connect_pkt(level, 0x0A, pr + lstr("id")), 0, rc::malformed_packet);  // will QoS 1
      expect_error(connect_pkt(level, 0x12, pr + lstr("id")), 0, rc::malformed_packet);  // will QoS 2
      expect_error(connect_pkt(level, 0x22, pr + lstr("id")), 0, rc::malformed_packet);  // will retain
    }
    DYNAMIC_SECTION("will QoS 3, level " << int(level)) {
      expect_error(connect_pkt(level, 0x1E, pr + lstr("id") + pr + will), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x3E, pr + lstr("id") + pr + will), 0, rc::malformed_packet);
    }
    DYNAMIC_SECTION("fields missing or longer than the packet, level " << int(level)) {
      expect_error(connect_pkt(level, 0x02, pr), 0, rc::malformed_packet);                       // no client id
      expect_error(connect_pkt(level, 0x02, pr + u16(10) + "id"), 0, rc::malformed_packet);      // id too long
      expect_error(connect_pkt(level, 0x06, pr + lstr("id")), 0, rc::malformed_packet);          // no will
      expect_error(connect_pkt(level, 0x06, pr + lstr("id") + pr + lstr("wt")), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x82, pr + lstr("id")), 0, rc::malformed_packet);          // no user name
      expect_error(connect_pkt(level, 0xC2, pr + lstr("id") + lstr("u")), 0, rc::malformed_packet);  // no password
      expect_error(frame(0x10, lstr(level == kV31 ? "MQIsdp" : "MQTT") + bytes({level, 0x02, 0x00})), 0,
                   rc::malformed_packet);  // keep alive cut short
      expect_error(frame(0x10, lstr(level == kV31 ? "MQIsdp" : "MQTT") + bytes({level})), 0, rc::malformed_packet);
    }
    DYNAMIC_SECTION("trailing bytes after the payload, level " << int(level)) {
      expect_error(connect_pkt(level, 0x02, pr + lstr("id") + b(0x00)), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0xC2, pr + lstr("id") + lstr("u") + lstr("p") + "zz"), 0, rc::malformed_packet);
    }
    DYNAMIC_SECTION("invalid UTF-8 in client id, will topic and user name, level " << int(level)) {
      const std::string bad = bytes({0xC0, 0x80});
      expect_error(connect_pkt(level, 0x02, pr + lstr(bad)), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x06, pr + lstr("id") + pr + lstr(bad) + lstr("wp")), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x82, pr + lstr("id") + lstr(bad)), 0, rc::malformed_packet);
      expect_error(connect_pkt(level, 0x02, pr + lstr(std::string("a\0b", 3))), 0, rc::malformed_packet);
    }
    DYNAMIC_SECTION("will payload and password are binary: any bytes are fine, level " << int(level)) {
      const std::string bin = bytes({0x00, 0xC0, 0x80, 0xFF, 0xED, 0xA0, 0x80});
      expect_ok(connect_pkt(level, 0xC6, pr + lstr("id") + pr + lstr("wt") + lstr(bin) + lstr("u") + lstr(bin)), 0);
    }
  }
  SECTION("3.1.1: password without user name") {
    expect_error(connect_pkt(kV311, 0x42, lstr("id") + lstr("pw")), 0, rc::malformed_packet);
    expect_error(connect_pkt(kV31, 0x42, lstr("id") + lstr("pw")), 0, rc::malformed_packet);
  }
  SECTION("5.0: password without user name is allowed") {
    expect_ok(connect_pkt(kV5, 0x42, props("") + lstr("id") + lstr("pw")), 0);
  }
  SECTION("5.0: property length missing") {
    expect_error(connect_pkt(kV5, 0x02, ""), 0, rc::malformed_packet);
  }
  SECTION("protocol name not valid UTF-8 or longer than the packet") {
    expect_error(frame(0x10, lstr(bytes({'M', 'Q', 0xFF, 'T'})) + bytes({0x04, 0x02, 0x00, 0x3C}) + lstr("id")), 0,
                 rc::malformed_packet);
    expect_error(frame(0x10, u16(6) + "MQTT"), 0, rc::malformed_packet);
    expect_error(frame(0x10, b(0x00)), 0, rc::malformed_packet);
    expect_error(frame(0x10, ""), 0, rc::malformed_packet);
  }
}

// ---------------------------------------------------------------------------------------------
// Strings
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: invalid UTF-8 in every kind of string", "[unit][mqtt][codec]") {
  const std::vector<std::string> bad = {
      bytes({0x00}),                    // U+0000
      bytes({'a', 0x00, 'b'}),          // U+0000 inside
      bytes({0xC0, 0x80}),              // overlong U+0000
      bytes({0xC1, 0xBF}),              // overlong U+007F
      bytes({0xE0, 0x80, 0xAF}),        // overlong '/'
      bytes({0xF0, 0x80, 0x80, 0xAF}),  // overlong '/'
      bytes({0xED, 0xA0, 0x80}),        // U+D800 surrogate
      bytes({0xED, 0xBF, 0xBF}),        // U+DFFF surrogate
      bytes({0xF4, 0x90, 0x80, 0x80}),  // past U+10FFFF
      bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),
      bytes({0xFF}),
      bytes({0x80}),                    // lone continuation byte
      bytes({'a', 0xC3}),               // truncated sequence
      bytes({0xE2, 0x28, 0xA1}),        // bad continuation byte
  };
  for (const auto& s : bad) {
    CAPTURE(hex(s));
    SECTION("SUBSCRIBE filter " + hex(s)) {
      expect_error(frame(0x82, u16(1) + lstr(s) + b(0x00)), kV311, rc::malformed_packet);
      expect_error(frame(0x82, u16(1) + props("") + lstr(s) + b(0x00)), kV5, rc::malformed_packet);
    }
    SECTION("UNSUBSCRIBE filter " + hex(s)) {
      expect_error(frame(0xA2, u16(1) + lstr("ok") + lstr(s)), kV311, rc::malformed_packet);
    }
    SECTION("string properties " + hex(s)) {
      expect_error(frame(0x30, lstr("t") + props(p_user(s, "v"))), kV5, rc::malformed_packet);
      expect_error(frame(0x30, lstr("t") + props(p_user("k", s))), kV5, rc::malformed_packet);
      expect_error(frame(0x30, lstr("t") + props(p_str(0x03, s))), kV5, rc::malformed_packet);
      expect_error(frame(0x30, lstr("t") + props(p_str(0x08, s))), kV5, rc::malformed_packet);
      expect_error(frame(0x20, bytes({0, 0}) + props(p_str(0x12, s))), kV5, rc::malformed_packet);
      expect_error(frame(0xE0, b(0x00) + props(p_str(0x1F, s))), kV5, rc::malformed_packet);
      expect_error(frame(0xE0, b(0x00) + props(p_str(0x1C, s))), kV5, rc::malformed_packet);
      expect_error(frame(0xF0, b(0x18) + props(p_str(0x15, s))), kV5, rc::malformed_packet);
    }
    SECTION("binary properties accept it " + hex(s)) {
      expect_ok(frame(0x30, lstr("t") + props(p_str(0x09, s))), kV5);
      expect_ok(frame(0xF0, b(0x18) + props(p_str(0x15, "M") + p_str(0x16, s))), kV5);
    }
  }
  SECTION("strings longer than the packet") {
    expect_error(frame(0x82, u16(1) + u16(50) + "a/b" + b(0)), kV311, rc::malformed_packet);
    expect_error(frame(0xA2, u16(1) + u16(4) + "a"), kV311, rc::malformed_packet);
    expect_error(frame(0x30, lstr("t") + props(b(0x26) + lstr("k") + u16(9) + "v")), kV5, rc::malformed_packet);
    expect_error(frame(0x30, lstr("t") + props(b(0x26) + lstr("k"))), kV5, rc::malformed_packet);
    // A string that runs past the end of its property block (but not of the packet).
    expect_error(frame(0x30, lstr("t") + b(0x04) + b(0x03) + u16(5) + "ab" + "cdefgh"), kV5, rc::malformed_packet);
  }
}

// ---------------------------------------------------------------------------------------------
// MQTT 5 properties
// ---------------------------------------------------------------------------------------------

TEST_CASE("properties: each one accepted only where the spec allows it", "[unit][mqtt][codec]") {
  for (const auto& ctx : property_contexts()) {
    for (const auto& [id, prop] : property_samples()) {
      CAPTURE(ctx.name, rc_hex(static_cast<std::uint8_t>(id)));
      const std::string wire = ctx.build(prop);
      if (ctx.allowed.count(id)) {
        expect_ok(wire, ctx.version);
      } else {
        // MQTT 5.0 §2.2.2.2: an identifier not valid for its packet type is a Malformed Packet (0x81).
        expect_error(wire, ctx.version, rc::malformed_packet);
      }
    }
  }
}

TEST_CASE("properties: included twice is a protocol error, except the repeatable ones", "[unit][mqtt][codec]") {
  for (const auto& ctx : property_contexts()) {
    for (int id : ctx.allowed) {
      CAPTURE(ctx.name, rc_hex(static_cast<std::uint8_t>(id)));
      const std::string& prop = property_samples().at(id);
      const std::string wire = ctx.build(prop + prop);
      if (repeatable(id, ctx.name)) {
        expect_ok(wire, ctx.version);
      } else {
        expect_error(wire, ctx.version, rc::protocol_error);
      }
      // twice, with something else in between
      const std::string other = property_samples().at(0x26);
      const std::string spaced = ctx.build(prop + other + prop);
      if (repeatable(id, ctx.name)) {
        expect_ok(spaced, ctx.version);
      } else {
        expect_error(spaced, ctx.version, rc::protocol_error);
      }
    }
  }
  SECTION("PUBLISH keeps every subscription identifier and user property in order") {
    Decoded d = decode(frame(0x30, lstr("t") + props(p_var(0x0B, 1) + p_user("a", "1") + p_var(0x0B, 2) +
                                                     p_user("a", "2") + p_var(0x0B, 268435455))),
                       kV5);
    REQUIRE(d.status == DecodeStatus::ok);
    const auto& p = std::get<Publish>(d.packet);
    CHECK(p.props.subscription_ids == std::vector<std::uint32_t>{1, 2, 268435455});
    CHECK(p.props.user_properties == UserProperties{{"a", "1"}, {"a", "2"}});
  }
}

TEST_CASE("properties: unknown identifiers are rejected", "[unit][mqtt][codec]") {
  // Not one of the 27 MQTT 5 properties; 0x80 0x01 is identifier 128 as a two-byte varint.
  const std::vector<std::string> unknown = {b(0x00),  b(0x04),  b(0x05),  b(0x0A), b(0x0C), b(0x10),
                                            b(0x14),  b(0x1B),  b(0x1D),  b(0x20), b(0x2B), b(0x7F),
                                            bytes({0x80, 0x01}), bytes({0xFF, 0x7F}), bytes({0x81, 0x00})};
  for (const auto& ctx : property_contexts()) {
    for (const auto& id : unknown) {
      CAPTURE(ctx.name, hex(id));
      const std::string wire = ctx.build(id + bytes({0x00, 0x00, 0x00, 0x00}));
      INFO("wire: " << hex(wire));
      Decoded d = decode(wire, ctx.version);
      REQUIRE(d.status == DecodeStatus::error);
      CHECK(d.err.reason == rc::malformed_packet);  // MQTT 5.0 §2.2.2.2
    }
  }
}

TEST_CASE("properties: illegal values", "[unit][mqtt][codec]") {
  auto connect5 = [](const std::string& p) { return connect_pkt(kV5, 0x02, props(p) + lstr("id")); };
  auto connack5 = [](const std::string& p) { return frame(0x20, bytes({0x00, 0x00}) + props(p)); };
  auto publish5 = [](const std::string& p) { return frame(0x30, lstr("t") + props(p)); };
  SECTION("receive maximum 0") {
    expect_error(connect5(p_u16(0x21, 0)), 0, rc::protocol_error);
    expect_error(connack5(p_u16(0x21, 0)), kV5, rc::protocol_error);
  }
  SECTION("maximum packet size 0") {
    expect_error(connect5(p_u32(0x27, 0)), 0, rc::protocol_error);
    expect_error(connack5(p_u32(0x27, 0)), kV5, rc::protocol_error);
  }
  SECTION("subscription identifier 0") {
    expect_error(publish5(p_var(0x0B, 0)), kV5, rc::protocol_error);
    expect_error(frame(0x82, u16(1) + props(p_var(0x0B, 0)) + lstr("a") + b(0)), kV5, rc::protocol_error);
  }
  SECTION("byte properties that must be 0 or 1") {
    for (int v : {2, 0x80, 0xFF}) {
      CAPTURE(v);
      expect_error(publish5(p_u8(0x01, v)), kV5, rc::protocol_error);
      expect_error(connect5(p_u8(0x17, v)), 0, rc::protocol_error);
      expect_error(connect5(p_u8(0x19, v)), 0, rc::protocol_error);
      for (int id : {0x24, 0x25, 0x28, 0x29, 0x2A}) {
        CAPTURE(id);
        expect_error(connack5(p_u8(id, v)), kV5, rc::protocol_error);
      }
    }
  }
  SECTION("two subscription identifiers in SUBSCRIBE") {
    expect_error(frame(0x82, u16(1) + props(p_var(0x0B, 1) + p_var(0x0B, 2)) + lstr("a") + b(0)), kV5,
                 rc::protocol_error);
  }
  SECTION("values cut short inside the property block") {
    expect_error(connect5(bytes({0x11, 0x00, 0x00})), 0, rc::malformed_packet);
    expect_error(connect5(bytes({0x21, 0x00})), 0, rc::malformed_packet);
    expect_error(connack5(bytes({0x24})), kV5, rc::malformed_packet);
    expect_error(publish5(bytes({0x0B, 0x80})), kV5, rc::malformed_packet);
    expect_error(publish5(bytes({0x0B, 0x80, 0x80, 0x80, 0x80, 0x01})), kV5, rc::malformed_packet);
  }
  SECTION("property length past the end of the packet, or longer than 4 bytes") {
    expect_error(frame(0x30, lstr("t") + b(0x10) + p_u32(0x02, 1)), kV5, rc::malformed_packet);
    expect_error(frame(0x30, lstr("t") + bytes({0x80, 0x80, 0x80, 0x80, 0x01})), kV5, rc::malformed_packet);
    expect_error(connect_pkt(kV5, 0x02, b(0x7F) + lstr("id")), 0, rc::malformed_packet);
  }
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE / UNSUBSCRIBE
// ---------------------------------------------------------------------------------------------

TEST_CASE("malformed: SUBSCRIBE and UNSUBSCRIBE", "[unit][mqtt][codec]") {
  SECTION("no topic filters: 5.0 protocol error, 3.1.1 malformed") {
    expect_error(frame(0x82, u16(1) + props("")), kV5, rc::protocol_error);
    expect_error(frame(0x82, u16(1)), kV311, rc::malformed_packet);
    expect_error(frame(0xA2, u16(1) + props("")), kV5, rc::protocol_error);
    expect_error(frame(0xA2, u16(1)), kV311, rc::malformed_packet);
  }
  SECTION("packet identifier 0") {
    expect_error(frame(0x82, u16(0) + lstr("a") + b(0)), kV311, rc::malformed_packet);
    expect_error(frame(0x82, u16(0) + props("") + lstr("a") + b(0)), kV5, rc::malformed_packet);
    expect_error(frame(0xA2, u16(0) + lstr("a")), kV311, rc::malformed_packet);
    expect_error(frame(0xA2, u16(0) + props("") + lstr("a")), kV5, rc::malformed_packet);
  }
  SECTION("reserved subscription option bits") {
    for (int o : {0x40, 0x80, 0xC0, 0x41}) {
      CAPTURE(o);
      expect_error(frame(0x82, u16(1) + props("") + lstr("a") + b(o)), kV5, rc::malformed_packet);
    }
    // In 3.1.1 everything above the QoS bits is reserved.
    for (int o : {0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x2D}) {
      CAPTURE(o);
      expect_error(frame(0x82, u16(1) + lstr("a") + b(o)), kV311, rc::malformed_packet);
    }
    // ...and the second entry is checked as well as the first
    expect_error(frame(0x82, u16(1) + lstr("a") + b(1) + lstr("b") + b(0x04)), kV311, rc::malformed_packet);
  }
  SECTION("subscription QoS 3 in 3.1.1") {
    expect_error(frame(0x82, u16(1) + lstr("a") + b(0x03)), kV311, rc::malformed_packet);
  }
  SECTION("options byte missing or filter cut short") {
    expect_error(frame(0x82, u16(1) + lstr("a")), kV311, rc::malformed_packet);
    expect_error(frame(0x82, u16(1) + props("") + lstr("a")), kV5, rc::malformed_packet);
    expect_error(frame(0x82, u16(1) + lstr("a") + b(0) + b(0x00)), kV311, rc::malformed_packet);
    expect_error(frame(0xA2, u16(1) + lstr("a") + b(0x00)), kV311, rc::malformed_packet);
  }
  SECTION("v5 SUBSCRIBE without property length") {
    expect_error(frame(0x82, u16(1)), kV5, rc::malformed_packet);
  }
}

// MQTT 5.0 §3.8.3.1: "It is a Protocol Error if the Maximum QoS field has the value 3" and
// "It is a Protocol Error to send a Retain Handling value of 3". The codec answers 0x81.
TEST_CASE("SUBSCRIBE v5: retain handling 3 and QoS 3 are protocol errors", "[unit][mqtt][codec]") {
  SECTION("retain handling 3") {
    expect_error(frame(0x82, u16(1) + props("") + lstr("a") + b(0x30)), kV5, rc::protocol_error);
    expect_error(frame(0x82, u16(1) + props("") + lstr("a") + b(0x3D)), kV5, rc::protocol_error);
  }
  SECTION("maximum QoS 3") {
    expect_error(frame(0x82, u16(1) + props("") + lstr("a") + b(0x03)), kV5, rc::protocol_error);
  }
}

TEST_CASE("PUBLISH v5 with Topic Alias 0 decodes, for the channel to answer 0x94", "[unit][mqtt][codec]") {
  Decoded d = decode(frame(0x30, lstr("t") + props(p_u16(0x23, 0)) + "x"), kV5);
  REQUIRE(d.status == DecodeStatus::ok);
  REQUIRE(std::holds_alternative<Publish>(d.packet));
  CHECK(std::get<Publish>(d.packet).props.topic_alias == std::optional<std::uint16_t>{0});
}

TEST_CASE("SUBSCRIBE v5: retain handling 3 and QoS 3 are rejected", "[unit][mqtt][codec]") {
  for (int o : {0x30, 0x3D, 0x03, 0x0F}) {
    CAPTURE(o);
    Decoded d = decode(frame(0x82, u16(1) + props("") + lstr("a") + b(o)), kV5);
    REQUIRE(d.status == DecodeStatus::error);
    CHECK((d.err.reason == rc::protocol_error || d.err.reason == rc::malformed_packet));
  }
}

// MQTT 5.0 §1.5.5 [MQTT-1.5.5-1]: "The encoded value MUST use the minimum number of bytes necessary
// to represent the value". The codec accepts over-long Variable Byte Integers.
TEST_CASE("Variable Byte Integers must use the minimum number of bytes", "[unit][mqtt][codec]") {
  SECTION("Remaining Length") {
    expect_error(bytes({0xC0, 0x80, 0x00}), kV311, rc::malformed_packet);  // 0 in two bytes
    expect_error(bytes({0xC0, 0x80, 0x80, 0x80, 0x00}), kV5, rc::malformed_packet);
    expect_error(bytes({0x40, 0x82, 0x00, 0x00, 0x01}), kV311, rc::malformed_packet);  // 2 in two bytes
  }
  SECTION("Property Length and Subscription Identifier") {
    expect_error(frame(0x30, lstr("t") + bytes({0x80, 0x00})), kV5, rc::malformed_packet);
    expect_error(frame(0x30, lstr("t") + props(bytes({0x0B, 0x81, 0x00}))), kV5, rc::malformed_packet);
  }
}

// ---------------------------------------------------------------------------------------------
// Deterministic fuzz
// ---------------------------------------------------------------------------------------------

TEST_CASE("decoder fuzz: random and mutated packets never crash", "[unit][mqtt][codec]") {
  std::vector<std::string> corpus;
  for (std::uint8_t version : {kV311, kV5})
    for (const Packet& p : sample_packets(version)) corpus.push_back(encode(p, version));
  corpus.push_back(encode(Publish{true, 2, true, "a/very/long/topic/name/for/fuzzing", 77, all_publish_props(),
                                  std::string(200, 'p')},
                          kV5));

  std::mt19937 rng(20240611u);
  auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
  auto rand_byte = [&]() -> char {
    static const int kSpecial[] = {0x00, 0x01, 0x02, 0x7F, 0x80, 0xC0, 0xFF, 0x26, 0x0B, 0x1F};
    return static_cast<char>(rng() % 3 == 0 ? kSpecial[pick(std::size(kSpecial))] : static_cast<int>(rng() & 0xFF));
  };
  const std::uint8_t versions[] = {0, kV31, kV311, kV5};

  constexpr int kIterations = 20000;
  int exceptions = 0, bad_consumed = 0, bad_reason = 0, not_idempotent = 0, ok_count = 0, error_count = 0;
  std::string first_failure;
  for (int i = 0; i < kIterations; ++i) {
    std::string buf = corpus[pick(corpus.size())];
    switch (pick(8)) {
      case 0:  // random bytes
        buf.resize(pick(64));
        for (auto& c : buf) c = rand_byte();
        break;
      case 1:  // flip a few bytes
        for (std::size_t k = 0, n = 1 + pick(4); k < n; ++k) buf[pick(buf.size())] = rand_byte();
        break;
      case 2:  // truncate
        buf.resize(pick(buf.size() + 1));
        break;
      case 3:  // insert bytes
        buf.insert(pick(buf.size() + 1), std::string(1 + pick(6), rand_byte()));
        break;
      case 4: {  // delete a range
        std::size_t at = pick(buf.size());
        buf.erase(at, 1 + pick(8));
        break;
      }
      case 5:  // flip bits in the body, keep the header
        for (std::size_t k = 0, n = 1 + pick(3); k < n && buf.size() > 2; ++k)
          buf[2 + pick(buf.size() - 2)] ^= static_cast<char>(1u << pick(8));
        break;
      case 6:  // two packets glued together, then a byte changed
        buf += corpus[pick(corpus.size())];
        buf[pick(buf.size())] = rand_byte();
        break;
      case 7: {  // a different first byte and Remaining Length
        std::string head(1, rand_byte());
        head += varint(static_cast<std::uint32_t>(pick(buf.size() + 4)));
        buf = head + buf.substr(std::min<std::size_t>(2, buf.size()));
        break;
      }
    }
    const std::uint8_t version = versions[pick(std::size(versions))];
    const std::uint32_t max = pick(4) == 0 ? static_cast<std::uint32_t>(pick(300)) : kNoLimit;

    Packet out;
    std::size_t consumed = 0;
    DecodeError err;
    DecodeStatus st = DecodeStatus::need_more;
    bool failed = false;
    try {
      st = decode_packet(buf, version, max, out, consumed, err);
    } catch (...) {
      ++exceptions;
      failed = true;
    }
    if (!failed && st == DecodeStatus::ok) {
      ++ok_count;
      if (consumed == 0 || consumed > buf.size()) {
        ++bad_consumed;
        failed = true;
      } else {
        // Whatever decodes must re-encode to something that decodes to the same packet.
        const std::uint8_t dv = decode_version_for(out, version);
        const std::string again = encode(out, std::holds_alternative<Connect>(out) ? kV5 : version);
        Decoded d2 = decode(again, dv);
        // Topic Alias 0 is decoded (the channel answers 0x94) but cannot be encoded: 0 means "none".
        Packet expected = out;
        if (auto* pub = std::get_if<Publish>(&expected); pub && pub->props.topic_alias == 0)
          pub->props.topic_alias.reset();
        if (d2.status != DecodeStatus::ok || !(d2.packet == expected) || d2.consumed != again.size()) {
          ++not_idempotent;
          failed = true;
        }
      }
    } else if (!failed && st == DecodeStatus::error) {
      ++error_count;
      if (err.reason != rc::malformed_packet && err.reason != rc::protocol_error &&
          err.reason != rc::packet_too_large) {
        ++bad_reason;
        failed = true;
      }
    }
    if (failed && first_failure.empty())
      first_failure = "iteration " + std::to_string(i) + ", version " + std::to_string(version) + ", max " +
                      std::to_string(max) + ": " + hex(buf, 200);
  }
  INFO("first failure: " << first_failure);
  INFO("ok " << ok_count << ", error " << error_count);
  CHECK(exceptions == 0);
  CHECK(bad_consumed == 0);
  CHECK(bad_reason == 0);
  CHECK(not_idempotent == 0);
  CHECK(ok_count > 100);  // the mutations still produce plenty of valid packets
  CHECK(error_count > 1000);
}
