// Host resolution, --src-ips parsing and IP_BIND_ADDRESS_NO_PORT.
#include "addresses.hpp"

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdio>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

namespace tidemq::bench {

namespace asio = boost::asio;

bool resolve_hosts(const std::vector<std::string>& hosts, std::vector<asio::ip::address>& out) {
  asio::io_context ioc;
  asio::ip::tcp::resolver r(ioc);
  for (const auto& h : hosts) {
    boost::system::error_code ec;
    auto results = r.resolve(h, "0", ec);
    if (ec || results.empty()) {
      fmt::print(stderr, "tidemq_bench: cannot resolve {}: {}\n", h, ec.message());
      return false;
    }
    out.push_back(results.begin()->endpoint().address());
  }
  return true;
}

bool parse_src_ips(const std::vector<std::string>& ips, std::vector<asio::ip::address>& out) {
  for (const auto& s : ips) {
    boost::system::error_code ec;
    auto a = asio::ip::make_address(s, ec);
    if (ec) {
      fmt::print(stderr, "tidemq_bench: bad --src-ips address '{}'\n", s);
      return false;
    }
    out.push_back(a);
  }
  return true;
}

void bind_address_no_port(int fd) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
}

}  // namespace tidemq::bench
