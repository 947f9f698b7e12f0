#include <catch2/catch.hpp>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "channel_harness.hpp"
#include "fake_clock.hpp"

using namespace tidemq;
using namespace tidemq::test;
using namespace std::chrono_literals;

TEST_CASE("SessionSnapshot survives JSON and MessagePack unchanged", "[unit][core][snapshot]") {
  core::SessionSnapshot s;
  s.client_id = "dev-1";
  s.protocol_level = mqtt::kV5;
  s.subscriptions.push_back({"a/+", mqtt::SubscribeOptions{1, true, true, 2}, 42});
  s.subscriptions.push_back({"$share/g/b/#", mqtt::SubscribeOptions{2}, 0});
  core::MessageSnapshot m;
  m.topic = "a/b";
  m.payload = std::string("\x00\xff binary", 9);
  m.qos = 1;
  m.props.user_properties = {{"k", "v"}};
  m.props.correlation_data = std::string("\x01\x02", 2);
  m.props.content_type = "bin";
  m.publisher = "p";
  m.expiry_remaining = 30;
  m.subscription_ids = {42};
  s.inflight.push_back({7, false, m});
  s.inflight.push_back({9, true, m});
  s.queue.push_back(m);
  s.incoming_qos2 = {3, 5};
  s.next_packet_id = 10;
  s.will = mqtt::Will{"will/t", "bye", 1, true, {}};
  s.will->props.will_delay = 20;
  s.will_delay_remaining = 12;
  s.expiry_interval = 3600;
  s.expiry_remaining = 3599;

  nlohmann::json j = s;
  CHECK(j.get<core::SessionSnapshot>() == s);
  auto packed = nlohmann::json::to_msgpack(j);
  CHECK(nlohmann::json::from_msgpack(packed).get<core::SessionSnapshot>() == s);
}

TEST_CASE("export and import of a live-built session lose nothing", "[unit][core][snapshot]") {
  FakeClock clock;
  core::BrokerSettings settings;
  core::Broker a(settings, clock);
  core::Broker b(settings, clock);

  auto dev = ChannelHarness::make(a);
  auto conn = connect_v5("dev", true, 600);
  mqtt::Will will{"will/dev", "gone", 1, false, {}};
  will.props.will_delay = 300;
  conn.will = will;
  dev->send(conn);
  dev->send(subscribe(1, "t/#", 2, 5));
  auto pub = ChannelHarness::make(a);
  pub->send(connect_v5("pub"));
  pub->send(publish("t/1", "inflight-qos2", 2, 1));
  auto got = dev->pump();
  REQUIRE(got.size() == 1);
  auto pid = as<mqtt::Publish>(got[0]).packet_id;
  dev->send(mqtt::PubResponse{mqtt::PacketType::pubrec, pid, 0, {}});  // now waiting for PUBCOMP
  dev->send(publish("x", "in", 2, 77));                                   // incoming QoS 2 awaiting PUBREL
  dev->channel.on_connection_lost();
  pub->send(publish("t/2", "queued", 1, 2));

  auto snap = a.registry().export_session("dev");
  REQUIRE(snap);
  CHECK(a.registry().session_count() == 1);  // only "pub" remains on a
  CHECK(snap->subscriptions.size() == 1);
  CHECK(snap->subscriptions[0].subscription_id == 5);
  REQUIRE(snap->inflight.size() == 1);
  CHECK(snap->inflight[0].pubrel_sent);
  CHECK(snap->queue.size() == 1);
  CHECK(snap->incoming_qos2 == std::vector<std::uint16_t>{77});
  REQUIRE(snap->will);
  CHECK(snap->will_delay_remaining == 300);
  CHECK(snap->expiry_remaining == 600);

  REQUIRE(b.registry().import_session(*snap));
  CHECK_FALSE(b.registry().import_session(*snap));  // already there
  // The imported session routes on b, and a reconnect gets everything back.
  auto pub_b = ChannelHarness::make(b);
  pub_b->send(connect_v5("pubb"));
  pub_b->send(publish("t/3", "after-move", 1, 1));
  auto back = ChannelHarness::make(b);
  auto out = back->send(connect_v5("dev", false, 600));
  REQUIRE(out.size() == 4);
  CHECK(as<mqtt::Connack>(out[0]).session_present);
  CHECK(as<mqtt::PubResponse>(out[1]).type == mqtt::PacketType::pubrel);
  CHECK(as<mqtt::PubResponse>(out[1]).packet_id == pid);
  CHECK(as<mqtt::Publish>(out[2]).payload == "queued");
  CHECK(as<mqtt::Publish>(out[3]).payload == "after-move");
  // The re-exported snapshot equals the first one apart from what happened since.
  auto pubrel_answer = back->send(mqtt::PubResponse{mqtt::PacketType::pubrel, 77, 0, {}});
  CHECK(as<mqtt::PubResponse>(pubrel_answer.at(0)).reason == 0);
}

TEST_CASE("a queued copy keeps all its subscription identifiers through export and import", "[unit][core][snapshot]") {
  FakeClock clock;
  core::BrokerSettings settings;
  core::Broker a(settings, clock);
  core::Broker b(settings, clock);
  auto dev = ChannelHarness::make(a);
  dev->send(connect_v5("dev", true, 600));
  dev->send(subscribe(1, "t/+", 1, 5));
  dev->send(subscribe(2, "t/#", 1, 9));
  dev->channel.on_connection_lost();
  auto pub = ChannelHarness::make(a);
  pub->send(connect_v5("pub"));
  pub->send(publish("t/1", "queued", 1, 1));

  auto snap = a.registry().export_session("dev");
  REQUIRE(snap);
  REQUIRE(snap->queue.size() == 1);
  auto ids = snap->queue[0].subscription_ids;
  std::sort(ids.begin(), ids.end());
  CHECK(ids == std::vector<std::uint32_t>{5, 9});
  REQUIRE(b.registry().import_session(*snap));
  auto back = ChannelHarness::make(b);
  auto out = back->send(connect_v5("dev", false, 600));
  REQUIRE(out.size() == 2);
  CHECK(as<mqtt::Publish>(out[1]).props.subscription_ids == snap->queue[0].subscription_ids);
}
