// The plan of a conn / pub / sub / pubsub run: which connections it opens, where they go and what
// each does. Each scenario makes its plan (scenario_conn/pub/sub/pubsub.cpp); the load engine
// (load_run.cpp) carries it out.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/asio/ip/address.hpp>

#include "options.hpp"

namespace tidemq::bench {

enum class Role : std::uint8_t { idle, pub, sub };

struct ConnSpec {
  Role role = Role::idle;
  std::uint32_t index = 0;  // within its role, 0-based
  std::string client_id;
  std::string topic;                 // publish topic, or subscription filter
  std::uint64_t limit = UINT64_MAX;  // publisher: messages to send
  std::uint64_t period_ns = 0;       // publisher: 0 = flat out
  std::uint64_t phase_ns = 0;        // publisher: offset of its first message
  std::uint32_t src = 0;             // index into the --src-ips addresses
  boost::asio::ip::address addr;     // the broker (node) this connection goes to
  std::uint16_t port = 0;
};

struct Plan {
  std::vector<ConnSpec> subs, pubs, idle;  // set up in this order: nothing published is missed
  // pubsub: subscribers that receive each message of a publisher (drain and window accounting).
  std::uint64_t receivers_per_pub = 1;
  // pubsub closed loop: messages a flat-out publisher may have on their way (0 = open loop).
  std::uint64_t window = 0;
  std::size_t size() const { return subs.size() + pubs.size() + idle.size(); }
};

// One side's brokers, resolved: --host/--port, or --sub-host/--sub-port.
struct BrokerSide {
  std::vector<boost::asio::ip::address> addrs;
  std::vector<std::uint16_t> ports;
};
struct Brokers {
  BrokerSide pub;  // publishers and idle connections
  BrokerSide sub;  // subscribers
};

// "<prefix>_<role><index>", role 'c' (conn), 'p' (publisher) or 's' (subscriber).
std::string client_id(const Options& o, char role, long index);

// Connection i (0-based) of a role: client id with index --start-index + i, host i % (number of
// hosts) and port i % (number of ports) of its side, source address `src` (round-robin).
ConnSpec conn_spec(const Options& o, Role role, int i, const BrokerSide& side, std::uint32_t src);

// The scenarios' plans.
Plan plan_conn(const Options& o, const Brokers& b);
Plan plan_pub(const Options& o, const Brokers& b);
Plan plan_sub(const Options& o, const Brokers& b);
Plan plan_pubsub(const Options& o, const Brokers& b);

// pub and pubsub: `count` publishers at the -r/-I rate (flat out without), -L split between them,
// each on its own topic or, with `same_topic`, all on the topic of the first.
std::vector<ConnSpec> plan_publishers(const Options& o, const Brokers& b, int count, bool same_topic);

}  // namespace tidemq::bench
