// Accepts MQTT-over-TLS, WebSocket and WebSocket-over-TLS connections on the control context and
// hands each socket to the next data io_context, like net::Listener does for plain TCP.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/broker.hpp"
#include "net/connection_tracker.hpp"
#include "net/tls_context.hpp"
#include "runtime/io_pool.hpp"

namespace tidemq::net {

struct StreamEnv;

class StreamListener {
 public:
  enum class Kind { ssl, ws, wss };
  struct Options {
    Kind kind = Kind::ssl;
    std::string name;                    // listeners.<kind>.<name>
    std::string ws_path = "/mqtt";       // ws / wss
    TlsOptions tls;                      // ssl / wss
    std::chrono::seconds connect_timeout{15};
  };

  StreamListener(Options options, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker);
  ~StreamListener();

  // Loads the TLS files (std::runtime_error naming the file), then binds and listens
  // (boost::system::system_error when the address is unavailable).
  void open(const std::string& host, std::uint16_t port);
  void start();
  void stop();
  boost::asio::ip::tcp::endpoint local_endpoint() const { return acceptor_.local_endpoint(); }
  const std::string& label() const { return label_; }  // "ssl.default"
  // "127.0.0.1:8883", "127.0.0.1:8083 path /mqtt" — for the startup log line.
  std::string describe_endpoint() const;

 private:
  void accept();

  Options options_;
  std::string label_;
  runtime::IoPool& pool_;
  core::Broker& broker_;
  ConnectionTracker& tracker_;
  std::shared_ptr<const StreamEnv> env_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer retry_;
  bool stopped_ = false;
};

}  // namespace tidemq::net
