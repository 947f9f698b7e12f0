// clientid → Session, for the whole node. Attaches connections to sessions (taking over a live
// one), detaches them (wills, expiry), expires offline sessions, and gives the control thread
// the operations that rebalance needs: count, list, kick/evict, export and import.
#pragma once

#include <functional>
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
  std::int64_t connected_at_ms = 0;     // wall clock, ms since the Unix epoch; 0 = unknown
  std::int64_t disconnected_at_ms = 0;  // 0 = connected or unknown
  std::int64_t created_at_ms = 0;
  bool clean_start = false;
  std::vector<std::pair<std::string, std::uint8_t>> subscription_list;  // filter, QoS (only from subscriptions())
};

// A session leaving this node for another one (cluster takeover or migration).
struct SessionExport {
  SessionPtr old;                            // the copy left here (relaying or frozen); null when none
  std::optional<SessionSnapshot> snapshot;   // none when clean_start ended the session here
  std::vector<MessagePtr> wills;             // to publish now
  std::string error;                         // why nothing was exported although asked
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
  // `epoch`: the ownership epoch the cluster granted this connect (0 on a lone node).
  AttachResult attach(const ClientId& client_id, bool clean_start, const std::shared_ptr<SessionOwner>& owner,
                      std::uint8_t protocol_level, std::uint32_t expiry_interval, std::optional<mqtt::Will> will,
                      std::uint64_t epoch = 0);

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

  // ---- cluster handoff (docs/cluster.md, "Handoff") ----
  // The ownership epoch of the session of `id` here; nullopt when there is none.
  std::optional<std::uint64_t> epoch_of(const ClientId& id) const;
  void set_epoch(const ClientId& id, std::uint64_t epoch);
  // Every session here that is not frozen, with its epoch (re-registration at home nodes).
  std::vector<std::pair<ClientId, std::uint64_t>> owned_sessions() const;

  // Takeover by another node: a live connection is told to go with DISCONNECT 0x8E and its will
  // follows §3.1.4 as for a local takeover. With `clean_start` the session ends here; otherwise
  // its snapshot is returned and the old copy leaves the registry but stays subscribed, passing
  // every delivery to `relay` until end_relay. The relay starts held: the caller sends the
  // snapshot, then calls old->open_relay(), so that nothing relayed can overtake the snapshot.
  SessionExport give_away(const ClientId& id, bool clean_start, DeliveryForwarder relay);
  // Migration, step 1: an offline session is frozen. Its queue and inflight messages move into the
  // returned snapshot; the frozen copy stays registered and subscribed and collects what arrives.
  // Fails (error set) when the session is online, frozen or still in a handoff window.
  SessionExport freeze(const ClientId& id);
  // Migration committed: the frozen copy relays what it collected, then every later delivery, and
  // leaves the registry.
  void relay_frozen(const SessionPtr& old, DeliveryForwarder relay);
  // A takeover reached a frozen copy: `frozen` (the snapshot taken at freeze) plus what came since
  // is returned, and the copy relays to the taker (or, with clean_start, the session ends).
  SessionExport give_away_frozen(const SessionPtr& old, SessionSnapshot frozen, bool clean_start, DeliveryForwarder relay);
  // The migration did not happen: the frozen copy becomes the session again, holding `frozen`'s
  // messages before those that came since, at ownership `epoch`.
  void thaw(const SessionPtr& old, SessionSnapshot frozen, std::uint64_t epoch);
  // The old copy's relaying is over: it stops (every delivery it relayed has been handed to the
  // link when this returns, so an end marker sent afterwards follows them) and unsubscribes.
  void end_relay(const SessionPtr& old);
  // A session that moved here from node `from`: imported with a delivery gate (see HandoffGate)
  // at `epoch`. Null
  // (error set) when the client id already has a session here.
  SessionPtr import_moved(const SessionSnapshot& snapshot, std::uint64_t epoch, NodeIndex from,
                          std::vector<NodeIndex> awaiting_marks, std::string* error = nullptr);
  // Fencing: drops the session of `id` if it is still at `epoch` (a newer owner exists elsewhere);
  // a live connection is told to go with 0x8E. No will: the session lives on elsewhere.
  bool discard_stale(const ClientId& id, std::uint64_t epoch);

  // Called (under the registry lock: keep it cheap) when a session ends here: expiry, clean
  // disconnect, kick, discard. Not when it moves to another node.
  void set_removal_listener(std::function<void(const ClientId&, std::uint64_t epoch)> listener) {
    removal_listener_ = std::move(listener);
  }
  std::vector<ClientId> session_ids() const;
  SessionPtr find(const ClientId& id) const;

 private:
  // Registry lock held: creates, subscribes and registers a session from a snapshot.
  SessionPtr import_locked(const SessionSnapshot& snapshot, std::string* error,
                           const std::function<void(SessionState&)>& prepare);
  // Registry and session lock held: detaches a live connection, applying §3.1.4 to its will
  // (`session_ends`: the session ends now); returns the connection to tell to go.
  std::shared_ptr<SessionOwner> take_connection_locked(Session& s, SessionState& st, bool session_ends,
                                                       util::TimePoint now, std::vector<MessagePtr>& wills);
  // Registry and session lock held: the old copy leaves the registry and relays from now on.
  void leave_as_relay_locked(const SessionPtr& old, SessionState& st, DeliveryForwarder relay);
  // Registry lock and session lock held. `ends`: the client's session is gone (not replaced or moved).
  void forget_locked(const SessionPtr& s, SessionState& st, bool ends = true);
  void unsubscribe_all(Session* s, const std::vector<std::string>& filters);
  std::vector<std::string> take_filters(SessionState& st);

  Router& router_;
  const BrokerSettings& settings_;
  util::Clock& clock_;
  mutable std::mutex mu_;
  std::unordered_map<ClientId, SessionPtr> sessions_;
  std::multimap<util::TimePoint, std::weak_ptr<Session>> timers_;
  std::function<void(const ClientId&, std::uint64_t)> removal_listener_;
  std::atomic<std::size_t> connected_{0};
};

}  // namespace tidemq::core
