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

TEST_CASE("SessionSnapshot carries the client details through JSON and MessagePack", "[unit][core][snapshot]") {
  core::SessionSnapshot s;
  s.client_id = "dev-2";
  s.client.username = "alice";
  s.client.peer_address = "127.0.0.3:40123";
  s.client.keep_alive = 37;
  s.client.clean_start = true;
  s.client.connected_at_ms = 1'700'000'000'123;
  s.client.disconnected_at_ms = 1'700'000'060'456;
  s.client.created_at_ms = 1'699'999'999'000;

  nlohmann::json j = s;
  CHECK(j.get<core::SessionSnapshot>() == s);
  CHECK(nlohmann::json::from_msgpack(nlohmann::json::to_msgpack(j)).get<core::SessionSnapshot>() == s);

  SECTION("a snapshot from a node that predates the details restores them as unknown") {
    j.erase("client");
    auto old = j.get<core::SessionSnapshot>();
    CHECK(old.client == core::ClientDetails{});
    CHECK(old.client_id == "dev-2");
  }
  SECTION("keys a later version adds are ignored") {
    j["client"]["not_yet_invented"] = 1;
    j["also_new"] = {{"x", 2}};
    CHECK(j.get<core::SessionSnapshot>() == s);
  }
  SECTION("details left unknown stay unknown") {
    core::SessionSnapshot bare;
    bare.client_id = "dev-3";
    nlohmann::json b = bare;
    CHECK(b.at("client") == nlohmann::json{{"keep_alive", 0}, {"clean_start", false}});
    CHECK(b.get<core::SessionSnapshot>() == bare);
  }
}

TEST_CASE("a moved offline session keeps its client details", "[unit][core][snapshot]") {
  FakeClock clock;
  core::BrokerSettings settings;
  core::Broker a(settings, clock);
  core::Broker b(settings, clock);

  auto dev = ChannelHarness::make(a, "127.0.0.3:40123");
  auto conn = connect_v5("dev", false, 600);
  conn.keep_alive = 37;
  conn.username = "alice";
  REQUIRE(as<mqtt::Connack>(dev->send(conn).at(0)).reason == 0);
  auto live = a.registry().info("dev");
  REQUIRE(live);
  CHECK(live->peer_address == "127.0.0.3:40123");
  CHECK(live->disconnected_at_ms == 0);
  dev->send(mqtt::Disconnect{});

  auto before = a.registry().info("dev");
  REQUIRE(before);
  CHECK_FALSE(before->connected);
  CHECK(before->peer_address == "127.0.0.3:40123");  // the offline session remembers its last peer
  CHECK(before->keep_alive == 37);
  CHECK(before->username == std::optional<std::string>("alice"));
  CHECK(before->connected_at_ms > 0);
  CHECK(before->disconnected_at_ms >= before->connected_at_ms);
  CHECK(before->created_at_ms > 0);
  CHECK_FALSE(before->clean_start);

  auto snap = a.registry().export_session("dev");
  REQUIRE(snap);
  auto wire = nlohmann::json::to_msgpack(nlohmann::json(*snap));
  REQUIRE(b.registry().import_session(nlohmann::json::from_msgpack(wire).get<core::SessionSnapshot>()));
  auto after = b.registry().info("dev");
  REQUIRE(after);
  CHECK_FALSE(after->connected);
  CHECK(after->peer_address == before->peer_address);
  CHECK(after->keep_alive == before->keep_alive);
  CHECK(after->username == before->username);
  CHECK(after->connected_at_ms == before->connected_at_ms);
  CHECK(after->disconnected_at_ms == before->disconnected_at_ms);
  CHECK(after->created_at_ms == before->created_at_ms);
  CHECK(after->clean_start == before->clean_start);
  CHECK(after->expiry_interval == 600);
  CHECK(after->protocol_level == mqtt::kV5);

  SECTION("a reconnect there replaces the details with the new connection's") {
    auto again = ChannelHarness::make(b, "127.0.0.4:5555");
    auto c2 = connect_v5("dev", false, 600);
    c2.keep_alive = 12;
    REQUIRE(as<mqtt::Connack>(again->send(c2).at(0)).session_present);
    auto now = b.registry().info("dev");
    REQUIRE(now);
    CHECK(now->connected);
    CHECK(now->peer_address == "127.0.0.4:5555");
    CHECK(now->keep_alive == 12);
    CHECK(now->disconnected_at_ms == 0);
    CHECK(now->created_at_ms == before->created_at_ms);  // the same session
  }
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
