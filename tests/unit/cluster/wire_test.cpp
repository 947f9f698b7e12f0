#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <random>
#include <stdexcept>

#include "cluster/wire.hpp"

using namespace tidemq;
using namespace tidemq::cluster;
using namespace std::chrono_literals;

namespace {

const util::TimePoint kT0 = util::TimePoint{} + 1000h;

std::shared_ptr<core::Message> message(std::string topic, std::string payload, std::uint8_t qos = 0, bool retain = false) {
  auto m = std::make_shared<core::Message>();
  m->topic = std::move(topic);
  m->payload = std::move(payload);
  m->qos = qos;
  m->retain = retain;
  m->publisher = "pub-1";
  return m;
}

ForwardRecord record(core::MessagePtr m, bool match_local = true, bool store_retained = false,
                     std::vector<std::string> shared = {}) {
  ForwardRecord r;
  r.msg = std::move(m);
  r.match_local = match_local;
  r.store_retained = store_retained;
  r.shared = std::move(shared);
  return r;
}

// Everything but expires_at, which depends on the decode time.
void check_same_message(const core::Message& got, const core::Message& want) {
  CHECK(got.topic == want.topic);
  CHECK(got.payload == want.payload);
  CHECK(got.qos == want.qos);
  CHECK(got.retain == want.retain);
  CHECK(got.props == want.props);
  CHECK(got.publisher == want.publisher);
  CHECK(got.uid == want.uid);
}

void check_same_record(const ForwardRecord& got, const ForwardRecord& want) {
  REQUIRE(got.msg);
  check_same_message(*got.msg, *want.msg);
  CHECK(got.match_local == want.match_local);
  CHECK(got.store_retained == want.store_retained);
  CHECK(got.shared == want.shared);
}

struct Frame {
  FrameType type;
  std::string payload;
};

std::vector<Frame> split(std::string_view bytes) {
  FrameReader reader;
  reader.feed(bytes);
  std::vector<Frame> frames;
  FrameType type{};
  std::string_view payload;
  FrameReader::Status st;
  while ((st = reader.next(type, payload)) == FrameReader::Status::frame) frames.push_back({type, std::string(payload)});
  REQUIRE(st == FrameReader::Status::need_more);
  REQUIRE(reader.buffered() == 0);
  return frames;
}

// A forward payload exercising every optional part of a record.
std::string rich_forward_payload() {
  auto m = message("a/b/c", std::string("\0bin\0ary\xff", 10), 2, true);
  m->uid = 0x0102030405060708ULL;
  m->props.user_properties = {{"k", "v"}, {"k", "v2"}};
  m->props.content_type = "application/octet-stream";
  m->props.message_expiry = 60;
  m->props.correlation_data = std::string("\x00\x01", 2);
  m->expires_at = kT0 + 59s;
  auto m2 = message("x", "", 1);
  std::string out;
  std::size_t open = std::string::npos;
  append_forward(out, open, record(m, true, true, {"$share/g1/a/#", "$share/g2/+/b/c"}), kT0);
  append_forward(out, open, record(m2, false, false, {"$share/g/x"}), kT0);
  auto frames = split(out);
  REQUIRE(frames.size() == 1);
  return frames[0].payload;
}

}  // namespace

TEST_CASE("cluster frames round-trip through FrameReader", "[unit][cluster][wire]") {
  std::string out;
  append_frame(out, FrameType::challenge, "nonce-bytes");
  append_frame(out, FrameType::heartbeat, "");
  append_frame(out, FrameType::control, std::string("\0\x01\x02", 3));
  REQUIRE(out.size() == (5 + 11) + 5 + (5 + 3));
  CHECK(out.substr(0, 5) == std::string("\x00\x00\x00\x0c\x01", 5));

  auto frames = split(out);
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].type == FrameType::challenge);
  CHECK(frames[0].payload == "nonce-bytes");
  CHECK(frames[1].type == FrameType::heartbeat);
  CHECK(frames[1].payload.empty());
  CHECK(frames[2].type == FrameType::control);
  CHECK(frames[2].payload == std::string("\0\x01\x02", 3));
}

TEST_CASE("FrameReader reassembles frames fed one byte at a time", "[unit][cluster][wire]") {
  std::string out;
  append_frame(out, FrameType::auth, "proof");
  append_frame(out, FrameType::welcome, "");
  append_frame(out, FrameType::control, std::string(300, 'x'));

  FrameReader reader;
  std::vector<Frame> frames;
  for (char c : out) {
    reader.feed(std::string_view(&c, 1));
    FrameType type{};
    std::string_view payload;
    FrameReader::Status st;
    while ((st = reader.next(type, payload)) == FrameReader::Status::frame)
      frames.push_back({type, std::string(payload)});
    REQUIRE(st == FrameReader::Status::need_more);
  }
  REQUIRE(frames.size() == 3);
  CHECK(frames[0].type == FrameType::auth);
  CHECK(frames[0].payload == "proof");
  CHECK(frames[1].type == FrameType::welcome);
  CHECK(frames[1].payload.empty());
  CHECK(frames[2].type == FrameType::control);
  CHECK(frames[2].payload == std::string(300, 'x'));
  CHECK(reader.buffered() == 0);
}

TEST_CASE("FrameReader returns several frames from one feed and keeps a partial tail", "[unit][cluster][wire]") {
  std::string out;
  for (int i = 0; i < 50; ++i) append_frame(out, FrameType::heartbeat, std::to_string(i));
  std::string tail;
  append_frame(tail, FrameType::control, "tail-payload");

  FrameReader reader;
  reader.feed(out + tail.substr(0, 7));
  FrameType type{};
  std::string_view payload;
  for (int i = 0; i < 50; ++i) {
    REQUIRE(reader.next(type, payload) == FrameReader::Status::frame);
    CHECK(type == FrameType::heartbeat);
    CHECK(payload == std::to_string(i));
  }
  CHECK(reader.next(type, payload) == FrameReader::Status::need_more);
  reader.feed(tail.substr(7));
  REQUIRE(reader.next(type, payload) == FrameReader::Status::frame);
  CHECK(type == FrameType::control);
  CHECK(payload == "tail-payload");
  CHECK(reader.next(type, payload) == FrameReader::Status::need_more);
}

TEST_CASE("FrameReader rejects an oversized or empty frame length", "[unit][cluster][wire]") {
  FrameType type{};
  std::string_view payload;
  SECTION("length above kMaxFrame") {
    FrameReader reader;
    const std::uint32_t len = kMaxFrame + 1;
    std::string head = {static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                        static_cast<char>(len)};
    reader.feed(head);
    CHECK(reader.next(type, payload) == FrameReader::Status::error);
    CHECK(reader.error() == "frame of " + std::to_string(len) + " bytes exceeds the limit");
    reader.feed("more");
    CHECK(reader.next(type, payload) == FrameReader::Status::error);  // sticky
  }
  SECTION("length 0xFFFFFFFF after a good frame") {
    FrameReader reader;
    std::string out;
    append_frame(out, FrameType::heartbeat, "");
    out += std::string(4, '\xff');
    reader.feed(out);
    CHECK(reader.next(type, payload) == FrameReader::Status::frame);
    CHECK(reader.next(type, payload) == FrameReader::Status::error);
    CHECK(reader.error().find("exceeds the limit") != std::string::npos);
  }
  SECTION("length 0") {
    FrameReader reader;
    reader.feed(std::string(4, '\0'));
    CHECK(reader.next(type, payload) == FrameReader::Status::error);
    CHECK_FALSE(reader.error().empty());
  }
  SECTION("exactly kMaxFrame is accepted (needs more)") {
    FrameReader reader;
    const std::uint32_t len = kMaxFrame;
    reader.feed(std::string{static_cast<char>(len >> 24), static_cast<char>(len >> 16), static_cast<char>(len >> 8),
                            static_cast<char>(len), '\x05'});
    CHECK(reader.next(type, payload) == FrameReader::Status::need_more);
  }
}

TEST_CASE("append_frame refuses a payload above the frame limit", "[unit][cluster][wire]") {
  std::string out = "keep";
  CHECK_THROWS_AS(append_frame(out, FrameType::control, std::string(kMaxFrame, 'x')), std::length_error);
  CHECK(out == "keep");
}

TEST_CASE("forward records round-trip", "[unit][cluster][wire]") {
  std::vector<ForwardRecord> in;
  for (std::uint8_t qos = 0; qos <= 2; ++qos) in.push_back(record(message("q/" + std::to_string(qos), "p", qos)));
  in.push_back(record(message("r", "retained", 1, true), false, true));
  in.push_back(record(message("empty", "")));
  in.push_back(record(message("bin", std::string("\0\0a\0\xff\x80", 6))));
  in.push_back(record(message("big", std::string(1024 * 1024, '\x5a'))));
  {
    auto m = message("props", "x", 1);
    m->props.user_properties = {{"a", "1"}, {"a", "2"}, {"", ""}};
    m->props.content_type = "text/plain";
    m->props.message_expiry = 120;
    m->props.correlation_data = std::string("\0corr", 5);
    m->props.response_topic = "reply/here";
    m->props.payload_format = 1;
    in.push_back(record(m));
  }
  in.push_back(record(message("s/t", "shared"), false, false, {"$share/g1/s/+", "$share/g2/#"}));
  {
    auto m = message("uid", "u");
    m->uid = 0xFEDCBA9876543210ULL;
    m->publisher = "";
    in.push_back(record(m, true, true, {"$share/only/uid"}));
  }

  std::string out;
  std::size_t open = std::string::npos;
  for (const auto& r : in) append_forward(out, open, r, kT0);
  auto frames = split(out);
  REQUIRE(frames.size() >= 2);  // the 1 MiB payload does not share a frame with what follows

  std::vector<ForwardRecord> got;
  for (const auto& f : frames) {
    CHECK(f.type == FrameType::forward);
    std::vector<ForwardRecord> part;
    std::string err;
    REQUIRE(decode_forward(f.payload, kT0, part, &err));
    CHECK(err.empty());
    got.insert(got.end(), part.begin(), part.end());
  }
  REQUIRE(got.size() == in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    INFO("record " << i);
    check_same_record(got[i], in[i]);
    CHECK_FALSE(got[i].msg->expires_at);
  }
}

TEST_CASE("forward records carry the remaining expiry, not the absolute time", "[unit][cluster][wire]") {
  const util::TimePoint sent = kT0;
  const util::TimePoint received = kT0 + 5000h;  // another node's steady clock

  auto live = message("e/live", "x");
  live->expires_at = sent + 30s;
  auto fraction = message("e/fraction", "x");
  fraction->expires_at = sent + 1500us;  // rounds up to 2 ms, so it is still alive on arrival
  auto past = message("e/past", "x");
  past->expires_at = sent - 1s;
  auto none = message("e/none", "x");

  std::string out;
  std::size_t open = std::string::npos;
  for (const auto& m : {live, fraction, past, none}) append_forward(out, open, record(m), sent);
  auto frames = split(out);
  REQUIRE(frames.size() == 1);
  std::vector<ForwardRecord> got;
  REQUIRE(decode_forward(frames[0].payload, received, got, nullptr));
  REQUIRE(got.size() == 4);
  REQUIRE(got[0].msg->expires_at);
  CHECK(*got[0].msg->expires_at == received + 30s);
  REQUIRE(got[1].msg->expires_at);
  CHECK(*got[1].msg->expires_at == received + 2ms);
  REQUIRE(got[2].msg->expires_at);
  CHECK(*got[2].msg->expires_at == received);  // already expired (expires_at <= now)
  CHECK_FALSE(got[3].msg->expires_at);
}

TEST_CASE("forward records are batched into one frame while open_batch stays open", "[unit][cluster][wire]") {
  std::vector<ForwardRecord> in = {record(message("b/1", "one")), record(message("b/2", "two", 1)),
                                   record(message("b/3", "three", 2), false, true)};
  SECTION("three consecutive records make one frame") {
    std::string out;
    std::size_t open = std::string::npos;
    for (const auto& r : in) append_forward(out, open, r, kT0);
    CHECK(open == 0);
    auto frames = split(out);
    REQUIRE(frames.size() == 1);
    CHECK(frames[0].type == FrameType::forward);
    std::vector<ForwardRecord> got;
    REQUIRE(decode_forward(frames[0].payload, kT0, got, nullptr));
    REQUIRE(got.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) check_same_record(got[i], in[i]);
  }
  SECTION("another frame in between closes the batch") {
    std::string out;
    std::size_t open = std::string::npos;
    append_forward(out, open, in[0], kT0);
    append_forward(out, open, in[1], kT0);
    append_frame(out, FrameType::heartbeat, "");
    open = std::string::npos;
    append_forward(out, open, in[2], kT0);
    auto frames = split(out);
    REQUIRE(frames.size() == 3);
    CHECK(frames[0].type == FrameType::forward);
    CHECK(frames[1].type == FrameType::heartbeat);
    CHECK(frames[2].type == FrameType::forward);
    std::vector<ForwardRecord> a, b;
    REQUIRE(decode_forward(frames[0].payload, kT0, a, nullptr));
    REQUIRE(decode_forward(frames[2].payload, kT0, b, nullptr));
    REQUIRE(a.size() == 2);
    REQUIRE(b.size() == 1);
    check_same_record(a[0], in[0]);
    check_same_record(a[1], in[1]);
    check_same_record(b[0], in[2]);
  }
  SECTION("a stale open_batch does not corrupt the stream") {
    std::string out;
    std::size_t open = std::string::npos;
    append_forward(out, open, in[0], kT0);
    append_frame(out, FrameType::heartbeat, "");  // caller forgot to reset open
    append_forward(out, open, in[1], kT0);
    auto frames = split(out);
    REQUIRE(frames.size() == 3);
    CHECK(frames[2].type == FrameType::forward);
  }
}

TEST_CASE("forward batches are capped by record count and size", "[unit][cluster][wire]") {
  SECTION("many tiny records") {
    // A record takes at least 17 bytes, so the ~1 MiB cap closes a frame before 65535 records.
    auto m = message("", "");
    m->publisher = "";
    std::string out;
    std::size_t open = std::string::npos;
    for (int i = 0; i < 70000; ++i) append_forward(out, open, record(m), kT0);
    auto frames = split(out);
    REQUIRE(frames.size() == 2);
    std::size_t total = 0;
    for (const auto& f : frames) {
      CHECK(f.payload.size() <= kForwardBatchBytes);
      std::vector<ForwardRecord> got;
      REQUIRE(decode_forward(f.payload, kT0, got, nullptr));
      CHECK(got.size() <= kForwardBatchRecords);
      total += got.size();
    }
    CHECK(total == 70000);
  }
  SECTION("about 1 MiB per frame") {
    auto m = message("t", std::string(100 * 1024, 'p'));
    std::string out;
    std::size_t open = std::string::npos;
    for (int i = 0; i < 25; ++i) append_forward(out, open, record(m), kT0);
    auto frames = split(out);
    CHECK(frames.size() == 3);
    std::size_t total = 0;
    for (const auto& f : frames) {
      CHECK(f.payload.size() <= kForwardBatchBytes);
      std::vector<ForwardRecord> got;
      REQUIRE(decode_forward(f.payload, kT0, got, nullptr));
      total += got.size();
    }
    CHECK(total == 25);
  }
}

TEST_CASE("oversized strings are refused without touching the output", "[unit][cluster][wire]") {
  std::string out;
  std::size_t open = std::string::npos;
  append_forward(out, open, record(message("ok", "1")), kT0);
  const std::string before = out;
  CHECK_THROWS_AS(append_forward(out, open, record(message(std::string(70000, 't'), "2")), kT0), std::length_error);
  CHECK(out == before);
  CHECK(open == 0);
  append_forward(out, open, record(message("ok2", "3")), kT0);
  auto frames = split(out);
  REQUIRE(frames.size() == 1);
  std::vector<ForwardRecord> got;
  REQUIRE(decode_forward(frames[0].payload, kT0, got, nullptr));
  CHECK(got.size() == 2);

  core::Message small;
  small.payload = std::string(1000, 'x');
  CHECK(fits_in_frame(small));
  core::Message huge;
  huge.payload.resize(kMaxFrame);
  CHECK_FALSE(fits_in_frame(huge));
}

TEST_CASE("direct deliveries round-trip", "[unit][cluster][wire]") {
  auto m = message("d/t", std::string("\0payload", 8), 2, false);
  m->uid = 77;
  m->props.user_properties = {{"x", "y"}};
  m->expires_at = kT0 + 10s;
  const std::vector<std::uint32_t> ids{42, 7, 268435455};  // one copy for three subscriptions
  DirectDelivery d{"client-7", m, 1, true, core::SubscriptionIds(ids)};

  std::string out;
  append_deliver(out, d, kT0);
  auto frames = split(out);
  REQUIRE(frames.size() == 1);
  CHECK(frames[0].type == FrameType::deliver);
  DirectDelivery got;
  std::string err;
  REQUIRE(decode_deliver(frames[0].payload, kT0 + 1h, got, &err));
  CHECK(got.client_id == "client-7");
  CHECK(got.qos == 1);
  CHECK(got.retain);
  CHECK(std::ranges::equal(got.sub_ids.view(), ids));
  REQUIRE(got.msg);
  check_same_message(*got.msg, *m);
  REQUIRE(got.msg->expires_at);
  CHECK(*got.msg->expires_at == kT0 + 1h + 10s);

  // A forward payload is not a deliver payload, and trailing bytes are refused.
  CHECK_FALSE(decode_deliver(frames[0].payload + "x", kT0, got, &err));
  CHECK(err.find("trailing") != std::string::npos);
}

TEST_CASE("direct deliveries carry zero, one or many subscription ids", "[unit][cluster][wire]") {
  std::mt19937 rng(20260607);
  for (int iter = 0; iter < 200; ++iter) {
    std::vector<std::uint32_t> ids(rng() % 6);
    for (auto& id : ids) id = 1 + rng() % 268435455;
    DirectDelivery d{"c", message("t", "p", 1), 1, false, core::SubscriptionIds(ids)};
    std::string out;
    append_deliver(out, d, kT0);
    auto frames = split(out);
    REQUIRE(frames.size() == 1);
    DirectDelivery got;
    REQUIRE(decode_deliver(frames[0].payload, kT0, got, nullptr));
    CHECK(std::ranges::equal(got.sub_ids.view(), ids));
  }

  std::string out;
  append_deliver(out, DirectDelivery{"c", message("t", "p", 1), 1, false, core::SubscriptionIds(5)}, kT0);
  std::string payload = split(out).at(0).payload;
  const std::size_t count_at = 2 + 1 + 1;  // u16 length, "c", flags
  DirectDelivery got;
  std::string err;
  SECTION("a count larger than the frame") {
    payload[count_at] = '\x7f';
    CHECK_FALSE(decode_deliver(payload, kT0, got, &err));
    CHECK(err.find("subscription id count") != std::string::npos);
  }
  SECTION("identifier 0") {
    payload.replace(count_at + 4, 4, std::string(4, '\0'));
    CHECK_FALSE(decode_deliver(payload, kT0, got, &err));
    CHECK(err.find("subscription id 0") != std::string::npos);
  }
}

TEST_CASE("decode_forward and decode_deliver survive truncation and mutation", "[unit][cluster][wire]") {
  const std::string payload = rich_forward_payload();
  {
    std::vector<ForwardRecord> got;
    REQUIRE(decode_forward(payload, kT0, got, nullptr));
    REQUIRE(got.size() == 2);
  }
  for (std::size_t n = 0; n < payload.size(); ++n) {
    std::vector<ForwardRecord> got;
    std::string err;
    INFO("prefix " << n);
    CHECK_FALSE(decode_forward(std::string_view(payload).substr(0, n), kT0, got, &err));
    CHECK(got.empty());
    CHECK_FALSE(err.empty());
  }

  std::string deliver;
  {
    auto m = message("d", "x", 1);
    m->props.content_type = "c";
    m->expires_at = kT0 + 1s;
    append_deliver(deliver, DirectDelivery{"cid", m, 1, false, core::SubscriptionIds(9)}, kT0);
    deliver.erase(0, 5);  // frame header
  }
  for (std::size_t n = 0; n < deliver.size(); ++n) {
    DirectDelivery got;
    INFO("prefix " << n);
    CHECK_FALSE(decode_deliver(std::string_view(deliver).substr(0, n), kT0, got, nullptr));
  }

  std::mt19937 rng(20240611);
  std::size_t accepted = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    const bool fwd = iter % 2 == 0;
    std::string bytes = fwd ? payload : deliver;
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits; ++e) {
      const std::size_t at = rng() % bytes.size();
      switch (rng() % 4) {
        case 0: bytes[at] = static_cast<char>(rng()); break;                       // random byte
        case 1: bytes[at] = static_cast<char>(bytes[at] ^ (1u << (rng() % 8))); break;  // bit flip
        case 2: bytes[at] = '\xff'; break;                                         // bogus lengths
        case 3: bytes.insert(at, 1, static_cast<char>(rng())); break;               // shifted fields
      }
    }
    if (fwd) {
      std::vector<ForwardRecord> got;
      if (decode_forward(bytes, kT0, got, nullptr)) {
        ++accepted;
        for (const auto& r : got) {
          REQUIRE(r.msg);
          CHECK(r.msg->qos <= 2);
          CHECK(r.msg->payload.size() <= bytes.size());
        }
      } else {
        CHECK(got.empty());
      }
    } else {
      DirectDelivery got;
      if (decode_deliver(bytes, kT0, got, nullptr)) {
        ++accepted;
        REQUIRE(got.msg);
        CHECK(got.qos <= 2);
        CHECK(got.msg->qos <= 2);
      }
    }
  }
  CHECK(accepted < 2000);

  // Random garbage through the frame splitter as well.
  for (int iter = 0; iter < 200; ++iter) {
    std::string junk(1 + rng() % 64, '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    FrameReader reader;
    reader.feed(junk);
    FrameType type{};
    std::string_view p;
    FrameReader::Status st;
    while ((st = reader.next(type, p)) == FrameReader::Status::frame) CHECK(p.size() < junk.size());
  }
}

TEST_CASE("a migrating session's snapshot keeps its client details in a control frame", "[unit][cluster][wire]") {
  // As the handoff sends it: {m: "handoff.import.v1", a: {items: [{s: snapshot, e: epoch}]}} in
  // MessagePack, in a control frame.
  core::SessionSnapshot s;
  s.client_id = "moving";
  s.expiry_interval = 600;
  s.expiry_remaining = 590;
  s.client.username = "bob";
  s.client.peer_address = "127.0.0.1:51515";
  s.client.keep_alive = 37;
  s.client.connected_at_ms = 1'700'000'000'000;
  s.client.disconnected_at_ms = 1'700'000'001'000;
  s.client.created_at_ms = 1'700'000'000'000;
  const nlohmann::json msg{{"m", "handoff.import.v1"}, {"i", 0},
                           {"a", {{"r", 1}, {"items", nlohmann::json::array({{{"s", s}, {"e", 3}}})}}}};
  const auto packed = nlohmann::json::to_msgpack(msg);
  std::string out;
  append_frame(out, FrameType::control, std::string_view(reinterpret_cast<const char*>(packed.data()), packed.size()));

  FrameReader reader;
  reader.feed(out);
  FrameType type{};
  std::string_view payload;
  REQUIRE(reader.next(type, payload) == FrameReader::Status::frame);
  CHECK(type == FrameType::control);
  const auto got = nlohmann::json::from_msgpack(payload, true, false);
  REQUIRE_FALSE(got.is_discarded());
  const auto back = got.at("a").at("items").at(0).at("s").get<core::SessionSnapshot>();
  CHECK(back == s);
  CHECK(back.client.keep_alive == 37);
  CHECK(back.client.peer_address == "127.0.0.1:51515");
}
