#include "net/stream_listener.hpp"

#include <boost/asio/ssl/context.hpp>
#include <spdlog/spdlog.h>

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
      label_(std::string(kind_name(options_.kind)) + "." + options_.name),
      pool_(pool),
      broker_(broker),
      tracker_(tracker),
      acceptor_(pool.control()),
      retry_(pool.control()) {}

StreamListener::~StreamListener() = default;

void StreamListener::open(const std::string& host, std::uint16_t port) {
  std::shared_ptr<asio::ssl::context> tls;
  if (options_.kind != Kind::ws) tls = make_server_tls_context(options_.tls);
  env_ = std::make_shared<const StreamEnv>(
      StreamEnv{broker_, tracker_, options_.connect_timeout, label_, options_.ws_path, std::move(tls)});
  tcp::endpoint ep(asio::ip::make_address(host), port);
  acceptor_.open(ep.protocol());
  acceptor_.set_option(tcp::acceptor::reuse_address(true));
  acceptor_.bind(ep);
  acceptor_.listen(asio::socket_base::max_listen_connections);
}

std::string StreamListener::describe_endpoint() const {
  boost::system::error_code ec;
  auto ep = acceptor_.local_endpoint(ec);
  std::string s = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  if (options_.kind != Kind::ssl) s += " path " + options_.ws_path;
  if (options_.kind != Kind::ws && options_.tls.verify_peer)
    s += options_.tls.fail_if_no_peer_cert ? " (client certificate required)" : " (client certificate verified if sent)";
  return s;
}

void StreamListener::start() { accept(); }

void StreamListener::stop() {
  stopped_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  retry_.cancel();
}

void StreamListener::accept() {
  if (stopped_) return;
  acceptor_.async_accept(pool_.next_data(), [this](const boost::system::error_code& ec, tcp::socket socket) {
    if (stopped_) return;
    if (ec) {
      // Out of file descriptors and the like: back off instead of spinning.
      spdlog::warn("listener {}: accept failed: {}", label_, ec.message());
      retry_.expires_after(std::chrono::milliseconds(100));
      retry_.async_wait([this](const boost::system::error_code& e) {
        if (!e) accept();
      });
      return;
    }
    switch (options_.kind) {
      case Kind::ssl: spawn_tls_connection(std::move(socket), env_); break;
      case Kind::ws: spawn_ws_connection(std::move(socket), env_); break;
      case Kind::wss: spawn_wss_connection(std::move(socket), env_); break;
    }
    accept();
  });
}

}  // namespace tidemq::net
