// How a TLS handshake / WebSocket upgrade ended, for StreamConnection to log and act on.
#pragma once

#include <string>

#include <boost/system/error_code.hpp>

namespace tidemq::net {

struct HandshakeOutcome {
  boost::system::error_code ec;  // none: ready for MQTT bytes
  std::string what;              // on failure, what failed ("tls handshake failed", "websocket upgrade refused")
  std::string detail;            // on failure, why ("" = ec.message())
  bool notable = false;          // log at info (a misconfigured client) rather than debug (scanners, resets)
};

}  // namespace tidemq::net
