#include <catch2/catch.hpp>

#include <algorithm>

#include "channel_harness.hpp"
#include "fake_clock.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

using namespace tidemq;
using namespace tidemq::test;
using namespace std::chrono_literals;
namespace rc = mqtt::rc;

namespace {
struct Fixture {
  FakeClock clock;
  core::BrokerSettings settings;
  std::unique_ptr<core::Broker> broker;
  explicit Fixture(core::BrokerSettings s = {}) : settings(s), broker(std::make_unique<core::Broker>(s, clock)) {}
};
}  // namespace

TEST_CASE("v5 CONNECT gets CONNACK with the server's limits", "[unit][core][channel]") {
  core::BrokerSettings s;
  s.max_inflight = 10;
  s.max_keepalive = 30;
  s.max_packet_size = 4096;
  Fixture f(s);
  auto c = ChannelHarness::make(*f.broker);
  auto conn = connect_v5("");
  conn.keep_alive = 600;
  conn.props.request_response_info = 1;
  auto out = c->send(conn);
  REQUIRE(out.size() == 1);
  const auto& ack = as<mqtt::Connack>(out[0]);
  CHECK(ack.reason == rc::success);
  CHECK_FALSE(ack.session_present);
  CHECK(ack.props.receive_maximum == 10);
  CHECK(ack.props.server_keep_alive == 30);
  CHECK(ack.props.maximum_packet_size == 4096);
  REQUIRE(ack.props.assigned_client_id);
  CHECK(ack.props.assigned_client_id->rfind("tidemq-", 0) == 0);
  CHECK(ack.props.response_info == "response/" + *ack.props.assigned_client_id);
  CHECK(c->channel.keep_alive() == 30);
}

TEST_CASE("CONNACK refusals use the right code per protocol version", "[unit][core][channel]") {
  Fixture f;
  SECTION("unknown protocol level answers in the 3.1.1 form") {
    auto c = ChannelHarness::make(*f.broker);
    auto conn = connect_v311("x");
    conn.protocol_level = 6;
    auto out = c->send(conn);
    REQUIRE(out.size() == 1);
    CHECK(as<mqtt::Connack>(out[0]).reason == mqtt::rc311::unacceptable_protocol_version);
    CHECK(c->channel.wants_close());
  }
  SECTION("3.1.1 empty client id with clean session 0 → identifier rejected") {
    auto c = ChannelHarness::make(*f.broker);
    auto out = c->send(connect_v311("", false));
    CHECK(as<mqtt::Connack>(out.at(0)).reason == mqtt::rc311::identifier_rejected);
  }
  SECTION("v5 authentication method is not supported") {
    auto c = ChannelHarness::make(*f.broker);
    auto conn = connect_v5("a");
    conn.props.auth_method = "SCRAM-SHA-1";
    CHECK(as<mqtt::Connack>(c->send(conn).at(0)).reason == rc::bad_authentication_method);
  }
  SECTION("will topic with a wildcard") {
    auto c = ChannelHarness::make(*f.broker);
    auto conn = connect_v5("a");
    conn.will = mqtt::Will{"a/#", "x", 0, false, {}};
    CHECK(as<mqtt::Connack>(c->send(conn).at(0)).reason == rc::topic_name_invalid);
  }
}

TEST_CASE("admission hook refuses before authentication", "[unit][core][channel][hooks]") {
  Fixture f;
  auto h = f.broker->hooks().add_admission(0, [](const core::AdmissionRequest& r) -> std::optional<core::AdmissionRefusal> {
    if (r.client_id == "ok") return std::nullopt;
    return core::AdmissionRefusal{rc::use_another_server, "127.0.0.2:1883"};
  });
  auto v5 = ChannelHarness::make(*f.broker);
  auto replies = v5->send(connect_v5("dev1"));
  const auto& ack = as<mqtt::Connack>(replies.at(0));
  CHECK(ack.reason == rc::use_another_server);
  CHECK(ack.props.server_reference == "127.0.0.2:1883");
  auto v3 = ChannelHarness::make(*f.broker);
  CHECK(as<mqtt::Connack>(v3->send(connect_v311("dev2")).at(0)).reason == mqtt::rc311::server_unavailable);
  auto ok = ChannelHarness::make(*f.broker);
  CHECK(as<mqtt::Connack>(ok->send(connect_v5("ok")).at(0)).reason == rc::success);
  f.broker->hooks().remove_admission(h);
  auto later = ChannelHarness::make(*f.broker);
  CHECK(as<mqtt::Connack>(later->send(connect_v5("dev1")).at(0)).reason == rc::success);
  CHECK(f.broker->registry().connection_count() == 2);
}

TEST_CASE("QoS 1 publish reaches a subscriber, flow control holds back past Receive Maximum", "[unit][core][channel]") {
  Fixture f;
  auto sub = ChannelHarness::make(*f.broker);
  auto conn = connect_v5("sub");
  conn.props.receive_maximum = 2;
  sub->send(conn);
  auto subacks = sub->send(subscribe(1, "t/+", 1, 7));
  REQUIRE(as<mqtt::Suback>(subacks.at(0)).reasons == std::vector<std::uint8_t>{1});

  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("pub"));
  for (std::uint16_t i = 1; i <= 3; ++i) {
    auto acks = pub->send(publish("t/x", "m" + std::to_string(i), 1, i));
    CHECK(as<mqtt::PubResponse>(acks.at(0)).reason == rc::success);
  }
  auto got = sub->pump();
  REQUIRE(got.size() == 2);  // Receive Maximum 2
  const auto& first = as<mqtt::Publish>(got[0]);
  CHECK(first.payload == "m1");
  CHECK(first.props.subscription_ids == std::vector<std::uint32_t>{7});
  auto more = sub->send(mqtt::PubResponse{mqtt::PacketType::puback, first.packet_id, 0, {}});
  REQUIRE(more.size() == 1);
  CHECK(as<mqtt::Publish>(more[0]).payload == "m3");

  // Nobody subscribes to "other": v5 PUBACK says so.
  CHECK(as<mqtt::PubResponse>(pub->send(publish("other", "x", 1, 9)).at(0)).reason == rc::no_matching_subscribers);
}

TEST_CASE("overlapping subscriptions: one copy at max QoS, in v5 with every identifier", "[unit][core][channel]") {
  Fixture f;
  auto v5 = ChannelHarness::make(*f.broker);
  v5->send(connect_v5("five"));
  v5->send(subscribe(1, "a/+", 0, 1));
  v5->send(subscribe(2, "a/#", 1, 2));
  auto v3 = ChannelHarness::make(*f.broker);
  v3->send(connect_v311("three"));
  v3->send(subscribe(1, "a/+", 0));
  v3->send(subscribe(2, "a/#", 1));
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  pub->send(publish("a/b", "x", 1, 1));
  auto got5 = v5->pump();
  REQUIRE(got5.size() == 1);
  CHECK(as<mqtt::Publish>(got5[0]).qos == 1);
  auto ids = as<mqtt::Publish>(got5[0]).props.subscription_ids;
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::uint32_t>{1, 2});
  auto got3 = v3->pump();
  REQUIRE(got3.size() == 1);
  CHECK(as<mqtt::Publish>(got3[0]).qos == 1);
}

TEST_CASE("outbound topic aliases are assigned once per topic", "[unit][core][channel]") {
  Fixture f;
  auto sub = ChannelHarness::make(*f.broker);
  auto conn = connect_v5("s");
  conn.props.topic_alias_maximum = 1;
  sub->send(conn);
  sub->send(subscribe(1, "#", 0));
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  pub->send(publish("long/topic/name", "1"));
  pub->send(publish("long/topic/name", "2"));
  pub->send(publish("other", "3"));
  auto got = sub->pump();
  REQUIRE(got.size() == 3);
  CHECK(as<mqtt::Publish>(got[0]).topic == "long/topic/name");
  CHECK(as<mqtt::Publish>(got[0]).props.topic_alias == 1);
  CHECK(as<mqtt::Publish>(got[1]).topic.empty());
  CHECK(as<mqtt::Publish>(got[1]).props.topic_alias == 1);
  CHECK(as<mqtt::Publish>(got[2]).topic == "other");  // aliases used up
  CHECK_FALSE(as<mqtt::Publish>(got[2]).props.topic_alias);
}

TEST_CASE("inbound topic alias: unknown alias is a protocol error, too large is 0x94", "[unit][core][channel]") {
  core::BrokerSettings s;
  s.max_topic_alias = 5;
  Fixture f(s);
  auto c = ChannelHarness::make(*f.broker);
  c->send(connect_v5("c"));
  auto p = publish("", "x");
  p.props.topic_alias = 6;
  auto out = c->send(p);
  REQUIRE(out.size() == 1);
  CHECK(as<mqtt::Disconnect>(out[0]).reason == rc::topic_alias_invalid);
  CHECK(c->channel.wants_close());
}

TEST_CASE("a packet over max_packet_size gets DISCONNECT 0x95", "[unit][core][channel]") {
  core::BrokerSettings s;
  s.max_packet_size = 100;
  Fixture f(s);
  auto c = ChannelHarness::make(*f.broker);
  c->send(connect_v5("c"));
  auto out = c->send(publish("t", std::string(200, 'x')));
  REQUIRE(out.size() == 1);
  CHECK(as<mqtt::Disconnect>(out[0]).reason == rc::packet_too_large);
}

TEST_CASE("messages larger than the client's Maximum Packet Size are not sent", "[unit][core][channel]") {
  Fixture f;
  auto sub = ChannelHarness::make(*f.broker);
  auto conn = connect_v5("s");
  conn.props.maximum_packet_size = 64;
  sub->send(conn);
  sub->send(subscribe(1, "t", 0));
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  pub->send(publish("t", std::string(100, 'x')));
  pub->send(publish("t", "small"));
  auto got = sub->pump();
  REQUIRE(got.size() == 1);
  CHECK(as<mqtt::Publish>(got[0]).payload == "small");
  CHECK(f.broker->stats().messages_dropped_too_large == 1);
}

TEST_CASE("persistent session: offline queue, DUP redelivery of inflight, session present", "[unit][core][channel][session]") {
  Fixture f;
  auto first = ChannelHarness::make(*f.broker);
  first->send(connect_v5("dev", true, 300));
  first->send(subscribe(1, "q", 1));
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  pub->send(publish("q", "one", 1, 1));
  auto got = first->pump();
  REQUIRE(got.size() == 1);  // delivered, never acknowledged
  const auto pid = as<mqtt::Publish>(got[0]).packet_id;
  first->channel.on_connection_lost();
  pub->send(publish("q", "two", 1, 2));  // queued while offline
  CHECK(f.broker->registry().offline_session_count() == 1);

  auto second = ChannelHarness::make(*f.broker);
  auto out = second->send(connect_v5("dev", false, 300));
  REQUIRE(out.size() == 3);
  CHECK(as<mqtt::Connack>(out[0]).session_present);
  const auto& redelivered = as<mqtt::Publish>(out[1]);
  CHECK(redelivered.dup);
  CHECK(redelivered.packet_id == pid);
  CHECK(redelivered.payload == "one");
  CHECK(as<mqtt::Publish>(out[2]).payload == "two");
  CHECK_FALSE(as<mqtt::Publish>(out[2]).dup);
}

TEST_CASE("takeover: the old connection is kicked with 0x8E and loses the session", "[unit][core][channel][session]") {
  Fixture f;
  auto old_conn = ChannelHarness::make(*f.broker);
  auto will_conn = connect_v5("dev", true, 60);
  will_conn.will = mqtt::Will{"will/dev", "gone", 0, false, {}};
  will_conn.will->props.will_delay = 10;  // the new connection arrives within the delay
  old_conn->send(will_conn);
  auto watcher = ChannelHarness::make(*f.broker);
  watcher->send(connect_v5("w"));
  watcher->send(subscribe(1, "will/#", 0));

  auto new_conn = ChannelHarness::make(*f.broker);
  auto out = new_conn->send(connect_v5("dev", false, 60));
  CHECK(as<mqtt::Connack>(out.at(0)).session_present);
  REQUIRE(old_conn->kicks.size() == 1);
  CHECK(old_conn->kicks[0].reason == rc::session_taken_over);
  auto old_out = old_conn->pump();
  REQUIRE(old_out.size() == 1);
  CHECK(as<mqtt::Disconnect>(old_out[0]).reason == rc::session_taken_over);
  CHECK(old_conn->channel.wants_close());
  CHECK(watcher->pump().empty());  // the session has a connection again: no will
  CHECK(f.broker->registry().connection_count() == 2);
}

TEST_CASE("wills: immediate on connection loss, none on normal DISCONNECT, sent on 0x04", "[unit][core][channel][will]") {
  Fixture f;
  auto watcher = ChannelHarness::make(*f.broker);
  watcher->send(connect_v5("w"));
  watcher->send(subscribe(1, "will/#", 0));
  auto with_will = [&](const std::string& id) {
    auto c = ChannelHarness::make(*f.broker);
    auto conn = connect_v5(id);
    conn.will = mqtt::Will{"will/" + id, "bye", 0, false, {}};
    c->send(conn);
    return c;
  };
  auto lost = with_will("a");
  lost->channel.on_connection_lost();
  auto normal = with_will("b");
  normal->send(mqtt::Disconnect{});
  auto asked = with_will("c");
  asked->send(mqtt::Disconnect{rc::disconnect_with_will, {}});
  auto got = watcher->pump();
  REQUIRE(got.size() == 2);
  CHECK(as<mqtt::Publish>(got[0]).topic == "will/a");
  CHECK(as<mqtt::Publish>(got[1]).topic == "will/c");
}

TEST_CASE("will delay: published when the delay passes, suppressed by a reconnect", "[unit][core][will]") {
  Fixture f;
  auto watcher = ChannelHarness::make(*f.broker);
  watcher->send(connect_v5("w"));
  watcher->send(subscribe(1, "will/#", 0));
  auto make_delayed = [&](const std::string& id) {
    auto c = ChannelHarness::make(*f.broker);
    auto conn = connect_v5(id, true, 100);
    mqtt::Will w{"will/" + id, "late", 0, false, {}};
    w.props.will_delay = 5;
    conn.will = w;
    c->send(conn);
    c->channel.on_connection_lost();
    return c;
  };
  auto a = make_delayed("a");
  auto b = make_delayed("b");
  f.clock.advance(4s);
  f.broker->sweep();
  CHECK(watcher->pump().empty());
  auto b_again = ChannelHarness::make(*f.broker);
  b_again->send(connect_v5("b", false, 100));  // back before the delay ends: no will
  f.clock.advance(1s);
  f.broker->sweep();
  auto got = watcher->pump();
  REQUIRE(got.size() == 1);
  CHECK(as<mqtt::Publish>(got[0]).topic == "will/a");
}

TEST_CASE("session expiry removes the session and publishes a pending will first", "[unit][core][session]") {
  Fixture f;
  auto c = ChannelHarness::make(*f.broker);
  auto conn = connect_v5("dev", true, 3);
  mqtt::Will w{"will/dev", "x", 0, false, {}};
  w.props.will_delay = 100;  // longer than the session: the session end publishes it
  conn.will = w;
  c->send(conn);
  auto watcher = ChannelHarness::make(*f.broker);
  watcher->send(connect_v5("w"));
  watcher->send(subscribe(1, "will/#", 0));
  c->channel.on_connection_lost();
  CHECK(f.broker->registry().session_count() == 2);
  f.clock.advance(2900ms);
  f.broker->sweep();
  CHECK(f.broker->registry().session_count() == 2);
  f.clock.advance(200ms);
  f.broker->sweep();
  CHECK(f.broker->registry().session_count() == 1);
  CHECK(watcher->pump().size() == 1);
}

TEST_CASE("message expiry is decremented while queued and expired messages are dropped", "[unit][core][channel]") {
  Fixture f;
  auto sub = ChannelHarness::make(*f.broker);
  sub->send(connect_v5("s", true, 600));
  sub->send(subscribe(1, "t", 1));
  sub->channel.on_connection_lost();
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  auto short_lived = publish("t", "short", 1, 1);
  short_lived.props.message_expiry = 2;
  pub->send(short_lived);
  auto long_lived = publish("t", "long", 1, 2);
  long_lived.props.message_expiry = 10;
  pub->send(long_lived);
  f.clock.advance(3s);
  auto again = ChannelHarness::make(*f.broker);
  auto out = again->send(connect_v5("s", false, 600));
  REQUIRE(out.size() == 2);
  CHECK(as<mqtt::Publish>(out[1]).payload == "long");
  CHECK(as<mqtt::Publish>(out[1]).props.message_expiry == 7);
}

TEST_CASE("retained messages: stored, sent on subscribe with RETAIN=1, retain handling 2 skips them", "[unit][core][channel][retained]") {
  Fixture f;
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  pub->send(publish("r/1", "kept", 0, 0, true));
  auto sub = ChannelHarness::make(*f.broker);
  sub->send(connect_v5("s"));
  auto out = sub->send(subscribe(1, "r/#", 1));
  REQUIRE(out.size() == 2);
  CHECK(std::holds_alternative<mqtt::Suback>(out[0]));
  CHECK(as<mqtt::Publish>(out[1]).retain);
  mqtt::Subscribe no_retained = subscribe(2, "r/+", 0);
  no_retained.entries[0].options.retain_handling = 2;
  CHECK(sub->send(no_retained).size() == 1);
  pub->send(publish("r/1", "", 0, 0, true));  // empty payload clears it
  CHECK(f.broker->retained().size() == 0);
}

TEST_CASE("shared subscription delivers each message to one member", "[unit][core][channel][shared]") {
  Fixture f;
  auto a = ChannelHarness::make(*f.broker);
  a->send(connect_v5("a"));
  a->send(subscribe(1, "$share/g/job/#", 0));
  auto b = ChannelHarness::make(*f.broker);
  b->send(connect_v5("b"));
  b->send(subscribe(1, "$share/g/job/#", 0));
  auto pub = ChannelHarness::make(*f.broker);
  pub->send(connect_v5("p"));
  for (int i = 0; i < 10; ++i) pub->send(publish("job/x", std::to_string(i)));
  auto ga = a->pump().size();
  auto gb = b->pump().size();
  CHECK(ga + gb == 10);
  CHECK(ga == 5);
}

TEST_CASE("malformed bytes and protocol errors close the connection with a reason", "[unit][core][channel]") {
  Fixture f;
  SECTION("garbage before CONNECT closes without a reply") {
    auto c = ChannelHarness::make(*f.broker);
    CHECK(c->feed(std::string("\x30\x02\x00\x00", 4)).empty());
    CHECK(c->channel.wants_close());
  }
  SECTION("a second CONNECT is a protocol error") {
    auto c = ChannelHarness::make(*f.broker);
    c->send(connect_v5("x"));
    auto out = c->send(connect_v5("x"));
    CHECK(as<mqtt::Disconnect>(out.at(0)).reason == rc::protocol_error);
  }
  SECTION("reserved flags after CONNECT → 0x81") {
    auto c = ChannelHarness::make(*f.broker);
    c->send(connect_v5("x"));
    auto out = c->feed(std::string("\xC1\x00", 2));
    CHECK(as<mqtt::Disconnect>(out.at(0)).reason == rc::malformed_packet);
  }
}

TEST_CASE("evict_connections kicks the requested number with reason and server reference", "[unit][core][session]") {
  Fixture f;
  std::vector<std::shared_ptr<ChannelHarness>> conns;
  for (int i = 0; i < 5; ++i) {
    conns.push_back(ChannelHarness::make(*f.broker));
    conns.back()->send(connect_v5("c" + std::to_string(i)));
  }
  auto n = f.broker->registry().evict_connections(3, core::DisconnectInfo{rc::use_another_server, "10.0.0.9:1883"});
  CHECK(n == 3);
  int kicked = 0;
  for (auto& c : conns) {
    if (c->kicks.empty()) continue;
    ++kicked;
    auto out = c->pump();
    const auto& d = as<mqtt::Disconnect>(out.at(0));
    CHECK(d.reason == rc::use_another_server);
    CHECK(d.props.server_reference == "10.0.0.9:1883");
  }
  CHECK(kicked == 3);
  CHECK(f.broker->registry().connection_count() == 2);
  CHECK(f.broker->registry().offline_session_count() == 0);  // expiry 0: sessions ended
}
