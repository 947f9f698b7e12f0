// Addresses of the scenarios: resolving --host lists, parsing --src-ips, and binding a socket to a
// source address with the port left to connect time.
#pragma once

#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace tidemq::bench {

// Appends the first address of each host to `out`; on failure prints why and returns false.
bool resolve_hosts(const std::vector<std::string>& hosts, std::vector<boost::asio::ip::address>& out);

// Appends the --src-ips addresses to `out`; on a bad one prints why and returns false.
bool parse_src_ips(const std::vector<std::string>& ips, std::vector<boost::asio::ip::address>& out);

// IP_BIND_ADDRESS_NO_PORT on a socket about to be bound to a source address: the port is chosen at
// connect time, per destination, so one source address serves more than ~28k connections.
void bind_address_no_port(int fd);

}  // namespace tidemq::bench
