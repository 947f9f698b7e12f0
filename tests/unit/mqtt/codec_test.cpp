// MQTT codec: round trips for every packet type in 3.1.1 and 5.0, byte-exact vectors,
// the Remaining Length boundaries, partial input, back-to-back packets and encode_publish.
#include <catch2/catch.hpp>

#include <array>
#include <string>
#include <vector>

#include "mqtt_test_helpers.hpp"
#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/packets.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

using namespace tidemq::mqtt;
using namespace tidemq::mqtt::test;

namespace {

constexpr std::array<std::uint8_t, 2> kVersions = {kV311, kV5};

// encode → decode → equal, exact consumption, and a stable re-encoding.
void check_roundtrip(const Packet& p, std::uint8_t version) {
  const std::string wire = encode(p, version);
  INFO("version " << int(version) << ", wire: " << hex(wire, 600));
  const Decoded d = decode(wire, decode_version_for(p, version));
  INFO("decode error " << int(d.err.reason) << " " << d.err.message);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.consumed == wire.size());
  CHECK(d.packet == p);
  CHECK(hex(encode(d.packet, version), 600) == hex(wire, 600));
}

// encode with `version` → decode → `expected` (v3.1.1 encodings drop v5-only fields).
void check_roundtrip_as(const Packet& p, std::uint8_t version, const Packet& expected) {
  const std::string wire = encode(p, version);
  INFO("version " << int(version) << ", wire: " << hex(wire, 600));
  const Decoded d = decode(wire, decode_version_for(p, version));
  INFO("decode error " << int(d.err.reason) << " " << d.err.message);
  REQUIRE(d.status == DecodeStatus::ok);
  CHECK(d.consumed == wire.size());
  CHECK(d.packet == expected);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// CONNECT
// ---------------------------------------------------------------------------------------------

TEST_CASE("CONNECT round trips in 3.1, 3.1.1 and 5.0", "[unit][mqtt][codec]") {
  SECTION("3.1.1 minimal") {
    Connect c;
    c.client_id = "c";
    check_roundtrip(c, kV311);
  }
  SECTION("3.1.1 empty client id, no clean session, keep alive 0 and 65535") {
    Connect c;
    c.clean_start = false;
    c.keep_alive = 0;
    check_roundtrip(c, kV311);
    c.keep_alive = 65535;
    check_roundtrip(c, kV311);
  }
  SECTION("3.1.1 will with every QoS and retain, user name and binary password") {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      for (bool retain : {false, true}) {
        CAPTURE(int(qos), retain);
        Connect c;
        c.client_id = "dev-\xC3\xA9";
        c.will = Will{"status/dev", std::string("off\0line", 8), qos, retain, {}};
        c.username = "alice";
        c.password = kBinary;
        check_roundtrip(c, kV311);
      }
    }
  }
  SECTION("3.1.1 user name without password, empty user name and password") {
    Connect c;
    c.client_id = "x";
    c.username = "bob";
    check_roundtrip(c, kV311);
    c.username = "";
    c.password = "";
    check_roundtrip(c, kV311);
  }
  SECTION("3.1 (MQIsdp, level 3) with will, user name and password") {
    Connect c;
    c.protocol_name = "MQIsdp";
    c.protocol_level = kV31;
    c.client_id = "legacy";
    c.will = Will{"w", "bye", 2, false, {}};
    c.username = "u";
    c.password = "p";
    check_roundtrip(c, kV311);
  }
  SECTION("5.0 minimal") {
    Connect c;
    c.protocol_level = kV5;
    check_roundtrip(c, kV5);
  }
  SECTION("5.0 with every CONNECT property") {
    Connect c;
    c.protocol_level = kV5;
    c.client_id = "full";
    c.clean_start = false;
    c.keep_alive = 600;
    c.props = all_connect_props();
    check_roundtrip(c, kV5);
  }
  SECTION("5.0 with a will carrying every will property, user name and password") {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      CAPTURE(int(qos));
      Connect c;
      c.protocol_level = kV5;
      c.client_id = "full";
      c.props = all_connect_props();
      c.will = Will{"last/will", kBinary, qos, qos == 2, all_will_props()};
      c.username = "user";
      c.password = kBinary;
      check_roundtrip(c, kV5);
    }
  }
  SECTION("5.0 will without properties") {
    Connect c;
    c.protocol_level = kV5;
    c.client_id = "w";
    c.will = Will{"t", "", 0, false, {}};
    check_roundtrip(c, kV5);
  }
  SECTION("5.0 password without user name is allowed") {
    Connect c;
    c.protocol_level = kV5;
    c.client_id = "p";
    c.password = "secret";
    check_roundtrip(c, kV5);
  }
}

TEST_CASE("CONNECT is read by its own protocol level, whatever the connection's version", "[unit][mqtt][codec]") {
  Connect v3;
  v3.client_id = "a";
  v3.username = "u";
  Connect v5 = v3;
  v5.protocol_level = kV5;
  v5.props.session_expiry = 5;
  for (std::uint8_t conn_version : {std::uint8_t{0}, kV311, kV5}) {
    CAPTURE(int(conn_version));
    Decoded d3 = decode(encode(v3, kV311), conn_version);
    REQUIRE(d3.status == DecodeStatus::ok);
    CHECK(d3.packet == Packet{v3});
    Decoded d5 = decode(encode(v5, kV5), conn_version);
    REQUIRE(d5.status == DecodeStatus::ok);
    CHECK(d5.packet == Packet{v5});
  }
}

TEST_CASE("CONNECT with an unknown protocol level or name decodes to a Connect carrying it", "[unit][mqtt][codec]") {
  SECTION("\"MQTT\" level 6 followed by a v5-looking body") {
    const std::string wire =
        frame(0x10, bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06, 0x02, 0x00, 0x3C, 0x00, 0x00, 0x01, 'a'}));
    Decoded d = decode(wire, 0);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == wire.size());
    const auto* c = std::get_if<Connect>(&d.packet);
    REQUIRE(c != nullptr);
    CHECK(c->protocol_name == "MQTT");
    CHECK(c->protocol_level == 6);
  }
  SECTION("\"MQTT\" level 6 with nothing after the level") {
    Decoded d = decode(frame(0x10, bytes({0x00, 0x04, 'M', 'Q', 'T', 'T', 0x06})), 0);
    REQUIRE(d.status == DecodeStatus::ok);
    REQUIRE(std::holds_alternative<Connect>(d.packet));
    CHECK(std::get<Connect>(d.packet).protocol_level == 6);
  }
  SECTION("other unknown combinations") {
    struct Case {
      std::string name;
      std::uint8_t level;
    };
    for (const Case& k : {Case{"MQTT", 0}, Case{"MQTT", 3}, Case{"MQTT", 255}, Case{"MQIsdp", 4}, Case{"MQIsdp", 5},
                          Case{"HTTP", 4}, Case{"", 4}}) {
      CAPTURE(k.name, int(k.level));
      const std::string wire = frame(0x10, lstr(k.name) + bytes({k.level, 0x02, 0x00, 0x3C}) + lstr("id"));
      Decoded d = decode(wire, 0);
      REQUIRE(d.status == DecodeStatus::ok);
      REQUIRE(std::holds_alternative<Connect>(d.packet));
      CHECK(std::get<Connect>(d.packet).protocol_name == k.name);
      CHECK(std::get<Connect>(d.packet).protocol_level == k.level);
      CHECK(d.consumed == wire.size());
    }
  }
}

// ---------------------------------------------------------------------------------------------
// CONNACK
// ---------------------------------------------------------------------------------------------

TEST_CASE("CONNACK round trips", "[unit][mqtt][codec]") {
  SECTION("3.1.1 every return code, with and without session present") {
    for (std::uint8_t code = 0; code <= 5; ++code) {
      for (bool sp : {false, true}) {
        CAPTURE(int(code), sp);
        check_roundtrip(Connack{sp, code, {}}, kV311);
      }
    }
  }
  SECTION("5.0 without properties") {
    check_roundtrip(Connack{false, 0, {}}, kV5);
    check_roundtrip(Connack{true, 0, {}}, kV5);
    check_roundtrip(Connack{false, rc::unsupported_protocol_version, {}}, kV5);
  }
  SECTION("5.0 with every CONNACK property") {
    check_roundtrip(Connack{true, 0, all_connack_props()}, kV5);
    check_roundtrip(Connack{false, rc::use_another_server, all_connack_props()}, kV5);
  }
  SECTION("5.0 single properties one at a time") {
    const Properties all = all_connack_props();
    std::vector<Properties> singles(17);
    singles[0].session_expiry = all.session_expiry;
    singles[1].receive_maximum = all.receive_maximum;
    singles[2].maximum_qos = 0;
    singles[3].retain_available = 1;
    singles[4].maximum_packet_size = all.maximum_packet_size;
    singles[5].assigned_client_id = all.assigned_client_id;
    singles[6].topic_alias_maximum = 65535;
    singles[7].reason_string = all.reason_string;
    singles[8].user_properties = {{"k", "v"}};
    singles[9].wildcard_sub_available = 0;
    singles[10].sub_id_available = 1;
    singles[11].shared_sub_available = 0;
    singles[12].server_keep_alive = 0;
    singles[13].response_info = all.response_info;
    singles[14].server_reference = all.server_reference;
    singles[15].auth_method = all.auth_method;
    singles[16].auth_data = all.auth_data;
    for (std::size_t i = 0; i < singles.size(); ++i) {
      CAPTURE(i);
      check_roundtrip(Connack{false, 0, singles[i]}, kV5);
    }
  }
  SECTION("3.1.1 encoding drops v5 properties") {
    check_roundtrip_as(Connack{true, 0, all_connack_props()}, kV311, Connack{true, 0, {}});
    CHECK(encode(Connack{true, 0, all_connack_props()}, kV311) == bytes({0x20, 0x02, 0x01, 0x00}));
  }
}

// ---------------------------------------------------------------------------------------------
// PUBLISH
// ---------------------------------------------------------------------------------------------

TEST_CASE("PUBLISH round trips for every QoS, DUP and RETAIN", "[unit][mqtt][codec]") {
  const std::vector<std::string> payloads = {"", "hello", std::string(300, '\0') + kBinary};
  for (std::uint8_t version : kVersions) {
    for (std::uint8_t qos = 0; qos <= 2; ++qos) {
      for (bool retain : {false, true}) {
        for (bool dup : {false, true}) {
          if (qos == 0 && dup) continue;
          for (const auto& payload : payloads) {
            CAPTURE(int(version), int(qos), retain, dup, payload.size());
            Publish p;
            p.qos = qos;
            p.retain = retain;
            p.dup = dup;
            p.topic = "sensors/\xE2\x82\xAC/temp";
            p.packet_id = qos ? 65535 : 0;
            p.payload = payload;
            check_roundtrip(p, version);
          }
        }
      }
    }
  }
}

TEST_CASE("PUBLISH round trips with every publish property", "[unit][mqtt][codec]") {
  for (std::uint8_t qos = 0; qos <= 2; ++qos) {
    CAPTURE(int(qos));
    Publish p;
    p.qos = qos;
    p.retain = true;
    p.packet_id = qos ? 1 : 0;
    p.topic = "t";
    p.payload = "{\"v\":1}";
    p.props = all_publish_props();
    check_roundtrip(p, kV5);
  }
  SECTION("topic alias with an empty topic name") {
    Publish p;
    p.topic = "";
    p.props.topic_alias = 1;
    p.payload = "x";
    check_roundtrip(p, kV5);
  }
  SECTION("one subscription id, several user properties, payload format 0") {
    Publish p;
    p.topic = "a";
    p.props.subscription_ids = {5};
    p.props.payload_format = 0;
    p.props.user_properties = {{"1", "a"}, {"2", "b"}, {"3", "c"}, {"1", "d"}};
    check_roundtrip(p, kV5);
  }
  SECTION("3.1.1 encoding drops v5 properties") {
    Publish p;
    p.qos = 1;
    p.packet_id = 9;
    p.topic = "t";
    p.payload = "x";
    p.props = all_publish_props();
    Publish expected = p;
    expected.props = {};
    check_roundtrip_as(p, kV311, expected);
  }
}

// ---------------------------------------------------------------------------------------------
// PUBACK / PUBREC / PUBREL / PUBCOMP
// ---------------------------------------------------------------------------------------------

TEST_CASE("PUBACK, PUBREC, PUBREL and PUBCOMP round trips", "[unit][mqtt][codec]") {
  for (PacketType t : {PacketType::puback, PacketType::pubrec, PacketType::pubrel, PacketType::pubcomp}) {
    CAPTURE(packet_type_name(t));
    const std::uint8_t first = static_cast<std::uint8_t>((static_cast<int>(t) << 4) | (t == PacketType::pubrel ? 2 : 0));
    SECTION(std::string(packet_type_name(t)) + " 3.1.1") {
      check_roundtrip(PubResponse{t, 1, 0, {}}, kV311);
      check_roundtrip(PubResponse{t, 65535, 0, {}}, kV311);
      CHECK(encode(PubResponse{t, 0x1234, 0, {}}, kV311) == bytes({first, 0x02, 0x12, 0x34}));
      // v5-only fields are dropped
      check_roundtrip_as(PubResponse{t, 3, 0x80, reason_and_user_props()}, kV311, PubResponse{t, 3, 0, {}});
    }
    SECTION(std::string(packet_type_name(t)) + " 5.0") {
      // Reason 0 and no properties: the short form, Remaining Length 2.
      CHECK(encode(PubResponse{t, 0x1234, 0, {}}, kV5) == bytes({first, 0x02, 0x12, 0x34}));
      check_roundtrip(PubResponse{t, 0x1234, 0, {}}, kV5);
      // A reason and no properties: Remaining Length 3.
      CHECK(encode(PubResponse{t, 0x1234, 0x92, {}}, kV5) == bytes({first, 0x03, 0x12, 0x34, 0x92}));
      check_roundtrip(PubResponse{t, 0x1234, 0x92, {}}, kV5);
      check_roundtrip(PubResponse{t, 9, 0x10, {}}, kV5);
      check_roundtrip(PubResponse{t, 9, 0x80, reason_and_user_props()}, kV5);
      Properties only_user;
      only_user.user_properties = {{"k", "v"}};
      check_roundtrip(PubResponse{t, 9, 0, only_user}, kV5);
      Properties only_reason;
      only_reason.reason_string = "no matching subscribers";
      check_roundtrip(PubResponse{t, 9, rc::no_matching_subscribers, only_reason}, kV5);
    }
    SECTION(std::string(packet_type_name(t)) + " 5.0 short forms decode") {
      Decoded d = decode(bytes({first, 0x02, 0x00, 0x0A}), kV5);
      REQUIRE(d.status == DecodeStatus::ok);
      CHECK(d.packet == Packet{PubResponse{t, 10, 0, {}}});
      d = decode(bytes({first, 0x03, 0x00, 0x0A, 0x97}), kV5);
      REQUIRE(d.status == DecodeStatus::ok);
      CHECK(d.packet == Packet{PubResponse{t, 10, 0x97, {}}});
      d = decode(bytes({first, 0x04, 0x00, 0x0A, 0x00, 0x00}), kV5);
      REQUIRE(d.status == DecodeStatus::ok);
      CHECK(d.packet == Packet{PubResponse{t, 10, 0, {}}});
      CHECK(d.consumed == 6);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// SUBSCRIBE / SUBACK / UNSUBSCRIBE / UNSUBACK
// ---------------------------------------------------------------------------------------------

TEST_CASE("SUBSCRIBE round trips with every option combination", "[unit][mqtt][codec]") {
  SECTION("3.1.1 one filter per QoS") {
    Subscribe s;
    s.packet_id = 10;
    s.entries = {{"a/b", {0}}, {"a/+", {1}}, {"#", {2}}, {"\xE6\x97\xA5/\xE6\x9C\xAC", {1}}};
    check_roundtrip(s, kV311);
  }
  SECTION("5.0 all 36 combinations of QoS, No Local, Retain As Published, Retain Handling") {
    Subscribe s;
    s.packet_id = 65535;
    int i = 0;
    for (std::uint8_t qos = 0; qos <= 2; ++qos)
      for (bool nl : {false, true})
        for (bool rap : {false, true})
          for (std::uint8_t rh = 0; rh <= 2; ++rh)
            s.entries.push_back({"f/" + std::to_string(i++), SubscribeOptions{qos, nl, rap, rh}});
    REQUIRE(s.entries.size() == 36);
    check_roundtrip(s, kV5);
    // each combination also alone, with a subscription id and user properties
    for (const auto& e : std::vector<SubscribeEntry>(s.entries)) {
      CAPTURE(e.filter);
      Subscribe one;
      one.packet_id = 1;
      one.props.subscription_ids = {268435455};
      one.props.user_properties = {{"k", "v"}, {"k", "w"}};
      one.entries = {e};
      check_roundtrip(one, kV5);
    }
  }
  SECTION("5.0 shared subscription filter and no properties") {
    Subscribe s;
    s.packet_id = 2;
    s.entries = {{"$share/group/a/#", {1, false, true, 2}}};
    check_roundtrip(s, kV5);
  }
  SECTION("3.1.1 encoding keeps only the QoS bits") {
    Subscribe s;
    s.packet_id = 3;
    s.entries = {{"a", {2, true, true, 2}}};
    s.props.subscription_ids = {4};
    Subscribe expected;
    expected.packet_id = 3;
    expected.entries = {{"a", {2}}};
    check_roundtrip_as(s, kV311, expected);
  }
}

TEST_CASE("SUBACK round trips", "[unit][mqtt][codec]") {
  check_roundtrip(Suback{1, {}, {0x00, 0x01, 0x02, 0x80}}, kV311);
  check_roundtrip(Suback{65535, {}, {0x02}}, kV311);
  check_roundtrip(Suback{1, {}, {0x00, 0x01, 0x02, 0x80, 0x83, 0x87, 0x8F, 0x91, 0x97, 0x9E, 0xA1, 0xA2}}, kV5);
  check_roundtrip(Suback{2, reason_and_user_props(), {0x00}}, kV5);
  check_roundtrip_as(Suback{2, reason_and_user_props(), {0x01}}, kV311, Suback{2, {}, {0x01}});
}

TEST_CASE("UNSUBSCRIBE round trips", "[unit][mqtt][codec]") {
  for (std::uint8_t version : kVersions) {
    CAPTURE(int(version));
    check_roundtrip(Unsubscribe{1, {}, {"a/b"}}, version);
    check_roundtrip(Unsubscribe{65535, {}, {"a/+", "#", "$share/g/x", "\xC3\xA9"}}, version);
  }
  Properties up;
  up.user_properties = {{"why", "done"}, {"why", "again"}};
  check_roundtrip(Unsubscribe{5, up, {"x"}}, kV5);
}

TEST_CASE("UNSUBACK round trips (3.1.1 has no reason codes)", "[unit][mqtt][codec]") {
  check_roundtrip(Unsuback{1, {}, {}}, kV311);
  CHECK(encode(Unsuback{0x0102, {}, {}}, kV311) == bytes({0xB0, 0x02, 0x01, 0x02}));
  check_roundtrip_as(Unsuback{1, reason_and_user_props(), {0x00, 0x11}}, kV311, Unsuback{1, {}, {}});
  check_roundtrip(Unsuback{1, {}, {0x00}}, kV5);
  check_roundtrip(Unsuback{2, {}, {0x00, 0x11, 0x80, 0x83, 0x87, 0x8F, 0x91}}, kV5);
  check_roundtrip(Unsuback{3, reason_and_user_props(), {0x11}}, kV5);
}

// ---------------------------------------------------------------------------------------------
// PINGREQ / PINGRESP / DISCONNECT / AUTH
// ---------------------------------------------------------------------------------------------

TEST_CASE("PINGREQ and PINGRESP round trips", "[unit][mqtt][codec]") {
  for (std::uint8_t version : kVersions) {
    CAPTURE(int(version));
    check_roundtrip(Pingreq{}, version);
    check_roundtrip(Pingresp{}, version);
    CHECK(encode(Pingreq{}, version) == bytes({0xC0, 0x00}));
    CHECK(encode(Pingresp{}, version) == bytes({0xD0, 0x00}));
  }
}

TEST_CASE("DISCONNECT round trips", "[unit][mqtt][codec]") {
  SECTION("3.1.1") {
    check_roundtrip(Disconnect{}, kV311);
    CHECK(encode(Disconnect{}, kV311) == bytes({0xE0, 0x00}));
    Disconnect v5only{rc::server_shutting_down, {}};
    v5only.props.reason_string = "bye";
    check_roundtrip_as(v5only, kV311, Disconnect{});
  }
  SECTION("5.0 normal disconnection is two bytes") {
    check_roundtrip(Disconnect{}, kV5);
    CHECK(encode(Disconnect{}, kV5) == bytes({0xE0, 0x00}));
  }
  SECTION("5.0 reason only") {
    check_roundtrip(Disconnect{rc::disconnect_with_will, {}}, kV5);
    CHECK(encode(Disconnect{rc::disconnect_with_will, {}}, kV5) == bytes({0xE0, 0x01, 0x04}));
  }
  SECTION("5.0 reason, session expiry, server reference, reason string, user properties") {
    Disconnect d;
    d.reason = rc::server_moved;
    d.props.session_expiry = 0;
    d.props.server_reference = "broker-2.example:8883";
    d.props.reason_string = "moving you";
    d.props.user_properties = several_user_props();
    check_roundtrip(d, kV5);
  }
  SECTION("5.0 reason 0 with properties") {
    Disconnect d;
    d.props.session_expiry = 60;
    check_roundtrip(d, kV5);
    CHECK(encode(d, kV5) == bytes({0xE0, 0x07, 0x00, 0x05, 0x11, 0x00, 0x00, 0x00, 0x3C}));
  }
  SECTION("5.0 short forms decode") {
    Decoded d = decode(bytes({0xE0, 0x02, 0x8E, 0x00}), kV5);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.packet == Packet{Disconnect{rc::session_taken_over, {}}});
  }
}

TEST_CASE("AUTH round trips (5.0)", "[unit][mqtt][codec]") {
  check_roundtrip(Auth{}, kV5);
  Auth a;
  a.reason = 0x18;  // continue authentication
  a.props.auth_method = "SCRAM-SHA-256";
  a.props.auth_data = kBinary;
  a.props.reason_string = "step 2";
  a.props.user_properties = several_user_props();
  check_roundtrip(a, kV5);
  check_roundtrip(Auth{0x19, {}}, kV5);  // re-authenticate
  SECTION("short forms decode") {
    Decoded d = decode(bytes({0xF0, 0x00}), kV5);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.packet == Packet{Auth{}});
    d = decode(bytes({0xF0, 0x01, 0x18}), kV5);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.packet == Packet{Auth{0x18, {}}});
  }
}

TEST_CASE("packet_type and packet_type_name", "[unit][mqtt][codec]") {
  CHECK(packet_type(Connect{}) == PacketType::connect);
  CHECK(packet_type(Connack{}) == PacketType::connack);
  CHECK(packet_type(Publish{}) == PacketType::publish);
  CHECK(packet_type(PubResponse{PacketType::pubrec, 1, 0, {}}) == PacketType::pubrec);
  CHECK(packet_type(PubResponse{PacketType::pubcomp, 1, 0, {}}) == PacketType::pubcomp);
  CHECK(packet_type(Subscribe{}) == PacketType::subscribe);
  CHECK(packet_type(Suback{}) == PacketType::suback);
  CHECK(packet_type(Unsubscribe{}) == PacketType::unsubscribe);
  CHECK(packet_type(Unsuback{}) == PacketType::unsuback);
  CHECK(packet_type(Pingreq{}) == PacketType::pingreq);
  CHECK(packet_type(Pingresp{}) == PacketType::pingresp);
  CHECK(packet_type(Disconnect{}) == PacketType::disconnect);
  CHECK(packet_type(Auth{}) == PacketType::auth);
  CHECK(std::string(packet_type_name(PacketType::connect)) == "CONNECT");
  CHECK(std::string(packet_type_name(PacketType::pubrel)) == "PUBREL");
  CHECK(std::string(packet_type_name(PacketType::auth)) == "AUTH");
}

// ---------------------------------------------------------------------------------------------
// Byte-exact vectors written by hand from the OASIS specifications
// ---------------------------------------------------------------------------------------------

TEST_CASE("byte-exact encodings match hand-written vectors", "[unit][mqtt][codec]") {
  struct Vector {
    const char* name;
    std::uint8_t version;
    std::string wire;
    Packet packet;
  };
  Connect v311;  // MQTT 3.1.1 §3.1.2.10 example: flags 0xCE, keep alive 10
  v311.keep_alive = 10;
  v311.client_id = "cid";
  v311.will = Will{"w/t", "bye", 1, false, {}};
  v311.username = "user";
  v311.password = "pass";
  Connect v31;
  v31.protocol_name = "MQIsdp";
  v31.protocol_level = kV31;
  v31.client_id = "c1";
  Connect v5c;
  v5c.protocol_level = kV5;
  v5c.client_id = "a";
  v5c.props.session_expiry = 120;
  Connack v5ack;
  v5ack.props.receive_maximum = 10;
  Publish qos1{false, 1, false, "a/b", 10, {}, "hi"};
  Publish qos0r{false, 0, true, "t", 0, {}, "hi"};
  Publish qos2d{true, 2, false, "a", 0x0102, {}, ""};
  Publish alias{false, 0, false, "", 0, {}, "hi"};
  alias.props.topic_alias = 5;
  Subscribe sub3{10, {}, {{"a/b", {1}}, {"c/d", {2}}}};
  Subscribe sub5{10, {}, {{"a/b", {1, true, true, 2}}}};
  Subscribe sub5id{10, {}, {{"a/b", {1}}}};
  sub5id.props.subscription_ids = {300};
  PubResponse puback_reason{PacketType::puback, 10, 0x80, {}};
  puback_reason.props.reason_string = "x";
  Auth auth{0x18, {}};
  auth.props.auth_method = "X";

  const std::vector<Vector> vectors = {
      {"3.1.1 CONNECT with will, user name, password", kV311,
       bytes({0x10, 0x25, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x04, 0xCE, 0x00, 0x0A,  //
              0x00, 0x03, 'c', 'i', 'd',                                            //
              0x00, 0x03, 'w', '/', 't',                                            //
              0x00, 0x03, 'b', 'y', 'e',                                            //
              0x00, 0x04, 'u', 's', 'e', 'r',                                       //
              0x00, 0x04, 'p', 'a', 's', 's'}),
       v311},
      {"3.1 CONNECT (MQIsdp)", kV311,
       bytes({0x10, 0x10, 0x00, 0x06, 'M', 'Q', 'I', 's', 'd', 'p', 0x03, 0x02, 0x00, 0x3C, 0x00, 0x02, 'c', '1'}), v31},
      {"5.0 CONNECT with session expiry", kV5,
       bytes({0x10, 0x13, 0x00, 0x04, 'M', 'Q', 'T', 'T', 0x05, 0x02, 0x00, 0x3C, 0x05, 0x11, 0x00, 0x00, 0x00, 0x78,
              0x00, 0x01, 'a'}),
       v5c},
      {"3.1.1 CONNACK session present", kV311, bytes({0x20, 0x02, 0x01, 0x00}), Connack{true, 0, {}}},
      {"3.1.1 CONNACK not authorized", kV311, bytes({0x20, 0x02, 0x00, 0x05}), Connack{false, 5, {}}},
      {"5.0 CONNACK", kV5, bytes({0x20, 0x03, 0x00, 0x00, 0x00}), Connack{}},
      {"5.0 CONNACK receive maximum", kV5, bytes({0x20, 0x06, 0x00, 0x00, 0x03, 0x21, 0x00, 0x0A}), v5ack},
      {"3.1.1 PUBLISH QoS 1", kV311, bytes({0x32, 0x09, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 'h', 'i'}), qos1},
      {"5.0 PUBLISH QoS 1", kV5, bytes({0x32, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x0A, 0x00, 'h', 'i'}), qos1},
      {"3.1.1 PUBLISH QoS 0 retained", kV311, bytes({0x31, 0x05, 0x00, 0x01, 't', 'h', 'i'}), qos0r},
      {"3.1.1 PUBLISH QoS 2 DUP", kV311, bytes({0x3C, 0x05, 0x00, 0x01, 'a', 0x01, 0x02}), qos2d},
      {"5.0 PUBLISH topic alias, empty topic", kV5, bytes({0x30, 0x08, 0x00, 0x00, 0x03, 0x23, 0x00, 0x05, 'h', 'i'}),
       alias},
      {"3.1.1 PUBACK", kV311, bytes({0x40, 0x02, 0x00, 0x0A}), PubResponse{PacketType::puback, 10, 0, {}}},
      {"3.1.1 PUBREC", kV311, bytes({0x50, 0x02, 0x00, 0x0A}), PubResponse{PacketType::pubrec, 10, 0, {}}},
      {"3.1.1 PUBREL", kV311, bytes({0x62, 0x02, 0x00, 0x0A}), PubResponse{PacketType::pubrel, 10, 0, {}}},
      {"3.1.1 PUBCOMP", kV311, bytes({0x70, 0x02, 0x00, 0x0A}), PubResponse{PacketType::pubcomp, 10, 0, {}}},
      {"5.0 PUBACK reason only", kV5, bytes({0x40, 0x03, 0x00, 0x0A, 0x10}),
       PubResponse{PacketType::puback, 10, 0x10, {}}},
      {"5.0 PUBACK reason string", kV5, bytes({0x40, 0x08, 0x00, 0x0A, 0x80, 0x04, 0x1F, 0x00, 0x01, 'x'}),
       puback_reason},
      {"3.1.1 SUBSCRIBE", kV311,
       bytes({0x82, 0x0E, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x01, 0x00, 0x03, 'c', '/', 'd', 0x02}), sub3},
      {"5.0 SUBSCRIBE all options", kV5, bytes({0x82, 0x09, 0x00, 0x0A, 0x00, 0x00, 0x03, 'a', '/', 'b', 0x2D}), sub5},
      {"5.0 SUBSCRIBE subscription id 300", kV5,
       bytes({0x82, 0x0C, 0x00, 0x0A, 0x03, 0x0B, 0xAC, 0x02, 0x00, 0x03, 'a', '/', 'b', 0x01}), sub5id},
      {"3.1.1 SUBACK", kV311, bytes({0x90, 0x05, 0x00, 0x0A, 0x00, 0x01, 0x80}), Suback{10, {}, {0x00, 0x01, 0x80}}},
      {"5.0 SUBACK", kV5, bytes({0x90, 0x05, 0x00, 0x0A, 0x00, 0x02, 0x8F}), Suback{10, {}, {0x02, 0x8F}}},
      {"3.1.1 UNSUBSCRIBE", kV311,
       bytes({0xA2, 0x0C, 0x00, 0x0A, 0x00, 0x03, 'a', '/', 'b', 0x00, 0x03, 'c', '/', 'd'}),
       Unsubscribe{10, {}, {"a/b", "c/d"}}},
      {"5.0 UNSUBSCRIBE", kV5, bytes({0xA2, 0x08, 0x00, 0x0A, 0x00, 0x00, 0x03, 'a', '/', 'b'}),
       Unsubscribe{10, {}, {"a/b"}}},
      {"3.1.1 UNSUBACK", kV311, bytes({0xB0, 0x02, 0x00, 0x0A}), Unsuback{10, {}, {}}},
      {"5.0 UNSUBACK", kV5, bytes({0xB0, 0x05, 0x00, 0x0A, 0x00, 0x00, 0x11}), Unsuback{10, {}, {0x00, 0x11}}},
      {"3.1.1 PINGREQ", kV311, bytes({0xC0, 0x00}), Pingreq{}},
      {"5.0 PINGREQ", kV5, bytes({0xC0, 0x00}), Pingreq{}},
      {"3.1.1 PINGRESP", kV311, bytes({0xD0, 0x00}), Pingresp{}},
      {"3.1.1 DISCONNECT", kV311, bytes({0xE0, 0x00}), Disconnect{}},
      {"5.0 DISCONNECT", kV5, bytes({0xE0, 0x00}), Disconnect{}},
      {"5.0 DISCONNECT with will", kV5, bytes({0xE0, 0x01, 0x04}), Disconnect{0x04, {}}},
      {"5.0 AUTH", kV5, bytes({0xF0, 0x06, 0x18, 0x04, 0x15, 0x00, 0x01, 'X'}), auth},
  };
  for (const auto& v : vectors) {
    CAPTURE(v.name);
    CHECK(hex(encode(v.packet, v.version)) == hex(v.wire));
    Decoded d = decode(v.wire, decode_version_for(v.packet, v.version));
    INFO("decode error " << int(d.err.reason) << " " << d.err.message);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == v.wire.size());
    CHECK(d.packet == v.packet);
  }
}

// ---------------------------------------------------------------------------------------------
// Remaining Length, partial input, back-to-back packets
// ---------------------------------------------------------------------------------------------

TEST_CASE("Remaining Length varint at its boundaries", "[unit][mqtt][codec]") {
  struct Case {
    std::uint32_t remaining;
    std::string header;
  };
  const std::vector<Case> cases = {
      {3, bytes({0x03})},
      {127, bytes({0x7F})},
      {128, bytes({0x80, 0x01})},
      {16383, bytes({0xFF, 0x7F})},
      {16384, bytes({0x80, 0x80, 0x01})},
      {2097151, bytes({0xFF, 0xFF, 0x7F})},
      {2097152, bytes({0x80, 0x80, 0x80, 0x01})},
  };
  for (const auto& c : cases) {
    CAPTURE(c.remaining);
    // 3.1.1 QoS 0 PUBLISH to "t": Remaining Length = 2 + 1 + payload.
    Publish p;
    p.topic = "t";
    p.payload.assign(c.remaining - 3, 'x');
    const std::string wire = encode(p, kV311);
    REQUIRE(wire.size() == 1 + c.header.size() + c.remaining);
    CHECK(hex(wire.substr(1, c.header.size())) == hex(c.header));
    PublishView view{p.topic, p.payload};
    CHECK(encoded_publish_size(view, kV311) == wire.size());
    Decoded d = decode(wire, kV311);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == wire.size());
    CHECK(std::get<Publish>(d.packet).payload.size() == p.payload.size());
    // One byte short is still incomplete.
    CHECK(decode(std::string_view(wire).substr(0, wire.size() - 1), kV311).status == DecodeStatus::need_more);
  }
  SECTION("zero remaining length") {
    Decoded d = decode(bytes({0xC0, 0x00}), kV311);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == 2);
  }
  SECTION("the largest header, 268435455, is read from the header alone") {
    const std::string header = bytes({0x30, 0xFF, 0xFF, 0xFF, 0x7F});  // total 5 + 268435455 = 268435460
    CHECK(decode(header, kV311).status == DecodeStatus::need_more);
    CHECK(decode(header, kV5, 268435460).status == DecodeStatus::need_more);
    Decoded d = decode(header, kV5, 268435459);
    REQUIRE(d.status == DecodeStatus::error);
    CHECK(d.err.reason == rc::packet_too_large);
    // A partial header never errors for size: it cannot be known yet.
    CHECK(decode(bytes({0x30, 0xFF, 0xFF, 0xFF}), kV5, 10).status == DecodeStatus::need_more);
  }
}

TEST_CASE("every strict prefix of a valid packet is need_more", "[unit][mqtt][codec]") {
  for (std::uint8_t version : kVersions) {
    for (const Packet& p : sample_packets(version)) {
      const std::string wire = encode(p, version);
      const std::uint8_t dv = decode_version_for(p, version);
      CAPTURE(int(version), packet_type_name(packet_type(p)), hex(wire));
      for (std::size_t n = 0; n < wire.size(); ++n) {
        CAPTURE(n);
        Packet out;
        std::size_t consumed = 12345;
        DecodeError err;
        REQUIRE(decode_packet(std::string_view(wire).substr(0, n), dv, kNoLimit, out, consumed, err) ==
                DecodeStatus::need_more);
        CHECK(consumed == 12345);  // untouched when nothing was decoded
      }
      Decoded full = decode(wire, dv);
      REQUIRE(full.status == DecodeStatus::ok);
      CHECK(full.consumed == wire.size());
      CHECK(full.packet == p);
    }
  }
}

TEST_CASE("packets back to back are consumed exactly", "[unit][mqtt][codec]") {
  for (std::uint8_t version : kVersions) {
    CAPTURE(int(version));
    const std::vector<Packet> packets = sample_packets(version);
    std::string stream;
    std::vector<std::size_t> sizes;
    for (const Packet& p : packets) {
      const std::size_t before = stream.size();
      encode_packet(p, version, stream);  // appends
      sizes.push_back(stream.size() - before);
    }
    // a partial trailing packet
    const std::string tail = encode(Publish{false, 1, false, "tail", 3, {}, "abc"}, version);
    stream += tail.substr(0, tail.size() - 2);

    std::string_view rest = stream;
    for (std::size_t i = 0; i < packets.size(); ++i) {
      CAPTURE(i);
      Decoded d = decode(rest, decode_version_for(packets[i], version));
      REQUIRE(d.status == DecodeStatus::ok);
      CHECK(d.consumed == sizes[i]);
      CHECK(d.packet == packets[i]);
      rest.remove_prefix(d.consumed);
    }
    CHECK(rest.size() == tail.size() - 2);
    CHECK(decode(rest, version).status == DecodeStatus::need_more);
  }
  SECTION("two PINGREQs") {
    const std::string two = bytes({0xC0, 0x00, 0xC0, 0x00});
    Decoded d = decode(two, kV311);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == 2);
    d = decode(std::string_view(two).substr(2), kV311);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == 2);
  }
}

TEST_CASE("encode_packet appends to the output", "[unit][mqtt][codec]") {
  std::string out = "prefix";
  encode_packet(Pingreq{}, kV311, out);
  encode_packet(Disconnect{}, kV5, out);
  CHECK(out == "prefix" + bytes({0xC0, 0x00, 0xE0, 0x00}));
}

// ---------------------------------------------------------------------------------------------
// encode_publish / PublishView / encoded_publish_size
// ---------------------------------------------------------------------------------------------

TEST_CASE("encode_publish with PublishView overrides", "[unit][mqtt][codec]") {
  Properties stored;  // what the publisher sent, as kept by the broker
  stored.payload_format = 1;
  stored.message_expiry = 600;
  stored.content_type = "text/plain";
  stored.response_topic = "reply";
  stored.correlation_data = kBinary;
  stored.subscription_ids = {77};  // must never leak to a subscriber
  stored.topic_alias = 9;          // the publisher's alias, not the subscriber's
  stored.user_properties = several_user_props();

  auto decode_view = [](const PublishView& v, std::uint8_t version) {
    std::string out;
    encode_publish(v, version, out);
    INFO("wire: " << hex(out, 400));
    CHECK(encoded_publish_size(v, version) == out.size());
    Decoded d = decode(out, version);
    INFO("decode error " << int(d.err.reason) << " " << d.err.message);
    REQUIRE(d.status == DecodeStatus::ok);
    CHECK(d.consumed == out.size());
    REQUIRE(std::holds_alternative<Publish>(d.packet));
    return d.packet;
  };

  SECTION("subscription ids, topic alias and message expiry override the stored properties") {
    const std::vector<std::uint32_t> ids = {1, 2, 268435455};
    PublishView v;
    v.topic = "a/b";
    v.payload = "data";
    v.qos = 1;
    v.retain = true;
    v.dup = true;
    v.packet_id = 321;
    v.props = &stored;
    v.subscription_ids = ids;
    v.topic_alias = 4;
    v.message_expiry = 42;
    Publish expected{true, 1, true, "a/b", 321, stored, "data"};
    expected.props.subscription_ids = ids;
    expected.props.topic_alias = 4;
    expected.props.message_expiry = 42;
    CHECK(decode_view(v, kV5) == Packet{expected});
  }
  SECTION("no overrides: the stored subscription ids and topic alias are not sent, the expiry is") {
    PublishView v;
    v.topic = "a/b";
    v.payload = "data";
    v.props = &stored;
    Publish expected{false, 0, false, "a/b", 0, stored, "data"};
    expected.props.subscription_ids.clear();
    expected.props.topic_alias.reset();
    CHECK(decode_view(v, kV5) == Packet{expected});
  }
  SECTION("topic alias with an empty topic and no stored properties") {
    PublishView v;
    v.topic = "";
    v.payload = "p";
    v.topic_alias = 1;
    Publish expected;
    expected.payload = "p";
    expected.props.topic_alias = 1;
    CHECK(decode_view(v, kV5) == Packet{expected});
  }
  SECTION("message expiry override without stored properties") {
    PublishView v;
    v.topic = "t";
    v.qos = 2;
    v.packet_id = 1;
    v.message_expiry = 0;
    Publish expected{false, 2, false, "t", 1, {}, ""};
    expected.props.message_expiry = 0;
    CHECK(decode_view(v, kV5) == Packet{expected});
  }
  SECTION("3.1.1 drops every property and override") {
    const std::vector<std::uint32_t> ids = {5};
    PublishView v;
    v.topic = "t";
    v.payload = "x";
    v.qos = 1;
    v.packet_id = 2;
    v.props = &stored;
    v.subscription_ids = ids;
    v.topic_alias = 3;
    v.message_expiry = 10;
    CHECK(decode_view(v, kV311) == Packet{Publish{false, 1, false, "t", 2, {}, "x"}});
    std::string out;
    encode_publish(v, kV311, out);
    CHECK(out == bytes({0x32, 0x06, 0x00, 0x01, 't', 0x00, 0x02, 'x'}));
  }
  SECTION("encode_publish appends and matches encode_packet") {
    Publish p{false, 1, true, "x/y", 5, all_publish_props(), "payload"};
    PublishView v{p.topic, p.payload, p.qos, p.retain, p.dup, p.packet_id, &p.props, p.props.subscription_ids,
                  *p.props.topic_alias, std::nullopt};
    for (std::uint8_t version : kVersions) {
      std::string out = "ab";
      encode_publish(v, version, out);
      CHECK(out == "ab" + encode(p, version));
    }
  }
}

TEST_CASE("encoded_publish_size equals the encoded size", "[unit][mqtt][codec]") {
  Properties stored = all_publish_props();
  const std::vector<std::uint32_t> ids = {1, 200, 70000};
  const std::string big(2100000, 'z');
  // Payload sizes around each Remaining Length boundary.
  const std::vector<std::size_t> sizes = {0, 1, 100, 120, 121, 122, 123, 124, 125, 126, 127, 128, 16370,
                                          16375, 16376, 16377, 16378, 16379, 16380, 16381, 16382, 16383,
                                          16384, 2097130, 2097140, 2097141, 2097142, 2097143, 2097144, 2097145,
                                          2097146, 2097147, 2097148, 2097149, 2097150, 2097151, 2097152};
  for (std::uint8_t version : kVersions) {
    for (std::uint8_t qos : {0, 1}) {
      for (int props_kind = 0; props_kind < 3; ++props_kind) {
        for (std::size_t n : sizes) {
          PublishView v;
          v.topic = "size/test";
          v.payload = std::string_view(big).substr(0, n);
          v.qos = qos;
          v.packet_id = qos ? 1 : 0;
          if (props_kind >= 1) v.props = &stored;
          if (props_kind == 2) {
            v.subscription_ids = ids;
            v.topic_alias = 300;
            v.message_expiry = 1;
          }
          std::string out;
          encode_publish(v, version, out);
          if (encoded_publish_size(v, version) != out.size()) {
            CAPTURE(int(version), int(qos), props_kind, n);
            CHECK(encoded_publish_size(v, version) == out.size());
          }
        }
      }
    }
  }
  SUCCEED("sizes checked");
}
