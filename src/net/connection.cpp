#include "net/connection.hpp"

#include <array>

#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

namespace tidemq::net {

namespace asio = boost::asio;
using boost::system::error_code;

namespace {
std::string describe(const asio::ip::tcp::socket& s) {
  error_code ec;
  auto ep = s.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}
}  // namespace

Connection::Connection(asio::ip::tcp::socket socket, core::Broker& broker, ConnectionTracker& tracker,
                       std::chrono::seconds connect_timeout, ListenerSlot slot)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      tracker_(tracker),
      slot_(std::move(slot)),
      channel_(broker, describe(socket_)) {
  // Until CONNECT arrives the keep-alive watch enforces the connect timeout (bytes that are not a
  // whole CONNECT do not extend it).
  keepalive_.start_with_timeout(connect_timeout, std::chrono::steady_clock::now());
}

Connection::~Connection() { tracker_.remove(this); }

void Connection::start() {
  error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  socket_.non_blocking(true, ec);
  channel_.bind_owner(weak_from_this(), this);
  tracker_.add(this, weak_from_this());
  wait_readable();
  arm_timer();
}

void Connection::wait_readable() {
  if (read_waiting_) return;
  read_waiting_ = true;
  socket_.async_wait(asio::ip::tcp::socket::wait_read,
                     [self = shared_from_this()](const error_code& ec) { self->on_readable(ec); });
}

void Connection::on_readable(const error_code& wait_ec) {
  read_waiting_ = false;
  if (closed_) return;
  if (wait_ec) {
    channel_.on_connection_lost();
    close();
    return;
  }
  // One buffer per thread: idle connections hold none.
  thread_local std::array<char, 64 * 1024> buf;
  error_code ec;
  std::size_t n = socket_.read_some(asio::buffer(buf), ec);
  if (ec == asio::error::would_block || ec == asio::error::try_again) {
    wait_readable();
    return;
  }
  if (ec || n == 0) {
    channel_.on_connection_lost();
    if (!linger_.active) flush();
    close();
    return;
  }
  if (linger_.active) {  // after our last packet: what the peer still sends is dropped
    if (linger_.absorb(n))
      wait_readable();
    else
      close();
    return;
  }
  if (keepalive_started_) keepalive_.on_activity(std::chrono::steady_clock::now());
  channel_.on_bytes(std::string_view(buf.data(), n));
  start_keepalive_once();
  flush();
  if (!channel_.wants_close()) wait_readable();
}

void Connection::start_keepalive_once() {
  if (keepalive_started_ || !channel_.connected()) return;
  keepalive_started_ = true;
  keepalive_.start(channel_.keep_alive(), std::chrono::steady_clock::now());
  arm_timer();
}

void Connection::post(std::function<void()> task) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), task = std::move(task)] {
    if (self->closed_) return;
    task();
    self->start_keepalive_once();
    self->flush();
  });
}

void Connection::flush() {
  if (writing_ || closed_ || linger_.active) return;
  std::string& out = channel_.output();
  if (out.empty()) {
    if (channel_.wants_close()) close_gracefully();
    return;
  }
  write_buf_.swap(out);
  out.clear();
  writing_ = true;
  asio::async_write(socket_, asio::buffer(write_buf_), [self = shared_from_this()](const error_code& ec, std::size_t) {
    self->writing_ = false;
    self->write_buf_.clear();
    if (ec) {
      self->channel_.on_connection_lost();
      self->close();
      return;
    }
    self->channel_.on_write_drained();
    self->flush();
  });
}

void Connection::arm_timer() {
  if (closed_ || linger_.active) return;
  if (!keepalive_.enabled()) {
    timer_.cancel();
    return;
  }
  timer_.expires_at(keepalive_.deadline());
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->on_timer();
  });
}

void Connection::on_timer() {
  if (closed_ || linger_.active) return;
  if (!keepalive_.expired(std::chrono::steady_clock::now())) {
    arm_timer();
    return;
  }
  const bool write_stuck = writing_;
  if (channel_.connected())
    channel_.on_keepalive_timeout();
  else
    channel_.on_connection_lost();  // no CONNECT within the connect timeout
  flush();
  // A peer that stopped reading would never let the DISCONNECT out: close now.
  if (write_stuck || !writing_) close();
}

void Connection::close_after_grace() {
  // Give a busy writer a moment to get the DISCONNECT out; a peer that is not reading gets closed.
  timer_.expires_after(std::chrono::seconds(2));
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->close();
  });
}

void Connection::notify() {
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    if (self->closed_) return;  // the session may still wake a connection that has closed
    self->channel_.on_notify();
    self->flush();
  });
}

void Connection::kick(const core::DisconnectInfo& why) {
  asio::post(socket_.get_executor(), [self = shared_from_this(), why] {
    if (self->closed_) return;
    self->channel_.on_kick(why);
    self->flush();
    if (self->writing_) self->close_after_grace();
  });
}

void Connection::close_gracefully() {
  if (closed_ || linger_.active) return;
  linger_.active = true;
  error_code ec;
  socket_.shutdown(asio::ip::tcp::socket::shutdown_send, ec);  // FIN follows what we wrote
  if (ec) return close();
  timer_.expires_after(CloseLinger::kMaxTime);
  timer_.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) self->close();
  });
  wait_readable();
}

void Connection::close() {
  if (closed_) return;
  closed_ = true;
  error_code ec;
  timer_.cancel();
  socket_.shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  slot_ = ListenerSlot();
}

}  // namespace tidemq::net
