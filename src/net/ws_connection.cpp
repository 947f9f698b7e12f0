// MQTT over WebSocket (ws://): WsTransport over a plain TCP socket.
#include "net/ws_transport.hpp"

namespace tidemq::net {

template class StreamConnection<WsTransport<false>>;

void spawn_ws_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot) {
  spawn_stream_connection<WsTransport<false>>(std::move(socket), std::move(env), std::move(slot));
}

}  // namespace tidemq::net
