// The admin HTTP server (Boost.Beast) on the control io_context: keep-alive, a read timeout,
// a body-size limit, Basic auth on every non-public route, JSON errors. Routes come from Router.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "admin/admin_auth.hpp"
#include "admin/router.hpp"

namespace tidemq::admin {

struct HttpServerOptions {
  std::size_t body_limit = 1048576;
  std::chrono::milliseconds read_timeout{30000};   // a whole request, and an idle keep-alive connection
  std::chrono::milliseconds reply_timeout{15000};  // an asynchronous route's answer (then 504)
  std::size_t max_connections = 128;               // beyond it: 503 and close
  std::string certfile;  // both set: HTTPS
  std::string keyfile;
};

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& ctx, const Router& router, AdminAuth& auth, HttpServerOptions options);
  ~HttpServer();

  // Throws boost::system::system_error when the address is unavailable, std::runtime_error on TLS setup.
  void open(const std::string& host, std::uint16_t port);
  void start();
  void stop();
  std::uint16_t port() const;
  std::size_t open_connections() const;
  std::uint64_t refused_connections() const;  // turned away at max_connections

  // Runs one request through auth and the router (also used by tests).
  HttpResponse dispatch(const HttpRequest& req) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemq::admin
