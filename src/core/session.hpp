// A client's session: subscriptions, inflight and queued deliveries, will, expiry.
// Shared between threads (publishers enqueue from anywhere; the owning connection pumps on its own
// thread), so its state sits behind one mutex with tiny critical sections.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <boost/container/devector.hpp>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_set>

#include "core/delivery.hpp"
#include "core/handoff_gate.hpp"
#include "tidemq/core/types.hpp"
#include "tidemq/mqtt/packets.hpp"

namespace tidemq::core {

// Implemented by a live connection; called from any thread, acts on the connection's own thread.
struct SessionOwner {
  virtual ~SessionOwner() = default;
  virtual void notify() = 0;                          // deliveries are waiting
  virtual void kick(const DisconnectInfo& why) = 0;   // server-initiated disconnect
  virtual const std::string& peer_address() const = 0;
  // Runs `task` on the connection's own thread (dropped, not run, once the connection is gone).
  virtual void post(std::function<void()> task) = 0;
};

struct InflightEntry {
  Delivery delivery;
  bool pubrel_sent = false;      // QoS 2 after PUBREC
  std::uint64_t seq = 0;         // send order, for redelivery
};

struct Subscription {
  mqtt::SubscribeOptions options;
  std::uint32_t sub_id = 0;
};

// Session handoff between cluster nodes (docs/cluster.md, "Handoff"). The node that gave a
// session away keeps its old copy subscribed until every node routes to the new owner and RELAYS
// each delivery to it (`relay`, called under the session lock so that nothing can follow the end
// marker); the new copy merges the relayed and the direct path through its `gate`.
using DeliveryForwarder = std::function<void(const Delivery&)>;
struct HandoffState {
  DeliveryForwarder relay;           // set on the old copy
  // Until the snapshot is on its way (the new node must have it before any relay), deliveries
  // wait here; open_relay() sends them and opens the relay.
  bool relay_held = false;
  std::vector<Delivery> waiting;
  std::optional<HandoffGate> gate;   // set on the new copy
};

// The connection a session had, once it is gone: the live one answers for itself while there.
struct PastConnection {
  std::string peer_address;  // "ip:port"; "" = unknown
  std::int64_t disconnected_at_ms = 0;
};

struct SessionState {
  std::uint8_t protocol_level = mqtt::kV5;
  std::map<std::string, Subscription> subscriptions;  // full filter (with $share prefix) → options
  boost::container::devector<Delivery> queue;  // allocates nothing while empty (idle sessions)
  std::map<std::uint16_t, InflightEntry> inflight;
  std::uint64_t next_seq = 0;
  std::unordered_set<std::uint16_t> incoming_qos2;
  std::uint16_t next_packet_id = 1;
  std::uint32_t expiry_interval = 0;

  std::weak_ptr<SessionOwner> owner;
  const SessionOwner* owner_token = nullptr;  // identity of the attached connection; null = offline
  bool notify_pending = false;
  bool discarded = false;                      // removed from the registry: deliveries are ignored

  // Wills are rare and large (a Properties block each): kept behind pointers to keep idle sessions small.
  std::unique_ptr<mqtt::Will> will;            // the will of the attached connection
  std::unique_ptr<mqtt::Will> pending_will;    // a delayed will waiting for its time
  util::TimePoint will_due{};
  std::optional<util::TimePoint> expires_at;   // set while offline (none = never)

  std::uint64_t dropped = 0;                   // queue overflow drops
  std::unique_ptr<HandoffState> handoff;       // only around a move between nodes
  std::uint64_t epoch = 0;                     // cluster ownership epoch (fencing token); 0 alone
  bool frozen = false;                         // being migrated: not attachable, deliveries wait

  // About the current (or last) connection, for the admin API (ClientDetails in a snapshot).
  std::optional<std::string> username;
  std::uint16_t keep_alive = 0;
  bool clean_start = false;
  std::int64_t connected_at_ms = 0;            // wall clock, ms since the Unix epoch
  std::int64_t created_at_ms = 0;
  std::unique_ptr<PastConnection> past;        // set only while offline: connected sessions pay 8 bytes

  bool owned_by(const SessionOwner* who) const { return who != nullptr && owner_token == who; }
  std::uint16_t allocate_packet_id();
};

class Session {
 public:
  Session(ClientId id, std::size_t max_queue) : id_(std::move(id)), max_queue_(max_queue) {}

  const ClientId& id() const { return id_; }

  class Locked {
   public:
    explicit Locked(Session& s) : lock_(s.mu_), state_(s.state_) {}
    SessionState* operator->() { return &state_; }
    SessionState& operator*() { return state_; }

   private:
    std::unique_lock<std::mutex> lock_;
    SessionState& state_;
  };
  Locked lock() { return Locked(*this); }

  // Any thread. Queues a delivery (dropping the oldest when full) and wakes the owner once.
  // Returns false when the queue overflowed. `origin`: the node the message came from (0: this
  // one), which the handoff gate needs; `kBypassGate` for deliveries made for this copy alone
  // (retained messages of a new subscription).
  static constexpr NodeIndex kBypassGate = 0xFFFF;
  bool deliver(Delivery d, NodeIndex origin = 0);
  // A delivery relayed by node `from`; dropped (false) unless this session's handoff window is
  // open and came from that node: a relay of any other move is stale.
  bool deliver_relayed(Delivery d, NodeIndex from);
  // The old copy's relay may pass deliveries on (the snapshot has been sent ahead of them).
  void open_relay();
  // Handoff window events (see HandoffGate).
  HandoffGate::Outcome handoff_mark(NodeIndex origin);
  HandoffGate::Outcome handoff_flushed(NodeIndex origin);
  HandoffGate::Outcome handoff_end();

  // Lock-free reads for routing decisions (shared-subscription member choice, v3 de-duplication).
  bool online() const { return online_.load(std::memory_order_relaxed); }
  std::uint8_t protocol_level() const { return protocol_.load(std::memory_order_relaxed); }
  void set_online(bool v) { online_.store(v, std::memory_order_relaxed); }
  void set_protocol_level(std::uint8_t v) { protocol_.store(v, std::memory_order_relaxed); }

  SessionSnapshot to_snapshot(util::TimePoint now);
  // The same, for a caller that already holds the lock (`st` is this session's state).
  SessionSnapshot snapshot_locked(const SessionState& st, util::TimePoint now) const;
  static std::shared_ptr<Session> from_snapshot(const SessionSnapshot& s, std::size_t max_queue, util::TimePoint now);

 private:
  // A handoff window event on the gate (under the lock); the gate goes once the window closed.
  template <class Event>
  HandoffGate::Outcome window_event(Event&& event);
  // Lock held: appends to the queue (dropping the oldest when full); returns the owner to wake.
  std::shared_ptr<SessionOwner> enqueue_locked(Delivery d, bool& overflow);

  ClientId id_;
  std::size_t max_queue_;
  std::mutex mu_;
  SessionState state_;
  std::atomic<bool> online_{false};
  std::atomic<std::uint8_t> protocol_{mqtt::kV5};
};

using SessionPtr = std::shared_ptr<Session>;

}  // namespace tidemq::core
