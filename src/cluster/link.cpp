#include "cluster/link.hpp"

#include <atomic>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cluster/cookie_auth.hpp"

namespace tidemq::cluster {

namespace asio = boost::asio;
using boost::system::error_code;
using nlohmann::json;

namespace {

// A peer that stops reading: QoS 0 forwards beyond the soft limit are dropped (counted by the
// caller); beyond the hard limit, new QoS 1/2 publishes are refused to their publishers before
// anything of them is queued (see Cluster's forward()). Relayed deliveries of a moving session
// are never dropped while the link lives.
constexpr std::size_t kMaxPending = 64 * 1024 * 1024;
constexpr std::size_t kMaxPendingReliable = 256 * 1024 * 1024;
constexpr auto kHandshakeTimeout = std::chrono::seconds(5);
std::atomic<std::uint64_t> next_link_id{1};

std::string to_hex(std::string_view raw) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(raw.size() * 2);
  for (unsigned char c : raw) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

std::string from_hex(std::string_view hex) {
  std::string out;
  if (hex.size() % 2) return out;
  auto val = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    int hi = val(hex[i]), lo = val(hex[i + 1]);
    if (hi < 0 || lo < 0) return {};
    out += static_cast<char>(hi << 4 | lo);
  }
  return out;
}

void send_json(std::string& out, FrameType t, const json& j) {
  auto bytes = json::to_msgpack(j);
  append_frame(out, t, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()));
}

asio::awaitable<bool> write_all(LinkStream& s, const std::string& data, std::string& error) {
  auto ec = co_await s.write_all(asio::buffer(data));
  if (ec) error = ec.message();
  co_return !ec;
}

// Reads one frame of `want` type and decodes its MessagePack body.
asio::awaitable<bool> read_json(LinkStream& s, FrameReader& r, FrameType want, json& out, std::string& error) {
  std::array<char, 4096> buf;
  for (;;) {
    FrameType t;
    std::string_view payload;
    auto st = r.next(t, payload);
    if (st == FrameReader::Status::error) {
      error = r.error();
      co_return false;
    }
    if (st == FrameReader::Status::frame) {
      if (t != want) {
        error = "unexpected frame during the handshake (not a tidemq cluster peer?)";
        co_return false;
      }
      out = json::from_msgpack(payload, true, false);
      if (out.is_discarded() || !out.is_object()) {
        error = "malformed handshake frame";
        co_return false;
      }
      co_return true;
    }
    auto [ec, n] = co_await s.read_some(asio::buffer(buf));
    if (ec) {
      error = ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor ? "handshake timed out" : ec.message();
      co_return false;
    }
    r.feed(std::string_view(buf.data(), n));
  }
}

std::string str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// Closes the socket if the handshake takes too long (the pending read then fails).
struct HandshakeDeadline {
  asio::steady_timer timer;
  explicit HandshakeDeadline(LinkStream& s) : timer(s.executor()) {
    timer.expires_after(kHandshakeTimeout);
    timer.async_wait([&s](const error_code& ec) {
      if (!ec) s.close();
    });
  }
  ~HandshakeDeadline() { timer.cancel(); }
};

}  // namespace

asio::awaitable<std::shared_ptr<Link>> handshake_accept(std::unique_ptr<LinkStream>& stream, const HandshakeInfo& me,
                                                        std::string refusal, std::string& error) {
  LinkStream& socket = *stream;
  HandshakeDeadline deadline(socket);
  FrameReader reader(kMaxHandshakeFrame);  // until the cookie check passed
  std::string out;
  const std::string nonce = random_nonce();
  send_json(out, FrameType::challenge, json{{"node", me.node_name}, {"nonce", to_hex(nonce)}});
  if (!co_await write_all(socket, out, error)) co_return nullptr;
  json auth;
  try {
    if (!co_await read_json(socket, reader, FrameType::auth, auth, error)) co_return nullptr;
  } catch (const json::exception&) {
    error = "malformed handshake frame";
    co_return nullptr;
  }
  const std::string peer = str(auth, "node");
  const std::string proof = from_hex(str(auth, "proof"));
  const std::string peer_nonce = from_hex(str(auth, "nonce"));
  out.clear();
  if (peer.empty() || peer_nonce.size() != nonce.size() ||
      !proofs_equal(proof, cookie_proof(me.cookie, "connect", nonce, peer))) {
    error = fmt::format("node '{}' failed the cookie check (wrong cluster.cookie?)", peer.empty() ? "?" : peer);
    send_json(out, FrameType::welcome, json{{"error", "cookie mismatch: this node uses a different cluster.cookie"}});
    std::string ignored;
    co_await write_all(socket, out, ignored);
    co_return nullptr;
  }
  if (peer == me.node_name || !refusal.empty()) {
    error = refusal.empty() ? "a peer claims this node's own name" : refusal;
    send_json(out, FrameType::welcome, json{{"error", refusal.empty() ? "node name already in use: " + peer : refusal}});
    std::string ignored;
    co_await write_all(socket, out, ignored);
    co_return nullptr;
  }
  send_json(out, FrameType::welcome,
            json{{"node", me.node_name}, {"proof", to_hex(cookie_proof(me.cookie, "accept", peer_nonce, me.node_name))}});
  if (!co_await write_all(socket, out, error)) co_return nullptr;
  auto link = std::make_shared<Link>(std::move(stream), peer, false, std::move(reader));
  link->announced_host = str(auth, "host");
  if (auto it = auth.find("port"); it != auth.end() && it->is_number_unsigned() && it->get<unsigned>() <= 65535)
    link->announced_port = static_cast<std::uint16_t>(it->get<unsigned>());
  co_return link;
}

asio::awaitable<std::shared_ptr<Link>> handshake_connect(std::unique_ptr<LinkStream>& stream, const HandshakeInfo& me,
                                                         const std::string& expected_peer, std::string& error) {
  LinkStream& socket = *stream;
  HandshakeDeadline deadline(socket);
  FrameReader reader(kMaxHandshakeFrame);  // until the cookie check passed
  json challenge, welcome;
  try {
    if (!co_await read_json(socket, reader, FrameType::challenge, challenge, error)) co_return nullptr;
    const std::string peer = str(challenge, "node");
    const std::string nonce = from_hex(str(challenge, "nonce"));
    if (peer.empty() || nonce.empty()) {
      error = "malformed challenge";
      co_return nullptr;
    }
    if (!expected_peer.empty() && peer != expected_peer) {
      error = fmt::format("the node there is '{}', not '{}'", peer, expected_peer);
      co_return nullptr;
    }
    const std::string my_nonce = random_nonce();
    std::string out;
    send_json(out, FrameType::auth,
              json{{"node", me.node_name},
                   {"nonce", to_hex(my_nonce)},
                   {"proof", to_hex(cookie_proof(me.cookie, "connect", nonce, me.node_name))},
                   {"host", me.cluster_host},
                   {"port", me.cluster_port}});
    if (!co_await write_all(socket, out, error)) co_return nullptr;
    if (!co_await read_json(socket, reader, FrameType::welcome, welcome, error)) {
      if (error == "End of file") error = "the peer closed the link during the handshake";
      co_return nullptr;
    }
    if (auto refused = str(welcome, "error"); !refused.empty()) {
      error = "refused by " + peer + ": " + refused;
      co_return nullptr;
    }
    if (!proofs_equal(from_hex(str(welcome, "proof")), cookie_proof(me.cookie, "accept", my_nonce, peer))) {
      error = fmt::format("node '{}' failed the cookie check (wrong cluster.cookie?)", peer);
      co_return nullptr;
    }
    co_return std::make_shared<Link>(std::move(stream), peer, true, std::move(reader));
  } catch (const json::exception&) {
    error = "malformed handshake frame";
    co_return nullptr;
  }
}

Link::Link(std::unique_ptr<LinkStream> stream, std::string peer, bool initiator, FrameReader leftover)
    : stream_(std::move(stream)), peer_(std::move(peer)), initiator_(initiator), id_(next_link_id++), reader_(std::move(leftover)) {
  reader_.set_max_frame(kMaxFrame);  // authenticated now: the full frame size
}

Link::~Link() = default;

void Link::start(FrameHandler on_frame, CloseHandler on_close) {
  on_frame_ = std::move(on_frame);
  on_close_ = std::move(on_close);
  asio::co_spawn(stream_->executor(), read_loop(), [self = shared_from_this()](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      self->closed(std::string("link failed: ") + ex.what());
    }
  });
}

asio::awaitable<void> Link::read_loop() {
  auto self = shared_from_this();
  std::vector<char> buf(64 * 1024);
  for (;;) {
    for (;;) {
      FrameType t;
      std::string_view payload;
      auto st = reader_.next(t, payload);
      if (st == FrameReader::Status::need_more) break;
      if (st == FrameReader::Status::error) {
        closed("bad frame: " + reader_.error());
        co_return;
      }
      on_frame_(*this, t, payload);
      if (closed_) co_return;
    }
    auto [ec, n] = co_await stream_->read_some(asio::buffer(buf));
    if (closed_) co_return;
    if (ec) {
      closed(ec == asio::error::eof ? "connection closed by the peer" : ec.message());
      co_return;
    }
    reader_.feed(std::string_view(buf.data(), n));
  }
}

void Link::close(const std::string& why) { closed(why); }

void Link::closed(const std::string& why) {
  if (closed_) return;
  closed_ = true;
  {
    std::lock_guard lk(mu_);
    dead_ = true;
    pending_.clear();
  }
  stream_->close();
  if (on_close_) {
    auto cb = std::move(on_close_);
    cb(*this, why);
  }
  on_frame_ = nullptr;
}

void Link::close_when_sent(std::string why) {
  std::lock_guard lk(mu_);
  if (dead_ || closing_) return;
  closing_ = true;
  closing_why_ = std::move(why);
  schedule_write();
}

void Link::send(FrameType type, std::string_view payload) {
  std::lock_guard lk(mu_);
  if (dead_ || closing_) return;
  append_frame(pending_, type, payload);
  open_batch_ = std::string::npos;
  schedule_write();
}

bool Link::send_forward(const ForwardRecord& r, util::TimePoint now) {
  std::lock_guard lk(mu_);
  if (dead_ || closing_) return true;  // the peer is going down: what it would have got dies with it
  if (r.msg->qos == 0 && pending_.size() > kMaxPending) return false;
  append_forward(pending_, open_batch_, r, now);
  schedule_write();
  return true;
}

bool Link::full_for_reliable() const {
  std::lock_guard lk(mu_);
  return !dead_ && !closing_ && pending_.size() > kMaxPendingReliable;
}

void Link::send_deliver(const DirectDelivery& d, util::TimePoint now) {
  std::lock_guard lk(mu_);
  if (dead_ || closing_) return;
  append_deliver(pending_, d, now);
  open_batch_ = std::string::npos;
  schedule_write();
}

std::size_t Link::queued_bytes() const {
  std::lock_guard lk(mu_);
  return pending_.size();
}

void Link::schedule_write() {
  if (write_scheduled_) return;
  write_scheduled_ = true;
  // Posted: co_spawn would start the writer inline, here, with mu_ held.
  asio::post(stream_->executor(), [self = shared_from_this()] {
    asio::co_spawn(self->stream_->executor(), self->write_loop(), [self](std::exception_ptr e) {
      if (!e) return;
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        self->closed(std::string("link writer failed: ") + ex.what());
      }
    });
  });
}

asio::awaitable<void> Link::write_loop() {
  auto self = shared_from_this();
  for (;;) {
    {
      std::unique_lock lk(mu_);
      if (dead_) co_return;
      if (pending_.empty()) {
        write_scheduled_ = false;
        if (closing_) {
          std::string why = closing_why_;
          lk.unlock();
          closed(why);
        }
        co_return;
      }
      writing_.clear();
      writing_.swap(pending_);
      open_batch_ = std::string::npos;
    }
    auto ec = co_await stream_->write_all(asio::buffer(writing_));
    if (ec) {
      closed("write failed: " + ec.message());
      co_return;
    }
  }
}

}  // namespace tidemq::cluster
