// MQTT over WebSocket over TLS (wss://): WsTransport over beast::ssl_stream.
#include "net/ws_transport.hpp"

namespace tidemq::net {

template class StreamConnection<WsTransport<true>>;

void spawn_wss_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot) {
  spawn_stream_connection<WsTransport<true>>(std::move(socket), std::move(env), std::move(slot));
}

}  // namespace tidemq::net
