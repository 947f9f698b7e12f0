// The byte stream under a cluster link: plain TCP or TLS (mutual, against the cluster CA). Type
// erased so that the handshake and the link code are written once.
#pragma once

#include <memory>
#include <string>
#include <utility>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace boost::asio::ssl {
class context;
}

namespace tidemq::cluster {

class LinkStream {
 public:
  virtual ~LinkStream() = default;
  virtual boost::asio::awaitable<std::pair<boost::system::error_code, std::size_t>> read_some(boost::asio::mutable_buffer b) = 0;
  virtual boost::asio::awaitable<boost::system::error_code> write_all(boost::asio::const_buffer b) = 0;
  virtual void close() = 0;  // cancels pending operations
  virtual boost::asio::any_io_executor executor() = 0;
};

std::unique_ptr<LinkStream> plain_stream(boost::asio::ip::tcp::socket socket);
// Runs the TLS handshake (server side when `accepting`); null and `error` on failure.
boost::asio::awaitable<std::unique_ptr<LinkStream>> tls_stream(boost::asio::ip::tcp::socket socket,
                                                               boost::asio::ssl::context& tls, bool accepting,
                                                               std::string& error);

struct LinkTlsFiles {
  std::string certfile;
  std::string keyfile;
  std::string cacertfile;
};
// A context for both ends of a link: this node's certificate, and peers must present one signed
// by the cluster CA. Throws std::runtime_error naming the file that cannot be used.
std::shared_ptr<boost::asio::ssl::context> make_link_tls_context(const LinkTlsFiles& files);

}  // namespace tidemq::cluster
