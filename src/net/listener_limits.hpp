// How many connections a listener holds and how fast it takes new ones (listeners.<kind>.<name>.*
// in the config file). Plain data, so that the config layer can carry it without the net layer.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tidemq::net {

struct ListenerLimits {
  // Open sockets of this listener, counting those that have not sent CONNECT yet (0: no limit).
  // Beyond it a new socket is closed at once; mqtt.max_connections, counted node-wide at CONNECT,
  // answers with a CONNACK instead.
  std::size_t max_connections = 1024000;
  // Accepts per second (0: no limit). Beyond it the listener stops accepting for a while and new
  // connections wait in the kernel's backlog, as a connection storm after an outage should.
  std::uint32_t max_conn_rate = 0;
};

}  // namespace tidemq::net
