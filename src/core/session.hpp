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

// One message on its way to one subscription of this session.
struct Delivery {
  MessagePtr msg;
  std::uint8_t qos = 0;
  bool retain = false;           // RETAIN flag to send
  std::uint32_t sub_id = 0;      // 0 = none
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

// Session handoff between cluster nodes. The node that gave a session away keeps its old copy
// subscribed for a grace period and passes every delivery on (`forward`); the node that took it
// drops, for the same period, deliveries it has already seen by Message::uid (a message can reach
// it both directly and through the old node).
using DeliveryForwarder = std::function<void(const Delivery&)>;
struct HandoffState {
  std::shared_ptr<const DeliveryForwarder> forward;
  std::unordered_set<std::uint64_t> seen;
  util::TimePoint until{};
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

  // About the current (or last) connection, for the admin API.
  std::optional<std::string> username;
  std::uint16_t keep_alive = 0;
  std::int64_t connected_at_ms = 0;            // wall clock, ms since the epoch

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
  // Returns false when the queue overflowed.
  bool deliver(Delivery d);

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
  ClientId id_;
  std::size_t max_queue_;
  std::mutex mu_;
  SessionState state_;
  std::atomic<bool> online_{false};
  std::atomic<std::uint8_t> protocol_{mqtt::kV5};
};

using SessionPtr = std::shared_ptr<Session>;

}  // namespace tidemq::core
