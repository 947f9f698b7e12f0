// An MQTT-over-TLS, WebSocket or WebSocket-over-TLS listener: its accept loop
// (net/accept_loop.hpp) hands each admitted socket to the next data io_context, like net::Listener
// does for plain TCP.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/broker.hpp"
#include "net/accept_loop.hpp"
#include "net/connection_tracker.hpp"
#include "net/tls_context.hpp"

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
    ListenerLimits limits;
  };

  StreamListener(Options options, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker);
  ~StreamListener();

  // Loads the TLS files (std::runtime_error naming the file), then binds and listens
  // (boost::system::system_error when the address is unavailable).
  void open(const std::string& host, std::uint16_t port);
  void start() { loop_.start(); }
  void stop() { loop_.stop(); }
  boost::asio::ip::tcp::endpoint local_endpoint() const { return loop_.local_endpoint(); }
  const std::string& label() const { return loop_.label(); }  // "ssl.default"
  const std::shared_ptr<ListenerLoad>& load() const { return loop_.load(); }
  // "127.0.0.1:8883", "127.0.0.1:8083 path /mqtt" — for the startup log line.
  std::string describe_endpoint() const;

 private:
  void spawn(boost::asio::ip::tcp::socket socket, ListenerSlot slot);

  Options options_;
  core::Broker& broker_;
  ConnectionTracker& tracker_;
  std::shared_ptr<const StreamEnv> env_;
  AcceptLoop loop_;
};

}  // namespace tidemq::net
