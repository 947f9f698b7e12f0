// The one translation unit with Boost.Beast: a synchronous HTTP/1.1 exchange (one connection per
// request). Each step runs as an asynchronous operation on a private io_context so that it can
// time out (Beast's sync calls cannot); the caller just blocks.
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/core/detail/base64.hpp>
#include <boost/beast/http.hpp>
#include <fmt/format.h>

#include "http_client.hpp"

namespace tidemq::ctl {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

std::string basic_auth(const std::string& user, const std::string& password) {
  namespace b64 = beast::detail::base64;
  std::string plain = user + ":" + password;
  std::string out(b64::encoded_size(plain.size()), '\0');
  out.resize(b64::encode(out.data(), plain.data(), plain.size()));
  return "Basic " + out;
}

std::string describe(const beast::error_code& ec, std::chrono::milliseconds timeout) {
  if (ec == beast::error::timeout)
    return fmt::format("no answer within {:.1f} s", std::chrono::duration<double>(timeout).count());
  return ec.message();
}

}  // namespace

std::string Target::url() const {
  bool v6 = host.find(':') != std::string::npos;
  return fmt::format("http://{}{}{}:{}{}", v6 ? "[" : "", host, v6 ? "]" : "", port, base_path);
}

HttpResult http_request(const Target& target, const std::string& method, const std::string& path_and_query,
                        const std::optional<std::string>& json_body, std::chrono::milliseconds timeout,
                        const std::string& user_agent) {
  asio::io_context ioc;
  beast::tcp_stream stream(ioc);
  auto fail = [&](const char* what, const beast::error_code& ec) {
    const std::string reason = describe(ec, timeout);
    return HttpFailure(fmt::format("{} {}: {}", what, target.url(), reason), reason);
  };
  // Runs one asynchronous step to completion; returns its error.
  auto step = [&](auto start) {
    beast::error_code result = asio::error::would_block;
    start([&](beast::error_code ec, auto&&...) { result = ec; });
    ioc.restart();
    ioc.run();
    return result;
  };

  tcp::resolver resolver(ioc);
  beast::error_code ec;
  auto endpoints = resolver.resolve(target.host, std::to_string(target.port), ec);
  if (ec) throw fail("cannot reach", ec);

  stream.expires_after(timeout);
  ec = step([&](auto h) { stream.async_connect(endpoints, std::move(h)); });
  if (ec) throw fail("cannot reach", ec);

  http::request<http::string_body> req;
  req.method_string(method);
  req.target(target.base_path + path_and_query);
  req.version(11);
  const bool v6 = target.host.find(':') != std::string::npos;
  req.set(http::field::host, fmt::format("{}{}{}:{}", v6 ? "[" : "", target.host, v6 ? "]" : "", target.port));
  req.set(http::field::user_agent, user_agent);
  if (target.authenticate) req.set(http::field::authorization, basic_auth(target.user, target.password));
  req.set(http::field::accept, "application/json");
  req.keep_alive(false);
  if (json_body) {
    req.set(http::field::content_type, "application/json");
    req.body() = *json_body;
  }
  req.prepare_payload();

  stream.expires_after(timeout);
  ec = step([&](auto h) { http::async_write(stream, req, std::move(h)); });
  if (ec) throw fail("cannot talk to", ec);

  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  stream.expires_after(timeout);
  ec = step([&](auto h) { http::async_read(stream, buffer, parser, std::move(h)); });
  if (ec) throw fail("no valid answer from", ec);

  beast::error_code ignored;
  stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
  return HttpResult{static_cast<int>(parser.get().result_int()), std::move(parser.get().body())};
}

}  // namespace tidemq::ctl
