// Simulated MQTT clients for the handoff simulation: each speaks real MQTT bytes (the project's
// codec) to a real core::Channel on a simulated node, over a FIFO pipe with random delay.
// Subscribers keep persistent sessions and follow evictions and drops to other nodes;
// publishers number their messages per topic. The Recorder keeps what the checker needs.
#pragma once

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/channel.hpp"
#include "sim_world.hpp"
#include "tidemq/mqtt/packets.hpp"

namespace tidemq::sim {

// What happened, as seen by the clients.
struct Recorder {
  struct Accepted {
    std::string publisher, topic;
    std::uint64_t seq;
    std::uint64_t conn;  // the publisher's connection (order is promised per connection)
    std::uint8_t qos;
    TimePoint at;
  };
  struct Receipt {
    std::string subscriber, publisher, topic;
    std::uint64_t seq;
    std::uint64_t conn;
    TimePoint at;
  };
  std::vector<Accepted> accepted;
  std::vector<Receipt> receipts;                                  // application deliveries, in order
  std::map<std::string, std::vector<TimePoint>> resets;           // subscriber → session lost (CONNACK 0 after a session)
  std::map<std::string, std::map<std::string, TimePoint>> subscribed;  // subscriber → topic → first SUBACK
  struct Disturbance {  // a crash, or a pause long enough to be declared down
    TimePoint from, to;
    std::string what;
  };
  std::vector<Disturbance> disturbances;
  // subscriber → stretches whose messages a frozen copy collected and then lost with its node (a
  // migration source that crashed before its target's commit was answered)
  std::map<std::string, std::vector<std::pair<TimePoint, TimePoint>>> frozen_copies_lost;
  std::uint64_t connects = 0, refusals = 0, drops = 0, evictions = 0;
};

class SimClient;

// One TCP connection from a client to a node.
class SimConnection final : public core::SessionOwner, public std::enable_shared_from_this<SimConnection> {
 public:
  SimConnection(World& w, SimNode& node, SimClient& client, std::uint64_t serial);
  void start();

  // Client side: bytes to the node (in order, after a delay).
  void to_node(const mqtt::Packet& p, std::uint8_t version);
  // Client side: the client drops the connection (no DISCONNECT); the node notices after `notice`.
  void drop(Duration notice);

  // SessionOwner (called on the node)
  void notify() override;
  void kick(const core::DisconnectInfo& why) override;
  const std::string& peer_address() const override { return peer_; }
  void post(std::function<void()> task) override;

  SimNode& node() { return node_; }
  std::uint64_t serial() const { return serial_; }
  bool node_side_closed() const { return closed_; }

 private:
  void on_node(std::function<void()> fn);  // runs on the node, then flushes output
  void flush();
  void close_node_side();

  World& w_;
  SimNode& node_;
  std::uint64_t node_incarnation_;
  SimClient& client_;
  std::uint64_t serial_;
  std::string peer_;
  core::Channel channel_;
  bool closed_ = false;         // node side
  bool dropped_ = false;        // client side abandoned it
  TimePoint up_last_{}, down_last_{};  // FIFO pipes
};

class SimClient {
 public:
  enum class Role { subscriber, publisher };
  SimClient(World& w, Recorder& rec, std::string id, Role role, std::uint8_t version);
  virtual ~SimClient() = default;

  const std::string& id() const { return id_; }
  Role role() const { return role_; }
  bool connected() const { return state_ == State::connected; }
  bool idle() const;  // connected, nothing in flight, nothing being set up
  // After a split (crash profile) a client may hold QoS 2 receipts of a session copy that was
  // dropped as stale; no PUBREL will come for them. Lenient: they do not keep it from being idle.
  bool lenient_qos2 = false;
  std::string describe() const;
  SimNode* node() const { return conn_ ? &conn_->node() : nullptr; }

  void connect_to(SimNode& n);
  void drop_and_reconnect(Duration notice, SimNode& next);  // lose the connection, reconnect elsewhere
  void reconnect_anywhere(Duration after);
  void drop_and_reconnect_later(Duration after);  // its node died and no other one answers now
  // Goes away for `away` (its session stays, offline: what migrations move), then reconnects anywhere.
  void go_offline(Duration notice, Duration away);

  // Subscriber
  std::vector<std::pair<std::string, std::uint8_t>> subscriptions;  // topic, qos
  // Publisher
  std::vector<std::pair<std::string, std::uint8_t>> topics;          // topic, qos
  void publish_next();
  bool publishing = false;
  std::uint64_t published = 0;

  // From the connection (client side, in order).
  void on_packet(std::uint64_t serial, const mqtt::Packet& p);
  void on_closed(std::uint64_t serial);

 private:
  enum class State { idle, connecting, connected };
  void send(const mqtt::Packet& p);
  // Leaves the current connection without DISCONNECT (the node notices after `notice`).
  bool abandon(Duration notice, const char* what);
  void subscribe();
  void on_connack(const mqtt::Connack& a);
  void on_publish(const mqtt::Publish& p);
  void on_pub_response(const mqtt::PubResponse& r);
  void lost(const std::optional<std::string>& server_reference);

  World& w_;
  Recorder& rec_;
  std::string id_;
  Role role_;
  std::uint8_t version_;
  State state_ = State::idle;
  std::shared_ptr<SimConnection> conn_;
  std::uint64_t serial_ = 0;
  bool had_session_ = false;
  bool subscribe_pending_ = false;
  std::uint16_t next_pid_ = 1;
  std::set<std::uint16_t> qos2_received_;  // PUBLISH ids waiting for PUBREL (survive reconnects)
  struct Outgoing {
    std::string topic;
    std::uint64_t seq;
    std::uint64_t conn;
    std::uint8_t qos;
    bool pubrec = false;
  };
  std::map<std::uint16_t, Outgoing> outgoing_;
  std::map<std::string, std::uint64_t> next_seq_;  // per topic
};

}  // namespace tidemq::sim
