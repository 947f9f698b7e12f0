// A connection over a layered stream (TLS, WebSocket, WebSocket over TLS) driving a core::Channel
// on the connection's own io_context thread — the counterpart of net::Connection (TCP), with the
// same flush/close ordering, keep-alive and connect timeout, kick and close-after-grace rules, and
// the same lingering close after the broker's last packet (net/close_linger.hpp).
//
// Include this header only from the .cpp files that instantiate it (tls_connection.cpp,
// ws_connection.cpp, wss_connection.cpp): it is a template, and its transports pull in Asio SSL
// and Beast. Everyone else uses net/stream_env.hpp.
//
// A Transport owns the stream and provides:
//   static constexpr const char* kind;                          "tls" | "ws" | "wss"
//   Transport(tcp::socket, const StreamEnv&);
//   tcp::socket& socket();                                      the lowest layer
//   void async_handshake(const StreamEnv&, H);                  H(HandshakeOutcome)
//   void async_read_some(asio::mutable_buffer, H);              H(error_code, size_t)
//   bool last_read_acceptable() const;                          false: protocol violation, close
//   void async_write(asio::const_buffer, H);                    H(error_code, size_t), all or error
//   std::string describe_session() const;                       after the handshake, for debug logs
// At most one handshake, one read and one write are outstanding at a time.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "core/channel.hpp"
#include "core/keepalive.hpp"
#include "net/close_linger.hpp"
#include "net/handshake_outcome.hpp"
#include "net/stream_env.hpp"

namespace tidemq::net {

template <class Transport>
class StreamConnection final : public core::SessionOwner,
                               public std::enable_shared_from_this<StreamConnection<Transport>> {
 public:
  StreamConnection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot)
      : peer_(describe(socket)),
        env_(std::move(env)),
        slot_(std::move(slot)),
        io_(std::move(socket), *env_),
        timer_(io_.socket().get_executor()),
        channel_(env_->broker, peer_) {
    // The connect timeout covers the TLS handshake / WebSocket upgrade and CONNECT together
    // (bytes that are not a whole CONNECT do not extend it).
    keepalive_.start_with_timeout(env_->connect_timeout, std::chrono::steady_clock::now());
  }
  ~StreamConnection() override { env_->tracker.remove(this); }

  void start() {
    boost::system::error_code ec;
    io_.socket().set_option(boost::asio::ip::tcp::no_delay(true), ec);
    channel_.bind_owner(this->weak_from_this(), this);
    env_->tracker.add(this, this->weak_from_this());
    arm_timer();
    io_.async_handshake(*env_, [self = this->shared_from_this()](HandshakeOutcome r) { self->on_handshake(r); });
  }
  boost::asio::any_io_executor executor() { return io_.socket().get_executor(); }

  // core::SessionOwner — any thread.
  void notify() override {
    boost::asio::post(executor(), [self = this->shared_from_this()] {
      if (self->closed_) return;
      self->channel_.on_notify();
      self->flush();
    });
  }
  void kick(const core::DisconnectInfo& why) override {
    boost::asio::post(executor(), [self = this->shared_from_this(), why] {
      if (self->closed_) return;
      self->channel_.on_kick(why);
      self->flush();
      if (self->writing_) self->close_after_grace();
    });
  }
  const std::string& peer_address() const override { return peer_; }
  void post(std::function<void()> task) override {
    boost::asio::post(executor(), [self = this->shared_from_this(), task = std::move(task)] {
      if (self->closed_) return;
      task();
      self->start_keepalive_once();
      self->flush();
    });
  }

 private:
  // Reads go into a per-connection buffer that stays small (kSmallRead) unless reads fill it.
  static constexpr std::size_t kSmallRead = 2 * 1024;
  static constexpr std::size_t kLargeRead = 16 * 1024;

  static std::string describe(const boost::asio::ip::tcp::socket& s) {
    boost::system::error_code ec;
    auto ep = s.remote_endpoint(ec);
    if (ec) return "unknown";
    return ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  void on_handshake(const HandshakeOutcome& r) {
    if (closed_) return;  // timed out or kicked meanwhile (and already logged)
    if (r.ec) {
      spdlog::log(r.notable ? spdlog::level::info : spdlog::level::debug, "{} {}: {}: {}", env_->label, peer_, r.what,
                  r.detail.empty() ? r.ec.message() : r.detail);
      channel_.on_connection_lost();
      close();
      return;
    }
    ready_ = true;
    if (spdlog::should_log(spdlog::level::debug))
      spdlog::debug("{} {}: {}", env_->label, peer_, io_.describe_session());
    read();
  }

  void start_keepalive_once() {
    if (keepalive_started_ || !channel_.connected()) return;
    keepalive_started_ = true;
    keepalive_.start(channel_.keep_alive(), std::chrono::steady_clock::now());
    arm_timer();
  }

  void read() {
    if (reading_) return;
    reading_ = true;
    if (!rbuf_ || rbuf_size_ != want_read_) {
      rbuf_.reset();  // free first: never hold both sizes
      rbuf_ = std::make_unique<char[]>(want_read_);
      rbuf_size_ = want_read_;
    }
    io_.async_read_some(boost::asio::buffer(rbuf_.get(), rbuf_size_),
                        [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t n) {
                          self->on_read(ec, n);
                        });
  }

  void on_read(const boost::system::error_code& ec, std::size_t n) {
    reading_ = false;
    if (closed_) return;
    if (linger_.active) {  // after our last packet: what the peer still sends is dropped
      if (!ec && linger_.absorb(n))
        read();
      else
        close();
      return;
    }
    if (ec || !io_.last_read_acceptable()) {
      if (ec)
        spdlog::debug("{} {}: read: {}", env_->label, peer_, ec.message());
      else
        spdlog::info("{} {}: closing: not a binary WebSocket message", env_->label, peer_);
      channel_.on_connection_lost();
      flush();
      close();
      return;
    }
    if (n > 0) {
      if (keepalive_started_) keepalive_.on_activity(std::chrono::steady_clock::now());
      channel_.on_bytes(std::string_view(rbuf_.get(), n));
      start_keepalive_once();
    }
    // Grow when a read filled the buffer, shrink back when reads are small again.
    if (n == rbuf_size_)
      want_read_ = kLargeRead;
    else if (n <= kSmallRead)
      want_read_ = kSmallRead;
    flush();
    if (!channel_.wants_close()) read();
  }

  void flush() {
    if (writing_ || closed_ || linger_.active) return;
    if (!ready_) {  // nothing can be written before the handshake; a kick closes at once
      if (channel_.wants_close()) close();
      return;
    }
    std::string& out = channel_.output();
    if (out.empty()) {
      if (channel_.wants_close()) close_gracefully();
      return;
    }
    write_buf_.swap(out);
    out.clear();
    writing_ = true;
    io_.async_write(boost::asio::buffer(write_buf_),
                    [self = this->shared_from_this()](const boost::system::error_code& ec, std::size_t) {
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

  void arm_timer() {
    if (closed_ || linger_.active) return;
    if (!keepalive_.enabled()) {
      timer_.cancel();
      return;
    }
    timer_.expires_at(keepalive_.deadline());
    timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->on_timer();
    });
  }

  void on_timer() {
    if (closed_ || linger_.active) return;
    if (!keepalive_.expired(std::chrono::steady_clock::now())) {
      arm_timer();
      return;
    }
    if (!ready_) spdlog::debug("{} {}: {} handshake not completed in time", env_->label, peer_, Transport::kind);
    const bool write_stuck = writing_;
    if (channel_.connected())
      channel_.on_keepalive_timeout();
    else
      channel_.on_connection_lost();  // no handshake or no CONNECT within the connect timeout
    flush();
    // A peer that stopped reading would never let the DISCONNECT out: close now.
    if (write_stuck || !writing_) close();
  }

  void close_after_grace() {
    // Give a busy writer a moment to get the DISCONNECT out; a peer that is not reading gets closed.
    timer_.expires_after(std::chrono::seconds(2));
    timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
  }

  // After our last packet: FIN on the TCP socket under the layers, then read (through them) and
  // discard until the peer's EOF, an error or a bound (net/close_linger.hpp). No TLS close_notify
  // and no WebSocket close frame: each would wait for the peer's answer on the read side the
  // linger already uses, and the MQTT DISCONNECT or CONNACK before the FIN is the goodbye MQTT
  // clients act on; what this must prevent is an RST that destroys it.
  void close_gracefully() {
    if (closed_ || linger_.active) return;
    linger_.active = true;
    boost::system::error_code ec;
    io_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_send, ec);
    if (ec) return close();
    timer_.expires_after(CloseLinger::kMaxTime);
    timer_.async_wait([self = this->shared_from_this()](const boost::system::error_code& ec) {
      if (!ec) self->close();
    });
    read();
  }

  // Closes the TCP socket under the layers (no TLS close_notify, no WebSocket close frame):
  // every outstanding operation completes with an error and releases the connection.
  void close() {
    if (closed_) return;
    closed_ = true;
    boost::system::error_code ec;
    timer_.cancel();
    io_.socket().shutdown(boost::asio::ip::tcp::socket::shutdown_both, ec);
    io_.socket().close(ec);
    slot_ = ListenerSlot();
  }

  std::string peer_;
  std::shared_ptr<const StreamEnv> env_;
  ListenerSlot slot_;  // counts this socket against its listener's max_connections until closed
  Transport io_;
  boost::asio::steady_timer timer_;
  core::Channel channel_;
  core::KeepAliveWatch keepalive_;
  bool keepalive_started_ = false;
  bool ready_ = false;  // handshake done
  std::unique_ptr<char[]> rbuf_;
  std::size_t rbuf_size_ = 0;
  std::size_t want_read_ = kSmallRead;
  std::string write_buf_;
  bool writing_ = false;
  bool reading_ = false;
  bool closed_ = false;
  CloseLinger linger_;
};

template <class Transport>
void spawn_stream_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot) {
  auto conn = std::make_shared<StreamConnection<Transport>>(std::move(socket), std::move(env), std::move(slot));
  boost::asio::post(conn->executor(), [conn] { conn->start(); });
}

}  // namespace tidemq::net
