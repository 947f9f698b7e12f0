// Command-line options of tidemq_bench, shared by every mode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace tidemq::bench {

enum class Mode { conn, pub, sub, pubsub, takeover };
enum class Layout { pairwise, fanin, fanout };

const char* mode_name(Mode m);
const char* layout_name(Layout l);

struct Options {
  Mode mode = Mode::conn;

  // Where and how to connect.
  std::string host = "127.0.0.1";  // the first of `hosts` (for the summary)
  std::uint16_t port = 1883;          // the first of `ports`
  // Publishers and idle connections: connection i goes to hosts[i % n] and ports[i % m].
  std::vector<std::string> hosts{"127.0.0.1"};
  std::vector<std::uint16_t> ports{1883};
  // Subscribers (default: hosts/ports): subscriber i goes to sub_hosts[i % n], sub_ports[i % m].
  // takeover: node A is hosts[0]:ports[0], node B sub_hosts[0]:sub_ports[0].
  std::vector<std::string> sub_hosts;
  std::vector<std::uint16_t> sub_ports;
  int version = 5;                 // 3 (= MQTT 3.1.1, protocol level 4) or 5
  std::uint16_t keepalive = 60;    // seconds, 0 = off
  std::string prefix = "tidemq_bench";
  std::optional<std::string> username;
  std::optional<std::string> password;
  std::vector<std::string> src_ips;  // bound round-robin (connection i uses src_ips[i % n])
  int threads = 1;

  // How many and how fast.
  int clients = 1;             // -c: connections (conn), publishers (pub), subscribers (sub)
  int start_index = 1;         // first value of %i
  double conn_rate = 1000;     // -R: connections started per second (0 = all at once)
  double connect_timeout = 10; // seconds from TCP connect to CONNACK (and SUBACK)

  // Messages.
  std::string topic = "bench/%i";
  std::string sub_topic;       // pubsub: overrides the subscribers' filter
  int qos = 0;
  std::size_t payload_size = 64;
  bool retain = false;
  double interval_ms = 0;      // -I: per publisher, 0 = not set
  double rate = 0;             // -r: total msg/s over all publishers, 0 = as fast as possible
  std::uint64_t limit = 0;     // -L: total messages (pub: sent, sub: received), 0 = none
  int inflight = 32;           // QoS 1/2 publish window per publisher

  // pubsub.
  Layout layout = Layout::pairwise;
  int pubs = -1;
  int subs = -1;
  int window = 64;             // flat-out publishers: messages sent but not yet received (0 = open loop)
  // Before the run: poll this admin URL (GET, e.g. http://admin:public@127.0.0.1:18081/api/v4/routes)
  // until every subscriber's filter appears in it as "topic":"<filter>".
  std::string wait_routes;
  double settle_ms = 0;        // then (or instead) wait this long before publishing

  // takeover.
  int rounds = 1000;
  bool takeover_offline = false;  // close the previous connection (DISCONNECT, wait for EOF) first

  // Time bounds and output.
  double duration = 10;        // measurement phase (seconds)
  std::optional<double> hold;  // conn: hold time after the connect phase (default: duration)
  double drain = 3;            // after publishing stops: wait at most this long for the rest
  double fail_threshold = 0.01;  // exit 1 when failed connections exceed this share
  std::string json_file;
  int watch_pid = 0;           // report this process's CPU and RSS (the broker's)
  bool quiet = false;          // no progress lines
};

// fleet: one MQTT 5 "device" population spread over several nodes, reconnecting like devices behind
// a load balancer (Server Reference first, else another node). Separate from Options: it shares no phases.
struct FleetNode {
  std::string host;
  std::uint16_t port = 1883;
  int count = 0;  // clients that start on this node
};

struct FleetOptions {
  std::vector<FleetNode> nodes;
  std::string prefix = "fleet";     // client ids are <prefix>_<node index>_<i>
  double conn_rate = 1000;          // initial connects per second (0 = all at once)
  double duration = 300;            // seconds, then disconnect everything and exit
  std::uint32_t session_expiry = 3600;  // seconds; with clean_start = false the session survives evictions
  std::uint16_t keepalive = 60;     // seconds; a PINGREQ goes out after keepalive/2 of silence
  int delay_min_ms = 0;             // reconnect delay, uniform in [min, max]
  int delay_max_ms = 200;
  double connect_timeout = 10;      // seconds from TCP connect start to CONNACK
  double report_interval = 1;       // seconds between JSON status lines
  std::uint64_t seed = 0;           // 0 = random
  std::vector<std::string> src_ips;  // bound round-robin by client index
};

}  // namespace tidemq::bench
