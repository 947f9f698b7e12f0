// What a TLS / WebSocket / WSS connection needs from its listener, shared by all connections of
// that listener (they keep it, and so the TLS context, alive). Kept light: no Asio SSL or Beast.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>

#include "core/broker.hpp"
#include "net/admission.hpp"
#include "net/connection_tracker.hpp"

namespace boost::asio::ssl {
class context;
}

namespace tidemq::net {

struct StreamEnv {
  core::Broker& broker;
  ConnectionTracker& tracker;
  std::chrono::seconds connect_timeout;           // handshake + CONNECT must complete within it
  std::string label;                              // "ssl.default", for logs
  std::string ws_path;                            // ws / wss: the only path upgraded
  std::shared_ptr<boost::asio::ssl::context> tls; // ssl / wss
};

// Each makes a connection for an accepted socket and posts its start() onto the socket's
// executor (a data io_context). Defined next to their transports (tls_connection.cpp,
// ws_connection.cpp, wss_connection.cpp) so that Asio SSL and Beast stay in those files.
void spawn_tls_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot);
void spawn_ws_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot);
void spawn_wss_connection(boost::asio::ip::tcp::socket socket, std::shared_ptr<const StreamEnv> env, ListenerSlot slot);

}  // namespace tidemq::net
