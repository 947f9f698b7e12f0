#include "net/listener.hpp"

#include <boost/asio/post.hpp>

#include "net/connection.hpp"

namespace tidemq::net {

Listener::Listener(std::string name, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker,
                   std::chrono::seconds connect_timeout, ListenerLimits limits)
    : name_(std::move(name)),
      loop_(pool, "tcp." + name_, limits,
            [&broker, &tracker, connect_timeout](boost::asio::ip::tcp::socket socket, ListenerSlot slot) {
              // Everything a Connection does happens on its own io_context, starting with start().
              auto conn = std::make_shared<Connection>(std::move(socket), broker, tracker, connect_timeout,
                                                       std::move(slot));
              boost::asio::post(conn->executor(), [conn] { conn->start(); });
            }) {}

}  // namespace tidemq::net
