// Helpers shared by the TLS and WSS transports (OpenSSL only, no Asio).
#pragma once

#include <string>

#include <boost/system/error_code.hpp>

#include "net/handshake_outcome.hpp"

struct ssl_st;

namespace tidemq::net {

// "tls handshake" failure outcome: OpenSSL's reasons (bad certificate, unknown CA, wrong version)
// are logged at info, plain resets and EOFs (port scanners, health checks) at debug.
HandshakeOutcome tls_handshake_outcome(const boost::system::error_code& ec);

// "TLSv1.3 TLS_AES_256_GCM_SHA384, client certificate CN=..." for debug logs.
std::string describe_tls_session(ssl_st* ssl);

}  // namespace tidemq::net
