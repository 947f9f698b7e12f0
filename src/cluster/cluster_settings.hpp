// What a node needs to know to cluster: who it is, where it listens, the shared cookie, whom to
// contact first, and the timing knobs. Parsed from the cluster.* config keys.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tidemq::cluster {

constexpr std::uint16_t kDefaultClusterPort = 4370;
constexpr std::string_view kDefaultCookie = "tidemqsecretcookie";

// "name@host[:port]" — `name` is the whole node name ("tidemq2@127.0.0.2"), host and port are
// where its cluster listener is reached (port defaults to 4370; IPv6 hosts go in brackets).
struct NodeAddress {
  std::string name;
  std::string host;
  std::uint16_t port = kDefaultClusterPort;
  bool operator==(const NodeAddress&) const = default;
  std::string to_string() const;  // "name@host:port" (brackets around an IPv6 host)
};
std::optional<NodeAddress> parse_node_address(std::string_view text);

// "250ms", "2s", "1m" or a bare number of seconds.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

struct ClusterSettings {
  bool enabled = false;              // false: default cookie without allow_default_cookie
  std::string node_name;             // "tidemq1@127.0.0.1"
  std::string bind_host;
  std::uint16_t bind_port = kDefaultClusterPort;
  std::string cookie;
  std::vector<NodeAddress> seeds;
  std::chrono::milliseconds heartbeat_interval{1000};
  unsigned down_after = 3;           // missed heartbeats before a peer is declared down
  std::chrono::milliseconds rpc_timeout{5000};
  bool tls = false;                  // links over mutual TLS (cluster.tls.*)
  std::string tls_certfile, tls_keyfile, tls_cacertfile;
  std::string data_dir;              // for the persisted member list
  std::vector<std::string> mqtt_endpoints;  // "host:port" of this node's MQTT TCP listeners
};

}  // namespace tidemq::cluster
