#include "cluster/link_stream.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <fmt/format.h>
#include <openssl/ssl.h>

namespace tidemq::cluster {

namespace asio = boost::asio;
namespace ssl = asio::ssl;
using asio::ip::tcp;
using boost::system::error_code;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

class PlainStream final : public LinkStream {
 public:
  explicit PlainStream(tcp::socket s) : socket_(std::move(s)) {}
  asio::awaitable<std::pair<error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    auto [ec, n] = co_await socket_.async_read_some(b, use_tuple);
    co_return std::pair{ec, n};
  }
  asio::awaitable<error_code> write_all(asio::const_buffer b) override {
    auto [ec, n] = co_await asio::async_write(socket_, b, use_tuple);
    co_return ec;
  }
  void close() override {
    error_code ec;
    socket_.shutdown(tcp::socket::shutdown_both, ec);
    socket_.close(ec);
  }
  asio::any_io_executor executor() override { return socket_.get_executor(); }

 private:
  tcp::socket socket_;
};

class TlsStream final : public LinkStream {
 public:
  TlsStream(tcp::socket s, ssl::context& ctx) : stream_(std::move(s), ctx) {}
  ssl::stream<tcp::socket>& stream() { return stream_; }
  asio::awaitable<std::pair<error_code, std::size_t>> read_some(asio::mutable_buffer b) override {
    auto [ec, n] = co_await stream_.async_read_some(b, use_tuple);
    co_return std::pair{ec, n};
  }
  asio::awaitable<error_code> write_all(asio::const_buffer b) override {
    auto [ec, n] = co_await asio::async_write(stream_, b, use_tuple);
    co_return ec;
  }
  void close() override {
    error_code ec;
    stream_.lowest_layer().shutdown(tcp::socket::shutdown_both, ec);
    stream_.lowest_layer().close(ec);
  }
  asio::any_io_executor executor() override { return stream_.get_executor(); }

 private:
  ssl::stream<tcp::socket> stream_;
};

}  // namespace

namespace {
// Control messages are small request/reply pairs: Nagle plus delayed ACKs would add 40 ms to each.
void no_delay(tcp::socket& s) {
  error_code ec;
  s.set_option(tcp::no_delay(true), ec);
}
}  // namespace

std::unique_ptr<LinkStream> plain_stream(tcp::socket socket) {
  no_delay(socket);
  return std::make_unique<PlainStream>(std::move(socket));
}

asio::awaitable<std::unique_ptr<LinkStream>> tls_stream(tcp::socket socket, ssl::context& tls, bool accepting,
                                                        std::string& error) {
  no_delay(socket);
  auto s = std::make_unique<TlsStream>(std::move(socket), tls);
  asio::steady_timer deadline(s->executor(), std::chrono::seconds(5));
  TlsStream* raw = s.get();
  deadline.async_wait([raw](const error_code& ec) {
    if (!ec) raw->close();
  });
  auto [ec] = co_await s->stream().async_handshake(accepting ? ssl::stream_base::server : ssl::stream_base::client, use_tuple);
  deadline.cancel();
  if (ec) {
    error = "TLS handshake failed: " + ec.message();
    co_return nullptr;
  }
  co_return std::unique_ptr<LinkStream>(std::move(s));
}

std::shared_ptr<ssl::context> make_link_tls_context(const LinkTlsFiles& f) {
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::no_compression);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  auto load = [](const char* what, const std::string& file, auto&& fn) {
    try {
      fn();
    } catch (const boost::system::system_error& e) {
      throw std::runtime_error(fmt::format("cluster.tls.{}: cannot load '{}': {}", what, file, e.code().message()));
    }
  };
  load("certfile", f.certfile, [&] { ctx->use_certificate_chain_file(f.certfile); });
  load("keyfile", f.keyfile, [&] { ctx->use_private_key_file(f.keyfile, ssl::context::pem); });
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1)
    throw std::runtime_error(fmt::format("cluster.tls.keyfile '{}' does not match cluster.tls.certfile '{}'", f.keyfile, f.certfile));
  load("cacertfile", f.cacertfile, [&] { ctx->load_verify_file(f.cacertfile); });
  // Both ends verify each other against the cluster CA; the cookie check follows inside TLS.
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

}  // namespace tidemq::cluster
