// MQTT over TLS: asio::ssl::stream<tcp::socket> under a StreamConnection.
#include <boost/asio/ssl.hpp>
#include <boost/asio/write.hpp>

#include "net/stream_connection.hpp"
#include "net/tls_session.hpp"

namespace tidemq::net {

namespace asio = boost::asio;

struct TlsTransport {
  static constexpr const char* kind = "tls";

  TlsTransport(asio::ip::tcp::socket socket, const StreamEnv& env) : stream(std::move(socket), *env.tls) {}

  asio::ip::tcp::socket& socket() { return stream.next_layer(); }

  template <class H>
  void async_handshake(const StreamEnv&, H h) {
    stream.async_handshake(asio::ssl::stream_base::server, [h = std::move(h)](const boost::system::error_code& ec) mutable {
      h(tls_handshake_outcome(ec));
    });
  }
  template <class H>
  void async_read_some(asio::mutable_buffer b, H h) {
    stream.async_read_some(b, std::move(h));
  }
  bool last_read_acceptable() const { return true; }
  template <class H>
  void async_write(asio::const_buffer b, H h) {
    asio::async_write(stream, b, std::move(h));
  }
  std::string describe_session() const { return describe_tls_session(stream.native_handle()); }

  // native_handle() is not const in Asio.
  mutable asio::ssl::stream<asio::ip::tcp::socket> stream;
};

void spawn_tls_connection(asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot) {
  spawn_stream_connection<TlsTransport>(std::move(socket), std::move(env), std::move(slot));
}

template class StreamConnection<TlsTransport>;

}  // namespace tidemq::net
