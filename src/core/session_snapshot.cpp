// Session ⇄ SessionSnapshot, and SessionSnapshot ⇄ JSON (binary fields as JSON binary values,
// so the same value goes over the cluster as MessagePack without base64). Keys added after the
// first version are optional on reading, and unknown keys are ignored, so that nodes of
// neighbouring versions can move sessions to each other.
#include <algorithm>
#include <cmath>

#include <nlohmann/json.hpp>

#include "core/session.hpp"

namespace tidemq::core {

using nlohmann::json;
using std::chrono::seconds;

namespace {

std::uint32_t seconds_left(util::TimePoint deadline, util::TimePoint now) {
  if (deadline <= now) return 0;
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - now).count();
  return static_cast<std::uint32_t>((ms + 999) / 1000);  // round up: never expire early
}

MessageSnapshot snapshot_of(const Delivery& d, util::TimePoint now) {
  MessageSnapshot m;
  m.topic = d.msg->topic;
  m.payload = d.msg->payload;
  m.qos = d.qos;
  m.retain = d.retain;
  m.props = d.msg->props;
  m.publisher = d.msg->publisher;
  if (d.msg->expires_at) m.expiry_remaining = seconds_left(*d.msg->expires_at, now);
  m.subscription_ids.assign(d.sub_ids.view().begin(), d.sub_ids.view().end());
  m.uid = d.msg->uid;
  return m;
}

Delivery delivery_of(const MessageSnapshot& m, util::TimePoint now) {
  auto msg = std::make_shared<Message>();
  msg->topic = m.topic;
  msg->payload = m.payload;
  msg->qos = m.qos;
  msg->retain = m.retain;
  msg->props = m.props;
  msg->publisher = m.publisher;
  msg->uid = m.uid;
  if (m.expiry_remaining) msg->expires_at = now + seconds(*m.expiry_remaining);
  Delivery d;
  d.msg = std::move(msg);
  d.qos = m.qos;
  d.retain = m.retain;
  d.sub_ids = SubscriptionIds(m.subscription_ids);
  return d;
}

ClientDetails details_of(const SessionState& st) {
  ClientDetails c;
  c.username = st.username;
  c.keep_alive = st.keep_alive;
  c.clean_start = st.clean_start;
  c.connected_at_ms = st.connected_at_ms;
  c.created_at_ms = st.created_at_ms;
  if (auto o = st.owner.lock()) {
    c.peer_address = o->peer_address();
  } else if (st.past) {
    c.peer_address = st.past->peer_address;
    c.disconnected_at_ms = st.past->disconnected_at_ms;
  }
  return c;
}

// A restored session is offline: what the snapshot knew of its last connection is kept as past.
void restore_details(SessionState& st, const ClientDetails& c) {
  st.username = c.username;
  st.keep_alive = c.keep_alive;
  st.clean_start = c.clean_start;
  st.connected_at_ms = c.connected_at_ms;
  st.created_at_ms = c.created_at_ms;
  if (!c.peer_address.empty() || c.disconnected_at_ms != 0)
    st.past = std::make_unique<PastConnection>(PastConnection{c.peer_address, c.disconnected_at_ms});
}

}  // namespace

SessionSnapshot Session::to_snapshot(util::TimePoint now) {
  std::lock_guard lk(mu_);
  return snapshot_locked(state_, now);
}

SessionSnapshot Session::snapshot_locked(const SessionState& st, util::TimePoint now) const {
  SessionSnapshot s;
  s.client_id = id_;
  s.protocol_level = st.protocol_level;
  for (const auto& [filter, sub] : st.subscriptions)
    s.subscriptions.push_back(SubscriptionSnapshot{filter, sub.options, sub.sub_id});
  std::vector<std::pair<std::uint64_t, InflightSnapshot>> inflight;
  for (const auto& [pid, e] : st.inflight)
    inflight.emplace_back(e.seq, InflightSnapshot{pid, e.pubrel_sent, snapshot_of(e.delivery, now)});
  std::sort(inflight.begin(), inflight.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (auto& [_, i] : inflight) s.inflight.push_back(std::move(i));
  for (const auto& d : st.queue) s.queue.push_back(snapshot_of(d, now));
  s.incoming_qos2.assign(st.incoming_qos2.begin(), st.incoming_qos2.end());
  std::sort(s.incoming_qos2.begin(), s.incoming_qos2.end());
  s.next_packet_id = st.next_packet_id;
  if (st.pending_will) {
    s.will = *st.pending_will;
    s.will_delay_remaining = seconds_left(st.will_due, now);
  }
  s.expiry_interval = st.expiry_interval;
  if (st.expires_at) s.expiry_remaining = seconds_left(*st.expires_at, now);
  s.client = details_of(st);
  return s;
}

std::shared_ptr<Session> Session::from_snapshot(const SessionSnapshot& s, std::size_t max_queue, util::TimePoint now) {
  auto session = std::make_shared<Session>(s.client_id, max_queue);
  SessionState& st = session->state_;
  st.protocol_level = s.protocol_level;
  for (const auto& sub : s.subscriptions) st.subscriptions[sub.filter] = Subscription{sub.options, sub.subscription_id};
  for (const auto& i : s.inflight)
    st.inflight.emplace(i.packet_id, InflightEntry{delivery_of(i.message, now), i.pubrel_sent, st.next_seq++});
  for (const auto& m : s.queue) st.queue.push_back(delivery_of(m, now));
  st.incoming_qos2.insert(s.incoming_qos2.begin(), s.incoming_qos2.end());
  st.next_packet_id = s.next_packet_id == 0 ? 1 : s.next_packet_id;
  if (s.will) {
    st.pending_will = std::make_unique<mqtt::Will>(*s.will);
    st.will_due = now + seconds(s.will_delay_remaining);
  }
  st.expiry_interval = s.expiry_interval;
  if (s.expiry_remaining) st.expires_at = now + seconds(*s.expiry_remaining);
  restore_details(st, s.client);
  return session;
}

// ---- JSON ---------------------------------------------------------------------------------

namespace {

json bin(const std::string& s) { return json::binary(std::vector<std::uint8_t>(s.begin(), s.end())); }

std::string unbin(const json& j) {
  if (j.is_binary()) return std::string(j.get_binary().begin(), j.get_binary().end());
  if (j.is_object() && j.contains("bytes")) {  // a binary value that went through text JSON
    auto bytes = j.at("bytes").get<std::vector<std::uint8_t>>();
    return std::string(bytes.begin(), bytes.end());
  }
  return j.get<std::string>();
}

template <class T>
void put(json& j, const char* key, const std::optional<T>& v) {
  if (v) j[key] = *v;
}
template <class T>
void get(const json& j, const char* key, std::optional<T>& v) {
  if (auto it = j.find(key); it != j.end()) v = it->get<T>();
}

json props_to_json(const mqtt::Properties& p) {
  json j = json::object();
  put(j, "payload_format", p.payload_format);
  put(j, "message_expiry", p.message_expiry);
  put(j, "content_type", p.content_type);
  put(j, "response_topic", p.response_topic);
  if (p.correlation_data) j["correlation_data"] = bin(*p.correlation_data);
  if (!p.subscription_ids.empty()) j["subscription_ids"] = p.subscription_ids;
  put(j, "will_delay", p.will_delay);
  if (!p.user_properties.empty()) j["user_properties"] = p.user_properties;
  return j;
}

mqtt::Properties props_from_json(const json& j) {
  mqtt::Properties p;
  get(j, "payload_format", p.payload_format);
  get(j, "message_expiry", p.message_expiry);
  get(j, "content_type", p.content_type);
  get(j, "response_topic", p.response_topic);
  if (auto it = j.find("correlation_data"); it != j.end()) p.correlation_data = unbin(*it);
  if (auto it = j.find("subscription_ids"); it != j.end()) p.subscription_ids = it->get<std::vector<std::uint32_t>>();
  get(j, "will_delay", p.will_delay);
  if (auto it = j.find("user_properties"); it != j.end()) p.user_properties = it->get<mqtt::UserProperties>();
  return p;
}

json message_to_json(const MessageSnapshot& m) {
  json j{{"topic", m.topic}, {"payload", bin(m.payload)}, {"qos", m.qos}, {"retain", m.retain},
         {"props", props_to_json(m.props)}, {"publisher", m.publisher}};
  put(j, "expiry_remaining", m.expiry_remaining);
  if (!m.subscription_ids.empty()) j["subscription_ids"] = m.subscription_ids;
  if (m.uid) j["uid"] = m.uid;
  return j;
}

MessageSnapshot message_from_json(const json& j) {
  MessageSnapshot m;
  m.topic = j.at("topic").get<std::string>();
  m.payload = unbin(j.at("payload"));
  m.qos = j.at("qos").get<std::uint8_t>();
  m.retain = j.at("retain").get<bool>();
  m.props = props_from_json(j.at("props"));
  m.publisher = j.at("publisher").get<std::string>();
  get(j, "expiry_remaining", m.expiry_remaining);
  if (auto it = j.find("subscription_ids"); it != j.end()) m.subscription_ids = it->get<std::vector<std::uint32_t>>();
  if (auto it = j.find("uid"); it != j.end()) m.uid = it->get<std::uint64_t>();
  return m;
}

// Every key optional on reading: a snapshot from a node that predates a key, or the whole
// "client" object, restores with that value unknown instead of failing the move.
json details_to_json(const ClientDetails& c) {
  json j{{"keep_alive", c.keep_alive}, {"clean_start", c.clean_start}};
  put(j, "username", c.username);
  if (!c.peer_address.empty()) j["peer_address"] = c.peer_address;
  if (c.connected_at_ms) j["connected_at_ms"] = c.connected_at_ms;
  if (c.disconnected_at_ms) j["disconnected_at_ms"] = c.disconnected_at_ms;
  if (c.created_at_ms) j["created_at_ms"] = c.created_at_ms;
  return j;
}

ClientDetails details_from_json(const json& j) {
  ClientDetails c;
  get(j, "username", c.username);
  c.peer_address = j.value("peer_address", std::string());
  c.keep_alive = j.value("keep_alive", std::uint16_t{0});
  c.clean_start = j.value("clean_start", false);
  c.connected_at_ms = j.value("connected_at_ms", std::int64_t{0});
  c.disconnected_at_ms = j.value("disconnected_at_ms", std::int64_t{0});
  c.created_at_ms = j.value("created_at_ms", std::int64_t{0});
  return c;
}

}  // namespace

void to_json(json& j, const SessionSnapshot& s) {
  j = json{{"client_id", s.client_id}, {"protocol_level", s.protocol_level}, {"next_packet_id", s.next_packet_id},
           {"expiry_interval", s.expiry_interval}, {"incoming_qos2", s.incoming_qos2}};
  json subs = json::array();
  for (const auto& sub : s.subscriptions)
    subs.push_back({{"filter", sub.filter}, {"qos", sub.options.qos}, {"no_local", sub.options.no_local},
                    {"retain_as_published", sub.options.retain_as_published},
                    {"retain_handling", sub.options.retain_handling}, {"subscription_id", sub.subscription_id}});
  j["subscriptions"] = std::move(subs);
  json inflight = json::array();
  for (const auto& i : s.inflight)
    inflight.push_back({{"packet_id", i.packet_id}, {"pubrel_sent", i.pubrel_sent}, {"message", message_to_json(i.message)}});
  j["inflight"] = std::move(inflight);
  json queue = json::array();
  for (const auto& m : s.queue) queue.push_back(message_to_json(m));
  j["queue"] = std::move(queue);
  if (s.will) {
    j["will"] = {{"topic", s.will->topic}, {"payload", bin(s.will->payload)}, {"qos", s.will->qos},
                 {"retain", s.will->retain}, {"props", props_to_json(s.will->props)}};
    j["will_delay_remaining"] = s.will_delay_remaining;
  }
  put(j, "expiry_remaining", s.expiry_remaining);
  j["client"] = details_to_json(s.client);
}

void from_json(const json& j, SessionSnapshot& s) {
  s.client_id = j.at("client_id").get<std::string>();
  s.protocol_level = j.at("protocol_level").get<std::uint8_t>();
  s.next_packet_id = j.at("next_packet_id").get<std::uint16_t>();
  s.expiry_interval = j.at("expiry_interval").get<std::uint32_t>();
  s.incoming_qos2 = j.at("incoming_qos2").get<std::vector<std::uint16_t>>();
  s.subscriptions.clear();
  for (const auto& sub : j.at("subscriptions")) {
    SubscriptionSnapshot x;
    x.filter = sub.at("filter").get<std::string>();
    x.options.qos = sub.at("qos").get<std::uint8_t>();
    x.options.no_local = sub.at("no_local").get<bool>();
    x.options.retain_as_published = sub.at("retain_as_published").get<bool>();
    x.options.retain_handling = sub.at("retain_handling").get<std::uint8_t>();
    x.subscription_id = sub.at("subscription_id").get<std::uint32_t>();
    s.subscriptions.push_back(std::move(x));
  }
  s.inflight.clear();
  for (const auto& i : j.at("inflight"))
    s.inflight.push_back(InflightSnapshot{i.at("packet_id").get<std::uint16_t>(), i.at("pubrel_sent").get<bool>(),
                                          message_from_json(i.at("message"))});
  s.queue.clear();
  for (const auto& m : j.at("queue")) s.queue.push_back(message_from_json(m));
  s.will.reset();
  if (auto it = j.find("will"); it != j.end()) {
    mqtt::Will w;
    w.topic = it->at("topic").get<std::string>();
    w.payload = unbin(it->at("payload"));
    w.qos = it->at("qos").get<std::uint8_t>();
    w.retain = it->at("retain").get<bool>();
    w.props = props_from_json(it->at("props"));
    s.will = std::move(w);
    s.will_delay_remaining = j.at("will_delay_remaining").get<std::uint32_t>();
  }
  s.expiry_remaining.reset();
  get(j, "expiry_remaining", s.expiry_remaining);
  s.client = {};
  if (auto it = j.find("client"); it != j.end() && it->is_object()) s.client = details_from_json(*it);
}

}  // namespace tidemq::core
