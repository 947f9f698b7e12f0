// clientid → Session, for the whole node. Attaches connections to sessions (taking over a live
// one), detaches them (wills, expiry), expires offline sessions, and gives the control thread
// the operations that rebalance needs: count, list, kick/evict, export and import.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/broker_settings.hpp"
#include "core/router.hpp"
#include "core/session.hpp"

namespace tidemq::core {

struct AttachResult {
  SessionPtr session;
  bool session_present = false;
  std::vector<MessagePtr> wills;  // of an older session that clean start ended
};

struct ClientInfo {
  ClientId client_id;
  bool connected = false;
  std::string peer_address;
  std::uint8_t protocol_level = 0;
  std::size_t subscriptions = 0;
  std::size_t queued = 0;
  std::size_t inflight = 0;
  std::uint32_t expiry_interval = 0;
  std::optional<std::string> username;
  std::uint16_t keep_alive = 0;
  std::int64_t connected_at_ms = 0;
  std::vector<std::pair<std::string, std::uint8_t>> subscription_list;  // filter, QoS (only from subscriptions())
};

// The message a will becomes when it is published.
MessagePtr will_message(const ClientId& client_id, const mqtt::Will& will, util::TimePoint now);

class SessionRegistry {
 public:
  SessionRegistry(Router& router, const BrokerSettings& settings, util::Clock& clock);

  // Attaches `owner` (whose CONNECT carried `will`) to the session of `client_id`, creating it or,
  // with clean_start, replacing it. A connection already attached is told to go with DISCONNECT
  // 0x8E; its will follows MQTT 5 §3.1.4: published now when its session ends (clean start) or
  // its Will Delay is 0, otherwise suppressed because the session has a connection again.
  AttachResult attach(const ClientId& client_id, bool clean_start, const std::shared_ptr<SessionOwner>& owner,
                      std::uint8_t protocol_level, std::uint32_t expiry_interval, std::optional<mqtt::Will> will);

  // The connection `owner` ended; `publish_will` is false after a normal DISCONNECT. Returns the
  // messages to publish now; a delayed will is kept until it is due. No-op when `owner` no longer
  // owns the session (it was taken over).
  std::vector<MessagePtr> detach(const SessionPtr& session, const SessionOwner* owner, bool publish_will);

  // Shutdown: takes the wills of every connected session (to publish before connections close).
  std::vector<MessagePtr> take_connected_wills();

  // Due delayed wills and expired sessions; call periodically. Returns wills to publish.
  std::vector<MessagePtr> sweep();

  std::size_t session_count() const;
  std::size_t connection_count() const { return connected_.load(std::memory_order_relaxed); }
  std::size_t offline_session_count() const { return session_count() - connection_count(); }

  std::vector<ClientInfo> list(std::size_t offset, std::size_t limit) const;
  std::optional<ClientInfo> info(const ClientId& id) const;
  // Sessions with their subscriptions (filter and QoS), for the admin API.
  std::vector<ClientInfo> subscriptions(std::size_t offset, std::size_t limit) const;

  // Server-initiated disconnects, safe from any thread (the owners act on their own threads).
  bool kick(const ClientId& id, const DisconnectInfo& why);
  std::size_t evict_connections(std::size_t max, const DisconnectInfo& why);
  std::size_t kick_all(const DisconnectInfo& why);
  std::vector<ClientId> offline_sessions(std::size_t max) const;

  // Detaches an offline session from this node as a value. Fails if unknown or online.
  std::optional<SessionSnapshot> export_session(const ClientId& id, std::string* error = nullptr);
  // Recreates an offline session from a value. Fails if the client id is already known here.
  bool import_session(const SessionSnapshot& snapshot, std::string* error = nullptr);
  // Drops a session (without publishing its will).
  bool discard_session(const ClientId& id);

 private:
  void forget_locked(const SessionPtr& s, SessionState& st);  // registry lock held, session lock held
  void unsubscribe_all(Session* s, const std::vector<std::string>& filters);
  std::vector<std::string> take_filters(SessionState& st);

  Router& router_;
  const BrokerSettings& settings_;
  util::Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<ClientId, SessionPtr> sessions_;
  std::multimap<util::TimePoint, std::weak_ptr<Session>> timers_;
  std::atomic<std::size_t> connected_{0};
};

}  // namespace tidemq::core
