#include "bench.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <fmt/format.h>

#include "histogram.hpp"
#include "payload.hpp"
#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace tidemq::bench {

std::atomic<bool> g_interrupted{false};

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::conn: return "conn";
    case Mode::pub: return "pub";
    case Mode::sub: return "sub";
    case Mode::pubsub: return "pubsub";
    case Mode::takeover: return "takeover";
  }
  return "?";
}

const char* layout_name(Layout l) {
  switch (l) {
    case Layout::pairwise: return "pairwise";
    case Layout::fanin: return "fanin";
    case Layout::fanout: return "fanout";
  }
  return "?";
}

namespace {

namespace asio = boost::asio;
namespace mq = tidemq::mqtt;
using tcp = asio::ip::tcp;
using boost::system::error_code;

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

constexpr std::uint64_t kSec = 1'000'000'000ull;
constexpr std::uint64_t kMs = 1'000'000ull;
constexpr std::size_t kFloodBatch = 16 * 1024;      // bytes queued per write when publishing flat out
constexpr std::size_t kMaxWriteBacklog = 1 << 20;   // a rate-limited publisher stops queueing past this
constexpr std::size_t kMaxReadBuf = 256 * 1024;    // a busy connection's read buffer grows up to this

enum class Role : std::uint8_t { idle, pub, sub };

// Rare events (failures) are counted by message, under a mutex.
class ErrorLog {
 public:
  void add(std::string msg) {
    std::lock_guard lock(m_);
    ++counts_[std::move(msg)];
  }
  std::vector<std::pair<std::string, std::uint64_t>> top(std::size_t n) {
    std::lock_guard lock(m_);
    std::vector<std::pair<std::string, std::uint64_t>> v(counts_.begin(), counts_.end());
    std::sort(v.begin(), v.end(), [](auto& a, auto& b) { return a.second > b.second; });
    if (v.size() > n) v.resize(n);
    return v;
  }

 private:
  std::mutex m_;
  std::map<std::string, std::uint64_t> counts_;
};

// What every worker needs to know, fixed before the workers start.
struct Shared {
  const Options& opt;
  std::vector<asio::ip::address> pub_addrs, sub_addrs;  // resolved hosts / sub_hosts
  std::vector<asio::ip::address> src;
  std::uint8_t level = mq::kV5;  // protocol level on the wire
  ErrorLog errors;
  // pubsub closed loop: messages received per publisher (over all its subscribers), so a publisher
  // running flat out keeps at most `window` messages on their way.
  std::unique_ptr<std::atomic<std::uint64_t>[]> delivered;
  std::size_t delivered_n = 0;
  std::uint64_t receivers = 1;  // subscribers per publisher
  std::uint64_t window = 0;     // 0 = open loop
};

// Per-worker counters: written by the worker thread only, read by the control thread.
struct alignas(64) Stats {
  Counter started;     // TCP connects begun
  Counter connected;   // CONNACK success
  Counter conn_failed; // never got a successful CONNACK
  Counter subscribed;
  Counter sub_failed;
  Counter settled;     // reached ready, or failed, during setup
  Counter closed;      // connections with a CONNACK that are closed again (any reason)
  Counter dropped;     // of those: closed by the peer or an error while the run was going on
  Counter sock_open, sock_closed;
  Counter pub_sent, pub_acked, pub_errors, pubs_done;
  Counter recv, recv_bytes, unique, dup, ooo, too_old, unstamped;
  std::atomic<std::uint64_t> last_connack{0};
  std::atomic<std::uint64_t> first_recv{0}, last_recv{0};
  AtomicHistogram connack;  // TCP connect start → CONNACK
  AtomicHistogram latency;  // publish → receive (payload timestamp)
  AtomicHistogram ack;      // publish → PUBACK / PUBCOMP
};

struct ConnSpec {
  Role role = Role::idle;
  std::uint32_t index = 0;  // within its role, 0-based
  std::string client_id;
  std::string topic;         // publish topic, or subscription filter
  std::uint64_t limit = UINT64_MAX;  // publisher: messages to send
  std::uint64_t period_ns = 0;  // publisher: 0 = flat out
  std::uint64_t phase_ns = 0;   // publisher: offset of its first message
  std::uint32_t src = 0;     // index into Shared::src
  tcp::endpoint target;      // the broker (node) this connection goes to
};

class Worker;

class Conn {
 public:
  Conn(Worker& w, ConnSpec spec);
  void start();
  void begin_publishing(std::uint64_t t0);
  void pub_tick(std::uint64_t now);
  void sweep(std::uint64_t now);
  void disconnect();
  void refill(std::uint64_t now);
  bool refill_pending = false;  // listed in Worker::dirty_pubs

  const ConnSpec& spec() const { return spec_; }
  bool subscribed_ok() const { return subscribed_; }
  std::uint64_t sent() const { return seq_; }
  const std::unordered_map<std::uint32_t, SeqTracker>& tracks() const { return tracks_; }

 private:
  enum class St : std::uint8_t { idle, tcp_connecting, mqtt_connecting, subscribing, ready, disconnecting, closed };

  void on_tcp_connected(const error_code& ec);
  void arm_read();
  void on_read(const error_code& ec, std::size_t n);
  void process(std::uint64_t now);
  void grow_read_buffer(std::size_t at_least);
  void handle(mq::Packet& p);
  void on_connack(const mq::Connack& c);
  void on_suback(const mq::Suback& s);
  void on_publish(std::uint8_t qos, std::uint16_t packet_id, std::string_view payload);
  void on_pubresp(const mq::PubResponse& r);
  void flush();
  void on_written(const error_code& ec);
  void abort(std::string why);
  void close_socket();
  void settle();
  void fill();
  bool can_publish() const;
  bool window_open() const;
  std::uint64_t outstanding() const;
  void publish_one(std::uint64_t now);
  std::uint16_t alloc_pid();
  void release_pid(std::uint16_t pid, std::uint8_t reason);
  void check_done();

  Worker& w_;
  ConnSpec spec_;
  tcp::socket sock_;
  St st_ = St::idle;
  bool settled_ = false;
  bool was_connected_ = false;
  bool subscribed_ = false;
  bool writing_ = false;
  bool half_closed_ = false;
  std::uint16_t keepalive_;
  std::uint64_t t_start_ = 0;
  std::uint64_t last_send_ = 0;
  std::uint64_t now_ = 0;  // time of the read being processed (receive timestamp)
  std::unique_ptr<char[]> rbuf_;  // [0, rlen_) received, not yet decoded
  std::size_t rcap_ = 0, rlen_ = 0;
  std::string wbuf_, wsend_;

  // Publisher.
  bool publishing_ = false;
  bool done_ = false;
  std::string payload_;
  std::uint64_t seq_ = 0;
  std::uint64_t next_due_ = 0;
  std::uint32_t max_inflight_ = 0;
  std::uint32_t inflight_ = 0;
  std::uint16_t next_pid_ = 1;
  std::vector<std::uint64_t> pid_bits_;  // 65536 bits: packet ids in use
  std::vector<std::uint64_t> pid_ts_;    // send time by (pid & mask)
  std::uint32_t pid_mask_ = 0;
  std::uint64_t forgiven_ = 0;        // window: messages given up on (lost on the way)
  std::uint64_t last_delivered_ = 0;
  std::uint64_t last_progress_ = 0;

  // Subscriber.
  std::unordered_map<std::uint32_t, SeqTracker> tracks_;
  std::uint32_t last_pub_ = UINT32_MAX;
  SeqTracker* last_track_ = nullptr;
};

class Worker {
 public:
  Worker(Shared& sh, int id) : sh(sh), id(id), ticker(ioc) {}

  void run_thread() {
    guard.emplace(asio::make_work_guard(ioc));
    thread = std::thread([this] {
      schedule_tick();
      ioc.run();
    });
  }
  void join() {
    if (thread.joinable()) thread.join();
  }
  void stop() {
    asio::post(ioc, [this] {
      ticker.cancel();
      guard.reset();
      ioc.stop();
    });
  }

  // Creates connections for `specs` and starts them at `rate` per second from `t0` on.
  void add_and_connect(std::vector<ConnSpec> specs, double rate, std::uint64_t t0) {
    asio::post(ioc, [this, specs = std::move(specs), rate, t0]() mutable {
      pending_base = pending.size();
      for (auto& s : specs) {
        conns.push_back(std::make_unique<Conn>(*this, std::move(s)));
        Conn* c = conns.back().get();
        pending.push_back(c);
        if (c->spec().role == Role::pub && c->spec().period_ns) timed_pubs.push_back(c);
        if (c->spec().role == Role::pub && !c->spec().period_ns && sh.window) {
          credit_pubs.push_back(c);
          if (local_pubs.size() <= c->spec().index) local_pubs.resize(c->spec().index + 1, nullptr);
          local_pubs[c->spec().index] = c;
        }
      }
      pending_rate = rate;
      pending_t0 = t0;
      start_due(now_ns());
    });
  }

  void start_publishing(std::uint64_t t0) {
    asio::post(ioc, [this, t0] {
      publishing = true;
      for (auto& c : conns)
        if (c->spec().role == Role::pub) c->begin_publishing(t0);
    });
  }
  void stop_publishing() {
    asio::post(ioc, [this] { publishing = false; });
  }
  void disconnect_all() {
    asio::post(ioc, [this] {
      stopping = true;
      publishing = false;
      pending.resize(pending_next);  // never start the rest
      for (auto& c : conns) c->disconnect();
    });
  }

  Shared& sh;
  int id;
  asio::io_context ioc{1};
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard;
  std::thread thread;
  Stats st;
  mq::Packet pkt;
  bool publishing = false;
  bool stopping = false;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<Conn*> credit_pubs;  // flat-out publishers limited by the pubsub window
  std::vector<Conn*> local_pubs;   // by publisher index, those pinned to this worker
  std::vector<Conn*> dirty_pubs;   // local publishers whose messages arrived since the last refill

  // Publishers on this worker get their window refilled right after their messages arrive;
  // the 1 ms tick covers publishers on other workers (and the stall check).
  void refill_dirty(std::uint64_t now) {
    for (Conn* c : dirty_pubs) {
      c->refill_pending = false;
      if (publishing) c->refill(now);
    }
    dirty_pubs.clear();
  }
  void refill_all(std::uint64_t now) {
    if (publishing)
      for (Conn* c : credit_pubs) c->refill(now);
  }

 private:
  void schedule_tick() {
    ticker.expires_after(std::chrono::milliseconds(1));
    ticker.async_wait([this](const error_code& ec) {
      if (ec) return;
      tick();
      schedule_tick();
    });
  }
  void tick() {
    std::uint64_t now = now_ns();
    start_due(now);
    if (publishing)
      for (Conn* c : timed_pubs) c->pub_tick(now);
    refill_all(now);
    if (now - last_sweep >= 100 * kMs) {
      last_sweep = now;
      for (std::size_t i = 0; i < pending_next; ++i) pending[i]->sweep(now);
    }
  }
  void start_due(std::uint64_t now) {
    if (stopping || pending_next >= pending.size()) return;
    std::size_t due = pending.size();
    if (pending_rate > 0) {
      double elapsed = now > pending_t0 ? static_cast<double>(now - pending_t0) / 1e9 : 0.0;
      due = std::min(due, pending_base + static_cast<std::size_t>(elapsed * pending_rate) + 1);
    }
    while (pending_next < due) pending[pending_next++]->start();
  }

  asio::steady_timer ticker;
  std::vector<Conn*> pending;  // every connection, in start order; [0, pending_next) started
  std::size_t pending_next = 0;
  std::size_t pending_base = 0;
  double pending_rate = 0;
  std::uint64_t pending_t0 = 0;
  std::vector<Conn*> timed_pubs;
  std::uint64_t last_sweep = 0;
};

// ---------------------------------------------------------------------------------------------
// Conn

Conn::Conn(Worker& w, ConnSpec spec) : w_(w), spec_(std::move(spec)), sock_(w.ioc), keepalive_(w.sh.opt.keepalive) {
  grow_read_buffer(spec_.role == Role::sub ? 4096 : spec_.role == Role::pub ? 1024 : 256);
  if (spec_.role == Role::pub) {
    const Options& o = w_.sh.opt;
    payload_.assign(o.payload_size, 'x');
    max_inflight_ = static_cast<std::uint32_t>(std::clamp(o.inflight, 1, 65535));
    if (o.qos > 0) {
      pid_bits_.assign(65536 / 64, 0);
      std::uint32_t ring = 1;
      while (ring < 2 * max_inflight_ && ring < 65536) ring <<= 1;
      pid_ts_.assign(ring, 0);
      pid_mask_ = ring - 1;
    }
  }
}

void Conn::start() {
  t_start_ = now_ns();
  st_ = St::tcp_connecting;
  w_.st.started.add();
  const auto& target = spec_.target;
  error_code ec;
  sock_.open(target.protocol(), ec);
  if (ec) return abort(fmt::format("socket: {}", ec.message()));
  w_.st.sock_open.add();
  if (!w_.sh.src.empty()) {
    int one = 1;
    ::setsockopt(sock_.native_handle(), IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
    sock_.bind(tcp::endpoint(w_.sh.src[spec_.src % w_.sh.src.size()], 0), ec);
    if (ec) return abort(fmt::format("bind {}: {}", w_.sh.src[spec_.src % w_.sh.src.size()].to_string(), ec.message()));
  }
  sock_.set_option(tcp::no_delay(true), ec);
  sock_.async_connect(target, [this](const error_code& e) { on_tcp_connected(e); });
}

void Conn::on_tcp_connected(const error_code& ec) {
  if (st_ == St::closed) return;
  if (ec) return abort(fmt::format("connect: {}", ec.message()));
  const Options& o = w_.sh.opt;
  mq::Connect c;
  c.protocol_level = w_.sh.level;
  c.clean_start = true;
  c.keep_alive = o.keepalive;
  c.client_id = spec_.client_id;
  c.username = o.username;
  c.password = o.password;
  mq::encode_packet(c, w_.sh.level, wbuf_);
  st_ = St::mqtt_connecting;
  flush();
  arm_read();
}

void Conn::arm_read() {
  if (rlen_ == rcap_) grow_read_buffer(rcap_ * 2);
  sock_.async_read_some(asio::buffer(rbuf_.get() + rlen_, rcap_ - rlen_),
                        [this](const error_code& ec, std::size_t n) { on_read(ec, n); });
}

// Each connection reads into its own buffer, small to begin with (idle connections cost little)
// and doubled whenever a read fills it, up to kMaxReadBuf (or the size of one large packet).
void Conn::grow_read_buffer(std::size_t at_least) {
  std::size_t cap = std::max<std::size_t>(at_least, 256);
  auto bigger = std::make_unique<char[]>(cap);
  if (rlen_) std::memcpy(bigger.get(), rbuf_.get(), rlen_);
  rbuf_ = std::move(bigger);
  rcap_ = cap;
}

void Conn::on_read(const error_code& ec, std::size_t n) {
  if (st_ == St::closed) return;
  if (ec) {
    if (st_ == St::disconnecting) return close_socket();
    if (ec == asio::error::eof) return abort("connection closed by the broker");
    return abort(fmt::format("read: {}", ec.message()));
  }
  const bool filled = rlen_ + n == rcap_;
  rlen_ += n;
  process(now_ns());
  if (st_ == St::closed) return;
  if (filled && rcap_ < kMaxReadBuf) grow_read_buffer(rcap_ * 2);
  if (!w_.dirty_pubs.empty()) w_.refill_dirty(now_ns());
  flush();
  arm_read();
}

// PUBLISH is what arrives by the million, so it is read in place (no copies of topic, properties
// or payload); everything else goes through the tidemq_mqtt codec. Returns false on need-more.
struct PublishPeek {
  std::uint8_t qos = 0;
  std::uint16_t packet_id = 0;
  std::string_view payload;
  std::size_t size = 0;
  const char* error = nullptr;
};
bool peek_publish(std::string_view b, bool v5, PublishPeek& out) {
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

void Conn::process(std::uint64_t now) {
  now_ = now;
  const std::string_view view(rbuf_.get(), rlen_);
  const bool v5 = w_.sh.level == mq::kV5;
  std::size_t off = 0;
  while (off < view.size()) {
    if ((static_cast<std::uint8_t>(view[off]) >> 4) == 3) {
      PublishPeek pk;
      if (!peek_publish(view.substr(off), v5, pk)) break;
      if (pk.error) return abort(fmt::format("malformed PUBLISH from the broker: {}", pk.error));
      off += pk.size;
      on_publish(pk.qos, pk.packet_id, pk.payload);
      continue;
    }
    std::size_t consumed = 0;
    mq::DecodeError err;
    auto status = mq::decode_packet(view.substr(off), w_.sh.level, UINT32_MAX, w_.pkt, consumed, err);
    if (status == mq::DecodeStatus::need_more) break;
    if (status == mq::DecodeStatus::error)
      return abort(fmt::format("malformed packet from the broker (0x{:02x}: {})", err.reason, err.message));
    off += consumed;
    handle(w_.pkt);
    if (st_ == St::closed) return;
  }
  if (off) {
    std::memmove(rbuf_.get(), rbuf_.get() + off, rlen_ - off);
    rlen_ -= off;
  }
  if (spec_.role == Role::pub && w_.sh.opt.qos > 0 && publishing_ && !spec_.period_ns && w_.publishing) fill();
}

void Conn::handle(mq::Packet& p) {
  if (auto* pub = std::get_if<mq::Publish>(&p)) return on_publish(pub->qos, pub->packet_id, pub->payload);
  if (auto* r = std::get_if<mq::PubResponse>(&p)) return on_pubresp(*r);
  if (auto* c = std::get_if<mq::Connack>(&p)) return on_connack(*c);
  if (auto* s = std::get_if<mq::Suback>(&p)) return on_suback(*s);
  if (std::holds_alternative<mq::Pingresp>(p)) return;
  if (auto* d = std::get_if<mq::Disconnect>(&p)) {
    std::string why = fmt::format("DISCONNECT from the broker (0x{:02x})", d->reason);
    if (d->props.reason_string) why += ": " + *d->props.reason_string;
    if (st_ == St::disconnecting) return close_socket();
    return abort(why);
  }
  abort(fmt::format("unexpected {} from the broker", mq::packet_type_name(mq::packet_type(p))));
}

void Conn::on_connack(const mq::Connack& c) {
  if (st_ != St::mqtt_connecting) return abort("unexpected CONNACK");
  if (c.reason != 0) {
    std::string why = fmt::format("CONNACK refused (0x{:02x})", c.reason);
    if (c.props.reason_string) why += ": " + *c.props.reason_string;
    return abort(why);
  }
  const std::uint64_t now = now_ns();
  was_connected_ = true;
  w_.st.connected.add();
  w_.st.connack.record(now - t_start_);
  if (now > w_.st.last_connack.load(std::memory_order_relaxed)) w_.st.last_connack.store(now, std::memory_order_relaxed);
  if (c.props.server_keep_alive) keepalive_ = *c.props.server_keep_alive;
  if (c.props.receive_maximum) max_inflight_ = std::min<std::uint32_t>(max_inflight_, *c.props.receive_maximum);
  if (spec_.role == Role::sub) {
    mq::Subscribe s;
    s.packet_id = 1;
    s.entries.push_back({spec_.topic, mq::SubscribeOptions{static_cast<std::uint8_t>(w_.sh.opt.qos)}});
    mq::encode_packet(s, w_.sh.level, wbuf_);
    st_ = St::subscribing;
    return;  // flushed by the read loop
  }
  st_ = St::ready;
  settle();
  if (spec_.role == Role::pub && w_.publishing) begin_publishing(now);
}

void Conn::on_suback(const mq::Suback& s) {
  if (st_ != St::subscribing) return abort("unexpected SUBACK");
  if (s.reasons.empty() || s.reasons[0] >= 0x80) {
    return abort(fmt::format("SUBSCRIBE to '{}' refused (0x{:02x})", spec_.topic,
                             s.reasons.empty() ? 0 : s.reasons[0]));
  }
  subscribed_ = true;
  w_.st.subscribed.add();
  st_ = St::ready;
  settle();
}

void Conn::on_publish(std::uint8_t qos, std::uint16_t packet_id, std::string_view payload) {
  const std::uint64_t now = now_;
  Stats& st = w_.st;
  st.recv.add();
  st.recv_bytes.add(payload.size());
  if (st.first_recv.load(std::memory_order_relaxed) == 0) st.first_recv.store(now, std::memory_order_relaxed);
  st.last_recv.store(now, std::memory_order_relaxed);
  Stamp s;
  if (read_stamp(payload, s)) {
    if (s.pub < w_.sh.delivered_n) {
      w_.sh.delivered[s.pub].fetch_add(1, std::memory_order_relaxed);
      if (s.pub < w_.local_pubs.size()) {
        Conn* pub = w_.local_pubs[s.pub];
        if (pub && !pub->refill_pending) {
          pub->refill_pending = true;
          w_.dirty_pubs.push_back(pub);
        }
      }
    }
    st.latency.record(now > s.sent_ns ? now - s.sent_ns : 0);
    if (s.pub != last_pub_) {
      last_track_ = &tracks_[s.pub];
      last_pub_ = s.pub;
    }
    switch (last_track_->on(s.seq)) {
      case SeqTracker::Result::in_order:
      case SeqTracker::Result::gap: st.unique.add(); break;
      case SeqTracker::Result::out_of_order:
        st.unique.add();
        st.ooo.add();
        break;
      case SeqTracker::Result::duplicate: st.dup.add(); break;
      case SeqTracker::Result::too_old: st.too_old.add(); break;
    }
  } else {
    st.unstamped.add();
  }
  if (qos == 1) {
    mq::encode_packet(mq::PubResponse{mq::PacketType::puback, packet_id}, w_.sh.level, wbuf_);
  } else if (qos == 2) {
    mq::encode_packet(mq::PubResponse{mq::PacketType::pubrec, packet_id}, w_.sh.level, wbuf_);
  }
}

void Conn::on_pubresp(const mq::PubResponse& r) {
  switch (r.type) {
    case mq::PacketType::puback:
    case mq::PacketType::pubcomp: release_pid(r.packet_id, r.reason); break;
    case mq::PacketType::pubrec:
      if (r.reason >= 0x80) {
        release_pid(r.packet_id, r.reason);
      } else {
        mq::encode_packet(mq::PubResponse{mq::PacketType::pubrel, r.packet_id}, w_.sh.level, wbuf_);
      }
      break;
    case mq::PacketType::pubrel:
      mq::encode_packet(mq::PubResponse{mq::PacketType::pubcomp, r.packet_id}, w_.sh.level, wbuf_);
      break;
    default: break;
  }
}

void Conn::flush() {
  if (writing_ || wbuf_.empty() || half_closed_ || st_ == St::closed || st_ == St::tcp_connecting) return;
  std::swap(wbuf_, wsend_);
  wbuf_.clear();
  writing_ = true;
  last_send_ = now_ns();
  asio::async_write(sock_, asio::buffer(wsend_), [this](const error_code& ec, std::size_t) { on_written(ec); });
}

void Conn::on_written(const error_code& ec) {
  writing_ = false;
  if (st_ == St::closed) return;
  if (ec) {
    if (st_ == St::disconnecting) return close_socket();
    return abort(fmt::format("write: {}", ec.message()));
  }
  wsend_.clear();
  if (st_ == St::disconnecting && wbuf_.empty()) {
    // DISCONNECT is out: half-close and let the read side see the broker close (EOF).
    error_code ignored;
    sock_.shutdown(tcp::socket::shutdown_send, ignored);
    half_closed_ = true;
    return;
  }
  if (spec_.role == Role::pub && publishing_ && !spec_.period_ns && w_.publishing) fill();
  flush();
}

void Conn::settle() {
  if (settled_) return;
  settled_ = true;
  w_.st.settled.add();
}

// A failure: during setup it is a failed connection (or subscription), afterwards a dropped one.
void Conn::abort(std::string why) {
  if (st_ == St::closed) return;
  const bool in_setup = st_ != St::ready && st_ != St::disconnecting;
  if (in_setup) {
    if (!was_connected_) w_.st.conn_failed.add();
    else w_.st.sub_failed.add();
    settle();
  } else if (!w_.stopping) {
    w_.st.dropped.add();
  }
  if (!w_.stopping || in_setup) w_.sh.errors.add(std::move(why));
  close_socket();
}

void Conn::close_socket() {
  if (st_ == St::closed) return;
  const bool had_socket = st_ != St::idle && sock_.is_open();
  st_ = St::closed;
  if (was_connected_) w_.st.closed.add();
  error_code ignored;
  sock_.close(ignored);
  if (had_socket) w_.st.sock_closed.add();
  if (spec_.role == Role::pub && !done_) {
    done_ = true;
    w_.st.pubs_done.add();
  }
}

void Conn::disconnect() {
  switch (st_) {
    case St::ready:
      mq::encode_packet(mq::Disconnect{}, w_.sh.level, wbuf_);
      st_ = St::disconnecting;
      flush();
      break;
    case St::tcp_connecting:
    case St::mqtt_connecting:
    case St::subscribing: abort("still connecting when the run ended"); break;
    default: break;
  }
}

void Conn::sweep(std::uint64_t now) {
  switch (st_) {
    case St::tcp_connecting:
    case St::mqtt_connecting:
    case St::subscribing:
      if (now > t_start_ && now - t_start_ > static_cast<std::uint64_t>(w_.sh.opt.connect_timeout * 1e9))
        abort(st_ == St::subscribing ? "SUBACK timeout"
              : st_ == St::mqtt_connecting ? "CONNACK timeout" : "TCP connect timeout");
      break;
    case St::ready:
      if (keepalive_ && now > last_send_ && now - last_send_ >= keepalive_ * kSec) {
        mq::encode_packet(mq::Pingreq{}, w_.sh.level, wbuf_);
        flush();
      }
      break;
    default: break;
  }
}

// ---- publishing

void Conn::begin_publishing(std::uint64_t t0) {
  if (st_ != St::ready || publishing_) return;
  publishing_ = true;
  next_due_ = t0 + spec_.phase_ns;
  check_done();
  if (!spec_.period_ns) {
    fill();
    flush();
  }
}

bool Conn::can_publish() const {
  if (seq_ >= spec_.limit) return false;
  if (w_.sh.opt.qos > 0 && inflight_ >= max_inflight_) return false;
  if (w_.sh.window && !spec_.period_ns && !window_open()) return false;
  return true;
}

std::uint64_t Conn::outstanding() const {
  const std::uint64_t done = w_.sh.delivered[spec_.index].load(std::memory_order_relaxed) / w_.sh.receivers + forgiven_;
  return seq_ > done ? seq_ - done : 0;
}

bool Conn::window_open() const { return outstanding() < w_.sh.window; }

// Window-limited publisher: send what the window allows now. When nothing has arrived for 100 ms
// while the window is full, what is outstanding is taken as lost and the window reopens.
void Conn::refill(std::uint64_t now) {
  if (st_ != St::ready || !publishing_) return;
  const std::uint64_t d = w_.sh.delivered[spec_.index].load(std::memory_order_relaxed);
  if (d != last_delivered_ || last_progress_ == 0) {
    last_delivered_ = d;
    last_progress_ = now;
  } else if (!window_open() && now > last_progress_ && now - last_progress_ > 100 * kMs) {
    forgiven_ = seq_ - d / w_.sh.receivers;
    last_progress_ = now;
  }
  fill();
  flush();
}

void Conn::fill() {
  if (st_ != St::ready) return;
  // Window-limited: refill in batches of half the window, so writes (and the broker's reads)
  // carry several messages instead of one each.
  if (w_.sh.window && !spec_.period_ns && outstanding() > w_.sh.window - std::max<std::uint64_t>(1, w_.sh.window / 2))
    return;
  const std::uint64_t now = now_ns();
  while (wbuf_.size() < kFloodBatch && can_publish()) publish_one(now);
}

void Conn::pub_tick(std::uint64_t now) {
  if (st_ != St::ready || !publishing_) return;
  int burst = 0;
  while (now >= next_due_ && burst < 1000 && wbuf_.size() < kMaxWriteBacklog && can_publish()) {
    publish_one(now_ns());
    next_due_ += spec_.period_ns;
    ++burst;
  }
  if (burst) flush();
}

void Conn::publish_one(std::uint64_t now) {
  const Options& o = w_.sh.opt;
  std::uint16_t pid = 0;
  if (o.qos > 0) {
    pid = alloc_pid();
    pid_ts_[pid & pid_mask_] = now;
    ++inflight_;
  }
  if (payload_.size() >= kStampSize) write_stamp(payload_.data(), Stamp{spec_.index, seq_, now});
  mq::PublishView v;
  v.topic = spec_.topic;
  v.payload = payload_;
  v.qos = static_cast<std::uint8_t>(o.qos);
  v.retain = o.retain;
  v.packet_id = pid;
  mq::encode_publish(v, w_.sh.level, wbuf_);
  ++seq_;
  w_.st.pub_sent.add();
  if (o.qos == 0) check_done();
}

std::uint16_t Conn::alloc_pid() {
  for (;;) {  // terminates: inflight_ < 65535 ids are in use
    std::uint16_t id = next_pid_++;
    if (next_pid_ == 0) next_pid_ = 1;
    std::uint64_t& word = pid_bits_[id / 64];
    const std::uint64_t bit = std::uint64_t{1} << (id % 64);
    if (!(word & bit)) {
      word |= bit;
      return id;
    }
  }
}

void Conn::release_pid(std::uint16_t pid, std::uint8_t reason) {
  if (pid_bits_.empty()) return;
  std::uint64_t& word = pid_bits_[pid / 64];
  const std::uint64_t bit = std::uint64_t{1} << (pid % 64);
  if (!(word & bit)) return;  // not ours (or already acknowledged)
  word &= ~bit;
  --inflight_;
  const std::uint64_t now = now_;
  const std::uint64_t sent = pid_ts_[pid & pid_mask_];
  w_.st.ack.record(now > sent ? now - sent : 0);
  if (reason >= 0x80) {
    w_.st.pub_errors.add();
    w_.sh.errors.add(fmt::format("publish refused by the broker (0x{:02x})", reason));
  } else {
    w_.st.pub_acked.add();
  }
  check_done();
}

void Conn::check_done() {
  if (done_ || spec_.limit == UINT64_MAX || seq_ < spec_.limit || inflight_ > 0) return;
  done_ = true;
  w_.st.pubs_done.add();
}

// ---------------------------------------------------------------------------------------------
// Control thread

struct Totals {
  std::uint64_t started = 0, connected = 0, conn_failed = 0, subscribed = 0, sub_failed = 0, settled = 0,
                closed = 0, dropped = 0, sock_open = 0, sock_closed = 0, pub_sent = 0, pub_acked = 0,
                pub_errors = 0, pubs_done = 0, recv = 0, recv_bytes = 0, unique = 0, dup = 0, ooo = 0,
                too_old = 0, unstamped = 0, last_connack = 0, first_recv = 0, last_recv = 0;
  Histogram connack, latency, ack;
  std::uint64_t open() const { return connected - closed; }
};

Totals collect(const std::vector<std::unique_ptr<Worker>>& workers, bool histograms = true) {
  Totals t;
  for (const auto& wp : workers) {
    const Stats& s = wp->st;
    t.started += s.started.get();
    t.connected += s.connected.get();
    t.conn_failed += s.conn_failed.get();
    t.subscribed += s.subscribed.get();
    t.sub_failed += s.sub_failed.get();
    t.settled += s.settled.get();
    t.closed += s.closed.get();
    t.dropped += s.dropped.get();
    t.sock_open += s.sock_open.get();
    t.sock_closed += s.sock_closed.get();
    t.pub_sent += s.pub_sent.get();
    t.pub_acked += s.pub_acked.get();
    t.pub_errors += s.pub_errors.get();
    t.pubs_done += s.pubs_done.get();
    t.recv += s.recv.get();
    t.recv_bytes += s.recv_bytes.get();
    t.unique += s.unique.get();
    t.dup += s.dup.get();
    t.ooo += s.ooo.get();
    t.too_old += s.too_old.get();
    t.unstamped += s.unstamped.get();
    t.last_connack = std::max(t.last_connack, s.last_connack.load(std::memory_order_relaxed));
    std::uint64_t fr = s.first_recv.load(std::memory_order_relaxed);
    if (fr && (!t.first_recv || fr < t.first_recv)) t.first_recv = fr;
    t.last_recv = std::max(t.last_recv, s.last_recv.load(std::memory_order_relaxed));
    if (!histograms) continue;
    t.connack.merge(s.connack.snapshot());
    t.latency.merge(s.latency.snapshot());
    t.ack.merge(s.ack.snapshot());
  }
  return t;
}

std::string fmt_ms(std::uint64_t ns) {
  double ms = static_cast<double>(ns) / 1e6;
  if (ms < 10) return fmt::format("{:.3f}ms", ms);
  if (ms < 1000) return fmt::format("{:.1f}ms", ms);
  return fmt::format("{:.2f}s", ms / 1000);
}

// "%i" → index, "%c" → client id.
std::string expand(const std::string& pattern, long index, const std::string& client_id) {
  std::string out;
  out.reserve(pattern.size() + 16);
  for (std::size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '%' && i + 1 < pattern.size()) {
      if (pattern[i + 1] == 'i') {
        out += std::to_string(index);
        ++i;
        continue;
      }
      if (pattern[i + 1] == 'c') {
        out += client_id;
        ++i;
        continue;
      }
    }
    out += pattern[i];
  }
  return out;
}

// The filter matching every expansion of `pattern`: each topic level holding %i or %c becomes '+'.
std::string wildcard_of(const std::string& pattern) {
  std::string out;
  std::size_t start = 0;
  for (;;) {
    std::size_t slash = pattern.find('/', start);
    std::string level = pattern.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (level.find("%i") != std::string::npos || level.find("%c") != std::string::npos) level = "+";
    out += level;
    if (slash == std::string::npos) break;
    out += '/';
    start = slash + 1;
  }
  return out;
}

// CPU time and resident memory of a process (the broker, with --watch-pid), from /proc.
struct ProcSample {
  bool ok = false;
  double cpu_s = 0;
  long rss_kb = 0;
};
ProcSample sample_proc(int pid) {
  ProcSample s;
  if (pid <= 0) return s;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return s;
  // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
  auto close = line.rfind(')');
  if (close == std::string::npos) return s;
  std::istringstream rest(line.substr(close + 2));
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::stoull(field);
    if (i == 15) stime = std::stoull(field);
  }
  s.cpu_s = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  while (std::getline(status, line))
    if (line.rfind("VmRSS:", 0) == 0) s.rss_kb = std::stol(line.substr(6));
  s.ok = true;
  return s;
}

// Whole-machine busy CPU time in seconds (all cores, from /proc/stat), to show interference.
double machine_busy_s() {
  std::ifstream f("/proc/stat");
  std::string cpu;
  unsigned long long v[8] = {};
  if (!(f >> cpu) || cpu != "cpu") return 0;
  for (auto& x : v) f >> x;
  const unsigned long long busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];  // all but idle and iowait
  return static_cast<double>(busy) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double self_cpu_s() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
         static_cast<double>(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

struct PercentileSet {
  std::uint64_t n, p50, p90, p99, p999, max;
  double mean;
};
PercentileSet percentiles(const Histogram& h) {
  return {h.count(), h.quantile(0.50), h.quantile(0.90), h.quantile(0.99), h.quantile(0.999), h.max(), h.mean()};
}

std::string json_escape(const std::string& s);

std::string base64(std::string_view in) {
  static constexpr char kTab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8) |
                            static_cast<std::uint8_t>(in[i + 2]);
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], kTab[(v >> 6) & 63], kTab[v & 63]};
  }
  if (i + 1 == in.size()) {
    const std::uint32_t v = static_cast<std::uint8_t>(in[i]) << 16;
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], '=', '='};
  } else if (i + 2 == in.size()) {
    const std::uint32_t v = (static_cast<std::uint8_t>(in[i]) << 16) | (static_cast<std::uint8_t>(in[i + 1]) << 8);
    out += {kTab[v >> 18], kTab[(v >> 12) & 63], kTab[(v >> 6) & 63], '='};
  }
  return out;
}

// A minimal HTTP/1.1 GET (plain http only, "Connection: close", user:password@ → basic auth), for
// --wait-routes. Fills `body` on a 2xx answer; bounded by a 2 s timeout.
std::string redact(const std::string& url) {  // http://user:secret@host → http://user:***@host
  const std::size_t start = url.find("://"), at = url.find('@');
  if (start == std::string::npos || at == std::string::npos || at < start) return url;
  const std::size_t colon = url.find(':', start + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon + 1) + "***" + url.substr(at);
}

bool http_get(const std::string& url, std::string& body, std::string& err, int& status) {
  status = 0;
  std::string rest = url;
  if (rest.rfind("http://", 0) != 0) {
    err = "only http:// URLs";
    return false;
  }
  rest = rest.substr(7);
  const std::size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash), path = slash == std::string::npos ? "/" : rest.substr(slash);
  std::string auth;
  if (auto at = authority.rfind('@'); at != std::string::npos) {
    auth = base64(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string host = authority, port = "80";
  if (auto colon = authority.rfind(':'); colon != std::string::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
  }
  try {
    asio::io_context ioc;
    tcp::socket sock(ioc);
    tcp::resolver r(ioc);
    std::string req = fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n", path, authority);
    if (!auth.empty()) req += "Authorization: Basic " + auth + "\r\n";
    req += "\r\n";
    std::string resp;
    error_code result = asio::error::timed_out;
    bool finished = false;
    asio::async_connect(sock, r.resolve(host, port), [&](const error_code& ec, const tcp::endpoint&) {
      if (ec) {
        result = ec;
        finished = true;
        return;
      }
      asio::async_write(sock, asio::buffer(req), [&](const error_code& ec2, std::size_t) {
        if (ec2) {
          result = ec2;
          finished = true;
          return;
        }
        asio::async_read(sock, asio::dynamic_buffer(resp), [&](const error_code& ec3, std::size_t) {
          result = ec3 == asio::error::eof ? error_code{} : ec3;
          finished = true;
        });
      });
    });
    ioc.run_for(std::chrono::seconds(2));
    if (!finished) {
      err = fmt::format("GET {}: timeout", redact(url));
      return false;
    }
    if (result) {
      err = fmt::format("GET {}: {}", redact(url), result.message());
      return false;
    }
    const std::size_t sp = resp.find(' ');
    const std::size_t hdr_end = resp.find("\r\n\r\n");
    if (sp == std::string::npos || hdr_end == std::string::npos) {
      err = fmt::format("GET {}: not an HTTP answer", redact(url));
      return false;
    }
    status = std::atoi(resp.c_str() + sp + 1);
    if (status < 200 || status > 299) {
      err = fmt::format("GET {}: HTTP {}", redact(url), status);
      return false;
    }
    body = resp.substr(hdr_end + 4);  // chunked framing, if any, does not hide a "topic":"..." match
    return true;
  } catch (const std::exception& e) {
    err = fmt::format("GET {}: {}", redact(url), e.what());
    return false;
  }
}

class Runner {
 public:
  explicit Runner(const Options& o) : opt_(o), sh_{o} {}
  int run();

 private:
  bool resolve();
  void plan();
  void start_workers();
  void connect_group(std::vector<ConnSpec> specs);
  // Sleeps in 10 ms steps until `done()` or `deadline` or Ctrl-C; prints progress every second.
  template <class Pred>
  void wait(Pred done, std::uint64_t deadline);
  void progress(std::uint64_t now);
  void finish_and_report(int& exit_code);

  const Options& opt_;
  Shared sh_;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<ConnSpec> idle_specs_, pub_specs_, sub_specs_;

  std::uint64_t t_begin_ = 0;       // process start of the run
  std::uint64_t t_setup_end_ = 0;
  std::uint64_t t_run0_ = 0, t_run1_ = 0;
  std::uint64_t t_end_ = 0;
  Totals at_run0_, at_run1_;
  ProcSample watch_begin_, watch_run0_, watch_run1_;
  double cpu_run0_ = 0, cpu_run1_ = 0;
  double busy_run0_ = 0, busy_run1_ = 0;
  std::string phase_ = "setup";
  double routes_wait_ms_ = -1;     // --wait-routes: how long until every filter was visible
  std::size_t routes_missing_ = 0;

  // progress
  std::uint64_t next_report_ = 0;
  std::uint64_t last_report_t_ = 0;
  Totals last_;  // at the previous progress line
};

bool resolve_hosts(const std::vector<std::string>& hosts, std::vector<asio::ip::address>& out) {
  asio::io_context ioc;
  tcp::resolver r(ioc);
  for (const auto& h : hosts) {
    error_code ec;
    auto results = r.resolve(h, "0", ec);
    if (ec || results.empty()) {
      fmt::print(stderr, "tidemq_bench: cannot resolve {}: {}\n", h, ec.message());
      return false;
    }
    out.push_back(results.begin()->endpoint().address());
  }
  return true;
}

// "h1:p1" or "h1:p1,h2:p2" (one entry per host/port pairing that connection indexes can reach).
std::string targets_str(const std::vector<std::string>& hosts, const std::vector<std::uint16_t>& ports) {
  std::string out;
  const std::size_t n = std::max(hosts.size(), ports.size());
  for (std::size_t i = 0; i < n; ++i)
    out += fmt::format("{}{}:{}", i ? "," : "", hosts[i % hosts.size()], ports[i % ports.size()]);
  return out;
}

bool Runner::resolve() {
  error_code ec;
  if (!resolve_hosts(opt_.hosts, sh_.pub_addrs) || !resolve_hosts(opt_.sub_hosts, sh_.sub_addrs)) return false;
  for (const auto& s : opt_.src_ips) {
    auto a = asio::ip::make_address(s, ec);
    if (ec) {
      fmt::print(stderr, "tidemq_bench: bad --src-ips address '{}'\n", s);
      return false;
    }
    sh_.src.push_back(a);
  }
  sh_.level = opt_.version == 5 ? mq::kV5 : mq::kV311;
  return true;
}

void Runner::plan() {
  const Options& o = opt_;
  auto cid = [&](char role, long idx) { return fmt::format("{}_{}{}", o.prefix, role, idx); };
  // Connection i of a role: host i % (number of hosts), port i % (number of ports).
  auto pub_target = [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    return tcp::endpoint(sh_.pub_addrs[k % sh_.pub_addrs.size()], o.ports[k % o.ports.size()]);
  };
  auto sub_target = [&](int i) {
    const auto k = static_cast<std::size_t>(i);
    return tcp::endpoint(sh_.sub_addrs[k % sh_.sub_addrs.size()], o.sub_ports[k % o.sub_ports.size()]);
  };
  const long base = o.start_index;
  std::uint32_t src = 0;
  switch (o.mode) {
    case Mode::conn:
      for (int i = 0; i < o.clients; ++i) {
        ConnSpec s;
        s.role = Role::idle;
        s.index = static_cast<std::uint32_t>(i);
        s.client_id = cid('c', base + i);
        s.target = pub_target(i);
        s.src = src++;
        idle_specs_.push_back(std::move(s));
      }
      break;
    case Mode::sub:
      for (int i = 0; i < o.clients; ++i) {
        ConnSpec s;
        s.role = Role::sub;
        s.index = static_cast<std::uint32_t>(i);
        s.client_id = cid('s', base + i);
        s.topic = expand(o.topic, base + i, s.client_id);
        s.target = sub_target(i);
        s.src = src++;
        sub_specs_.push_back(std::move(s));
      }
      break;
    case Mode::pub:
    case Mode::pubsub: {
      const int P = o.mode == Mode::pub ? o.clients : o.pubs;
      const int S = o.mode == Mode::pub ? 0 : o.subs;
      // Per-publisher rate: -I wins over -r; neither → flat out.
      double per_pub_rate = 0;
      if (o.interval_ms > 0) per_pub_rate = 1000.0 / o.interval_ms;
      else if (o.rate > 0) per_pub_rate = o.rate / P;
      const std::uint64_t period = per_pub_rate > 0 ? static_cast<std::uint64_t>(1e9 / per_pub_rate) : 0;
      for (int i = 0; i < P; ++i) {
        ConnSpec s;
        s.role = Role::pub;
        s.index = static_cast<std::uint32_t>(i);
        s.client_id = cid('p', base + i);
        const bool same_topic = o.mode == Mode::pubsub && o.layout == Layout::fanout;
        s.topic = same_topic ? expand(o.topic, base, cid('p', base)) : expand(o.topic, base + i, s.client_id);
        if (o.limit) s.limit = o.limit / P + (static_cast<std::uint64_t>(i) < o.limit % P ? 1 : 0);
        s.period_ns = period;
        s.phase_ns = period ? period * static_cast<std::uint64_t>(i) / static_cast<std::uint64_t>(P) : 0;
        s.target = pub_target(i);
        s.src = src++;
        pub_specs_.push_back(std::move(s));
      }
      for (int i = 0; i < S; ++i) {
        ConnSpec s;
        s.role = Role::sub;
        s.index = static_cast<std::uint32_t>(i);
        s.client_id = cid('s', base + i);
        if (!o.sub_topic.empty()) s.topic = expand(o.sub_topic, base + i, s.client_id);
        else if (o.layout == Layout::pairwise) s.topic = pub_specs_[static_cast<std::size_t>(i)].topic;
        else if (o.layout == Layout::fanin) s.topic = wildcard_of(o.topic);
        else s.topic = pub_specs_[0].topic;
        s.target = sub_target(i);
        s.src = src++;
        sub_specs_.push_back(std::move(s));
      }
      break;
    }
    case Mode::takeover: break;  // run_takeover()
  }
}

void Runner::start_workers() {
  for (int i = 0; i < opt_.threads; ++i) workers_.push_back(std::make_unique<Worker>(sh_, i));
  for (auto& w : workers_) w->run_thread();
}

void Runner::connect_group(std::vector<ConnSpec> specs) {
  const std::size_t T = workers_.size();
  std::vector<std::vector<ConnSpec>> per(T);
  for (auto& s : specs) per[s.index % T].push_back(std::move(s));
  const double rate = opt_.conn_rate > 0 ? opt_.conn_rate / static_cast<double>(T) : 0;
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < T; ++i) workers_[i]->add_and_connect(std::move(per[i]), rate, t0);
}

template <class Pred>
void Runner::wait(Pred done, std::uint64_t deadline) {
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= next_report_) {
      progress(now);
      next_report_ += kSec;
      if (next_report_ < now) next_report_ = now + kSec;
    }
    if (g_interrupted.load() || now >= deadline || done()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Runner::progress(std::uint64_t now) {
  Totals t = collect(workers_);
  const double dt = std::max(1e-3, static_cast<double>(now - last_report_t_) / 1e9);
  auto per_s = [&](std::uint64_t a, std::uint64_t b) { return static_cast<double>(a - b) / dt; };
  const auto elapsed = static_cast<long>(std::lround(static_cast<double>(now - t_begin_) / 1e9));
  std::string line = fmt::format("[t={}s] conns={}", elapsed, t.open());
  const std::size_t planned = idle_specs_.size() + pub_specs_.size() + sub_specs_.size();
  if (phase_ == "setup" || opt_.mode == Mode::conn) {
    if (t.connected < planned) line += fmt::format("/{}", planned);
    line += fmt::format(" +{:.0f}/s", per_s(t.connected, last_.connected));
  }
  const std::uint64_t failed = t.conn_failed + t.sub_failed;
  if (failed) line += fmt::format(" fail={}", failed);
  if (t.dropped) line += fmt::format(" dropped={}", t.dropped);
  const Histogram* lat = nullptr;
  Histogram interval;
  if (opt_.mode == Mode::conn || phase_ == "setup") {
    interval = Histogram::diff(t.connack, last_.connack);
    lat = &interval;
    if (interval.count()) line += " connack";
  } else {
    if (!pub_specs_.empty()) line += fmt::format(" pub={:.0f}/s", per_s(t.pub_sent, last_.pub_sent));
    if (!sub_specs_.empty()) line += fmt::format(" recv={:.0f}/s", per_s(t.recv, last_.recv));
    if (!sub_specs_.empty()) {
      interval = Histogram::diff(t.latency, last_.latency);
    } else if (opt_.qos > 0) {
      interval = Histogram::diff(t.ack, last_.ack);
      line += fmt::format(" acked={:.0f}/s", per_s(t.pub_acked, last_.pub_acked));
      if (interval.count()) line += " ack";
    }
    lat = &interval;
  }
  if (lat && lat->count())
    line += fmt::format(" p50={} p99={}", fmt_ms(lat->quantile(0.5)), fmt_ms(lat->quantile(0.99)));
  if (t.dup) line += fmt::format(" dup={}", t.dup);
  if (t.ooo) line += fmt::format(" ooo={}", t.ooo);
  if (phase_ != "run" && phase_ != "setup") line += fmt::format(" ({})", phase_);
  if (!opt_.quiet) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
  last_ = std::move(t);
  last_report_t_ = now;
}

int Runner::run() {
  if (!resolve()) return 2;
  plan();
  const std::size_t planned = idle_specs_.size() + pub_specs_.size() + sub_specs_.size();
  if (sh_.src.empty() && planned > 28000)
    fmt::print(stderr,
               "tidemq_bench: warning: {} connections from one source address may exhaust the ephemeral "
               "ports (see /proc/sys/net/ipv4/ip_local_port_range); use --src-ips\n",
               planned);
  if (opt_.mode == Mode::pubsub && opt_.window > 0 && opt_.rate <= 0 && opt_.interval_ms <= 0) {
    sh_.delivered_n = pub_specs_.size();
    sh_.delivered = std::make_unique<std::atomic<std::uint64_t>[]>(sh_.delivered_n);
    sh_.receivers = opt_.layout == Layout::pairwise ? 1 : sub_specs_.size();
    sh_.window = static_cast<std::uint64_t>(opt_.window);
  }
  start_workers();
  watch_begin_ = sample_proc(opt_.watch_pid);
  t_begin_ = now_ns();
  next_report_ = t_begin_ + kSec;
  last_report_t_ = t_begin_;

  const Options& o = opt_;
  auto settle_bound = [&](std::size_t n) {
    double connect_phase = o.conn_rate > 0 ? static_cast<double>(n) / o.conn_rate : 0;
    return now_ns() + static_cast<std::uint64_t>((connect_phase + o.connect_timeout + 2) * 1e9);
  };
  // Setup: subscribers first (so nothing published is missed), then publishers / idle connections.
  std::size_t expected_settled = 0;
  auto group = [&](std::vector<ConnSpec>& specs) {
    if (specs.empty() || g_interrupted.load()) return;
    expected_settled += specs.size();
    const std::size_t n = specs.size();
    connect_group(std::vector<ConnSpec>(specs.begin(), specs.end()));
    const std::size_t target = expected_settled;
    wait([&] { return collect(workers_, false).settled >= target; }, settle_bound(n));
  };
  group(sub_specs_);
  group(pub_specs_);
  group(idle_specs_);
  // Cluster: a node forwards to a remote subscriber only once the subscriber's route has reached it,
  // some time after the SUBACK. --wait-routes polls the publishers' node for every filter.
  if (!o.wait_routes.empty() && !sub_specs_.empty() && !g_interrupted.load()) {
    phase_ = "routes";
    std::vector<std::string> needles;
    for (const auto& sp : sub_specs_) needles.push_back("\"topic\":\"" + json_escape(sp.topic) + "\"");
    std::sort(needles.begin(), needles.end());
    needles.erase(std::unique(needles.begin(), needles.end()), needles.end());
    const std::uint64_t t0 = now_ns();
    std::uint64_t last_poll = 0;
    std::size_t missing = needles.size();
    std::string err;
    wait(
        [&] {
          const std::uint64_t now = now_ns();
          if (now - last_poll < 50 * kMs) return false;
          last_poll = now;
          std::string body;
          int status = 0;
          if (!http_get(o.wait_routes, body, err, status)) {
            // Wrong credentials or URL: polling on would only lock the address out (HTTP 429).
            return status == 401 || status == 403 || status == 404 || status == 429;
          }
          err.clear();
          missing = 0;
          for (const auto& n : needles)
            if (body.find(n) == std::string::npos) ++missing;
          return missing == 0;
        },
        t0 + static_cast<std::uint64_t>(std::max(o.connect_timeout, 10.0) * 1e9));
    routes_wait_ms_ = static_cast<double>(now_ns() - t0) / 1e6;
    routes_missing_ = missing;
    if (missing)
      fmt::print(stderr, "tidemq_bench: warning: {} of {} subscriber filters not in {} after {:.0f} ms{}{}\n", missing,
                 needles.size(), redact(o.wait_routes), routes_wait_ms_, err.empty() ? "" : ": ", err);
    else if (!o.quiet)
      fmt::print("routes: all {} subscriber filters visible after {:.0f} ms\n", needles.size(), routes_wait_ms_);
  }
  if (o.settle_ms > 0 && !g_interrupted.load()) {
    phase_ = "settle";
    wait([] { return false; }, now_ns() + static_cast<std::uint64_t>(o.settle_ms * 1e6));
  }
  t_setup_end_ = now_ns();

  // Run.
  phase_ = "run";
  at_run0_ = collect(workers_);
  t_run0_ = now_ns();
  watch_run0_ = sample_proc(opt_.watch_pid);
  cpu_run0_ = self_cpu_s();
  busy_run0_ = machine_busy_s();
  if (!g_interrupted.load()) {
    if (!pub_specs_.empty())
      for (auto& w : workers_) w->start_publishing(t_run0_);
    double secs = o.duration;
    if (o.mode == Mode::conn && o.hold) secs = *o.hold;
    const std::uint64_t deadline = t_run0_ + static_cast<std::uint64_t>(secs * 1e9);
    const std::uint64_t P = pub_specs_.size();
    wait(
        [&] {
          if (o.mode == Mode::pub || o.mode == Mode::pubsub) {
            if (o.limit) return collect(workers_, false).pubs_done >= P;
          } else if (o.mode == Mode::sub && o.limit) {
            return collect(workers_, false).recv >= o.limit;
          }
          return false;
        },
        deadline);
  }
  t_run1_ = now_ns();
  watch_run1_ = sample_proc(opt_.watch_pid);
  cpu_run1_ = self_cpu_s();
  busy_run1_ = machine_busy_s();
  for (auto& w : workers_) w->stop_publishing();
  at_run1_ = collect(workers_);

  // Drain: what was published is still on its way (or awaiting its acknowledgement).
  if (!g_interrupted.load() && !pub_specs_.empty() && (o.mode == Mode::pubsub || o.qos > 0)) {
    phase_ = "drain";
    const std::uint64_t factor = o.layout == Layout::pairwise ? 1 : sub_specs_.size();
    std::uint64_t last_recv = 0, last_change = now_ns();
    // Give the stop_publishing posts a moment to land before reading the final sent count.
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    wait(
        [&] {
          Totals t = collect(workers_, false);
          const bool acks_done = o.qos == 0 || t.pub_acked + t.pub_errors >= t.pub_sent;
          bool recv_done = true;
          if (o.mode == Mode::pubsub) {
            const std::uint64_t expected = t.pub_sent * factor;
            const std::uint64_t got = o.payload_size >= kStampSize ? t.unique : t.recv;
            recv_done = got >= expected;
            if (t.recv != last_recv) {
              last_recv = t.recv;
              last_change = now_ns();
            } else if (now_ns() - last_change > kSec) {
              recv_done = true;  // nothing arrives any more: the rest is lost
            }
          }
          return acks_done && recv_done;
        },
        now_ns() + static_cast<std::uint64_t>(o.drain * 1e9));
  }

  // Disconnect cleanly, then stop.
  phase_ = "disconnect";
  for (auto& w : workers_) w->disconnect_all();
  wait(
      [&] {
        Totals t = collect(workers_, false);
        return t.sock_closed >= t.sock_open;
      },
      now_ns() + 3 * kSec);
  t_end_ = now_ns();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();

  int exit_code = 0;
  finish_and_report(exit_code);
  return exit_code;
}

void json_percentiles(std::string& j, const char* name, const PercentileSet& p) {
  j += fmt::format(
      "\"{}\":{{\"count\":{},\"mean_ms\":{:.4f},\"p50_ms\":{:.4f},\"p90_ms\":{:.4f},\"p99_ms\":{:.4f},"
      "\"p999_ms\":{:.4f},\"max_ms\":{:.4f}}}",
      name, p.n, p.mean / 1e6, p.p50 / 1e6, p.p90 / 1e6, p.p99 / 1e6, p.p999 / 1e6, p.max / 1e6);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      out += fmt::format("\\u{:04x}", static_cast<int>(c));
    } else {
      out += c;
    }
  }
  return out;
}

void Runner::finish_and_report(int& exit_code) {
  const Options& o = opt_;
  Totals t = collect(workers_);
  const std::size_t planned = idle_specs_.size() + pub_specs_.size() + sub_specs_.size();

  // Connect phase.
  const double connect_secs =
      t.last_connack > t_begin_ ? static_cast<double>(t.last_connack - t_begin_) / 1e9 : 0.0;
  const double connect_rate = connect_secs > 0 ? static_cast<double>(t.connected) / connect_secs : 0.0;
  const PercentileSet ck = percentiles(t.connack);

  // Run window.
  const double window = std::max(1e-9, static_cast<double>(t_run1_ - t_run0_) / 1e9);
  const std::uint64_t sent_window = at_run1_.pub_sent - at_run0_.pub_sent;
  const std::uint64_t recv_window = at_run1_.recv - at_run0_.recv;
  const Histogram lat = Histogram::diff(t.latency, at_run0_.latency);
  const PercentileSet lp = percentiles(lat);
  const PercentileSet ap = percentiles(t.ack);
  const double recv_active_secs =
      t.last_recv > t.first_recv ? static_cast<double>(t.last_recv - t.first_recv) / 1e9 : 0.0;

  // Loss accounting (pubsub: exact, from what each publisher sent; sub: gaps in sequences).
  std::uint64_t lost = 0, gaps = 0, subs_ok = 0;
  std::vector<std::uint64_t> sent_by_pub(pub_specs_.size(), 0);
  for (auto& w : workers_)
    for (auto& c : w->conns)
      if (c->spec().role == Role::pub) sent_by_pub[c->spec().index] = c->sent();
  const bool stamped = o.payload_size >= kStampSize;
  for (auto& w : workers_) {
    for (auto& c : w->conns) {
      if (c->spec().role != Role::sub) continue;
      for (const auto& [pub, tr] : c->tracks()) gaps += tr.gaps();
      if (!c->subscribed_ok()) continue;
      ++subs_ok;
      if (o.mode != Mode::pubsub || !stamped) continue;
      auto expect_from = [&](std::uint32_t p) {
        auto it = c->tracks().find(p);
        std::uint64_t got = it == c->tracks().end() ? 0 : it->second.unique();
        lost += sent_by_pub[p] > got ? sent_by_pub[p] - got : 0;
      };
      if (o.layout == Layout::pairwise) expect_from(c->spec().index);
      else
        for (std::uint32_t p = 0; p < sent_by_pub.size(); ++p) expect_from(p);
    }
  }
  if (o.mode == Mode::pubsub && !stamped) {
    const std::uint64_t factor = o.layout == Layout::pairwise ? 1 : subs_ok;
    const std::uint64_t expected = t.pub_sent * factor;
    lost = expected > t.recv ? expected - t.recv : 0;
  }

  // Exit status.
  const std::uint64_t failures = t.conn_failed + t.sub_failed + t.dropped;
  bool ok = t.connected > 0 && static_cast<double>(failures) <= o.fail_threshold * static_cast<double>(planned);
  exit_code = ok ? 0 : 1;

  // ---- text summary
  std::string head = fmt::format("== tidemq_bench {}", mode_name(o.mode));
  if (o.mode == Mode::pubsub)
    head += fmt::format(" {} ({} pub / {} sub)", layout_name(o.layout), pub_specs_.size(), sub_specs_.size());
  else
    head += fmt::format(" ({} client{})", planned, planned == 1 ? "" : "s");
  head += fmt::format(", MQTT {}", o.version == 5 ? "5.0" : "3.1.1");
  if (o.mode == Mode::sub) head += fmt::format(", QoS {}, filter '{}'", o.qos, sub_specs_.empty() ? "" : sub_specs_[0].topic);
  else if (o.mode != Mode::conn) head += fmt::format(", QoS {}, {} B payload", o.qos, o.payload_size);
  const std::string pub_t = targets_str(o.hosts, o.ports), sub_t = targets_str(o.sub_hosts, o.sub_ports);
  if (o.mode == Mode::pubsub && pub_t != sub_t) head += fmt::format(", pub {} / sub {}", pub_t, sub_t);
  else head += fmt::format(", {}", o.mode == Mode::sub ? sub_t : pub_t);
  head += fmt::format(", {} thread{}", o.threads, o.threads > 1 ? "s" : "");
  fmt::print("{}\n", head);
  fmt::print("connections: {} ok, {} failed", t.connected, t.conn_failed);
  if (!sub_specs_.empty()) fmt::print(", {} subscribed, {} subscribe failures", t.subscribed, t.sub_failed);
  if (t.dropped) fmt::print(", {} dropped during the run", t.dropped);
  fmt::print("\n");
  if (t.connected)
    fmt::print("connect rate: {:.0f} conn/s ({} in {:.2f} s); connack latency p50 {} p90 {} p99 {} p99.9 {} max {}\n",
               connect_rate, t.connected, connect_secs, fmt_ms(ck.p50), fmt_ms(ck.p90), fmt_ms(ck.p99),
               fmt_ms(ck.p999), fmt_ms(ck.max));
  if (o.mode == Mode::conn)
    fmt::print("held {} connections for {:.1f} s\n", at_run0_.open(), window);
  if (!pub_specs_.empty()) {
    fmt::print("published: {} msgs in {:.2f} s = {:.0f} msg/s", sent_window, window,
               static_cast<double>(sent_window) / window);
    if (o.qos > 0)
      fmt::print("; acknowledged {} ({} refused), ack latency p50 {} p99 {} max {}", t.pub_acked, t.pub_errors,
                 fmt_ms(ap.p50), fmt_ms(ap.p99), fmt_ms(ap.max));
    fmt::print("\n");
  }
  if (!sub_specs_.empty()) {
    fmt::print("received: {} msgs in the window = {:.0f} msg/s; {} in total", recv_window,
               static_cast<double>(recv_window) / window, t.recv);
    if (recv_active_secs > 0)
      fmt::print(" ({:.0f} msg/s between first and last)", static_cast<double>(t.recv) / recv_active_secs);
    fmt::print("\n");
    if (o.mode == Mode::pubsub)
      fmt::print("delivery: lost {}, duplicate {}, out of order {}\n", lost, t.dup, t.ooo);
    else if (t.unique || t.dup || t.too_old)
      fmt::print("delivery: sequence gaps {}, duplicate {}, out of order {}\n", gaps, t.dup, t.ooo);
    if (lp.n)
      fmt::print("latency: p50 {} p90 {} p99 {} p99.9 {} max {} mean {} (n={})\n", fmt_ms(lp.p50), fmt_ms(lp.p90),
                 fmt_ms(lp.p99), fmt_ms(lp.p999), fmt_ms(lp.max), fmt_ms(static_cast<std::uint64_t>(lp.mean)), lp.n);
    else if (t.unstamped)
      fmt::print("latency: not measured (payloads carry no timestamp; needs -s >= {})\n", kStampSize);
  }
  const double tool_cpu = 100.0 * (cpu_run1_ - cpu_run0_) / window;
  const double machine_cpu = 100.0 * (busy_run1_ - busy_run0_) / window;
  fmt::print("tool CPU during the window: {:.0f}% of one core (whole machine: {:.0f}% busy over {} cores)\n", tool_cpu,
             machine_cpu, std::thread::hardware_concurrency());
  const bool watched = watch_begin_.ok && watch_run0_.ok && watch_run1_.ok;
  const double broker_cpu = watched ? 100.0 * (watch_run1_.cpu_s - watch_run0_.cpu_s) / window : 0.0;
  const std::uint64_t held = at_run0_.open();
  const double per_conn_kb =
      watched && held ? static_cast<double>(watch_run1_.rss_kb - watch_begin_.rss_kb) / static_cast<double>(held) : 0.0;
  if (opt_.watch_pid > 0) {
    if (watched)
      fmt::print("broker (pid {}): CPU {:.0f}% during the window; RSS {} KiB before connecting, {} KiB after, "
                 "{} KiB at the end ({:.2f} KiB per connection)\n",
                 opt_.watch_pid, broker_cpu, watch_begin_.rss_kb, watch_run0_.rss_kb, watch_run1_.rss_kb, per_conn_kb);
    else
      fmt::print("broker (pid {}): could not read /proc/{}\n", opt_.watch_pid, opt_.watch_pid);
  }
  auto errors = sh_.errors.top(8);
  for (auto& [msg, n] : errors) fmt::print("error x{}: {}\n", n, msg);
  if (!ok)
    fmt::print("FAILED: {} failed or dropped connections (threshold {:.1f}% of {})\n", failures,
               o.fail_threshold * 100, planned);
  std::fflush(stdout);

  // ---- JSON
  if (!o.json_file.empty()) {
    std::string j = "{";
    j += fmt::format("\"mode\":\"{}\",\"layout\":\"{}\",\"host\":\"{}\",\"port\":{},\"mqtt_version\":{},", mode_name(o.mode),
                     o.mode == Mode::pubsub ? layout_name(o.layout) : "", json_escape(o.host), o.port, o.version);
    j += fmt::format("\"targets\":\"{}\",\"sub_targets\":\"{}\",", json_escape(targets_str(o.hosts, o.ports)),
                     json_escape(targets_str(o.sub_hosts, o.sub_ports)));
    j += fmt::format("\"qos\":{},\"payload_size\":{},\"threads\":{},\"planned_connections\":{},\"pubs\":{},\"subs\":{},",
                     o.qos, o.payload_size, o.threads, planned, pub_specs_.size(), sub_specs_.size());
    j += fmt::format("\"target_rate\":{},\"interval_ms\":{},", o.rate, o.interval_ms);
    j += fmt::format(
        "\"connections\":{{\"ok\":{},\"failed\":{},\"subscribed\":{},\"subscribe_failed\":{},\"dropped\":{},"
        "\"held\":{},\"connect_seconds\":{:.4f},\"connect_rate\":{:.1f},",
        t.connected, t.conn_failed, t.subscribed, t.sub_failed, t.dropped, at_run0_.open(), connect_secs, connect_rate);
    json_percentiles(j, "connack", ck);
    j += "},";
    j += fmt::format("\"window_seconds\":{:.4f},", window);
    if (routes_wait_ms_ >= 0)
      j += fmt::format("\"routes_wait_ms\":{:.1f},\"routes_missing\":{},", routes_wait_ms_, routes_missing_);
    j += fmt::format("\"publish\":{{\"sent\":{},\"sent_total\":{},\"rate\":{:.1f},\"acked\":{},\"refused\":{},",
                     sent_window, t.pub_sent, static_cast<double>(sent_window) / window, t.pub_acked, t.pub_errors);
    json_percentiles(j, "ack_latency", ap);
    j += "},";
    j += fmt::format(
        "\"receive\":{{\"received\":{},\"received_total\":{},\"rate\":{:.1f},\"active_rate\":{:.1f},\"bytes\":{},"
        "\"lost\":{},\"gaps\":{},\"duplicate\":{},\"out_of_order\":{},",
        recv_window, t.recv, static_cast<double>(recv_window) / window,
        recv_active_secs > 0 ? static_cast<double>(t.recv) / recv_active_secs : 0.0, t.recv_bytes,
        o.mode == Mode::pubsub ? lost : 0, gaps, t.dup, t.ooo);
    json_percentiles(j, "latency", lp);
    j += fmt::format("}},\"tool_cpu_percent\":{:.1f},\"machine_cpu_percent\":{:.1f},\"cores\":{},", tool_cpu,
                     machine_cpu, std::thread::hardware_concurrency());
    if (watched)
      j += fmt::format(
          "\"broker\":{{\"pid\":{},\"cpu_percent\":{:.1f},\"rss_kb_begin\":{},\"rss_kb_run_start\":{},"
          "\"rss_kb_run_end\":{},\"rss_kb_per_connection\":{:.3f}}},",
          opt_.watch_pid, broker_cpu, watch_begin_.rss_kb, watch_run0_.rss_kb, watch_run1_.rss_kb, per_conn_kb);
    j += "\"errors\":[";
    for (std::size_t i = 0; i < errors.size(); ++i)
      j += fmt::format("{}{{\"message\":\"{}\",\"count\":{}}}", i ? "," : "", json_escape(errors[i].first),
                       errors[i].second);
    j += fmt::format("],\"ok\":{}}}\n", ok ? "true" : "false");
    std::ofstream f(o.json_file);
    f << j;
    if (!f) fmt::print(stderr, "tidemq_bench: cannot write {}\n", o.json_file);
  }
}

// ---------------------------------------------------------------------------------------------
// takeover: one persistent MQTT 5 session handed back and forth between two brokers (cluster nodes).

// A blocking-style MQTT connection on a non-blocking socket, every step bounded by a deadline.
class SyncConn {
 public:
  enum class Read { packet, timeout, eof, error };

  explicit SyncConn(std::uint8_t level) : level_(level) {}
  ~SyncConn() { close(); }
  SyncConn(const SyncConn&) = delete;
  SyncConn& operator=(const SyncConn&) = delete;

  bool open() const { return fd_ >= 0; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    rbuf_.clear();
  }

  bool connect(const tcp::endpoint& ep, const asio::ip::address* src, std::uint64_t deadline, std::string& err) {
    close();
    fd_ = ::socket(ep.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return fail(err, fmt::format("socket: {}", std::strerror(errno)));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (src) {
      ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
      tcp::endpoint local(*src, 0);
      if (::bind(fd_, local.data(), static_cast<socklen_t>(local.size())) != 0)
        return fail(err, fmt::format("bind {}: {}", src->to_string(), std::strerror(errno)));
    }
    if (::connect(fd_, ep.data(), static_cast<socklen_t>(ep.size())) != 0) {
      if (errno != EINPROGRESS) return fail(err, fmt::format("connect: {}", std::strerror(errno)));
      if (!wait_fd(POLLOUT, deadline)) return fail(err, "TCP connect timeout");
      int soerr = 0;
      socklen_t len = sizeof soerr;
      ::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &soerr, &len);
      if (soerr) return fail(err, fmt::format("connect: {}", std::strerror(soerr)));
    }
    return true;
  }

  bool send(const mq::Packet& p, std::uint64_t deadline, std::string& err) {
    std::string out;
    mq::encode_packet(p, level_, out);
    std::size_t off = 0;
    while (off < out.size()) {
      const ssize_t n = ::send(fd_, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n > 0) {
        off += static_cast<std::size_t>(n);
      } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (!wait_fd(POLLOUT, deadline)) return fail(err, "write timeout");
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return fail(err, fmt::format("write: {}", std::strerror(errno)));
      }
    }
    return true;
  }

  Read read(mq::Packet& p, std::uint64_t deadline, std::string& err) {
    for (;;) {
      if (!rbuf_.empty()) {
        std::size_t consumed = 0;
        mq::DecodeError de;
        auto st = mq::decode_packet(rbuf_, level_, UINT32_MAX, p, consumed, de);
        if (st == mq::DecodeStatus::ok) {
          rbuf_.erase(0, consumed);
          return Read::packet;
        }
        if (st == mq::DecodeStatus::error) {
          err = fmt::format("malformed packet from the broker (0x{:02x}: {})", de.reason, de.message);
          return Read::error;
        }
      }
      char buf[4096];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n > 0) {
        rbuf_.append(buf, static_cast<std::size_t>(n));
      } else if (n == 0) {
        return Read::eof;
      } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
        if (!wait_fd(POLLIN, deadline)) return Read::timeout;
      } else if (errno != EINTR) {
        err = fmt::format("read: {}", std::strerror(errno));
        return Read::error;
      }
    }
  }

 private:
  bool fail(std::string& err, std::string msg) {
    err = std::move(msg);
    close();
    return false;
  }
  bool wait_fd(short events, std::uint64_t deadline) {
    for (;;) {
      const std::uint64_t now = now_ns();
      if (now >= deadline) return false;
      pollfd pfd{fd_, events, 0};
      const int ms = static_cast<int>(std::min<std::uint64_t>((deadline - now + kMs - 1) / kMs, 1000));
      const int r = ::poll(&pfd, 1, ms);
      if (r > 0) return true;
      if (r < 0 && errno != EINTR) return false;
      if (g_interrupted.load()) return false;
    }
  }

  std::uint8_t level_;
  int fd_ = -1;
  std::string rbuf_;
};

int run_takeover(const Options& o) {
  std::vector<asio::ip::address> a_addr, b_addr;
  if (!resolve_hosts({o.hosts[0]}, a_addr) || !resolve_hosts({o.sub_hosts[0]}, b_addr)) return 2;
  const tcp::endpoint node[2] = {tcp::endpoint(a_addr[0], o.ports[0]), tcp::endpoint(b_addr[0], o.sub_ports[0])};
  std::vector<asio::ip::address> src;
  for (const auto& s : o.src_ips) {
    error_code ec;
    src.push_back(asio::ip::make_address(s, ec));
    if (ec) {
      fmt::print(stderr, "tidemq_bench: bad --src-ips address '{}'\n", s);
      return 2;
    }
  }
  const std::uint8_t level = mq::kV5;
  const std::string cid = fmt::format("{}_t{}", o.prefix, o.start_index);
  const std::string topic = expand(o.topic, o.start_index, cid);
  const bool live = !o.takeover_offline;
  const auto timeout_ns = static_cast<std::uint64_t>(o.connect_timeout * 1e9);
  constexpr std::uint64_t kOldWait = 2 * kSec;  // live: how long the old connection may take to be told

  Histogram from_tcp, from_connect;  // TCP connect start → CONNACK; CONNECT written → CONNACK
  std::uint64_t ok = 0, failed = 0, no_session = 0, disc_8e = 0, disc_other = 0, eof_only = 0, still_open = 0;
  std::uint64_t consecutive = 0;
  ErrorLog errors;
  SyncConn conn[2] = {SyncConn(level), SyncConn(level)};
  const std::uint64_t t_begin = now_ns();
  std::uint64_t next_report = t_begin + kSec;
  std::uint64_t rounds_done = 0;
  Histogram interval;

  fmt::print("== tidemq_bench takeover ({}): client '{}', A {}:{} ↔ B {}:{}, {} takeovers, MQTT 5, "
             "session expiry 300 s, subscription '{}' (QoS 1)\n",
             live ? "live: the previous connection stays open" : "offline: the previous connection is closed first",
             cid, node[0].address().to_string(), node[0].port(), node[1].address().to_string(), node[1].port(),
             o.rounds, topic);
  std::fflush(stdout);

  // Closes a connection cleanly: DISCONNECT (optionally with session expiry 0 = end the session),
  // then wait for the broker to close it (EOF), so the session is offline before the next step.
  auto disconnect = [&](SyncConn& c, bool end_session) {
    if (!c.open()) return;
    mq::Disconnect d;
    if (end_session) d.props.session_expiry = 0;
    std::string err;
    const std::uint64_t deadline = now_ns() + kOldWait;
    if (c.send(d, deadline, err)) {
      mq::Packet p;
      while (c.read(p, deadline, err) == SyncConn::Read::packet) {
      }
    }
    c.close();
  };

  // Round 0 creates the session on A (clean start, one subscription); rounds 1..N are the takeovers,
  // alternating B, A, B, ...
  for (int r = 0; r <= o.rounds && !g_interrupted.load(); ++r) {
    const int side = r % 2;
    SyncConn& nc = conn[side];
    SyncConn& old = conn[1 - side];
    if (!live) disconnect(old, false);

    std::string err;
    bool good = false;
    const std::uint64_t t0 = now_ns();
    const std::uint64_t deadline = t0 + timeout_ns;
    std::uint64_t t_sent = 0, t_ack = 0;
    const asio::ip::address* s = src.empty() ? nullptr : &src[static_cast<std::size_t>(r) % src.size()];
    if (nc.connect(node[side], s, deadline, err)) {
      mq::Connect c;
      c.protocol_level = level;
      c.clean_start = r == 0;
      c.keep_alive = o.keepalive;
      c.client_id = cid;
      c.username = o.username;
      c.password = o.password;
      c.props.session_expiry = 300;
      if (nc.send(c, deadline, err)) {
        t_sent = now_ns();
        mq::Packet p;
        for (;;) {
          auto rd = nc.read(p, deadline, err);
          if (rd == SyncConn::Read::timeout) err = "CONNACK timeout";
          else if (rd == SyncConn::Read::eof) err = "connection closed before CONNACK";
          if (rd != SyncConn::Read::packet) break;
          if (auto* ack = std::get_if<mq::Connack>(&p)) {
            t_ack = now_ns();
            if (ack->reason != 0) {
              err = fmt::format("CONNACK refused (0x{:02x})", ack->reason);
              if (ack->props.reason_string) err += ": " + *ack->props.reason_string;
            } else if (r > 0 && !ack->session_present) {
              ++no_session;
              err = "CONNACK without session present";
            } else {
              good = true;
            }
            break;
          }
          if (auto* d = std::get_if<mq::Disconnect>(&p)) {
            err = fmt::format("DISCONNECT (0x{:02x}) before CONNACK", d->reason);
            break;
          }
          // Anything else before CONNACK (nothing is expected) is ignored.
        }
      }
    }
    if (good && r == 0) {  // give the session some state to carry: one subscription
      mq::Subscribe sub;
      sub.packet_id = 1;
      sub.entries.push_back({topic, mq::SubscribeOptions{1}});
      mq::Packet p;
      good = nc.send(sub, deadline, err) && nc.read(p, deadline, err) == SyncConn::Read::packet &&
             std::holds_alternative<mq::Suback>(p) && !std::get<mq::Suback>(p).reasons.empty() &&
             std::get<mq::Suback>(p).reasons[0] < 0x80;
      if (!good) {
        fmt::print(stderr, "tidemq_bench: could not create the session on A: {}\n", err.empty() ? "SUBSCRIBE failed" : err);
        return 1;
      }
    }
    if (r == 0 && !good) {
      fmt::print(stderr, "tidemq_bench: could not create the session on A: {}\n", err);
      return 1;
    }

    if (r > 0) {
      ++rounds_done;
      if (good) {
        ++ok;
        consecutive = 0;
        from_tcp.record(t_ack - t0);
        from_connect.record(t_ack - t_sent);
        interval.record(t_ack - t0);
      } else {
        ++failed;
        ++consecutive;
        errors.add(err);
        nc.close();
      }
      // Live takeover: the previous connection should now get DISCONNECT 0x8E and be closed.
      if (live && old.open()) {
        if (!good) {
          old.close();
        } else {
          mq::Packet p;
          std::string oerr;
          const std::uint64_t od = now_ns() + kOldWait;
          bool seen = false;
          for (;;) {
            auto rd = old.read(p, od, oerr);
            if (rd == SyncConn::Read::packet) {
              if (auto* d = std::get_if<mq::Disconnect>(&p)) {
                seen = true;
                if (d->reason == mq::rc::session_taken_over) ++disc_8e;
                else {
                  ++disc_other;
                  errors.add(fmt::format("old connection: DISCONNECT 0x{:02x} (expected 0x8e)", d->reason));
                }
              }
              continue;  // then EOF
            }
            if (rd == SyncConn::Read::timeout && !seen) {
              ++still_open;
              errors.add("old connection: still open 2 s after the takeover, no DISCONNECT");
            } else if (rd != SyncConn::Read::timeout && !seen) {
              ++eof_only;
              errors.add("old connection: closed without DISCONNECT");
            }
            break;
          }
          old.close();
        }
      }
      if (consecutive >= 20) {
        fmt::print(stderr, "tidemq_bench: 20 takeovers in a row failed, giving up\n");
        break;
      }
    }

    const std::uint64_t now = now_ns();
    if (now >= next_report && !o.quiet) {
      fmt::print("[t={}s] takeovers={} fail={} p50={} p99={}\n",
                 static_cast<long>(std::lround(static_cast<double>(now - t_begin) / 1e9)), rounds_done, failed,
                 fmt_ms(interval.quantile(0.5)), fmt_ms(interval.quantile(0.99)));
      std::fflush(stdout);
      interval.clear();
      next_report = now + kSec;
    }
  }
  // End the session (session expiry 0 on DISCONNECT) so repeated runs start clean.
  for (auto& c : conn)
    if (c.open()) disconnect(c, true);
  const double secs = static_cast<double>(now_ns() - t_begin) / 1e9;

  const PercentileSet a = percentiles(from_tcp), b = percentiles(from_connect);
  const bool good = ok > 0 && static_cast<double>(failed) <= o.fail_threshold * static_cast<double>(rounds_done);
  fmt::print("takeovers: {} ok, {} failed ({} without session present) of {} in {:.2f} s\n", ok, failed, no_session,
             rounds_done, secs);
  fmt::print("latency, TCP connect start → CONNACK (session present): p50 {} p90 {} p99 {} max {} mean {} (n={})\n",
             fmt_ms(a.p50), fmt_ms(a.p90), fmt_ms(a.p99), fmt_ms(a.max), fmt_ms(static_cast<std::uint64_t>(a.mean)), a.n);
  fmt::print("latency, CONNECT written → CONNACK: p50 {} p90 {} p99 {} max {}\n", fmt_ms(b.p50), fmt_ms(b.p90),
             fmt_ms(b.p99), fmt_ms(b.max));
  if (live)
    fmt::print("old connection: DISCONNECT 0x8E {}, other DISCONNECT {}, closed without DISCONNECT {}, still open {}\n",
               disc_8e, disc_other, eof_only, still_open);
  for (auto& [msg, n] : errors.top(8)) fmt::print("error x{}: {}\n", n, msg);
  if (!good) fmt::print("FAILED: {} of {} takeovers failed (threshold {:.1f}%)\n", failed, rounds_done, o.fail_threshold * 100);
  std::fflush(stdout);

  if (!o.json_file.empty()) {
    std::string j = "{\"mode\":\"takeover\",";
    j += fmt::format("\"variant\":\"{}\",\"node_a\":\"{}:{}\",\"node_b\":\"{}:{}\",\"client_id\":\"{}\",", live ? "live" : "offline",
                     node[0].address().to_string(), node[0].port(), node[1].address().to_string(), node[1].port(),
                     json_escape(cid));
    j += fmt::format("\"rounds\":{},\"succeeded\":{},\"failed\":{},\"no_session_present\":{},\"seconds\":{:.3f},", rounds_done, ok,
                     failed, no_session, secs);
    j += fmt::format("\"old_disconnect_8e\":{},\"old_disconnect_other\":{},\"old_closed_without_disconnect\":{},"
                     "\"old_still_open\":{},",
                     disc_8e, disc_other, eof_only, still_open);
    json_percentiles(j, "latency", a);
    j += ",";
    json_percentiles(j, "latency_from_connect", b);
    j += ",\"errors\":[";
    auto top = errors.top(8);
    for (std::size_t i = 0; i < top.size(); ++i)
      j += fmt::format("{}{{\"message\":\"{}\",\"count\":{}}}", i ? "," : "", json_escape(top[i].first), top[i].second);
    j += fmt::format("],\"ok\":{}}}\n", good ? "true" : "false");
    std::ofstream f(o.json_file);
    f << j;
    if (!f) fmt::print(stderr, "tidemq_bench: cannot write {}\n", o.json_file);
  }
  return good ? 0 : 1;
}

}  // namespace

int run_bench(const Options& opt) {
  if (opt.mode == Mode::takeover) return run_takeover(opt);
  Runner r(opt);
  return r.run();
}

}  // namespace tidemq::bench
