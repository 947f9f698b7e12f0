// tidemq_bench — an MQTT 3.1.1 / 5.0 load generator for any broker (like emqtt_bench).
//
//   tidemq_bench conn   -c 10000 -R 2000 --hold 30
//   tidemq_bench pub    -c 100 -t 'bench/%i' -q 1 -s 64 -r 20000 --duration 15
//   tidemq_bench sub    -c 100 -t 'bench/%i' -q 1
//   tidemq_bench pubsub --layout pairwise --pubs 100 --subs 100 -s 64 --duration 15
//   tidemq_bench pubsub -c 100 -h 127.0.0.1 -p 1883 --sub-host 127.0.0.2 --sub-port 1884   # across nodes
//   tidemq_bench takeover -h 127.0.0.1 -p 1883 --sub-host 127.0.0.2 --sub-port 1884 -c 1000
//   tidemq_bench fleet --nodes 127.0.0.1:1883=10000,127.0.0.2:1884=10000,127.0.0.3:1885=0 --duration 300
//
// Exit code: 0 ok, 1 errors (failed/dropped connections past --fail-threshold, or none at all), 2 usage.

#include <sys/resource.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <stdexcept>
#include <fmt/format.h>

#include "bench.hpp"
#include "scenario_fleet.hpp"
#include "options.hpp"
#include "payload.hpp"

using namespace tidemq::bench;

namespace {

void on_signal(int) {
  if (g_interrupted.exchange(true)) _exit(130);  // second Ctrl-C: leave at once
}

// Raises the soft RLIMIT_NOFILE to the hard limit; returns the resulting soft limit.
rlim_t raise_nofile() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 0;
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
  }
  return rl.rlim_cur;
}

struct Targets {
  std::string hosts = "127.0.0.1";
  std::vector<std::uint16_t> ports{1883};
  std::string sub_hosts;
  std::vector<std::uint16_t> sub_ports;
};

std::vector<std::string> split_commas(const std::string& s) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = s.find(',', start);
    std::string item = s.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(std::move(item));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

void add_common(CLI::App* app, Options& o, std::string& version_str, Targets& tg) {
  app->set_help_flag("--help", "Print this help and exit");
  app->add_option("-h,--host", tg.hosts,
                  "Broker host, or comma-separated hosts: publisher (connection) i uses entry i % n")
      ->capture_default_str();
  app->add_option("-p,--port", tg.ports, "Broker port, or comma-separated ports (entry i % n)")
      ->delimiter(',')
      ->capture_default_str();
  app->add_option("--sub-host", tg.sub_hosts,
                  "Subscribers' host(s), comma-separated: subscriber i uses entry i % n (default: --host). "
                  "takeover: node B");
  app->add_option("--sub-port", tg.sub_ports, "Subscribers' port(s), comma-separated (default: --port)")
      ->delimiter(',');
  app->add_option("-V,--version", version_str, "MQTT protocol version: 3 (3.1.1) or 5")
      ->check(CLI::IsMember({"3", "4", "5", "3.1.1", "5.0"}))
      ->capture_default_str();
  app->add_option("-k,--keepalive", o.keepalive, "Keep alive in seconds (0 = off)")->capture_default_str();
  app->add_option("--prefix", o.prefix, "Client id prefix (client ids are <prefix>_<c|p|s><index>)")
      ->capture_default_str();
  app->add_option("-u,--username", o.username, "User name");
  app->add_option("-P,--password", o.password, "Password");
  app->add_option("--threads", o.threads, "I/O threads, one io_context each; connections are pinned")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  app->add_option("--src-ips", o.src_ips,
                  "Comma-separated local addresses bound round-robin (e.g. 127.0.0.1,127.0.0.2: "
                  "~28k connections per source address to one broker port)")
      ->delimiter(',');
  app->add_option("-R,--conn-rate", o.conn_rate, "Connections started per second (0 = all at once)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--connect-timeout", o.connect_timeout, "Seconds from TCP connect to CONNACK/SUBACK")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app->add_option("-n,--start-index", o.start_index, "First value of %i")->capture_default_str();
  app->add_option("--duration", o.duration,
                  "Seconds of the measurement phase (after connecting; conn: the hold time unless --hold)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app->add_option("--drain", o.drain, "Seconds to wait for in-flight messages after publishing stops")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app->add_option("--fail-threshold", o.fail_threshold,
                  "Exit 1 when failed + dropped connections exceed this share of all")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  app->add_option("--json", o.json_file, "Write the final summary as JSON to this file");
  app->add_flag("--quiet", o.quiet, "No progress lines");
  app->add_option("--watch-pid", o.watch_pid,
                  "Also report this process's CPU use during the measurement and its RSS before/after "
                  "connecting (the broker's pid, from /proc)");
}

void add_messages(CLI::App* app, Options& o, bool publishes) {
  app->add_option("-t,--topic", o.topic, "Topic (pattern): %i = index, %c = client id")->capture_default_str();
  app->add_option("-q,--qos", o.qos, "QoS")->check(CLI::Range(0, 2))->capture_default_str();
  if (!publishes) return;
  app->add_option("-s,--size", o.payload_size,
                  fmt::format("Payload bytes (>= {} to carry the timestamp used for latency)", kStampSize))
      ->check(CLI::Range(0, 256 * 1024 * 1024))
      ->capture_default_str();
  auto* interval = app->add_option("-I,--interval", o.interval_ms, "Milliseconds between messages of each publisher")
                       ->check(CLI::PositiveNumber);
  app->add_option("-r,--rate", o.rate, "Total messages per second over all publishers (default: as fast as possible)")
      ->check(CLI::NonNegativeNumber)
      ->excludes(interval);
  app->add_option("-L,--limit", o.limit, "Total messages to publish, then stop (0 = no limit)");
  app->add_option("--inflight", o.inflight, "QoS 1/2 window per publisher (capped by the broker's Receive Maximum)")
      ->check(CLI::Range(1, 65535))
      ->capture_default_str();
  app->add_flag("--retain", o.retain, "Publish with the retain flag");
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string version_str = "5";
  std::string layout_str = "pairwise";
  int clients = -1;
  Targets tg;

  CLI::App app{"tidemq_bench: MQTT 3.1.1/5.0 load generator (conn, pub, sub, pubsub, takeover, fleet)", "tidemq_bench"};
  app.set_help_flag("--help", "Print this help and exit");
  app.require_subcommand(1, 1);

  auto* conn = app.add_subcommand("conn", "Open -c connections at -R conn/s and hold them");
  add_common(conn, o, version_str, tg);
  conn->add_option("-c,--count", clients, "Connections")->check(CLI::Range(1, 10'000'000));
  conn->add_option("--hold", o.hold, "Seconds to hold the connections after the connect phase (default: --duration)")
      ->check(CLI::PositiveNumber);

  auto* pub = app.add_subcommand("pub", "Publish from -c clients");
  add_common(pub, o, version_str, tg);
  add_messages(pub, o, true);
  pub->add_option("-c,--count", clients, "Publishers")->check(CLI::Range(1, 10'000'000));

  auto* sub = app.add_subcommand("sub", "Subscribe with -c clients and count what arrives");
  add_common(sub, o, version_str, tg);
  add_messages(sub, o, false);
  sub->add_option("-c,--count", clients, "Subscribers")->check(CLI::Range(1, 10'000'000));
  sub->add_option("-L,--limit", o.limit, "Stop after receiving this many messages (0 = no limit)");

  auto* pubsub = app.add_subcommand("pubsub", "Publishers and subscribers in one process (one clock for latency)");
  add_common(pubsub, o, version_str, tg);
  add_messages(pubsub, o, true);
  pubsub->add_option("--layout", layout_str,
                     "pairwise: pub i -> own topic -> sub i (P == S); fanin: P pubs -> S subs on the wildcard; "
                     "fanout: P pubs (default 1) -> one topic -> S subs")
      ->check(CLI::IsMember({"pairwise", "fanin", "fanout"}))
      ->capture_default_str();
  pubsub->add_option("--pubs", o.pubs, "Publishers")->check(CLI::Range(1, 10'000'000));
  pubsub->add_option("--subs", o.subs, "Subscribers")->check(CLI::Range(1, 10'000'000));
  pubsub->add_option("-c,--count", clients, "Default for --pubs/--subs (pairwise: both; fanin: pubs; fanout: subs)")
      ->check(CLI::Range(1, 10'000'000));
  pubsub->add_option("--window", o.window,
                     "Without -r/-I: messages a publisher may have on their way to its subscribers "
                     "(closed loop; 0 = open loop, limited only by TCP)")
      ->check(CLI::Range(0, 1 << 20))
      ->capture_default_str();
  pubsub->add_option("--sub-topic", o.sub_topic,
                     "Subscribers' filter (default: the publisher's topic; fanin: -t with %i/%c levels as '+')");
  pubsub->add_option("--wait-routes", o.wait_routes,
                     "Cluster: before publishing, GET this URL (http://user:pass@host:port/api/v4/routes of the "
                     "publishers' node) every 50 ms until every subscriber filter is in it as \"topic\":\"<filter>\"");
  pubsub->add_option("--settle-ms", o.settle_ms, "Milliseconds to wait between the setup and publishing")
      ->check(CLI::NonNegativeNumber);

  auto* takeover = app.add_subcommand(
      "takeover",
      "One persistent MQTT 5 session taken over back and forth between node A (--host/--port) and "
      "node B (--sub-host/--sub-port): time from TCP connect start to CONNACK with session present");
  add_common(takeover, o, version_str, tg);
  takeover->add_option("-c,--count", o.rounds, "Takeovers (after the first connect, which creates the session)")
      ->check(CLI::Range(1, 10'000'000))
      ->capture_default_str();
  std::string takeover_topic = "bench/takeover/%c";
  takeover->add_option("-t,--topic", takeover_topic, "The session's one subscription (QoS 1): %i = index, %c = client id")
      ->capture_default_str();
  takeover->add_flag("--takeover-offline", o.takeover_offline,
                     "Close the previous connection (DISCONNECT, wait for the broker to close it) before connecting "
                     "to the other node; default: it stays open and must get DISCONNECT 0x8E");

  FleetOptions fo;
  std::string fleet_nodes, fleet_delay = "0-200";
  auto* fleet = app.add_subcommand(
      "fleet",
      "MQTT 5 devices with persistent sessions spread over cluster nodes; evicted ones reconnect like devices "
      "behind a load balancer (Server Reference, else another node). One JSON status line per --report-interval");
  fleet->set_help_flag("--help", "Print this help and exit");
  fleet->add_option("--nodes", fleet_nodes, "host:port=count,... : the nodes and how many clients start on each")
      ->required();
  fleet->add_option("--prefix", fo.prefix, "Client id prefix (ids are <prefix>_<node>_<i>)")->capture_default_str();
  fleet->add_option("-R,--conn-rate", fo.conn_rate, "Initial connects per second (0 = all at once)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  fleet->add_option("--duration", fo.duration, "Seconds to run, then disconnect and exit")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fleet->add_option("--session-expiry", fo.session_expiry, "Session Expiry Interval (s)")->capture_default_str();
  fleet->add_option("-k,--keepalive", fo.keepalive, "Keep alive in seconds (0 = off)")->capture_default_str();
  fleet->add_option("--reconnect-delay", fleet_delay, "Reconnect delay in ms, uniform in MIN-MAX (or a fixed N)")
      ->capture_default_str();
  fleet->add_option("--connect-timeout", fo.connect_timeout, "Seconds from TCP connect start to CONNACK")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fleet->add_option("--report-interval", fo.report_interval, "Seconds between status lines")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  fleet->add_option("--seed", fo.seed, "Random seed (0 = random)")->capture_default_str();
  fleet->add_option("--src-ips", fo.src_ips, "Comma-separated local addresses bound round-robin")->delimiter(',');

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    app.exit(e);
    return 2;
  }

  auto usage = [](const std::string& msg) {
    fmt::print(stderr, "tidemq_bench: {}\n", msg);
    return 2;
  };

  if (*fleet) {
    if (auto err = parse_fleet_nodes(fleet_nodes, fo.nodes); !err.empty()) return usage("--nodes: " + err);
    const auto dash = fleet_delay.find('-');
    try {
      fo.delay_min_ms = std::stoi(fleet_delay.substr(0, dash));
      fo.delay_max_ms = dash == std::string::npos ? fo.delay_min_ms : std::stoi(fleet_delay.substr(dash + 1));
    } catch (const std::exception&) {
      return usage("--reconnect-delay: expected MIN-MAX in ms");
    }
    if (fo.delay_min_ms < 0 || fo.delay_max_ms < fo.delay_min_ms) return usage("--reconnect-delay: expected MIN-MAX in ms");
    std::size_t total = 0;
    for (const auto& n : fo.nodes) total += static_cast<std::size_t>(n.count);
    const rlim_t nofile = raise_nofile();
    if (nofile != RLIM_INFINITY && nofile < total + 64)
      fmt::print(stderr,
                 "tidemq_bench: warning: RLIMIT_NOFILE is {} (hard limit), fewer than the {} clients asked for; "
                 "split the fleet over several processes\n",
                 static_cast<unsigned long long>(nofile), total);
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    return run_fleet(fo);
  }

  o.version = (version_str == "5" || version_str == "5.0") ? 5 : 3;
  if (*conn) o.mode = Mode::conn;
  else if (*pub) o.mode = Mode::pub;
  else if (*sub) o.mode = Mode::sub;
  else if (*takeover) o.mode = Mode::takeover;
  else o.mode = Mode::pubsub;
  o.hosts = split_commas(tg.hosts);
  o.ports = tg.ports;
  o.sub_hosts = tg.sub_hosts.empty() ? o.hosts : split_commas(tg.sub_hosts);
  o.sub_ports = tg.sub_ports.empty() ? o.ports : tg.sub_ports;
  if (o.hosts.empty() || o.ports.empty() || o.sub_hosts.empty() || o.sub_ports.empty())
    return usage("empty --host/--port/--sub-host/--sub-port");
  o.host = o.hosts[0];
  o.port = o.ports[0];
  if (o.mode == Mode::takeover) {
    if (o.version != 5) return usage("takeover needs MQTT 5 (session present, DISCONNECT 0x8E)");
    o.topic = takeover_topic;
    if (o.topic.empty()) return usage("empty topic");
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::signal(SIGPIPE, SIG_IGN);
    return run_bench(o);
  }
  o.clients = clients > 0 ? clients : 1;

  if (o.mode == Mode::pubsub) {
    o.layout = layout_str == "fanin" ? Layout::fanin : layout_str == "fanout" ? Layout::fanout : Layout::pairwise;
    const int c = clients > 0 ? clients : 1;
    switch (o.layout) {
      case Layout::pairwise:
        if (o.pubs < 0) o.pubs = o.subs > 0 ? o.subs : c;
        if (o.subs < 0) o.subs = o.pubs;
        if (o.pubs != o.subs) return usage("pairwise needs --pubs == --subs");
        break;
      case Layout::fanin:
        if (o.pubs < 0) o.pubs = c;
        if (o.subs < 0) o.subs = 1;
        break;
      case Layout::fanout:
        if (o.pubs < 0) o.pubs = 1;
        if (o.subs < 0) o.subs = c;
        break;
    }
  }
  if (o.mode == Mode::pubsub || o.mode == Mode::sub) {
    if (o.topic.empty()) return usage("empty topic");
  }
  if ((o.mode == Mode::pub || o.mode == Mode::pubsub) && o.topic.find_first_of("+#") != std::string::npos)
    return usage("a publish topic cannot contain wildcards");
  if ((o.mode == Mode::pub || o.mode == Mode::pubsub) && o.payload_size < kStampSize)
    fmt::print(stderr, "tidemq_bench: note: payloads under {} bytes carry no timestamp: no latency, no loss tracking\n",
               kStampSize);

  const std::size_t total = o.mode == Mode::pubsub ? static_cast<std::size_t>(o.pubs + o.subs)
                                                   : static_cast<std::size_t>(o.clients);
  const rlim_t nofile = raise_nofile();
  if (nofile != RLIM_INFINITY && nofile < total + 64)
    fmt::print(stderr,
               "tidemq_bench: warning: RLIMIT_NOFILE is {} (hard limit), fewer than the {} connections asked for; "
               "the rest will fail\n",
               static_cast<unsigned long long>(nofile), total);

  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  return run_bench(o);
}
