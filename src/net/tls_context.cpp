#include "net/tls_context.hpp"

#include <stdexcept>

#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace tidemq::net {

namespace ssl = boost::asio::ssl;

namespace {

std::string openssl_reason() {
  unsigned long e = ERR_peek_last_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  return buf;
}

template <class F>
void load(const char* what, const std::string& file, F&& f) {
  try {
    f();
  } catch (const boost::system::system_error& e) {
    throw std::runtime_error(fmt::format("cannot load {} '{}': {}", what, file, e.code().message()));
  }
}

}  // namespace

std::shared_ptr<ssl::context> make_server_tls_context(const TlsOptions& o) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  SSL_CTX* c = ctx->native_handle();
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression |
                   ssl::context::single_dh_use);
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  // OpenSSL frees its record buffers while a connection is idle.
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  // Needed for session resumption when client certificates are requested.
  static const unsigned char sid_ctx[] = "tidemq";
  SSL_CTX_set_session_id_context(c, sid_ctx, sizeof sid_ctx - 1);

  load("certfile", o.certfile, [&] { ctx->use_certificate_chain_file(o.certfile); });
  load("keyfile", o.keyfile, [&] { ctx->use_private_key_file(o.keyfile, ssl::context::pem); });
  if (SSL_CTX_check_private_key(c) != 1)
    throw std::runtime_error(fmt::format("keyfile '{}' does not match certfile '{}' (key values mismatch): {}", o.keyfile, o.certfile,
                                         openssl_reason()));
  if (!o.cacertfile.empty()) {
    load("cacertfile", o.cacertfile, [&] { ctx->load_verify_file(o.cacertfile); });
    // Tell clients which CAs we accept (the CertificateRequest's certificate_authorities).
    if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.cacertfile.c_str()))
      SSL_CTX_set_client_CA_list(c, names);
    else
      ERR_clear_error();
  }
  if (o.verify_peer) {
    ssl::verify_mode mode = ssl::verify_peer | ssl::verify_client_once;
    if (o.fail_if_no_peer_cert) mode |= ssl::verify_fail_if_no_peer_cert;
    ctx->set_verify_mode(mode);
  } else {
    ctx->set_verify_mode(ssl::verify_none);
  }
  return ctx;
}

}  // namespace tidemq::net
