// tidemq_bench takeover: one persistent MQTT 5 session handed back and forth between node A
// (--host/--port) and node B (--sub-host/--sub-port), -c times. Times each takeover from TCP
// connect start to CONNACK with session present and checks what the previous connection gets:
// live (default) it stays open and must get DISCONNECT 0x8E; --takeover-offline closes it first.
#include "scenario_takeover.hpp"

#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "addresses.hpp"
#include "bench.hpp"
#include "clock.hpp"
#include "error_log.hpp"
#include "histogram.hpp"
#include "report_format.hpp"
#include "sync_conn.hpp"
#include "tidemq/mqtt/reason_codes.hpp"
#include "topic_pattern.hpp"

namespace tidemq::bench {

namespace {

namespace mq = tidemq::mqtt;
using boost::asio::ip::address;

constexpr std::uint8_t kLevel = mq::kV5;
constexpr std::uint64_t kOldWait = 2 * kSec;  // live: how long the old connection may take to be told

struct Node {
  address addr;
  std::uint16_t port;
};

// What the run counted.
struct Tally {
  Histogram from_tcp, from_connect;  // TCP connect start → CONNACK; CONNECT written → CONNACK
  std::uint64_t rounds = 0, ok = 0, failed = 0, no_session = 0;
  // Live: what the previous connection got.
  std::uint64_t disc_8e = 0, disc_other = 0, eof_only = 0, still_open = 0;
  ErrorLog errors;
};

// One connect to the session: TCP connect, CONNECT (session expiry 300 s), CONNACK.
struct Attempt {
  bool good = false;
  bool no_session = false;  // CONNACK without session present (a takeover that found no session)
  std::uint64_t t0 = 0, t_sent = 0, t_ack = 0;  // TCP connect start, CONNECT written, CONNACK
  std::uint64_t deadline = 0;
  std::string err;
};

Attempt connect_session(SyncConn& nc, const Node& node, const address* src, const Options& o, const std::string& cid,
                        bool first) {
  Attempt a;
  a.t0 = now_ns();
  a.deadline = a.t0 + static_cast<std::uint64_t>(o.connect_timeout * 1e9);
  if (!nc.connect(node.addr, node.port, src, a.deadline, a.err)) return a;
  mq::Connect c;
  c.protocol_level = kLevel;
  c.clean_start = first;
  c.keep_alive = o.keepalive;
  c.client_id = cid;
  c.username = o.username;
  c.password = o.password;
  c.props.session_expiry = 300;
  if (!nc.send(c, a.deadline, a.err)) return a;
  a.t_sent = now_ns();
  mq::Packet p;
  for (;;) {
    auto rd = nc.read(p, a.deadline, a.err);
    if (rd == SyncConn::Read::timeout) a.err = "CONNACK timeout";
    else if (rd == SyncConn::Read::eof) a.err = "connection closed before CONNACK";
    if (rd != SyncConn::Read::packet) break;
    if (auto* ack = std::get_if<mq::Connack>(&p)) {
      a.t_ack = now_ns();
      if (ack->reason != 0) {
        a.err = fmt::format("CONNACK refused (0x{:02x})", ack->reason);
        if (ack->props.reason_string) a.err += ": " + *ack->props.reason_string;
      } else if (!first && !ack->session_present) {
        a.no_session = true;
        a.err = "CONNACK without session present";
      } else {
        a.good = true;
      }
      break;
    }
    if (auto* d = std::get_if<mq::Disconnect>(&p)) {
      a.err = fmt::format("DISCONNECT (0x{:02x}) before CONNACK", d->reason);
      break;
    }
    // Anything else before CONNACK (nothing is expected) is ignored.
  }
  return a;
}

// Gives the new session some state to carry: one subscription (QoS 1).
bool subscribe(SyncConn& nc, const std::string& topic, std::uint64_t deadline, std::string& err) {
  mq::Subscribe sub;
  sub.packet_id = 1;
  sub.entries.push_back({topic, mq::SubscribeOptions{1}});
  mq::Packet p;
  return nc.send(sub, deadline, err) && nc.read(p, deadline, err) == SyncConn::Read::packet &&
         std::holds_alternative<mq::Suback>(p) && !std::get<mq::Suback>(p).reasons.empty() &&
         std::get<mq::Suback>(p).reasons[0] < 0x80;
}

// Closes a connection cleanly: DISCONNECT (optionally with session expiry 0 = end the session),
// then wait for the broker to close it (EOF), so the session is offline before the next step.
void disconnect(SyncConn& c, bool end_session) {
  if (!c.open()) return;
  mq::Disconnect d;
  if (end_session) d.props.session_expiry = 0;
  std::string err;
  const std::uint64_t deadline = now_ns() + kOldWait;
  if (c.send(d, deadline, err)) {
    mq::Packet p;
    while (c.read(p, deadline, err) == SyncConn::Read::packet) {
    }
  }
  c.close();
}

// Live takeover that succeeded: the previous connection should now get DISCONNECT 0x8E and be closed.
void check_old_connection(SyncConn& old, Tally& t) {
  mq::Packet p;
  std::string oerr;
  const std::uint64_t od = now_ns() + kOldWait;
  bool seen = false;
  for (;;) {
    auto rd = old.read(p, od, oerr);
    if (rd == SyncConn::Read::packet) {
      if (auto* d = std::get_if<mq::Disconnect>(&p)) {
        seen = true;
        if (d->reason == mq::rc::session_taken_over) ++t.disc_8e;
        else {
          ++t.disc_other;
          t.errors.add(fmt::format("old connection: DISCONNECT 0x{:02x} (expected 0x8e)", d->reason));
        }
      }
      continue;  // then EOF
    }
    if (rd == SyncConn::Read::timeout && !seen) {
      ++t.still_open;
      t.errors.add("old connection: still open 2 s after the takeover, no DISCONNECT");
    } else if (rd != SyncConn::Read::timeout && !seen) {
      ++t.eof_only;
      t.errors.add("old connection: closed without DISCONNECT");
    }
    break;
  }
  old.close();
}

// The summary (and --json); returns whether the run passed --fail-threshold.
bool report(const Options& o, const Node (&node)[2], const std::string& cid, bool live, double secs, Tally& t) {
  const PercentileSet a = percentiles(t.from_tcp), b = percentiles(t.from_connect);
  const bool good = t.ok > 0 && static_cast<double>(t.failed) <= o.fail_threshold * static_cast<double>(t.rounds);
  fmt::print("takeovers: {} ok, {} failed ({} without session present) of {} in {:.2f} s\n", t.ok, t.failed,
             t.no_session, t.rounds, secs);
  fmt::print("latency, TCP connect start → CONNACK (session present): p50 {} p90 {} p99 {} max {} mean {} (n={})\n",
             fmt_ms(a.p50), fmt_ms(a.p90), fmt_ms(a.p99), fmt_ms(a.max), fmt_ms(static_cast<std::uint64_t>(a.mean)), a.n);
  fmt::print("latency, CONNECT written → CONNACK: p50 {} p90 {} p99 {} max {}\n", fmt_ms(b.p50), fmt_ms(b.p90),
             fmt_ms(b.p99), fmt_ms(b.max));
  if (live)
    fmt::print("old connection: DISCONNECT 0x8E {}, other DISCONNECT {}, closed without DISCONNECT {}, still open {}\n",
               t.disc_8e, t.disc_other, t.eof_only, t.still_open);
  const ErrorCounts top = t.errors.top(8);
  print_errors(top);
  if (!good)
    fmt::print("FAILED: {} of {} takeovers failed (threshold {:.1f}%)\n", t.failed, t.rounds, o.fail_threshold * 100);
  std::fflush(stdout);

  if (!o.json_file.empty()) {
    std::string j = "{\"mode\":\"takeover\",";
    j += fmt::format("\"variant\":\"{}\",\"node_a\":\"{}:{}\",\"node_b\":\"{}:{}\",\"client_id\":{},",
                     live ? "live" : "offline", node[0].addr.to_string(), node[0].port, node[1].addr.to_string(),
                     node[1].port, json_string(cid));
    j += fmt::format("\"rounds\":{},\"succeeded\":{},\"failed\":{},\"no_session_present\":{},\"seconds\":{:.3f},",
                     t.rounds, t.ok, t.failed, t.no_session, secs);
    j += fmt::format("\"old_disconnect_8e\":{},\"old_disconnect_other\":{},\"old_closed_without_disconnect\":{},"
                     "\"old_still_open\":{},",
                     t.disc_8e, t.disc_other, t.eof_only, t.still_open);
    json_percentiles(j, "latency", a);
    j += ",";
    json_percentiles(j, "latency_from_connect", b);
    j += ",";
    json_errors(j, top);
    j += fmt::format(",\"ok\":{}}}\n", good ? "true" : "false");
    write_json_file(o.json_file, j);
  }
  return good;
}

}  // namespace

int run_takeover(const Options& o) {
  std::vector<address> a_addr, b_addr, src;
  if (!resolve_hosts({o.hosts[0]}, a_addr) || !resolve_hosts({o.sub_hosts[0]}, b_addr)) return 2;
  const Node node[2] = {{a_addr[0], o.ports[0]}, {b_addr[0], o.sub_ports[0]}};
  if (!parse_src_ips(o.src_ips, src)) return 2;
  const std::string cid = fmt::format("{}_t{}", o.prefix, o.start_index);
  const std::string topic = expand(o.topic, o.start_index, cid);
  const bool live = !o.takeover_offline;

  Tally tally;
  std::uint64_t consecutive = 0;  // failed takeovers in a row
  SyncConn conn[2] = {SyncConn(kLevel), SyncConn(kLevel)};
  const std::uint64_t t_begin = now_ns();
  std::uint64_t next_report = t_begin + kSec;
  Histogram interval;  // latencies since the last progress line

  fmt::print("== tidemq_bench takeover ({}): client '{}', A {}:{} ↔ B {}:{}, {} takeovers, MQTT 5, "
             "session expiry 300 s, subscription '{}' (QoS 1)\n",
             live ? "live: the previous connection stays open" : "offline: the previous connection is closed first",
             cid, node[0].addr.to_string(), node[0].port, node[1].addr.to_string(), node[1].port, o.rounds, topic);
  std::fflush(stdout);

  // Round 0 creates the session on A (clean start, one subscription); rounds 1..N are the takeovers,
  // alternating B, A, B, ...
  for (int r = 0; r <= o.rounds && !g_interrupted.load(); ++r) {
    const int side = r % 2;
    SyncConn& nc = conn[side];
    SyncConn& old = conn[1 - side];
    if (!live) disconnect(old, false);

    const address* s = src.empty() ? nullptr : &src[static_cast<std::size_t>(r) % src.size()];
    Attempt a = connect_session(nc, node[side], s, o, cid, r == 0);
    if (r == 0) {
      if (a.good && !subscribe(nc, topic, a.deadline, a.err)) {
        fmt::print(stderr, "tidemq_bench: could not create the session on A: {}\n",
                   a.err.empty() ? "SUBSCRIBE failed" : a.err);
        return 1;
      }
      if (!a.good) {
        fmt::print(stderr, "tidemq_bench: could not create the session on A: {}\n", a.err);
        return 1;
      }
    } else {
      ++tally.rounds;
      if (a.no_session) ++tally.no_session;
      if (a.good) {
        ++tally.ok;
        consecutive = 0;
        tally.from_tcp.record(a.t_ack - a.t0);
        tally.from_connect.record(a.t_ack - a.t_sent);
        interval.record(a.t_ack - a.t0);
      } else {
        ++tally.failed;
        ++consecutive;
        tally.errors.add(a.err);
        nc.close();
      }
      if (live && old.open()) {
        if (a.good) check_old_connection(old, tally);
        else old.close();
      }
      if (consecutive >= 20) {
        fmt::print(stderr, "tidemq_bench: 20 takeovers in a row failed, giving up\n");
        break;
      }
    }

    const std::uint64_t now = now_ns();
    if (now >= next_report && !o.quiet) {
      fmt::print("[t={}s] takeovers={} fail={} p50={} p99={}\n",
                 static_cast<long>(std::lround(static_cast<double>(now - t_begin) / 1e9)), tally.rounds, tally.failed,
                 fmt_ms(interval.quantile(0.5)), fmt_ms(interval.quantile(0.99)));
      std::fflush(stdout);
      interval.clear();
      next_report = now + kSec;
    }
  }
  // End the session (session expiry 0 on DISCONNECT) so repeated runs start clean.
  for (auto& c : conn)
    if (c.open()) disconnect(c, true);
  const double secs = static_cast<double>(now_ns() - t_begin) / 1e9;
  return report(o, node, cid, live, secs, tally) ? 0 : 1;
}

}  // namespace tidemq::bench
