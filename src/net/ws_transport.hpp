// MQTT over WebSocket (RFC 6455; MQTT 5 §6): a Beast websocket::stream over a TCP socket (ws) or
// over beast::ssl_stream (wss). The upgrade request is read by hand so that only the configured
// path is upgraded (404 otherwise) and the subprotocol "mqtt" (or the older "mqttv3.1") is
// answered with the one the client offered. Incoming messages must be binary; their bytes go to
// the Channel as they arrive (an MQTT packet may span messages, one message may hold several
// packets). Each flush of output goes out as one binary message.
//
// Included only by ws_connection.cpp and wss_connection.cpp.
#pragma once

#include <memory>
#include <string>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <fmt/format.h>

#include "net/stream_connection.hpp"
#include "net/tls_session.hpp"
#include "net/ws_upgrade.hpp"

namespace tidemq::net {

template <bool Secure>
class WsTransport {
  using tcp = boost::asio::ip::tcp;
  using Next = std::conditional_t<Secure, boost::beast::ssl_stream<tcp::socket>, tcp::socket>;
  using Ws = boost::beast::websocket::stream<Next>;

 public:
  static constexpr const char* kind = Secure ? "wss" : "ws";

  WsTransport(tcp::socket socket, const StreamEnv& env) : ws_(make(std::move(socket), env)) {
    namespace websocket = boost::beast::websocket;
    ws_.binary(true);
    ws_.auto_fragment(false);
    // The Channel enforces MQTT's packet size limit and nothing here buffers a whole message.
    ws_.read_message_max(0);
    // Deadlines are the connection's (connect timeout, keep-alive), except for the closing
    // handshake after a client's close frame: Beast then waits for the client to close TCP.
    websocket::stream_base::timeout t{};
    t.handshake_timeout = std::chrono::seconds(5);
    t.idle_timeout = websocket::stream_base::none();
    t.keep_alive_pings = false;
    ws_.set_option(t);
  }

  tcp::socket& socket() { return boost::beast::get_lowest_layer(ws_); }

  template <class H>
  void async_handshake(const StreamEnv& env, H h) {
    if constexpr (Secure) {
      ws_.next_layer().async_handshake(boost::asio::ssl::stream_base::server,
                                       [this, &env, h = std::move(h)](const boost::system::error_code& ec) mutable {
                                         if (ec) return h(tls_handshake_outcome(ec));
                                         read_upgrade(env, std::move(h));
                                       });
    } else {
      read_upgrade(env, std::move(h));
    }
  }

  template <class H>
  void async_read_some(boost::asio::mutable_buffer b, H h) {
    ws_.async_read_some(b, std::move(h));
  }
  // MQTT 5 §6.0: data in anything but binary frames closes the connection.
  bool last_read_acceptable() const { return ws_.got_binary(); }
  template <class H>
  void async_write(boost::asio::const_buffer b, H h) {
    ws_.async_write(b, std::move(h));
  }

  std::string describe_session() const {
    std::string s = "websocket, subprotocol " + (subprotocol_.empty() ? std::string("(none)") : subprotocol_);
    if constexpr (Secure) s += ", " + describe_tls_session(const_cast<Ws&>(ws_).next_layer().native_handle());
    return s;
  }

 private:
  struct Upgrade {
    boost::beast::flat_buffer buf;
    boost::beast::http::request_parser<boost::beast::http::empty_body> parser;
    boost::beast::http::response<boost::beast::http::string_body> refusal;
  };

  static Ws make(tcp::socket socket, const StreamEnv& env) {
    if constexpr (Secure)
      return Ws(std::move(socket), *env.tls);
    else
      return Ws(std::move(socket));
  }

  template <class H>
  void read_upgrade(const StreamEnv& env, H h) {
    namespace http = boost::beast::http;
    up_ = std::make_unique<Upgrade>();
    up_->parser.header_limit(16 * 1024);
    http::async_read(ws_.next_layer(), up_->buf, up_->parser,
                     [this, &env, h = std::move(h)](const boost::system::error_code& ec, std::size_t) mutable {
                       if (ec.category() == http::make_error_code(http::error::header_limit).category()) {
                         // A request that is too big or not HTTP still gets a status line (431 / 400)
                         // before the close; a connection that just went away does not.
                         WsUpgradeDecision d;
                         d.status = ec == http::error::header_limit ? http::status::request_header_fields_too_large
                                                                     : http::status::bad_request;
                         d.reason = "websocket upgrade: " + ec.message();
                         if (ec != http::error::end_of_stream && ec != http::error::partial_message)
                           return refuse(std::move(d), std::move(h));
                       }
                       if (ec) {
                         up_.reset();
                         return h(HandshakeOutcome{ec, "websocket upgrade: bad or no HTTP request", {}, false});
                       }
                       auto d = decide_ws_upgrade(up_->parser.get(), env.ws_path, up_->buf.size() != 0);
                       if (!d.accept) return refuse(std::move(d), std::move(h));
                       accept(std::move(d.subprotocol), std::move(h));
                     });
  }

  template <class H>
  void refuse(WsUpgradeDecision d, H h) {
    up_->refusal = ws_refusal(d, up_->parser.get());
    boost::beast::http::async_write(
        ws_.next_layer(), up_->refusal,
        [this, d = std::move(d), h = std::move(h)](const boost::system::error_code&, std::size_t) mutable {
          up_.reset();
          h(HandshakeOutcome{boost::asio::error::connection_refused,
                             fmt::format("websocket upgrade refused ({})", static_cast<unsigned>(d.status)), d.reason,
                             d.notable});
        });
  }

  template <class H>
  void accept(std::string subprotocol, H h) {
    namespace websocket = boost::beast::websocket;
    subprotocol_ = std::move(subprotocol);
    ws_.set_option(websocket::stream_base::decorator([proto = subprotocol_](websocket::response_type& res) {
      res.set(boost::beast::http::field::server, "tidemq");
      if (!proto.empty()) res.set(boost::beast::http::field::sec_websocket_protocol, proto);
    }));
    ws_.async_accept(up_->parser.get(), [this, h = std::move(h)](const boost::system::error_code& ec) mutable {
      up_.reset();
      if (ec) return h(HandshakeOutcome{ec, "websocket upgrade failed", {}, true});
      h(HandshakeOutcome{});
    });
  }

  Ws ws_;
  std::unique_ptr<Upgrade> up_;  // only during the upgrade
  std::string subprotocol_;
};

}  // namespace tidemq::net
