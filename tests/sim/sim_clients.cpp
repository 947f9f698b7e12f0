#include "sim_clients.hpp"

#include <fmt/format.h>

#include "tidemq/mqtt/codec.hpp"

namespace tidemq::sim {

using namespace mqtt;

namespace {
Duration client_delay(World& w) { return w.rng.between(20us, 400us); }

// "P|<publisher>|<topic>|<seq>|<publisher's connection>"
std::string payload_of(const std::string& pub, const std::string& topic, std::uint64_t seq, std::uint64_t conn) {
  return fmt::format("P|{}|{}|{}|{}", pub, topic, seq, conn);
}
bool parse_payload(const std::string& p, std::string& pub, std::string& topic, std::uint64_t& seq, std::uint64_t& conn) {
  auto a = p.find('|');
  auto b = p.find('|', a + 1);
  auto c = p.find('|', b + 1);
  auto d = p.find('|', c + 1);
  if (a == std::string::npos || b == std::string::npos || c == std::string::npos || d == std::string::npos) return false;
  pub = p.substr(a + 1, b - a - 1);
  topic = p.substr(b + 1, c - b - 1);
  seq = std::stoull(p.substr(c + 1, d - c - 1));
  conn = std::stoull(p.substr(d + 1));
  return true;
}
}  // namespace

// ---- SimConnection -----------------------------------------------------------------------------

SimConnection::SimConnection(World& w, SimNode& node, SimClient& client, std::uint64_t serial)
    : w_(w),
      node_(node),
      node_incarnation_(node.incarnation()),
      client_(client),
      serial_(serial),
      peer_(fmt::format("{}#{}", client.id(), serial)),
      channel_(node.broker(), peer_) {}

void SimConnection::start() { channel_.bind_owner(weak_from_this(), this); }

void SimConnection::on_node(std::function<void()> fn) {
  node_.run([self = shared_from_this(), fn = std::move(fn)] {
    if (self->closed_ || !self->node_.alive() || self->node_.incarnation() != self->node_incarnation_) return;
    fn();
    self->flush();
  });
}

void SimConnection::to_node(const Packet& p, std::uint8_t version) {
  std::string bytes;
  encode_packet(p, version, bytes);
  const TimePoint at = std::max(w_.clock.t + client_delay(w_), up_last_ + 1ns);
  up_last_ = at;
  w_.sched.at(at, [self = shared_from_this(), bytes = std::move(bytes)] {
    if (self->dropped_) return;
    self->on_node([self, bytes] { self->channel_.on_bytes(bytes); });
  });
}

void SimConnection::drop(Duration notice) {
  dropped_ = true;
  w_.sched.after(notice, [self = shared_from_this()] { self->on_node([self] { self->channel_.on_connection_lost(); }); });
}

void SimConnection::notify() {
  node_.run_after(0ns, [self = shared_from_this()] {
    if (!self->closed_ && self->node_.incarnation() == self->node_incarnation_) {
      self->channel_.on_notify();
      self->flush();
    }
  });
}

void SimConnection::kick(const core::DisconnectInfo& why) {
  node_.run_after(0ns, [self = shared_from_this(), why] {
    if (!self->closed_ && self->node_.incarnation() == self->node_incarnation_) {
      self->channel_.on_kick(why);
      self->flush();
    }
  });
}

void SimConnection::post(std::function<void()> task) {
  node_.run_after(0ns, [self = shared_from_this(), task = std::move(task)] {
    if (!self->closed_ && self->node_.incarnation() == self->node_incarnation_) {
      task();
      self->flush();
    }
  });
}

void SimConnection::flush() {
  for (int round = 0; round < 64; ++round) {
    std::string& out = channel_.output();
    if (out.empty()) break;
    std::string bytes = std::move(out);
    out.clear();
    const std::uint8_t v = channel_.protocol_level() ? channel_.protocol_level() : kV5;
    std::size_t off = 0;
    while (off < bytes.size()) {
      Packet p;
      std::size_t used = 0;
      DecodeError err;
      if (decode_packet(std::string_view(bytes).substr(off), v, 0xFFFFFFF, p, used, err) != DecodeStatus::ok) break;
      off += used;
      const TimePoint at = std::max(w_.clock.t + client_delay(w_), down_last_ + 1ns);
      down_last_ = at;
      w_.sched.at(at, [self = shared_from_this(), p = std::move(p)] {
        if (!self->dropped_) self->client_.on_packet(self->serial_, p);
      });
    }
    if (channel_.wants_close()) break;
    channel_.on_write_drained();
  }
  if (channel_.wants_close()) close_node_side();
}

void SimConnection::close_node_side() {
  if (closed_) return;
  closed_ = true;
  const TimePoint at = std::max(w_.clock.t + client_delay(w_), down_last_ + 1ns);
  down_last_ = at;
  w_.sched.at(at, [self = shared_from_this()] {
    if (!self->dropped_) self->client_.on_closed(self->serial_);
  });
}

// ---- SimClient ---------------------------------------------------------------------------------

SimClient::SimClient(World& w, Recorder& rec, std::string id, Role role, std::uint8_t version)
    : w_(w), rec_(rec), id_(std::move(id)), role_(role), version_(version) {}

bool SimClient::idle() const {
  return state_ == State::connected && !subscribe_pending_ && outgoing_.empty() && (lenient_qos2 || qos2_received_.empty());
}

std::string SimClient::describe() const {
  std::string q2;
  for (auto pid : qos2_received_) q2 += fmt::format(" {}", pid);
  return fmt::format("{}: state {} on {} (#{}), subscribe pending {}, {} outgoing, QoS 2 awaiting PUBREL:{}", id_,
                     static_cast<int>(state_), conn_ ? conn_->node().name() : "-", serial_, subscribe_pending_,
                     outgoing_.size(), q2);
}

void SimClient::send(const Packet& p) {
  if (conn_) conn_->to_node(p, version_);
}

void SimClient::connect_to(SimNode& n) {
  ++serial_;
  state_ = State::connecting;
  ++rec_.connects;
  conn_ = std::make_shared<SimConnection>(w_, n, *this, serial_);
  conn_->start();
  Connect c;
  c.protocol_level = version_;
  c.client_id = id_;
  c.keep_alive = 0;
  if (role_ == Role::subscriber) {
    c.clean_start = false;
    if (version_ == kV5) c.props.session_expiry = 600;
  } else {
    c.clean_start = true;
  }
  w_.trace(fmt::format("client {} connects to {} (#{})", id_, n.name(), serial_));
  send(c);
}

bool SimClient::abandon(Duration notice, const char* what) {
  if (!conn_) return false;
  ++rec_.drops;
  w_.trace(fmt::format("client {} {} {} (noticed after {} us)", id_, what, conn_->node().name(),
                       std::chrono::duration_cast<std::chrono::microseconds>(notice).count()));
  conn_->drop(notice);
  conn_.reset();
  state_ = State::idle;
  outgoing_.clear();  // a publisher without a session forgets what it had not got acknowledged
  return true;
}

void SimClient::drop_and_reconnect(Duration notice, SimNode& next) {
  if (abandon(notice, "drops its connection to")) connect_to(next);
}

void SimClient::drop_and_reconnect_later(Duration after) {
  if (abandon(0ns, "loses its connection with")) reconnect_anywhere(after);
}

void SimClient::go_offline(Duration notice, Duration away) {
  if (abandon(notice, "goes offline for a while from")) reconnect_anywhere(away);
}

void SimClient::reconnect_anywhere(Duration after) {
  const std::uint64_t serial = serial_;
  w_.sched.after(after, [this, serial] {
    if (serial_ != serial || state_ != State::idle) return;
    std::vector<SimNode*> up;
    for (auto& n : w_.nodes)
      if (n->alive()) up.push_back(n.get());
    if (up.empty()) return reconnect_anywhere(50ms);
    connect_to(*up[w_.rng.below(up.size())]);
  });
}

void SimClient::lost(const std::optional<std::string>& server_reference) {
  conn_.reset();
  state_ = State::idle;
  if (role_ == Role::publisher) outgoing_.clear();
  if (server_reference) {
    const std::uint64_t serial = serial_;
    w_.sched.after(w_.rng.between(0ms, 5ms), [this, serial, ref = *server_reference] {
      if (serial_ != serial || state_ != State::idle) return;
      SimNode* n = w_.node(ref);
      if (n && n->alive()) return connect_to(*n);
      reconnect_anywhere(0ms);
    });
    return;
  }
  reconnect_anywhere(w_.rng.between(0ms, 20ms));
}

void SimClient::on_closed(std::uint64_t serial) {
  if (serial != serial_ || !conn_) return;
  w_.trace(fmt::format("client {}: connection #{} closed by the server", id_, serial));
  lost(std::nullopt);
}

void SimClient::on_packet(std::uint64_t serial, const Packet& p) {
  if (serial != serial_ || !conn_) return;  // an abandoned connection
  if (auto* a = std::get_if<Connack>(&p)) return on_connack(*a);
  if (auto* pub = std::get_if<Publish>(&p)) return on_publish(*pub);
  if (auto* r = std::get_if<PubResponse>(&p)) return on_pub_response(*r);
  if (std::holds_alternative<Suback>(p)) {
    subscribe_pending_ = false;
    for (const auto& [topic, qos] : subscriptions) rec_.subscribed[id_].try_emplace(topic, w_.clock.t);
    had_session_ = true;
    return;
  }
  if (auto* d = std::get_if<Disconnect>(&p)) {
    w_.trace(fmt::format("client {}: DISCONNECT 0x{:02x}{}", id_, d->reason,
                         d->props.server_reference ? " -> " + *d->props.server_reference : std::string()));
    if (d->reason == 0x9C) ++rec_.evictions;
    conn_->drop(0ns);  // the server closes it; nothing more from it
    return lost(d->props.server_reference);
  }
}

void SimClient::on_connack(const Connack& a) {
  if (a.reason != 0) {
    ++rec_.refusals;
    w_.trace(fmt::format("client {}: CONNACK refused 0x{:02x}", id_, a.reason));
    auto ref = a.props.server_reference;
    conn_->drop(0ns);
    return lost(ref);
  }
  state_ = State::connected;
  if (role_ == Role::publisher) return;
  if (!a.session_present) {
    if (had_session_) {
      rec_.resets[id_].push_back(w_.clock.t);
      w_.trace(fmt::format("client {}: SESSION LOST (session present 0)", id_));
    }
    qos2_received_.clear();
    subscribe();
  } else if (subscribe_pending_) {
    subscribe();  // a SUBSCRIBE that was never acknowledged is sent again, as MQTT clients do
  }
}

void SimClient::subscribe() {
  Subscribe s;
  s.packet_id = next_pid_++;
  if (next_pid_ == 0) next_pid_ = 1;
  for (const auto& [topic, qos] : subscriptions) s.entries.push_back({topic, SubscribeOptions{qos}});
  subscribe_pending_ = true;
  send(s);
}

void SimClient::on_publish(const Publish& p) {
  std::string pub, topic;
  std::uint64_t seq = 0, pconn = 0;
  const bool ours = parse_payload(p.payload, pub, topic, seq, pconn);
  auto record = [&] {
    if (ours) rec_.receipts.push_back(Recorder::Receipt{id_, pub, topic, seq, pconn, w_.clock.t});
  };
  if (w_.verbose)
    w_.trace(fmt::format("client {} <- {} PUBLISH {} qos {} pid {}{} via #{}", id_, conn_->node().name(), p.payload, p.qos,
                         p.packet_id, p.dup ? " DUP" : "", serial_));
  if (p.qos == 0) return record();
  if (p.qos == 1) {
    record();
    send(PubResponse{PacketType::puback, p.packet_id, 0, {}});
    return;
  }
  // QoS 2: delivered once per packet id until its PUBREL (the receiver's half of exactly once)
  if (qos2_received_.insert(p.packet_id).second) record();
  send(PubResponse{PacketType::pubrec, p.packet_id, 0, {}});
}

void SimClient::on_pub_response(const PubResponse& r) {
  switch (r.type) {
    case PacketType::pubrel:
      qos2_received_.erase(r.packet_id);
      send(PubResponse{PacketType::pubcomp, r.packet_id, 0, {}});
      return;
    case PacketType::puback: {
      auto it = outgoing_.find(r.packet_id);
      if (it == outgoing_.end()) return;
      if (r.reason < 0x80) rec_.accepted.push_back({id_, it->second.topic, it->second.seq, it->second.conn, 1, w_.clock.t});
      outgoing_.erase(it);
      return;
    }
    case PacketType::pubrec: {
      auto it = outgoing_.find(r.packet_id);
      if (it == outgoing_.end()) return;
      if (r.reason >= 0x80) {
        outgoing_.erase(it);
        return;
      }
      if (!it->second.pubrec) rec_.accepted.push_back({id_, it->second.topic, it->second.seq, it->second.conn, 2, w_.clock.t});
      it->second.pubrec = true;
      send(PubResponse{PacketType::pubrel, r.packet_id, 0, {}});
      return;
    }
    case PacketType::pubcomp: outgoing_.erase(r.packet_id); return;
    default: return;
  }
}

void SimClient::publish_next() {
  if (state_ != State::connected || outgoing_.size() >= 8 || topics.empty()) return;
  const auto& [topic, qos] = topics[w_.rng.below(topics.size())];
  const std::uint64_t seq = next_seq_[topic]++;
  Publish p;
  p.topic = topic;
  p.qos = qos;
  p.packet_id = next_pid_++;
  if (next_pid_ == 0) next_pid_ = 1;
  p.payload = payload_of(id_, topic, seq, serial_);
  outgoing_[p.packet_id] = Outgoing{topic, seq, serial_, qos, false};
  ++published;
  send(p);
}

}  // namespace tidemq::sim
