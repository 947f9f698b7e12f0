#include "core/session_registry.hpp"

#include <algorithm>

#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::core {

using std::chrono::seconds;

namespace {
constexpr std::uint32_t kNeverExpires = 0xFFFFFFFF;
}

MessagePtr will_message(const ClientId& client_id, const mqtt::Will& will, util::TimePoint now) {
  auto m = std::make_shared<Message>();
  m->uid = new_message_uid();
  m->topic = will.topic;
  m->payload = will.payload;
  m->qos = will.qos;
  m->retain = will.retain;
  m->props = will.props;
  m->props.will_delay.reset();
  m->publisher = client_id;
  if (m->props.message_expiry) m->expires_at = now + seconds(*m->props.message_expiry);
  return m;
}

namespace {
// The connection has gone but the session stays: keep where it was and when it went, for the admin
// API (and for the session's next node, should it move).
void remember_connection(SessionState& st, const SessionOwner* gone) {
  st.past = std::make_unique<PastConnection>(PastConnection{gone ? gone->peer_address() : std::string(),
                                                            util::wall_clock_ms()});
}
}  // namespace

SessionRegistry::SessionRegistry(Router& router, const BrokerSettings& settings, util::Clock& clock)
    : router_(router), settings_(settings), clock_(clock) {}

std::vector<std::string> SessionRegistry::take_filters(SessionState& st) {
  std::vector<std::string> filters;
  filters.reserve(st.subscriptions.size());
  for (const auto& [f, _] : st.subscriptions) filters.push_back(f);
  st.subscriptions.clear();
  return filters;
}

void SessionRegistry::unsubscribe_all(Session* s, const std::vector<std::string>& filters) {
  for (const auto& f : filters) router_.unsubscribe(s, f);
}

void SessionRegistry::forget_locked(const SessionPtr& s, SessionState& st, bool ends) {
  st.discarded = true;
  st.queue.clear();
  auto it = sessions_.find(s->id());
  if (it != sessions_.end() && it->second == s) {
    sessions_.erase(it);
    if (ends && removal_listener_) removal_listener_(s->id(), st.epoch);
  }
}

AttachResult SessionRegistry::attach(const ClientId& client_id, bool clean_start,
                                     const std::shared_ptr<SessionOwner>& owner, std::uint8_t protocol_level,
                                     std::uint32_t expiry_interval, std::optional<mqtt::Will> will,
                                     std::uint64_t epoch) {
  AttachResult result;
  std::shared_ptr<SessionOwner> previous;
  {
    std::lock_guard lk(mu_);
    const auto now = clock_.now();
    if (auto it = sessions_.find(client_id); it != sessions_.end()) {
      SessionPtr old = it->second;
      auto st = old->lock();
      previous = take_connection_locked(*old, *st, clean_start, now, result.wills);
      if (clean_start) {
        // The old session ends here: a will it still held is due now.
        if (st->pending_will) result.wills.push_back(will_message(client_id, *st->pending_will, now));
        st->pending_will.reset();
        auto filters = take_filters(*st);
        forget_locked(old, *st, /*ends=*/false);  // replaced by a new session of the same client
        unsubscribe_all(old.get(), filters);
      } else {
        st->pending_will.reset();  // a reconnect before the will delay suppresses the will
        st->expires_at.reset();
        result.session = old;
        result.session_present = true;
      }
    }
    const bool created = !result.session;
    if (created) {
      result.session = std::make_shared<Session>(client_id, settings_.max_mqueue_len);
      sessions_.emplace(client_id, result.session);
    }
    {
      auto st = result.session->lock();
      if (created) st->created_at_ms = util::wall_clock_ms();
      st->clean_start = clean_start;
      st->past.reset();
      st->owner = owner;
      st->owner_token = owner.get();
      st->notify_pending = false;
      st->protocol_level = protocol_level;
      st->expiry_interval = expiry_interval;
      st->will = will ? std::make_unique<mqtt::Will>(std::move(*will)) : nullptr;
      if (epoch) st->epoch = epoch;
    }
    result.session->set_online(true);
    result.session->set_protocol_level(protocol_level);
    connected_.fetch_add(1, std::memory_order_relaxed);
  }
  if (previous) previous->kick(DisconnectInfo{mqtt::rc::session_taken_over, std::nullopt});
  return result;
}

std::vector<MessagePtr> SessionRegistry::detach(const SessionPtr& s, const SessionOwner* owner, bool publish_will) {
  std::vector<MessagePtr> publish_now;
  std::lock_guard lk(mu_);
  auto st = s->lock();
  if (!st->owned_by(owner)) return publish_now;
  std::unique_ptr<mqtt::Will> will = std::move(st->will);
  if (!publish_will) will.reset();
  st->owner.reset();
  st->owner_token = nullptr;
  st->notify_pending = false;
  s->set_online(false);
  connected_.fetch_sub(1, std::memory_order_relaxed);
  const auto now = clock_.now();
  const std::uint32_t expiry = st->expiry_interval;
  if (expiry == 0) {
    if (will) publish_now.push_back(will_message(s->id(), *will, now));
    auto filters = take_filters(*st);
    forget_locked(s, *st);
    unsubscribe_all(s.get(), filters);
    return publish_now;
  }
  remember_connection(*st, owner);
  if (expiry != kNeverExpires) {
    st->expires_at = now + seconds(expiry);
    timers_.emplace(*st->expires_at, s);
  }
  if (will) {
    const std::uint32_t delay = std::min(will->props.will_delay.value_or(0), expiry);
    if (delay == 0) {
      publish_now.push_back(will_message(s->id(), *will, now));
    } else {
      st->will_due = now + seconds(delay);
      st->pending_will = std::move(will);
      timers_.emplace(st->will_due, s);
    }
  }
  return publish_now;
}

std::vector<MessagePtr> SessionRegistry::sweep() {
  std::vector<MessagePtr> publish_now;
  std::lock_guard lk(mu_);
  const auto now = clock_.now();
  while (!timers_.empty() && timers_.begin()->first <= now) {
    SessionPtr s = timers_.begin()->second.lock();
    timers_.erase(timers_.begin());
    if (!s) continue;
    auto st = s->lock();
    if (st->discarded || st->owner_token) continue;  // stale timer: reconnected or gone
    if (st->frozen) continue;                         // being migrated: re-armed if it stays
    const bool expired = st->expires_at && *st->expires_at <= now;
    if (st->pending_will && (st->will_due <= now || expired)) {
      publish_now.push_back(will_message(s->id(), *st->pending_will, now));
      st->pending_will.reset();
    }
    if (expired) {
      auto filters = take_filters(*st);
      forget_locked(s, *st);
      unsubscribe_all(s.get(), filters);
    }
  }
  return publish_now;
}

std::vector<MessagePtr> SessionRegistry::take_connected_wills() {
  std::vector<MessagePtr> wills;
  std::lock_guard lk(mu_);
  const auto now = clock_.now();
  for (const auto& [id, s] : sessions_) {
    auto st = s->lock();
    if (st->owner_token && st->will) wills.push_back(will_message(id, *st->will, now));
    st->will.reset();
  }
  return wills;
}

std::size_t SessionRegistry::session_count() const {
  std::lock_guard lk(mu_);
  return sessions_.size();
}

namespace {
ClientInfo describe(const SessionPtr& s, bool with_subscriptions = false) {
  auto st = s->lock();
  ClientInfo i;
  i.client_id = s->id();
  i.connected = st->owner_token != nullptr;
  if (auto o = st->owner.lock()) {
    i.peer_address = o->peer_address();
  } else if (st->past) {
    i.peer_address = st->past->peer_address;
    i.disconnected_at_ms = st->past->disconnected_at_ms;
  }
  i.protocol_level = st->protocol_level;
  i.subscriptions = st->subscriptions.size();
  i.queued = st->queue.size();
  i.inflight = st->inflight.size();
  i.expiry_interval = st->expiry_interval;
  i.username = st->username;
  i.keep_alive = st->keep_alive;
  i.connected_at_ms = st->connected_at_ms;
  i.clean_start = st->clean_start;
  i.created_at_ms = st->created_at_ms;
  if (with_subscriptions)
    for (const auto& [f, sub] : st->subscriptions) i.subscription_list.emplace_back(f, sub.options.qos);
  return i;
}
}  // namespace

std::vector<ClientInfo> SessionRegistry::list(std::size_t offset, std::size_t limit) const {
  std::vector<SessionPtr> picked;
  {
    std::lock_guard lk(mu_);
    std::size_t i = 0;
    for (const auto& [_, s] : sessions_) {
      if (picked.size() >= limit) break;
      if (i++ >= offset) picked.push_back(s);
    }
  }
  std::vector<ClientInfo> out;
  out.reserve(picked.size());
  for (const auto& s : picked) out.push_back(describe(s));
  return out;
}

std::vector<ClientInfo> SessionRegistry::subscriptions(std::size_t offset, std::size_t limit) const {
  std::vector<SessionPtr> all;
  {
    std::lock_guard lk(mu_);
    all.reserve(sessions_.size());
    for (const auto& [_, s] : sessions_) all.push_back(s);
  }
  std::vector<ClientInfo> out;
  std::size_t seen = 0;
  for (const auto& s : all) {
    ClientInfo i = describe(s, true);
    if (i.subscription_list.empty()) continue;
    if (seen++ < offset) continue;
    if (out.size() >= limit) break;
    out.push_back(std::move(i));
  }
  return out;
}

std::optional<ClientInfo> SessionRegistry::info(const ClientId& id) const {
  SessionPtr s;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    s = it->second;
  }
  return describe(s);
}

bool SessionRegistry::kick(const ClientId& id, const DisconnectInfo& why) {
  std::shared_ptr<SessionOwner> owner;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    owner = it->second->lock()->owner.lock();
  }
  if (!owner) return false;
  owner->kick(why);
  return true;
}

std::size_t SessionRegistry::evict_connections(std::size_t max, const DisconnectInfo& why) {
  std::vector<std::shared_ptr<SessionOwner>> owners;
  {
    std::lock_guard lk(mu_);
    for (const auto& [_, s] : sessions_) {
      if (owners.size() >= max) break;
      if (!s->online()) continue;
      if (auto o = s->lock()->owner.lock()) owners.push_back(std::move(o));
    }
  }
  for (auto& o : owners) o->kick(why);
  return owners.size();
}

std::size_t SessionRegistry::kick_all(const DisconnectInfo& why) {
  return evict_connections(static_cast<std::size_t>(-1), why);
}

std::vector<ClientId> SessionRegistry::offline_sessions(std::size_t max) const {
  std::vector<ClientId> out;
  std::lock_guard lk(mu_);
  for (const auto& [id, s] : sessions_) {
    if (out.size() >= max) break;
    if (s->online()) continue;
    auto st = s->lock();
    if (!st->frozen && !st->handoff) out.push_back(id);
  }
  return out;
}

std::optional<SessionSnapshot> SessionRegistry::export_session(const ClientId& id, std::string* error) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    if (error) *error = "no such session";
    return std::nullopt;
  }
  SessionPtr s = it->second;
  if (s->online()) {
    if (error) *error = "session is connected";
    return std::nullopt;
  }
  SessionSnapshot snap = s->to_snapshot(clock_.now());
  auto st = s->lock();
  st->pending_will.reset();
  auto filters = take_filters(*st);
  forget_locked(s, *st);
  unsubscribe_all(s.get(), filters);
  return snap;
}

bool SessionRegistry::import_session(const SessionSnapshot& snap, std::string* error) {
  std::lock_guard lk(mu_);
  return import_locked(snap, error, {}) != nullptr;
}

SessionPtr SessionRegistry::import_locked(const SessionSnapshot& snap, std::string* error,
                                         const std::function<void(SessionState&)>& prepare) {
  if (sessions_.contains(snap.client_id)) {
    if (error) *error = "client id already has a session here";
    return nullptr;
  }
  const auto now = clock_.now();
  SessionPtr s = Session::from_snapshot(snap, settings_.max_mqueue_len, now);
  {
    auto st = s->lock();
    if (prepare) prepare(*st);  // before it is subscribed: no delivery can miss what it sets up
    for (const auto& [filter, sub] : st->subscriptions) router_.subscribe(s, filter, sub);
    if (st->expires_at) timers_.emplace(*st->expires_at, s);
    if (st->pending_will) timers_.emplace(st->will_due, s);
  }
  s->set_protocol_level(snap.protocol_level);
  sessions_.emplace(snap.client_id, s);
  return s;
}

bool SessionRegistry::discard_session(const ClientId& id) {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return false;
  SessionPtr s = it->second;
  std::shared_ptr<SessionOwner> owner;
  {
    auto st = s->lock();
    std::vector<MessagePtr> no_wills;  // discarded on purpose: no will
    owner = take_connection_locked(*s, *st, false, clock_.now(), no_wills);
    st->pending_will.reset();
    auto filters = take_filters(*st);
    forget_locked(s, *st);
    unsubscribe_all(s.get(), filters);
  }
  if (owner) owner->kick(DisconnectInfo{mqtt::rc::administrative_action, std::nullopt});
  return true;
}

SessionPtr SessionRegistry::find(const ClientId& id) const {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  return it == sessions_.end() ? nullptr : it->second;
}

std::vector<ClientId> SessionRegistry::session_ids() const {
  std::lock_guard lk(mu_);
  std::vector<ClientId> out;
  out.reserve(sessions_.size());
  for (const auto& [id, _] : sessions_) out.push_back(id);
  return out;
}

std::shared_ptr<SessionOwner> SessionRegistry::take_connection_locked(Session& s, SessionState& st, bool session_ends,
                                                                      util::TimePoint now, std::vector<MessagePtr>& wills) {
  if (!st.owner_token) return nullptr;
  auto previous = st.owner.lock();
  remember_connection(st, previous.get());
  st.owner.reset();
  st.owner_token = nullptr;
  st.notify_pending = false;
  s.set_online(false);
  connected_.fetch_sub(1, std::memory_order_relaxed);
  if (st.will && (session_ends || st.will->props.will_delay.value_or(0) == 0))
    wills.push_back(will_message(s.id(), *st.will, now));
  st.will.reset();
  return previous;
}

std::optional<std::uint64_t> SessionRegistry::epoch_of(const ClientId& id) const {
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) return std::nullopt;
  return it->second->lock()->epoch;
}

void SessionRegistry::set_epoch(const ClientId& id, std::uint64_t epoch) {
  std::lock_guard lk(mu_);
  if (auto it = sessions_.find(id); it != sessions_.end()) it->second->lock()->epoch = epoch;
}

std::vector<std::pair<ClientId, std::uint64_t>> SessionRegistry::owned_sessions() const {
  std::lock_guard lk(mu_);
  std::vector<std::pair<ClientId, std::uint64_t>> out;
  out.reserve(sessions_.size());
  for (const auto& [id, s] : sessions_) {
    auto st = s->lock();
    if (!st->frozen) out.emplace_back(id, st->epoch);
  }
  return out;
}

SessionExport SessionRegistry::give_away(const ClientId& id, bool clean_start, DeliveryForwarder relay) {
  SessionExport r;
  std::shared_ptr<SessionOwner> previous;
  std::vector<std::string> filters;
  SessionPtr ended;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return r;
    SessionPtr s = it->second;
    const auto now = clock_.now();
    auto st = s->lock();
    if (st->frozen || st->handoff) {
      r.error = st->frozen ? "session is being migrated" : "session is still arriving";
      return r;
    }
    previous = take_connection_locked(*s, *st, clean_start, now, r.wills);
    if (clean_start) {
      if (st->pending_will) r.wills.push_back(will_message(id, *st->pending_will, now));
      st->pending_will.reset();
      filters = take_filters(*st);
      forget_locked(s, *st, /*ends=*/false);  // the new owner has claimed it already
      ended = s;
    } else {
      r.snapshot = s->snapshot_locked(*st, now);
      st->pending_will.reset();
      st->queue.clear();
      st->inflight.clear();
      st->expires_at.reset();
      st->handoff = std::make_unique<HandoffState>();
      st->handoff->relay = std::move(relay);
      st->handoff->relay_held = true;  // opened once the snapshot is sent (Session::open_relay)
      st->discarded = true;
      sessions_.erase(it);
      r.old = s;
    }
  }
  if (ended) unsubscribe_all(ended.get(), filters);
  if (previous) previous->kick(DisconnectInfo{mqtt::rc::session_taken_over, std::nullopt});
  return r;
}

SessionExport SessionRegistry::freeze(const ClientId& id) {
  SessionExport r;
  std::lock_guard lk(mu_);
  auto it = sessions_.find(id);
  if (it == sessions_.end()) {
    r.error = "no session " + id + " here";
    return r;
  }
  SessionPtr s = it->second;
  auto st = s->lock();
  if (st->owner_token) r.error = "session is connected";
  else if (st->frozen) r.error = "session is being migrated";
  else if (st->handoff) r.error = "session is still arriving";
  if (!r.error.empty()) return r;
  r.snapshot = s->snapshot_locked(*st, clock_.now());
  st->queue.clear();
  st->inflight.clear();
  st->frozen = true;
  r.old = s;
  return r;
}

void SessionRegistry::leave_as_relay_locked(const SessionPtr& old, SessionState& st, DeliveryForwarder relay) {
  st.frozen = false;
  st.pending_will.reset();
  st.expires_at.reset();
  st.handoff = std::make_unique<HandoffState>();
  st.handoff->relay = std::move(relay);
  st.discarded = true;
  if (auto it = sessions_.find(old->id()); it != sessions_.end() && it->second == old) sessions_.erase(it);
}

void SessionRegistry::relay_frozen(const SessionPtr& old, DeliveryForwarder relay) {
  std::lock_guard lk(mu_);
  auto st = old->lock();
  if (!st->frozen) return;
  for (const auto& d : st->queue) relay(d);
  st->queue.clear();
  leave_as_relay_locked(old, *st, std::move(relay));
}

SessionExport SessionRegistry::give_away_frozen(const SessionPtr& old, SessionSnapshot frozen, bool clean_start,
                                                DeliveryForwarder relay) {
  SessionExport r;
  std::vector<std::string> filters;
  {
    std::lock_guard lk(mu_);
    const auto now = clock_.now();
    auto st = old->lock();
    if (!st->frozen) {
      r.error = "session is no longer frozen";
      return r;
    }
    if (clean_start) {
      if (st->pending_will) r.wills.push_back(will_message(old->id(), *st->pending_will, now));
      st->pending_will.reset();
      st->frozen = false;
      filters = take_filters(*st);
      forget_locked(old, *st, /*ends=*/false);
    } else {
      // What it holds now: the messages frozen at export first, then those that came since.
      SessionSnapshot now_held = old->snapshot_locked(*st, now);
      frozen.queue.insert(frozen.queue.end(), std::make_move_iterator(now_held.queue.begin()),
                          std::make_move_iterator(now_held.queue.end()));
      now_held.queue = std::move(frozen.queue);
      now_held.inflight = std::move(frozen.inflight);
      r.snapshot = std::move(now_held);
      st->queue.clear();
      leave_as_relay_locked(old, *st, std::move(relay));
      st->handoff->relay_held = true;  // opened once the snapshot is sent (Session::open_relay)
      r.old = old;
    }
  }
  if (!filters.empty()) unsubscribe_all(old.get(), filters);
  return r;
}

void SessionRegistry::thaw(const SessionPtr& old, SessionSnapshot frozen, std::uint64_t epoch) {
  std::lock_guard lk(mu_);
  const auto now = clock_.now();
  auto restored = Session::from_snapshot(frozen, settings_.max_mqueue_len, now);
  auto st = old->lock();
  if (!st->frozen) return;
  st->frozen = false;
  if (st->discarded) return;  // discarded (admin) while frozen: it stays gone
  st->epoch = epoch;
  auto back = restored->lock();
  for (auto it = st->queue.begin(); it != st->queue.end(); ++it) back->queue.push_back(std::move(*it));
  st->queue = std::move(back->queue);
  st->inflight = std::move(back->inflight);
  st->next_seq = std::max(st->next_seq, back->next_seq);
  if (st->expires_at) timers_.emplace(*st->expires_at, old);
  if (st->pending_will) timers_.emplace(st->will_due, old);
  if (auto it = sessions_.find(old->id()); it == sessions_.end()) sessions_.emplace(old->id(), old);
}

void SessionRegistry::end_relay(const SessionPtr& old) {
  std::vector<std::string> filters;
  {
    std::lock_guard lk(mu_);
    auto st = old->lock();
    st->handoff.reset();
    filters = take_filters(*st);
    st->discarded = true;
  }
  unsubscribe_all(old.get(), filters);
}

SessionPtr SessionRegistry::import_moved(const SessionSnapshot& snap, std::uint64_t epoch, NodeIndex from,
                                         std::vector<NodeIndex> awaiting_marks, std::string* error) {
  std::lock_guard lk(mu_);
  return import_locked(snap, error, [&](SessionState& st) {
    st.epoch = epoch;
    // What came with the session counts as seen: the same message may also arrive directly.
    std::vector<std::uint64_t> uids;
    uids.reserve(st.queue.size() + st.inflight.size());
    for (const auto& d : st.queue) uids.push_back(d.msg->uid);
    for (const auto& [_, e] : st.inflight) uids.push_back(e.delivery.msg->uid);
    st.handoff = std::make_unique<HandoffState>();
    st.handoff->gate.emplace(from, std::move(awaiting_marks), uids);
  });
}

bool SessionRegistry::discard_stale(const ClientId& id, std::uint64_t epoch) {
  std::shared_ptr<SessionOwner> previous;
  std::vector<std::string> filters;
  SessionPtr s;
  {
    std::lock_guard lk(mu_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return false;
    s = it->second;
    auto st = s->lock();
    if (st->epoch != epoch || st->frozen || st->handoff) return false;
    std::vector<MessagePtr> no_wills;  // the session lives on elsewhere: its will is not due
    previous = take_connection_locked(*s, *st, false, clock_.now(), no_wills);
    st->pending_will.reset();
    filters = take_filters(*st);
    forget_locked(s, *st, /*ends=*/false);
  }
  unsubscribe_all(s.get(), filters);
  if (previous) previous->kick(DisconnectInfo{mqtt::rc::session_taken_over, std::nullopt});
  return true;
}

}  // namespace tidemq::core
