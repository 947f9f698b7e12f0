// Server-side TLS settings shared by the MQTT-over-TLS and WSS listeners (OpenSSL 3 via Asio SSL).
#pragma once

#include <memory>
#include <string>

namespace boost::asio::ssl {
class context;
}

namespace tidemq::net {

struct TlsOptions {
  std::string certfile;             // PEM, the server certificate (chain) first
  std::string keyfile;              // PEM
  std::string cacertfile;           // PEM; verifies client certificates (needed for verify_peer)
  bool verify_peer = false;         // request a client certificate and verify it against cacertfile
  bool fail_if_no_peer_cert = false;  // with verify_peer: refuse clients that send none
};

// TLS 1.2+ server context. Throws std::runtime_error naming the file when a certificate, key or
// CA file cannot be loaded, or when the key does not match the certificate.
std::shared_ptr<boost::asio::ssl::context> make_server_tls_context(const TlsOptions& options);

}  // namespace tidemq::net
