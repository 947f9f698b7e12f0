// The accept loop that every MQTT listener (TCP, TLS, WebSocket, WSS) runs on the control context:
// bind and listen, accept onto the next data io_context, back off when accept fails (out of file
// descriptors and the like), and keep to the listener's limits (net/admission.hpp). What to make
// of an admitted socket is the listener's business (`Spawn`).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "net/admission.hpp"
#include "runtime/io_pool.hpp"

namespace tidemq::net {

class AcceptLoop {
 public:
  using Spawn = std::function<void(boost::asio::ip::tcp::socket, ListenerSlot)>;

  AcceptLoop(runtime::IoPool& pool, std::string label, ListenerLimits limits, Spawn spawn);

  // Binds and listens; throws boost::system::system_error when the address is unavailable.
  void open(const std::string& host, std::uint16_t port);
  void start();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const;
  const std::string& label() const { return label_; }
  const std::shared_ptr<ListenerLoad>& load() const { return admission_.load(); }

 private:
  void accept();
  void accept_after(util::Duration delay);

  runtime::IoPool& pool_;
  std::string label_;
  util::SteadyClock clock_;
  Admission admission_;
  Spawn spawn_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  bool stopped_ = false;
};

}  // namespace tidemq::net
