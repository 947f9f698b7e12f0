// A TCP connection driving a core::Channel on the connection's own io_context thread.
// Reads wait for readiness and then read into a per-thread buffer, so an idle connection holds
// no read buffer; writes go out from a double buffer swapped with the channel's output.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/channel.hpp"
#include "core/keepalive.hpp"
#include "net/admission.hpp"
#include "net/close_linger.hpp"
#include "net/connection_tracker.hpp"

namespace tidemq::net {

class Connection final : public core::SessionOwner, public std::enable_shared_from_this<Connection> {
 public:
  Connection(boost::asio::ip::tcp::socket socket, core::Broker& broker, ConnectionTracker& tracker,
             std::chrono::seconds connect_timeout, ListenerSlot slot);
  ~Connection() override;

  void start();
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

  // core::SessionOwner — any thread.
  void notify() override;
  void kick(const core::DisconnectInfo& why) override;
  const std::string& peer_address() const override { return channel_.peer_address(); }
  void post(std::function<void()> task) override;

 private:
  void wait_readable();
  void on_readable(const boost::system::error_code& ec);
  void flush();
  void start_keepalive_once();  // when the channel has just become connected
  void arm_timer();
  void on_timer();
  void close();
  void close_after_grace();
  void close_gracefully();  // after our last packet: FIN, read and discard for a while, then close

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  ConnectionTracker& tracker_;
  ListenerSlot slot_;  // counts this socket against its listener's max_connections until closed
  core::Channel channel_;
  core::KeepAliveWatch keepalive_;
  bool keepalive_started_ = false;
  std::string write_buf_;
  bool writing_ = false;
  bool read_waiting_ = false;
  bool closed_ = false;
  CloseLinger linger_;
};

}  // namespace tidemq::net
