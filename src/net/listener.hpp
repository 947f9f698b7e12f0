// Accepts TCP connections on the control context and hands each socket to the next data
// io_context, where its Connection lives for good.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/broker.hpp"
#include "net/connection_tracker.hpp"
#include "runtime/io_pool.hpp"

namespace tidemq::net {

class Listener {
 public:
  Listener(std::string name, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker,
           std::chrono::seconds connect_timeout);

  // Binds and listens; throws boost::system::system_error when the address is unavailable.
  void open(const std::string& host, std::uint16_t port);
  void start();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  const std::string& name() const { return name_; }

 private:
  void accept();

  std::string name_;
  runtime::IoPool& pool_;
  core::Broker& broker_;
  ConnectionTracker& tracker_;
  std::chrono::seconds connect_timeout_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  bool stopped_ = false;
};

}  // namespace tidemq::net
