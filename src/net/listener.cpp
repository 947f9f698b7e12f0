#include "net/listener.hpp"

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "net/connection.hpp"

namespace tidemq::net {

namespace asio = boost::asio;
using asio::ip::tcp;

Listener::Listener(std::string name, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker,
                   std::chrono::seconds connect_timeout)
    : name_(std::move(name)),
      pool_(pool),
      broker_(broker),
      tracker_(tracker),
      connect_timeout_(connect_timeout),
      acceptor_(pool.control()),
      retry_(pool.control()) {}

void Listener::open(const std::string& host, std::uint16_t port) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

void Listener::start() { accept(); }

void Listener::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
}

void Listener::accept() {
  if (stopped_) return;
  acceptor_.async_accept(pool_.next_data(), [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      spdlog::warn("listener {}: accept failed: {}", name_, ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    // Everything a Connection does happens on its own io_context, starting with start().
    auto conn = std::make_shared<Connection>(std::move(socket), broker_, tracker_, connect_timeout_);
    asio::post(conn->executor(), [conn] { conn->start(); });
    accept();
  });
}

}  // namespace tidemq::net
