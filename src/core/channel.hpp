// One client's MQTT protocol logic, Sans-I/O: bytes and events in, bytes and "close" out.
// net::Connection drives it on the connection's own thread; unit tests drive it with byte vectors.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/broker.hpp"
#include "tidemq/mqtt/packets.hpp"

namespace tidemq::core {

class Channel {
 public:
  Channel(Broker& broker, std::string peer_address);
  Channel(const Channel&) = delete;
  Channel& operator=(const Channel&) = delete;

  // The connection that this channel speaks for (the session wakes it through this).
  void bind_owner(std::weak_ptr<SessionOwner> owner, const SessionOwner* token) {
    owner_ = std::move(owner);
    token_ = token;
  }

  // ---- inputs (all on the owning thread) ----
  void on_bytes(std::string_view data);
  void on_notify() { pump(); }                 // the session has deliveries waiting
  void on_write_drained() { pump(); }          // the socket took our output; send more
  void on_kick(const DisconnectInfo& why);     // server-initiated disconnect
  void on_keepalive_timeout();
  void on_connection_lost();                   // the socket closed or failed

  // ---- outputs ----
  std::string& output() { return out_; }       // bytes to write; the driver consumes them
  bool wants_close() const { return close_; }  // close once output() is written
  bool connected() const { return state_ == State::connected; }
  std::uint16_t keep_alive() const { return keep_alive_; }  // seconds, after the server's cap
  std::uint8_t protocol_level() const { return version_; }
  const ClientId& client_id() const { return client_id_; }
  const std::string& peer_address() const { return peer_; }

 private:
  enum class State { awaiting_connect, locating, connected, closed };
  // A CONNECT accepted so far, waiting for the cluster to locate the client's session.
  struct PendingConnect {
    mqtt::Connect connect;
    std::uint32_t expiry = 0;
    std::uint32_t requested_expiry = 0;
    bool assigned_id = false;
    bool keep_alive_capped = false;
    std::uint64_t epoch = 0;  // cluster ownership epoch granted to this connect
  };
  enum class SendResult { sent, expired, too_large };

  void process_input(std::string_view data);
  void handle(mqtt::Packet& p);
  void on_connect(mqtt::Connect& c);
  void on_publish(mqtt::Publish& p);
  void on_pub_response(const mqtt::PubResponse& a);
  void on_subscribe(const mqtt::Subscribe& s);
  void on_unsubscribe(const mqtt::Unsubscribe& u);
  void on_disconnect(const mqtt::Disconnect& d);
  void on_located(LocateResult r);
  void attach_and_ack(PendingConnect& pc);

  void refuse_connect(std::uint8_t v5_reason, std::optional<std::string> server_reference = std::nullopt);
  void disconnect(std::uint8_t reason);   // server-initiated, while connected; the will is published
  void finish(bool publish_will);         // detach from the session, once
  void send(const mqtt::Packet& p);
  void send_ack(mqtt::PacketType type, std::uint16_t packet_id, std::uint8_t reason);
  void resume_inflight();
  void pump();
  SendResult send_publish(const Delivery& d, std::uint16_t packet_id, bool dup, util::TimePoint now);

  Broker& broker_;
  const BrokerSettings& cfg_;
  std::string peer_;
  State state_ = State::awaiting_connect;
  std::uint8_t version_ = 0;
  bool close_ = false;
  std::string in_;
  std::string out_;

  std::weak_ptr<SessionOwner> owner_;
  const SessionOwner* token_ = nullptr;
  ClientId client_id_;
  std::optional<std::string> username_;
  SessionPtr session_;
  std::uint16_t keep_alive_ = 0;

  // What the client told us in CONNECT.
  std::uint16_t client_receive_max_ = 65535;
  std::uint32_t client_max_packet_ = 0xFFFFFFFF;
  std::uint16_t client_alias_max_ = 0;

  // Topic alias tables, allocated on first use (most clients never use aliases).
  std::unique_ptr<std::unordered_map<std::uint16_t, std::string>> alias_in_;
  std::unique_ptr<std::unordered_map<std::string, std::uint16_t>> alias_out_;
  std::uint16_t next_alias_out_ = 1;
  std::unique_ptr<PendingConnect> pending_connect_;
};

}  // namespace tidemq::core
