#include "admin/http_server.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include "admin/http_message.hpp"

namespace tidemq::admin {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

}  // namespace

struct HttpServer::Impl {
  asio::io_context& ctx;
  const Router& router;
  AdminAuth& auth;
  HttpServerOptions options;
  tcp::acceptor acceptor;
  std::unique_ptr<asio::ssl::context> tls;
  bool stopped = false;
  std::size_t open_connections = 0;     // control thread only
  std::uint64_t refused_connections = 0;
  std::optional<std::chrono::steady_clock::time_point> last_refusal_log;

  Impl(asio::io_context& c, const Router& r, AdminAuth& a, HttpServerOptions o)
      : ctx(c), router(r), auth(a), options(std::move(o)), acceptor(c) {}

  template <class Stream>
  asio::awaitable<void> serve(Stream& stream, std::string peer_ip) {
    beast::flat_buffer buffer;
    for (;;) {
      http::request_parser<http::string_body> parser;
      parser.body_limit(options.body_limit);
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      auto [ec, n] = co_await http::async_read(stream, buffer, parser, use_tuple);
      if (ec == http::error::end_of_stream || ec == beast::error::timeout || ec == asio::error::eof) co_return;
      if (ec) {
        // Oversized bodies get 413, anything else unparsable 400; then the connection closes.
        auto res = to_beast(unreadable_request(ec), 11, false);
        co_await http::async_write(stream, res, use_tuple);
        co_return;
      }
      auto& req = parser.get();
      HttpRequest request = to_request(req, peer_ip);
      HttpResponse handled;
      const Router::Route* async_route = nullptr;
      Params params;
      if (!dispatch_in(request, handled, async_route, params)) handled = co_await call_async(*async_route, request, params);
      auto res = to_beast(handled, req.version(), req.keep_alive());
      auto [wec, wn] = co_await http::async_write(stream, res, use_tuple);
      if (wec || !res.keep_alive()) co_return;
    }
  }

  // Takes a connection counted at accept off open_connections when its coroutine ends.
  struct Counted {
    explicit Counted(std::size_t& n) : count(n) {}
    ~Counted() { --count; }
    Counted(const Counted&) = delete;
    Counted& operator=(const Counted&) = delete;
    std::size_t& count;
  };

  // Over max_connections: a short 503 (plain HTTP only: a TLS handshake would cost what the limit
  // saves), then close. Bounded by a 2 s deadline so that refused sockets do not pile up.
  asio::awaitable<void> refuse(tcp::socket socket) {
    ++refused_connections;
    const auto now = std::chrono::steady_clock::now();
    if (!last_refusal_log || now - *last_refusal_log >= std::chrono::seconds(10)) {
      last_refusal_log = now;
      spdlog::warn("admin: {} connections open (management.max_connections): refusing new ones", open_connections);
    }
    beast::tcp_stream stream(std::move(socket));
    if (!tls) {
      stream.expires_after(std::chrono::seconds(2));
      auto res = to_beast(v4_error(503, "too many admin connections; try again later"), 11, false);
      res.set(http::field::retry_after, "1");
      co_await http::async_write(stream, res, use_tuple);
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_send, ec);
  }

  asio::awaitable<void> session(tcp::socket socket) {
    Counted counted(open_connections);
    beast::error_code ec;
    std::string peer_ip = socket.remote_endpoint(ec).address().to_string();
    if (tls) {
      beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *tls);
      beast::get_lowest_layer(stream).expires_after(options.read_timeout);
      auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, use_tuple);
      if (hec) co_return;
      co_await serve(stream, peer_ip);
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(2));
      co_await stream.async_shutdown(use_tuple);
    } else {
      beast::tcp_stream stream(std::move(socket));
      co_await serve(stream, peer_ip);
      stream.socket().shutdown(tcp::socket::shutdown_send, ec);
    }
  }

  asio::awaitable<void> accept_loop() {
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (stopped) co_return;
      if (ec) {
        spdlog::warn("admin: accept failed: {}", ec.message());
        asio::steady_timer t(ctx, std::chrono::milliseconds(100));
        co_await t.async_wait(use_tuple);
        continue;
      }
      if (open_connections >= options.max_connections) {
        asio::co_spawn(ctx, refuse(std::move(socket)), asio::detached);
        continue;
      }
      ++open_connections;
      asio::co_spawn(ctx, session(std::move(socket)), [](std::exception_ptr e) {
        if (!e) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          spdlog::error("admin: session failed: {}", ex.what());
        }
      });
    }
  }

  // Waits for an async handler's reply on this server's context (504 if it never comes).
  asio::awaitable<HttpResponse> call_async(const Router::Route& route, const HttpRequest& req, const Params& params) {
    struct Pending {
      explicit Pending(asio::io_context& c) : timer(c) {}
      asio::steady_timer timer;
      std::optional<HttpResponse> response;
    };
    auto pending = std::make_shared<Pending>(ctx);
    pending->timer.expires_after(options.reply_timeout);
    try {
      route.async_handler(req, params, [pending, &c = ctx](HttpResponse r) {
        asio::post(c, [pending, r = std::move(r)]() mutable {
          if (pending->response) return;
          pending->response = std::move(r);
          pending->timer.cancel();
        });
      });
    } catch (const std::exception& e) {
      spdlog::error("admin: {} {} failed: {}", req.method, req.path, e.what());
      co_return v4_error(500, "internal error");
    }
    co_await pending->timer.async_wait(use_tuple);
    if (!pending->response) pending->response = v4_error(504, "no answer from the cluster in time");
    co_return std::move(*pending->response);
  }

  // Answers a request in `out`; returns false when its route is asynchronous (see call_async).
  bool dispatch_in(const HttpRequest& req, HttpResponse& out, const Router::Route*& async_route, Params& params) const {
    auto m = router.match(req.method, req.path);
    if (m.route && m.route->async_handler) {
      if (!m.route->is_public && !authorized(req, out)) return true;
      async_route = m.route;
      params = std::move(m.params);
      return false;
    }
    out = dispatch_sync(req, m);
    return true;
  }

  bool authorized(const HttpRequest& req, HttpResponse& out) const {
    switch (auth.check(req.authorization, req.peer_ip)) {
      case AdminAuth::Verdict::ok: return true;
      case AdminAuth::Verdict::rate_limited:
        out = v4_error(429, "too many failed logins for this user from this address; try again later");
        out.headers.emplace_back("Retry-After", "1");
        return false;
      case AdminAuth::Verdict::missing:
      case AdminAuth::Verdict::wrong:
        out = v4_error(401, "authentication required");
        out.headers.emplace_back("WWW-Authenticate", "Basic realm=\"tidemq\"");
        return false;
    }
    return false;
  }

  HttpResponse dispatch_sync(const HttpRequest& req, Router::Match& m) const {
    if (!m.route) return m.path_known ? v4_error(405, "method not allowed") : v4_error(404, "not found");
    HttpResponse denied;
    if (!m.route->is_public && !authorized(req, denied)) return denied;
    try {
      return m.route->handler(req, m.params);
    } catch (const nlohmann::json::exception& e) {
      return v4_error(400, std::string("invalid JSON: ") + e.what());
    } catch (const std::exception& e) {
      spdlog::error("admin: {} {} failed: {}", req.method, req.path, e.what());
      return v4_error(500, "internal error");
    }
  }
};

HttpServer::HttpServer(asio::io_context& ctx, const Router& router, AdminAuth& auth, HttpServerOptions options)
    : impl_(std::make_unique<Impl>(ctx, router, auth, std::move(options))) {}
HttpServer::~HttpServer() = default;

void HttpServer::open(const std::string& host, std::uint16_t port) {
  if (!impl_->options.certfile.empty()) {
    impl_->tls = std::make_unique<asio::ssl::context>(asio::ssl::context::tls_server);
    impl_->tls->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                            asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1);
    impl_->tls->use_certificate_chain_file(impl_->options.certfile);
    impl_->tls->use_private_key_file(impl_->options.keyfile, asio::ssl::context::pem);
  }
  tcp::endpoint ep(asio::ip::make_address(host), port);
  auto& a = impl_->acceptor;
  a.open(ep.protocol());
  a.set_option(tcp::acceptor::reuse_address(true));
  a.bind(ep);
  a.listen();
}

void HttpServer::start() {
  asio::co_spawn(impl_->ctx, impl_->accept_loop(), [](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::error("admin: listener stopped: {}", ex.what());
    }
  });
}

void HttpServer::stop() {
  impl_->stopped = true;
  boost::system::error_code ec;
  impl_->acceptor.close(ec);
}

std::uint16_t HttpServer::port() const { return impl_->acceptor.local_endpoint().port(); }
std::size_t HttpServer::open_connections() const { return impl_->open_connections; }
std::uint64_t HttpServer::refused_connections() const { return impl_->refused_connections; }

HttpResponse HttpServer::dispatch(const HttpRequest& req) const {
  HttpResponse out;
  const Router::Route* async_route = nullptr;
  Params params;
  if (!impl_->dispatch_in(req, out, async_route, params)) return v4_error(500, "asynchronous route: serve it over HTTP");
  return out;
}

}  // namespace tidemq::admin
