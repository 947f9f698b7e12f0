// A plain-TCP MQTT listener: its accept loop (net/accept_loop.hpp) hands each admitted socket to
// the next data io_context, where its Connection lives for good.
#pragma once

#include <memory>
#include <string>

#include "core/broker.hpp"
#include "net/accept_loop.hpp"
#include "net/connection_tracker.hpp"

namespace tidemq::net {

class Listener {
 public:
  Listener(std::string name, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker,
           std::chrono::seconds connect_timeout, ListenerLimits limits = {});

  // Binds and listens; throws boost::system::system_error when the address is unavailable.
  void open(const std::string& host, std::uint16_t port) { loop_.open(host, port); }
  void start() { loop_.start(); }
  void stop() { loop_.stop(); }
  boost::asio::ip::tcp::endpoint local_endpoint() const { return loop_.local_endpoint(); }
  const std::string& name() const { return name_; }
  const std::shared_ptr<ListenerLoad>& load() const { return loop_.load(); }

 private:
  std::string name_;
  AcceptLoop loop_;
};

}  // namespace tidemq::net
