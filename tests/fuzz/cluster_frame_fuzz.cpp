// cluster_frame_fuzz: what a node reads on its cluster port, before and after the cookie check.
//
// Input: byte 0 picks the mode (bits 0-2) and how many bytes one socket read returns (bits 3-7);
// the rest is what the other end sends.
//   0, 1 frames: FrameReader fed in pieces, with the normal limit (0) or the handshake limit (1);
//                each frame goes to the peer frame handling below.
//   2 link:      a Link from peer n2 (authenticated: the normal limit) reading the bytes through
//                its own read loop; each frame goes to the peer frame handling below.
//   3 accept:    handshake_accept(): the bytes are what a connecting node sends. Before the cookie
//                check, the most exposed code of the cluster port.
//   4, 5 connect: handshake_connect() to any name (4) or to a node named n2 (5): the bytes are
//                what the accepting side answers.
//   6, 7 json:   control messages written as JSON, one per line, each turned into MessagePack and
//                a control frame (a line that is not an object is a heartbeat). The same path as
//                mode 0, but a mutation that changes an argument's length does not break the
//                frame and MessagePack lengths around it, so the arguments get fuzzed too.
// Peer frame handling mirrors Cluster::Impl::on_frame and what it calls (private to cluster.cpp):
//   forward:   decode_forward(); the records are re-encoded with append_forward() and must decode
//              to the same records; then retained / delivered locally, as on_forward() does.
//   deliver:   decode_deliver(), the same round trip with append_deliver(), then handed to the
//              named session as on_deliver() does.
//   control:   MessagePack decoded as on_control() does; "handoff.*" messages go to a
//              SessionHandoff (the real protocol, with a scripted HandoffEnv over the node's real
//              broker), other methods are called on the node's Cluster object, which runs the
//              methods registered on it: node.info/stats, client.info, client.kick and every
//              rebalance.* method of the plugin (the arguments each decodes).
//   heartbeat: moves the clock on by a second and runs the handoff's tick().
// Not reached: the Cluster's built-in methods (members.v1, routes.sync.v1, routes.delta.v1,
// reg.lookup.v1, cluster.leave.v1) are lambdas registered by Cluster::start(), which opens the
// cluster listener; see docs/fuzzing.md.
// Checked, beyond the sanitizers: the round trips above, FrameReader's accounting (every byte fed
// is returned in a frame or still buffered; an error is final), that no handshake succeeds (the
// other end cannot know the cookie, nor the nonce this node drew), and that the handoff protocol's
// messages to this node itself settle.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <deque>
#include <memory>
#include <string>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "cluster/link.hpp"
#include "cluster/session_handoff.hpp"
#include "cluster/wire.hpp"
#include "fuzz_node.hpp"
#include "fuzz_support.hpp"

namespace {

namespace asio = boost::asio;
using namespace tidemq;
using cluster::FrameType;
using Json = nlohmann::json;

constexpr const char* kPeer = "n2@127.0.0.1";
constexpr core::NodeIndex kPeerIndex = 1;

// The bytes of one connection, `chunk` at a time; writes are counted and dropped.
class MemStream final : public cluster::LinkStream {
 public:
  MemStream(asio::io_context& ctx, std::string_view bytes, std::size_t chunk) : ctx_(ctx), bytes_(bytes), chunk_(chunk) {}
  asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    if (closed_) co_return std::pair{boost::system::error_code(asio::error::operation_aborted), std::size_t{0}};
    if (bytes_.empty()) co_return std::pair{boost::system::error_code(asio::error::eof), std::size_t{0}};
    const std::size_t n = std::min({b.size(), chunk_, bytes_.size()});
    std::memcpy(b.data(), bytes_.data(), n);
    bytes_.remove_prefix(n);
    co_return std::pair{boost::system::error_code(), n};
  }
  asio::awaitable<boost::system::error_code> write_all(asio::const_buffer b) override {
    if (closed_) co_return boost::system::error_code(asio::error::operation_aborted);
    written += b.size();
    co_return boost::system::error_code();
  }
  void close() override { closed_ = true; }
  asio::any_io_executor executor() override { return ctx_.get_executor(); }
  std::size_t written = 0;

 private:
  asio::io_context& ctx_;
  std::string_view bytes_;
  std::size_t chunk_;
  bool closed_ = false;
};

// The node around the handoff protocol: three running members (this node, n2, n3); messages to
// the others are dropped, messages to this node and posted work run in order by run().
class ScriptedEnv final : public cluster::HandoffEnv {
 public:
  explicit ScriptedEnv(util::Clock& clock) : clock_(clock) {}
  cluster::SessionHandoff* handoff = nullptr;

  const std::string& self() const override { return self_; }
  std::vector<std::string> running() const override { return members_; }
  bool is_running(const std::string& node) const override {
    return std::find(members_.begin(), members_.end(), node) != members_.end();
  }
  core::NodeIndex index_of(const std::string& node) const override {
    return node == kPeer ? kPeerIndex : node == "n3@127.0.0.1" ? 2 : 0;
  }
  void send(const std::string& node, const std::string& method, Json args) override {
    if (node != self_) return;
    tasks_.push_back([this, method, args = std::move(args)] { handoff->on_message(self_, method, args); });
  }
  core::DeliveryForwarder relay_to(const std::string&, const core::ClientId&) override {
    return [](const core::Delivery&) {};
  }
  void quiesce(std::function<void()> then) override { tasks_.push_back(std::move(then)); }
  void flush_routes() override {}
  void post(std::function<void()> task) override { tasks_.push_back(std::move(task)); }
  util::TimePoint now() const override { return clock_.now(); }
  std::uint64_t wall_ms() const override {
    return 1'700'000'000'000ULL + static_cast<std::uint64_t>(
                                      std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now().time_since_epoch()).count());
  }

  // Runs what was posted and sent to this node; the protocol must come to rest.
  void run() {
    int ran = 0;
    while (!tasks_.empty()) {
      FUZZ_CHECK(++ran < 100000);
      auto task = std::move(tasks_.front());
      tasks_.pop_front();
      task();
    }
  }

 private:
  util::Clock& clock_;
  std::string self_ = fuzz::kNodeName;
  std::vector<std::string> members_ = [] {
    std::vector<std::string> m{fuzz::kNodeName, kPeer, "n3@127.0.0.1"};
    std::sort(m.begin(), m.end());
    return m;
  }();
  std::deque<std::function<void()>> tasks_;
};

bool same_message(const core::Message& a, const core::Message& b) {
  return a.uid == b.uid && a.topic == b.topic && a.payload == b.payload && a.qos == b.qos && a.retain == b.retain &&
         a.props == b.props && a.publisher == b.publisher && a.expires_at == b.expires_at;
}

// Reads back the frames `bytes` holds (all of type `want`) through a FrameReader.
std::vector<std::string> frames_of(const std::string& bytes, FrameType want) {
  cluster::FrameReader reader;
  reader.feed(bytes);
  std::vector<std::string> out;
  FrameType t;
  std::string_view payload;
  while (reader.next(t, payload) == cluster::FrameReader::Status::frame) {
    FUZZ_CHECK(t == want);
    out.emplace_back(payload);
  }
  FUZZ_CHECK(reader.buffered() == 0);
  return out;
}

// Cluster::Impl::on_frame for the authenticated peer n2 and everything it calls.
class PeerFrames {
 public:
  explicit PeerFrames(fuzz::LoneNode& node) : node_(node), env_(node.clock), handoff_(env_, node.broker, {}) {
    env_.handoff = &handoff_;
  }

  // False: the link would be closed.
  bool on_frame(FrameType t, std::string_view payload) {
    const bool taken = handle(t, payload);
    if (fuzz::verbose())
      std::fprintf(stderr, "frame type %d, %zu bytes: %s\n", static_cast<int>(t), payload.size(), taken ? "taken" : "link closed");
    return taken;
  }

 private:
  bool handle(FrameType t, std::string_view payload) {
    switch (t) {
      case FrameType::heartbeat:
        node_.clock.advance(std::chrono::seconds(1));
        handoff_.tick();
        env_.run();
        return true;
      case FrameType::forward: return on_forward(payload);
      case FrameType::deliver: return on_deliver(payload);
      case FrameType::control: return on_control(payload);
      default: return false;
    }
  }

  bool on_forward(std::string_view payload) {
    const auto now = node_.clock.now();
    std::vector<cluster::ForwardRecord> records;
    std::string error;
    if (!cluster::decode_forward(payload, now, records, &error)) {
      FUZZ_CHECK(records.empty() && !error.empty());
      return false;
    }
    // Round trip: the same records, in as many frames as the batching limits make.
    std::string encoded;
    std::size_t open = std::string::npos;
    for (const auto& r : records) cluster::append_forward(encoded, open, r, now);
    std::vector<cluster::ForwardRecord> back;
    for (const auto& frame : frames_of(encoded, FrameType::forward)) {
      std::vector<cluster::ForwardRecord> part;
      FUZZ_CHECK(cluster::decode_forward(frame, now, part, nullptr));
      for (auto& r : part) back.push_back(std::move(r));
    }
    FUZZ_CHECK(back.size() == records.size());
    for (std::size_t i = 0; i < records.size(); ++i) {
      FUZZ_CHECK(same_message(*back[i].msg, *records[i].msg));
      FUZZ_CHECK(back[i].match_local == records[i].match_local && back[i].store_retained == records[i].store_retained &&
                 back[i].shared == records[i].shared);
    }
    for (const auto& r : records) {
      if (r.store_retained) node_.broker.retained().put(r.msg);
      if (r.match_local || !r.shared.empty()) node_.broker.deliver_forwarded(r.msg, r.match_local, r.shared, kPeerIndex);
    }
    return true;
  }

  bool on_deliver(std::string_view payload) {
    const auto now = node_.clock.now();
    cluster::DirectDelivery d;
    std::string error;
    if (!cluster::decode_deliver(payload, now, d, &error)) {
      FUZZ_CHECK(!error.empty());
      return false;
    }
    FUZZ_CHECK(d.msg != nullptr);
    std::string encoded;
    cluster::append_deliver(encoded, d, now);
    const auto frames = frames_of(encoded, FrameType::deliver);
    FUZZ_CHECK(frames.size() == 1);
    cluster::DirectDelivery back;
    FUZZ_CHECK(cluster::decode_deliver(frames[0], now, back, nullptr));
    FUZZ_CHECK(back.client_id == d.client_id && back.qos == d.qos && back.retain == d.retain && back.sub_ids == d.sub_ids);
    FUZZ_CHECK(same_message(*back.msg, *d.msg));
    if (auto session = node_.broker.registry().find(d.client_id))
      session->deliver_relayed(core::Delivery{d.msg, d.qos, d.retain, std::move(d.sub_ids)}, kPeerIndex);
    return true;
  }

  bool on_control(std::string_view payload) {
    Json msg = Json::from_msgpack(payload, true, false);
    if (msg.is_discarded() || !msg.is_object()) return false;
    if (msg.contains("r")) return true;  // a reply: no call of this node's is waiting for one
    const auto m = msg.find("m");
    const std::string method = m != msg.end() && m->is_string() ? m->get<std::string>() : std::string();
    const Json args = msg.contains("a") ? msg["a"] : Json::object();
    if (method.empty()) return true;  // answered with an error
    if (cluster::SessionHandoff::handles(method)) {
      const std::string error = handoff_.on_message(kPeer, method, args);
      if (fuzz::verbose()) std::fprintf(stderr, "%s: %s\n", method.c_str(), error.empty() ? "taken" : error.c_str());
      env_.run();
      return true;
    }
    node_.cluster->call(node_.cluster->self(), method, args, [method](std::optional<Json> r, std::string error) {
      if (fuzz::verbose())
        std::fprintf(stderr, "%s -> %s\n", method.c_str(), r ? r->dump().substr(0, 300).c_str() : error.c_str());
    });
    node_.settle();
    env_.run();
    return true;
  }

  fuzz::LoneNode& node_;
  ScriptedEnv env_;
  cluster::SessionHandoff handoff_;
};

void frames(PeerFrames& peer, std::string_view bytes, std::size_t chunk, std::uint32_t max_frame) {
  cluster::FrameReader reader(max_frame);
  std::size_t fed = 0, returned = 0;
  while (!bytes.empty()) {
    const std::size_t n = std::min(chunk, bytes.size());
    reader.feed(bytes.substr(0, n));
    bytes.remove_prefix(n);
    fed += n;
    while (true) {
      FrameType t;
      std::string_view payload;
      const auto st = reader.next(t, payload);
      if (st == cluster::FrameReader::Status::need_more) break;
      if (st == cluster::FrameReader::Status::error) {
        FUZZ_CHECK(!reader.error().empty());
        FUZZ_CHECK(reader.next(t, payload) == cluster::FrameReader::Status::error);  // final
        return;
      }
      FUZZ_CHECK(payload.size() < max_frame);
      returned += 5 + payload.size();
      FUZZ_CHECK(returned + reader.buffered() == fed);
      if (!peer.on_frame(t, payload)) return;
    }
    FUZZ_CHECK(returned + reader.buffered() == fed);
  }
}

void link(fuzz::LoneNode& node, PeerFrames& peer, std::string_view bytes, std::size_t chunk) {
  std::unique_ptr<cluster::LinkStream> stream = std::make_unique<MemStream>(node.ctx, bytes, chunk);
  // As handshake_accept() leaves it: the reader with the handshake limit, raised by the Link.
  auto l = std::make_shared<cluster::Link>(std::move(stream), kPeer, false, cluster::FrameReader(cluster::kMaxHandshakeFrame));
  bool closed = false;
  l->start([&peer](cluster::Link& self, FrameType t, std::string_view payload) {
             if (!peer.on_frame(t, payload)) self.close("bad frame");
           },
           [&closed](cluster::Link&, const std::string&) { closed = true; });
  node.settle();
  FUZZ_CHECK(closed);  // the bytes ran out (end of file) or the link refused a frame
}

asio::awaitable<void> run_handshake(bool accept, std::string expected_peer, std::unique_ptr<cluster::LinkStream>& stream,
                                    std::shared_ptr<cluster::Link>& out, std::string& error) {
  const cluster::HandshakeInfo me{fuzz::kNodeName, fuzz::kCookie, "127.0.0.1", 4370};
  if (accept)
    out = co_await cluster::handshake_accept(stream, me, "", error);
  else
    out = co_await cluster::handshake_connect(stream, me, expected_peer, error);
}

void handshake(fuzz::LoneNode& node, bool accept, bool named, std::string_view bytes, std::size_t chunk) {
  std::unique_ptr<cluster::LinkStream> stream = std::make_unique<MemStream>(node.ctx, bytes, chunk);
  std::shared_ptr<cluster::Link> out;
  std::string error;
  bool done = false;
  asio::co_spawn(node.ctx, run_handshake(accept, named ? kPeer : "", stream, out, error),
                 [&done](std::exception_ptr e) {
                   if (e) std::rethrow_exception(e);
                   done = true;
                 });
  node.settle();
  FUZZ_CHECK(done);
  if (fuzz::verbose()) std::fprintf(stderr, "handshake: %s\n", error.c_str());
  FUZZ_CHECK(out == nullptr);  // it cannot know the cookie
  FUZZ_CHECK(!error.empty());
}

void json_lines(PeerFrames& peer, std::string_view text) {
  while (!text.empty()) {
    const auto eol = text.find('\n');
    const Json doc = Json::parse(text.substr(0, eol), nullptr, /*allow_exceptions=*/false);
    bool taken;
    if (doc.is_object()) {
      const auto bytes = Json::to_msgpack(doc);
      taken = peer.on_frame(FrameType::control, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
    } else {
      taken = peer.on_frame(FrameType::heartbeat, {});
    }
    if (!taken || eol == std::string_view::npos) return;
    text.remove_prefix(eol + 1);
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const auto dir = fuzz::scratch_dir("cluster") / "node";
  static test::FakeClock auth_clock;
  static admin::AdminAuth auth("admin", "public", (dir.parent_path() / "api_keys.json").string(), auth_clock);
  fuzz::Input in(data, size);
  const std::uint8_t choice = in.byte();
  const std::size_t k = choice >> 3;
  const std::size_t chunk = k == 0 ? std::size_t(-1) : k * k * 4;  // 4 … 3844 bytes per read, or all

  fuzz::LoneNode node(dir, auth, /*clustered=*/true);
  PeerFrames peer(node);
  switch (choice & 7) {
    case 0: frames(peer, in.rest(), chunk, cluster::kMaxFrame); break;
    case 1: frames(peer, in.rest(), chunk, cluster::kMaxHandshakeFrame); break;
    case 2: link(node, peer, in.rest(), chunk); break;
    case 3: handshake(node, true, false, in.rest(), chunk); break;
    case 4: handshake(node, false, false, in.rest(), chunk); break;
    case 5: handshake(node, false, true, in.rest(), chunk); break;
    default: json_lines(peer, in.rest()); break;
  }
  return 0;
}
