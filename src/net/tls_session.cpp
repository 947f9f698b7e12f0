#include "net/tls_session.hpp"

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/error.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace tidemq::net {

HandshakeOutcome tls_handshake_outcome(const boost::system::error_code& ec) {
  HandshakeOutcome r;
  r.ec = ec;
  if (!ec) return r;
  r.what = "tls handshake failed";
  r.notable = ec.category() == boost::asio::error::get_ssl_category() && ec != boost::asio::ssl::error::stream_truncated;
  return r;
}

std::string describe_tls_session(SSL* ssl) {
  std::string out = fmt::format("{} {}", SSL_get_version(ssl), SSL_get_cipher_name(ssl));
  if (X509* cert = SSL_get1_peer_certificate(ssl)) {
    char subject[256];
    X509_NAME_oneline(X509_get_subject_name(cert), subject, sizeof subject);
    out += fmt::format(", client certificate {}", subject);
    X509_free(cert);
  } else {
    out += ", no client certificate";
  }
  return out;
}

}  // namespace tidemq::net
