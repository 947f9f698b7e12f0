#include "core/channel.hpp"

#include <algorithm>
#include <random>

#include <fmt/format.h>

#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/reason_codes.hpp"
#include "tidemq/mqtt/topic.hpp"

namespace tidemq::core {

using namespace tidemq::mqtt;
using std::chrono::seconds;

namespace {

ClientId assign_client_id() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("tidemq-{:016x}", rng());
}

std::uint32_t seconds_left(util::TimePoint deadline, util::TimePoint now) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<std::uint32_t>((ms + 999) / 1000);
}

bool has_wildcard(std::string_view filter) { return filter.find_first_of("+#") != std::string_view::npos; }

}  // namespace

Channel::Channel(Broker& broker, std::string peer_address)
    : broker_(broker), cfg_(broker.settings()), peer_(std::move(peer_address)) {}

void Channel::send(const Packet& p) { encode_packet(p, version_, out_); }

void Channel::send_ack(PacketType type, std::uint16_t packet_id, std::uint8_t reason) {
  send(PubResponse{type, packet_id, version_ == kV5 ? reason : std::uint8_t{0}, {}});
}

// ---- input --------------------------------------------------------------------------------

void Channel::on_bytes(std::string_view data) {
  if (state_ == State::closed) return;
  Stats::add(broker_.stats().bytes_received, data.size());
  if (state_ == State::locating) {  // packets after CONNECT wait until the session is here
    in_.append(data);
    return;
  }
  process_input(data);
}

void Channel::process_input(std::string_view data) {
  // Decode straight from `data` when nothing is buffered; keep only an incomplete tail.
  std::string_view buf = data;
  if (!in_.empty()) {
    in_.append(data);
    buf = in_;
  }
  std::size_t offset = 0;
  while (state_ != State::closed && state_ != State::locating) {
    Packet p;
    std::size_t used = 0;
    DecodeError err;
    auto st = decode_packet(buf.substr(offset), version_, cfg_.max_packet_size, p, used, err);
    if (st == DecodeStatus::need_more) break;
    if (st == DecodeStatus::error) {
      Stats::add(broker_.stats().protocol_errors);
      if (state_ == State::connected)
        disconnect(err.reason);
      else {
        state_ = State::closed;
        close_ = true;
      }
      break;
    }
    offset += used;
    handle(p);
  }
  if (state_ == State::closed) {
    in_.clear();
    return;
  }
  std::string rest(buf.substr(offset));
  in_ = std::move(rest);
}

void Channel::handle(Packet& p) {
  if (state_ == State::awaiting_connect) {
    on_connect(std::get<Connect>(p));
    return;
  }
  switch (packet_type(p)) {
    case PacketType::publish: on_publish(std::get<Publish>(p)); return;
    case PacketType::puback:
    case PacketType::pubrec:
    case PacketType::pubrel:
    case PacketType::pubcomp: on_pub_response(std::get<PubResponse>(p)); return;
    case PacketType::subscribe: on_subscribe(std::get<Subscribe>(p)); return;
    case PacketType::unsubscribe: on_unsubscribe(std::get<Unsubscribe>(p)); return;
    case PacketType::pingreq: send(Pingresp{}); return;
    case PacketType::disconnect: on_disconnect(std::get<Disconnect>(p)); return;
    default:
      // A second CONNECT, AUTH without an authentication method, or a server-to-client packet.
      Stats::add(broker_.stats().protocol_errors);
      disconnect(rc::protocol_error);
      return;
  }
}

// ---- CONNECT ------------------------------------------------------------------------------

void Channel::refuse_connect(std::uint8_t v5_reason, std::optional<std::string> server_reference) {
  Connack ack;
  ack.reason = version_ == kV5 ? v5_reason : connack_code_v311(v5_reason);
  if (version_ == kV5) ack.props.server_reference = std::move(server_reference);
  send(ack);
  Stats::add(broker_.stats().connections_refused);
  state_ = State::closed;
  close_ = true;
}

void Channel::on_connect(Connect& c) {
  const bool known = (c.protocol_level == kV311 || c.protocol_level == kV5 || c.protocol_level == kV31) &&
                     (c.protocol_name == "MQTT" || c.protocol_name == "MQIsdp");
  if (!known) {
    version_ = kV311;  // answer in the 3.1.1 form every client can read
    refuse_connect(rc::unsupported_protocol_version);
    return;
  }
  version_ = c.protocol_level == kV5 ? kV5 : kV311;
  const bool v5 = version_ == kV5;

  if (v5 && c.props.auth_method) return refuse_connect(rc::bad_authentication_method);
  bool assigned = false;
  if (c.client_id.empty()) {
    if (!v5 && !c.clean_start) return refuse_connect(rc::client_identifier_not_valid);
    c.client_id = assign_client_id();
    assigned = true;
  }
  if (c.client_id.size() > cfg_.max_clientid_len) return refuse_connect(rc::client_identifier_not_valid);
  if (c.will) {
    const Will& w = *c.will;
    if (!valid_topic_name(w.topic)) return refuse_connect(rc::topic_name_invalid);
    if (w.qos > cfg_.max_qos) return refuse_connect(rc::qos_not_supported);
    if (w.retain && !cfg_.retain_available) return refuse_connect(rc::retain_not_supported);
    if (w.props.payload_format == 1 && !valid_utf8(w.payload)) return refuse_connect(rc::payload_format_invalid);
  }
  if (auto refusal = broker_.hooks().run_admission(AdmissionRequest{c.client_id, c.protocol_level, c.username, peer_}))
    return refuse_connect(refusal->reason, refusal->server_reference);
  if (auto refused = broker_.hooks().run_authenticate(
          AuthRequest{c.client_id, c.username, c.password, peer_, c.protocol_level})) {
    Stats::add(broker_.stats().auth_failures);
    return refuse_connect(*refused);
  }
  if (c.will && broker_.hooks().run_authorize(AclRequest{c.client_id, c.username, peer_, AclAction::publish,
                                                          c.will->topic}) != AclDecision::allow)
    return refuse_connect(rc::not_authorized);  // a will on a topic the client may not publish to
  if (broker_.registry().connection_count() >= cfg_.max_connections) return refuse_connect(rc::quota_exceeded);

  std::uint32_t requested_expiry = v5 ? c.props.session_expiry.value_or(0) : 0;
  std::uint32_t expiry = v5 ? std::min(requested_expiry, cfg_.session_expiry_max)
                            : (c.clean_start ? 0 : cfg_.session_expiry_max);
  keep_alive_ = c.keep_alive;
  bool keep_alive_capped = false;
  if (v5 && (c.keep_alive > cfg_.max_keepalive || (c.keep_alive == 0 && cfg_.max_keepalive < 65535))) {
    keep_alive_ = cfg_.max_keepalive;
    keep_alive_capped = true;
  }
  if (v5) {
    client_receive_max_ = c.props.receive_maximum.value_or(65535);
    client_max_packet_ = c.props.maximum_packet_size.value_or(0xFFFFFFFF);
    client_alias_max_ = c.props.topic_alias_maximum.value_or(0);
  }

  client_id_ = c.client_id;
  username_ = c.username;
  PendingConnect pc{std::move(c), expiry, requested_expiry, assigned, keep_alive_capped};
  if (SessionLocator* locator = broker_.locator()) {
    // In a cluster the session may live on another node: fetch it first (asynchronously).
    state_ = State::locating;
    pending_connect_ = std::make_unique<PendingConnect>(std::move(pc));
    std::weak_ptr<SessionOwner> owner = owner_;
    locator->locate(client_id_, pending_connect_->connect.clean_start, [owner, this](LocateResult r) {
      if (auto o = owner.lock()) o->post([this, r = std::move(r)]() mutable { on_located(std::move(r)); });
    });
    return;
  }
  attach_and_ack(pc);
}

void Channel::on_located(LocateResult r) {
  if (state_ != State::locating || !pending_connect_) return;
  std::unique_ptr<PendingConnect> pc = std::move(pending_connect_);
  state_ = State::awaiting_connect;
  if (r.refuse) return refuse_connect(*r.refuse);
  // The cluster has brought the session here already (if there was one elsewhere).
  pc->epoch = r.epoch;
  attach_and_ack(*pc);
  // Packets the client sent after its CONNECT.
  if (state_ == State::connected && !in_.empty()) {
    std::string buffered = std::move(in_);
    in_.clear();
    process_input(buffered);
  }
}

void Channel::attach_and_ack(PendingConnect& pc) {
  Connect& c = pc.connect;
  const bool v5 = version_ == kV5;
  const std::uint32_t expiry = pc.expiry;
  auto owner = owner_.lock();
  AttachResult res =
      broker_.registry().attach(client_id_, c.clean_start, owner, version_, expiry, std::move(c.will), pc.epoch);
  broker_.publish_all(res.wills);
  session_ = std::move(res.session);
  state_ = State::connected;
  {
    auto st = session_->lock();
    st->username = username_;
    st->keep_alive = keep_alive_;
    st->connected_at_ms = util::wall_clock_ms();
  }

  Connack ack;
  ack.session_present = res.session_present;
  if (v5) {
    Properties& p = ack.props;
    if (expiry != pc.requested_expiry) p.session_expiry = expiry;
    p.receive_maximum = cfg_.max_inflight;
    if (cfg_.max_qos < 2) p.maximum_qos = cfg_.max_qos;
    if (!cfg_.retain_available) p.retain_available = 0;
    p.maximum_packet_size = cfg_.max_packet_size;
    if (pc.assigned_id) p.assigned_client_id = client_id_;
    if (cfg_.max_topic_alias > 0) p.topic_alias_maximum = cfg_.max_topic_alias;
    if (!cfg_.wildcard_subscription) p.wildcard_sub_available = 0;
    if (!cfg_.shared_subscription) p.shared_sub_available = 0;
    if (pc.keep_alive_capped) p.server_keep_alive = keep_alive_;
    if (c.props.request_response_info == 1) p.response_info = "response/" + client_id_;
  }
  send(ack);
  if (res.session_present) resume_inflight();
  pump();
}

// ---- PUBLISH and acknowledgements ---------------------------------------------------------

void Channel::on_publish(Publish& p) {
  const bool v5 = version_ == kV5;
  if (p.props.topic_alias) {
    const std::uint16_t alias = *p.props.topic_alias;
    if (alias == 0 || alias > cfg_.max_topic_alias) return disconnect(rc::topic_alias_invalid);
    if (!alias_in_) alias_in_ = std::make_unique<std::unordered_map<std::uint16_t, std::string>>();
    if (p.topic.empty()) {
      auto it = alias_in_->find(alias);
      if (it == alias_in_->end()) return disconnect(rc::protocol_error);
      p.topic = it->second;
    } else {
      (*alias_in_)[alias] = p.topic;
    }
    p.props.topic_alias.reset();
  }
  if (!valid_topic_name(p.topic)) return disconnect(rc::topic_name_invalid);
  if (p.qos > cfg_.max_qos) return disconnect(rc::qos_not_supported);
  if (p.retain && !cfg_.retain_available) return disconnect(rc::retain_not_supported);
  if (!p.props.subscription_ids.empty()) return disconnect(rc::protocol_error);
  switch (broker_.hooks().run_authorize(AclRequest{client_id_, username_, peer_, AclAction::publish, p.topic})) {
    case AclDecision::allow: break;
    case AclDecision::deny_and_disconnect: return disconnect(rc::not_authorized);
    case AclDecision::deny:
      Stats::add(broker_.stats().messages_denied);
      if (p.qos == 1) send_ack(PacketType::puback, p.packet_id, rc::not_authorized);
      if (p.qos == 2) send_ack(PacketType::pubrec, p.packet_id, rc::not_authorized);
      return;
  }
  if (p.props.payload_format == 1 && !valid_utf8(p.payload)) {
    if (p.qos == 1) send_ack(PacketType::puback, p.packet_id, rc::payload_format_invalid);
    if (p.qos == 2) send_ack(PacketType::pubrec, p.packet_id, rc::payload_format_invalid);
    return;
  }
  if (p.qos == 2) {
    bool over_limit = false;
    {
      auto st = session_->lock();
      if (st->incoming_qos2.contains(p.packet_id)) {
        // A retransmission: already routed once (QoS 2 is exactly once).
        send_ack(PacketType::pubrec, p.packet_id, rc::success);
        return;
      }
      over_limit = st->incoming_qos2.size() >= cfg_.max_inflight;
      if (!over_limit) st->incoming_qos2.insert(p.packet_id);
    }
    if (over_limit) return disconnect(rc::receive_maximum_exceeded);
  }
  Stats::add(broker_.stats().messages_received[p.qos]);
  auto m = std::make_shared<Message>();
  m->uid = new_message_uid();
  m->qos = p.qos;
  m->retain = p.retain;
  m->publisher = client_id_;
  if (p.props.message_expiry) m->expires_at = broker_.clock().now() + seconds(*p.props.message_expiry);
  m->topic = std::move(p.topic);
  m->payload = std::move(p.payload);
  m->props = std::move(p.props);
  const std::uint16_t pid = p.packet_id;
  const std::uint8_t qos = p.qos;
  bool refused = false;
  std::size_t matched = broker_.publish(m, &refused);
  if (refused) {
    // A cluster link is too full to take it: the publisher must know (MQTT 5: Quota exceeded;
    // 3.1.1 has no negative acknowledgement, so the connection closes and the client retries).
    if (!v5) return disconnect(rc::quota_exceeded);
    if (qos == 2) {
      auto st = session_->lock();
      st->incoming_qos2.erase(pid);
    }
    send_ack(qos == 1 ? PacketType::puback : PacketType::pubrec, pid, rc::quota_exceeded);
    return;
  }
  const std::uint8_t reason = (v5 && matched == 0) ? rc::no_matching_subscribers : rc::success;
  if (qos == 1) send_ack(PacketType::puback, pid, reason);
  if (qos == 2) send_ack(PacketType::pubrec, pid, reason);
}

void Channel::on_pub_response(const PubResponse& a) {
  bool pump_more = false;
  {
    auto st = session_->lock();
    if (!st->owned_by(token_)) return;
    switch (a.type) {
      case PacketType::pubrel: {
        bool known = st->incoming_qos2.erase(a.packet_id) > 0;
        send_ack(PacketType::pubcomp, a.packet_id, known ? rc::success : rc::packet_identifier_not_found);
        return;
      }
      case PacketType::puback: {
        auto it = st->inflight.find(a.packet_id);
        if (it != st->inflight.end() && it->second.delivery.qos == 1) {
          st->inflight.erase(it);
          pump_more = true;
        }
        break;
      }
      case PacketType::pubrec: {
        auto it = st->inflight.find(a.packet_id);
        if (it == st->inflight.end() || it->second.delivery.qos != 2) {
          send_ack(PacketType::pubrel, a.packet_id, rc::packet_identifier_not_found);
          return;
        }
        if (version_ == kV5 && a.reason >= 0x80) {
          st->inflight.erase(it);  // the receiver refused it; the exchange ends here
          pump_more = true;
          break;
        }
        it->second.pubrel_sent = true;
        send_ack(PacketType::pubrel, a.packet_id, rc::success);
        break;
      }
      case PacketType::pubcomp: {
        auto it = st->inflight.find(a.packet_id);
        if (it != st->inflight.end() && it->second.pubrel_sent) {
          st->inflight.erase(it);
          pump_more = true;
        }
        break;
      }
      default: break;
    }
  }
  if (pump_more) pump();
}

// ---- SUBSCRIBE / UNSUBSCRIBE --------------------------------------------------------------

void Channel::on_subscribe(const Subscribe& s) {
  const bool v5 = version_ == kV5;
  const std::uint32_t sub_id = s.props.subscription_ids.empty() ? 0 : s.props.subscription_ids.front();
  Suback ack;
  ack.packet_id = s.packet_id;
  struct RetainedRequest {
    std::string filter;
    std::uint8_t qos;
  };
  std::vector<RetainedRequest> retained_requests;
  for (const auto& e : s.entries) {
    std::uint8_t reason;
    auto shared = parse_shared(e.filter);
    std::string_view path = shared ? shared->filter : std::string_view(e.filter);
    if (shared && shared->group.empty()) {
      reason = rc::topic_filter_invalid;
    } else if (shared && !cfg_.shared_subscription) {
      reason = rc::shared_subscriptions_not_supported;
    } else if (shared && e.options.no_local) {
      return disconnect(rc::protocol_error);  // MQTT 5 §3.8.3.1: No Local on a shared subscription
    } else if (!valid_topic_filter(path)) {
      reason = rc::topic_filter_invalid;
    } else if (!cfg_.wildcard_subscription && has_wildcard(path)) {
      reason = rc::wildcard_subscriptions_not_supported;
    } else if (auto d = broker_.hooks().run_authorize(
                   AclRequest{client_id_, username_, peer_, AclAction::subscribe, e.filter});
               d != AclDecision::allow) {
      if (d == AclDecision::deny_and_disconnect) return disconnect(rc::not_authorized);
      reason = rc::not_authorized;
    } else {
      Subscription sub{e.options, sub_id};
      sub.options.qos = std::min(e.options.qos, cfg_.max_qos);
      if (!v5) sub.options = SubscribeOptions{sub.options.qos};
      bool is_new;
      {
        auto st = session_->lock();
        if (!st->owned_by(token_)) return;
        auto [it, inserted] = st->subscriptions.insert_or_assign(e.filter, sub);
        is_new = inserted;
      }
      broker_.router().subscribe(session_, e.filter, sub);
      reason = sub.options.qos;
      const std::uint8_t rh = sub.options.retain_handling;
      if (!shared && (rh == 0 || (rh == 1 && is_new))) retained_requests.push_back({e.filter, sub.options.qos});
    }
    if (!v5 && reason >= 0x80) reason = 0x80;
    ack.reasons.push_back(reason);
  }
  send(ack);
  const auto now = broker_.clock().now();
  for (const auto& r : retained_requests)
    for (const auto& m : broker_.retained().match(r.filter, now))
      session_->deliver(Delivery{m, std::min(m->qos, r.qos), true, SubscriptionIds(sub_id)}, Session::kBypassGate);
  pump();
}

void Channel::on_unsubscribe(const Unsubscribe& u) {
  Unsuback ack;
  ack.packet_id = u.packet_id;
  for (const auto& f : u.filters) {
    bool existed;
    {
      auto st = session_->lock();
      if (!st->owned_by(token_)) return;
      existed = st->subscriptions.erase(f) > 0;
    }
    if (existed) broker_.router().unsubscribe(session_.get(), f);
    ack.reasons.push_back(existed ? rc::success : rc::no_subscription_existed);
  }
  send(ack);
}

// ---- DISCONNECT and the end of a connection -----------------------------------------------

void Channel::on_disconnect(const Disconnect& d) {
  if (version_ == kV5 && d.props.session_expiry) {
    bool invalid = false;
    {
      auto st = session_->lock();
      if (st->owned_by(token_)) {
        invalid = st->expiry_interval == 0 && *d.props.session_expiry != 0;  // MQTT 5 §3.14.2.2.2
        if (!invalid) st->expiry_interval = std::min(*d.props.session_expiry, cfg_.session_expiry_max);
      }
    }
    if (invalid) return disconnect(rc::protocol_error);
  }
  finish(version_ == kV5 && d.reason == rc::disconnect_with_will);
}

void Channel::disconnect(std::uint8_t reason) {
  if (state_ != State::connected) {
    state_ = State::closed;
    close_ = true;
    return;
  }
  if (version_ == kV5) send(Disconnect{reason, {}});
  finish(true);
}

void Channel::on_kick(const DisconnectInfo& why) {
  if (state_ != State::connected) {
    state_ = State::closed;
    close_ = true;
    return;
  }
  pump();  // what is already queued goes out before the DISCONNECT
  if (version_ == kV5) {
    Disconnect d{why.reason, {}};
    d.props.server_reference = why.server_reference;
    send(d);
  }
  // After a takeover the session is no longer ours: detach is a no-op and the registry already
  // decided about the will.
  finish(true);
}

void Channel::on_keepalive_timeout() { disconnect(rc::keep_alive_timeout); }

void Channel::on_connection_lost() {
  if (state_ == State::connected) finish(true);
  state_ = State::closed;
  close_ = true;
}

void Channel::finish(bool publish_will) {
  if (state_ == State::closed) return;
  state_ = State::closed;
  close_ = true;
  if (session_) broker_.publish_all(broker_.registry().detach(session_, token_, publish_will));
}

// ---- outbound deliveries ------------------------------------------------------------------

Channel::SendResult Channel::send_publish(const Delivery& d, std::uint16_t packet_id, bool dup, util::TimePoint now) {
  const Message& m = *d.msg;
  std::optional<std::uint32_t> expiry;
  if (m.expires_at) {
    if (*m.expires_at <= now) return SendResult::expired;
    expiry = seconds_left(*m.expires_at, now);
  }
  PublishView v{m.topic, m.payload, d.qos, d.retain, dup, packet_id, &m.props, {}, 0, expiry};
  v.subscription_ids = d.sub_ids.view();
  bool new_alias = false;
  if (version_ == kV5 && client_alias_max_ > 0) {
    if (!alias_out_) alias_out_ = std::make_unique<std::unordered_map<std::string, std::uint16_t>>();
    if (auto it = alias_out_->find(m.topic); it != alias_out_->end()) {
      v.topic_alias = it->second;
      v.topic = {};
    } else if (next_alias_out_ <= client_alias_max_) {
      v.topic_alias = next_alias_out_;
      new_alias = true;
    }
  }
  if (client_max_packet_ != 0xFFFFFFFF && encoded_publish_size(v, version_) > client_max_packet_) return SendResult::too_large;
  if (new_alias) alias_out_->emplace(m.topic, next_alias_out_++);
  const std::size_t before = out_.size();
  encode_publish(v, version_, out_);
  Stats::add(broker_.stats().messages_sent[d.qos]);
  Stats::add(broker_.stats().bytes_sent, out_.size() - before);
  return SendResult::sent;
}

void Channel::resume_inflight() {
  const auto now = broker_.clock().now();
  auto st = session_->lock();
  if (!st->owned_by(token_)) return;
  std::vector<std::pair<std::uint64_t, std::uint16_t>> order;
  for (const auto& [pid, e] : st->inflight) order.emplace_back(e.seq, pid);
  std::sort(order.begin(), order.end());
  for (const auto& [_, pid] : order) {
    auto it = st->inflight.find(pid);
    if (it->second.pubrel_sent) {
      send_ack(PacketType::pubrel, pid, rc::success);
      continue;
    }
    if (send_publish(it->second.delivery, pid, true, now) != SendResult::sent) st->inflight.erase(it);
  }
}

void Channel::pump() {
  if (state_ != State::connected) return;
  const auto now = broker_.clock().now();
  auto st = session_->lock();
  st->notify_pending = false;
  if (!st->owned_by(token_)) return;
  while (!st->queue.empty() && out_.size() < cfg_.output_high_water) {
    Delivery& d = st->queue.front();
    std::uint16_t pid = 0;
    if (d.qos > 0) {
      if (st->inflight.size() >= client_receive_max_) break;  // the client's Receive Maximum
      pid = st->allocate_packet_id();
    }
    switch (send_publish(d, pid, false, now)) {
      case SendResult::sent:
        if (d.qos > 0) st->inflight.emplace(pid, InflightEntry{std::move(d), false, st->next_seq++});
        break;
      case SendResult::expired: Stats::add(broker_.stats().messages_expired); break;
      case SendResult::too_large: Stats::add(broker_.stats().messages_dropped_too_large); break;
    }
    st->queue.pop_front();
  }
}

}  // namespace tidemq::core
