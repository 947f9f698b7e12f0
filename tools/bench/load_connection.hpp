// The MQTT client connection of the load engine: connects (TCP, CONNECT, SUBSCRIBE), publishes
// (timed, flat out, or within the pubsub window; QoS 0-2), receives and acknowledges, tracks
// sequences of stamped payloads, pings, and disconnects, all on its worker's io_context.
// Included by the engine's .cpp files only (Asio).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "load_plan.hpp"
#include "payload.hpp"
#include "tidemq/mqtt/codec.hpp"

namespace tidemq::bench {

class Worker;

class Conn {
 public:
  Conn(Worker& w, ConnSpec spec);
  void start();
  void begin_publishing(std::uint64_t t0);
  void pub_tick(std::uint64_t now);
  void sweep(std::uint64_t now);
  void disconnect();
  void refill(std::uint64_t now);
  bool refill_pending = false;  // listed in Worker::dirty_pubs

  const ConnSpec& spec() const { return spec_; }
  bool subscribed_ok() const { return subscribed_; }
  std::uint64_t sent() const { return seq_; }
  const std::unordered_map<std::uint32_t, SeqTracker>& tracks() const { return tracks_; }

 private:
  using error_code = boost::system::error_code;
  enum class St : std::uint8_t { idle, tcp_connecting, mqtt_connecting, subscribing, ready, disconnecting, closed };

  void on_tcp_connected(const error_code& ec);
  void arm_read();
  void on_read(const error_code& ec, std::size_t n);
  void process(std::uint64_t now);
  void grow_read_buffer(std::size_t at_least);
  void handle(mqtt::Packet& p);
  void on_connack(const mqtt::Connack& c);
  void on_suback(const mqtt::Suback& s);
  void on_publish(std::uint8_t qos, std::uint16_t packet_id, std::string_view payload);
  void on_pubresp(const mqtt::PubResponse& r);
  void flush();
  void on_written(const error_code& ec);
  void abort(std::string why);
  void close_socket();
  void settle();
  void fill();
  bool can_publish() const;
  bool window_open() const;
  std::uint64_t outstanding() const;
  void publish_one(std::uint64_t now);
  std::uint16_t alloc_pid();
  void release_pid(std::uint16_t pid, std::uint8_t reason);
  void check_done();

  Worker& w_;
  ConnSpec spec_;
  boost::asio::ip::tcp::socket sock_;
  St st_ = St::idle;
  bool settled_ = false;
  bool was_connected_ = false;
  bool subscribed_ = false;
  bool writing_ = false;
  bool half_closed_ = false;
  std::uint16_t keepalive_;
  std::uint64_t t_start_ = 0;
  std::uint64_t last_send_ = 0;
  std::uint64_t now_ = 0;  // time of the read being processed (receive timestamp)
  std::unique_ptr<char[]> rbuf_;  // [0, rlen_) received, not yet decoded
  std::size_t rcap_ = 0, rlen_ = 0;
  std::string wbuf_, wsend_;

  // Publisher.
  bool publishing_ = false;
  bool done_ = false;
  std::string payload_;
  std::uint64_t seq_ = 0;
  std::uint64_t next_due_ = 0;
  std::uint32_t max_inflight_ = 0;
  std::uint32_t inflight_ = 0;
  std::uint16_t next_pid_ = 1;
  std::vector<std::uint64_t> pid_bits_;  // 65536 bits: packet ids in use
  std::vector<std::uint64_t> pid_ts_;    // send time by (pid & mask)
  std::uint32_t pid_mask_ = 0;
  std::uint64_t forgiven_ = 0;        // window: messages given up on (lost on the way)
  std::uint64_t last_delivered_ = 0;
  std::uint64_t last_progress_ = 0;

  // Subscriber.
  std::unordered_map<std::uint32_t, SeqTracker> tracks_;
  std::uint32_t last_pub_ = UINT32_MAX;
  SeqTracker* last_track_ = nullptr;
};

}  // namespace tidemq::bench
