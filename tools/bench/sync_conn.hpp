// A blocking-style MQTT connection on a non-blocking socket, every step bounded by a deadline (and
// cut short by Ctrl-C): what the takeover scenario times, one step after another.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/ip/address.hpp>

#include "tidemq/mqtt/codec.hpp"

namespace tidemq::bench {

class SyncConn {
 public:
  enum class Read { packet, timeout, eof, error };

  explicit SyncConn(std::uint8_t level) : level_(level) {}
  ~SyncConn() { close(); }
  SyncConn(const SyncConn&) = delete;
  SyncConn& operator=(const SyncConn&) = delete;

  bool open() const { return fd_ >= 0; }
  void close();

  // TCP connect to host:port, from `src` when given. Deadlines are now_ns() values. On failure the
  // connection is closed and `err` says why.
  bool connect(const boost::asio::ip::address& host, std::uint16_t port, const boost::asio::ip::address* src,
               std::uint64_t deadline, std::string& err);
  bool send(const mqtt::Packet& p, std::uint64_t deadline, std::string& err);
  // The next packet; `err` is set on Read::error only.
  Read read(mqtt::Packet& p, std::uint64_t deadline, std::string& err);

 private:
  bool fail(std::string& err, std::string msg);
  bool wait_fd(short events, std::uint64_t deadline);

  std::uint8_t level_;
  int fd_ = -1;
  std::string rbuf_;
};

}  // namespace tidemq::bench
