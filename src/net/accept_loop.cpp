#include "net/accept_loop.hpp"

#include <spdlog/spdlog.h>

namespace tidemq::net {

namespace asio = boost::asio;
using asio::ip::tcp;

AcceptLoop::AcceptLoop(runtime::IoPool& pool, std::string label, ListenerLimits limits, Spawn spawn)
    : pool_(pool),
      label_(std::move(label)),
      admission_(label_, limits, clock_),
      spawn_(std::move(spawn)),
      acceptor_(pool.control()),
      retry_(pool.control()) {}

void AcceptLoop::open(const std::string& host, std::uint16_t port) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

tcp::endpoint AcceptLoop::local_endpoint() const {
  boost::system::error_code ec;
  return acceptor_.local_endpoint(ec);
}

void AcceptLoop::start() { accept(); }

void AcceptLoop::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
}

void AcceptLoop::accept_after(util::Duration delay) {
  retry_.expires_after(delay);
  retry_.async_wait([this](const boost::system::error_code& e) {
    if (!e && !stopped_) accept();
  });
}

void AcceptLoop::accept() {
  if (stopped_) return;
  // Over max_conn_rate: leave new connections in the kernel's backlog for a while.
  if (auto delay = admission_.accept_delay(); delay > util::Duration::zero()) return accept_after(delay);
  acceptor_.async_accept(pool_.next_data(), [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      spdlog::warn("listener {}: accept failed: {}", label_, ec.message());
      return accept_after(std::chrono::milliseconds(100));
    }
    if (auto slot = admission_.admit()) {
      spawn_(std::move(socket), std::move(*slot));
    } else {
      if (admission_.should_log_refusal())
        spdlog::warn("listener {}: at max_connections ({}): closing new connections at once", label_,
                     admission_.limits().max_connections);
      boost::system::error_code ignored;
      socket.close(ignored);
    }
    accept();
  });
}

}  // namespace tidemq::net
