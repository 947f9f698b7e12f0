#include "net/stream_listener.hpp"

#include <boost/asio/ssl/context.hpp>

#include "net/stream_env.hpp"

namespace tidemq::net {

namespace asio = boost::asio;
using asio::ip::tcp;

namespace {
const char* kind_name(StreamListener::Kind k) {
  switch (k) {
    case StreamListener::Kind::ssl: return "ssl";
    case StreamListener::Kind::ws: return "ws";
    case StreamListener::Kind::wss: return "wss";
  }
  return "?";
}
}  // namespace

StreamListener::StreamListener(Options options, runtime::IoPool& pool, core::Broker& broker, ConnectionTracker& tracker)
    : options_(std::move(options)),
      broker_(broker),
      tracker_(tracker),
      loop_(pool, std::string(kind_name(options_.kind)) + "." + options_.name, options_.limits,
            [this](tcp::socket socket, ListenerSlot slot) { spawn(std::move(socket), std::move(slot)); }) {}

StreamListener::~StreamListener() = default;

void StreamListener::open(const std::string& host, std::uint16_t port) {
  std::shared_ptr<asio::ssl::context> tls;
  if (options_.kind != Kind::ws) tls = make_server_tls_context(options_.tls);
  env_ = std::make_shared<const StreamEnv>(
      StreamEnv{broker_, tracker_, options_.connect_timeout, label(), options_.ws_path, std::move(tls)});
  loop_.open(host, port);
}

std::string StreamListener::describe_endpoint() const {
  auto ep = loop_.local_endpoint();
  std::string s = ep.port() == 0 ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  if (options_.kind != Kind::ssl) s += " path " + options_.ws_path;
  if (options_.kind != Kind::ws && options_.tls.verify_peer)
    s += options_.tls.fail_if_no_peer_cert ? " (client certificate required)" : " (client certificate verified if sent)";
  return s;
}

void StreamListener::spawn(tcp::socket socket, ListenerSlot slot) {
  switch (options_.kind) {
    case Kind::ssl: spawn_tls_connection(std::move(socket), env_, std::move(slot)); break;
    case Kind::ws: spawn_ws_connection(std::move(socket), env_, std::move(slot)); break;
    case Kind::wss: spawn_wss_connection(std::move(socket), env_, std::move(slot)); break;
  }
}

}  // namespace tidemq::net
