// Conn: one MQTT client connection of a load run, from TCP connect to DISCONNECT (see
// load_connection.hpp); reads and writes are batched per connection, PUBLISH is read in place.
#include "load_connection.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/write.hpp>
#include <fmt/format.h>

#include "addresses.hpp"
#include "clock.hpp"
#include "load_worker.hpp"
#include "publish_peek.hpp"

namespace tidemq::bench {

namespace {

namespace asio = boost::asio;
namespace mq = tidemq::mqtt;
using tcp = asio::ip::tcp;

constexpr std::size_t kFloodBatch = 16 * 1024;      // bytes queued per write when publishing flat out
constexpr std::size_t kMaxWriteBacklog = 1 << 20;   // a rate-limited publisher stops queueing past this
constexpr std::size_t kMaxReadBuf = 256 * 1024;    // a busy connection's read buffer grows up to this

}  // namespace

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
  const tcp::endpoint target(spec_.addr, spec_.port);
  error_code ec;
  sock_.open(target.protocol(), ec);
  if (ec) return abort(fmt::format("socket: {}", ec.message()));
  w_.st.sock_open.add();
  if (!w_.sh.src.empty()) {
    bind_address_no_port(sock_.native_handle());
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

}  // namespace tidemq::bench
