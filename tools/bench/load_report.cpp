// The progress line and the summary of a load run: text on stdout, the same numbers in --json.
#include "load_report.hpp"

#include <algorithm>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "payload.hpp"
#include "report_format.hpp"

namespace tidemq::bench {

namespace {

// "h1:p1" or "h1:p1,h2:p2" (one entry per host/port pairing that connection indexes can reach).
std::string targets_str(const std::vector<std::string>& hosts, const std::vector<std::uint16_t>& ports) {
  std::string out;
  const std::size_t n = std::max(hosts.size(), ports.size());
  for (std::size_t i = 0; i < n; ++i)
    out += fmt::format("{}{}:{}", i ? "," : "", hosts[i % hosts.size()], ports[i % ports.size()]);
  return out;
}

}  // namespace

std::string progress_line(const Options& o, const Plan& plan, const std::string& phase, const Totals& t,
                          const Totals& last, double seconds_since_last, long elapsed_seconds) {
  const double dt = std::max(1e-3, seconds_since_last);
  auto per_s = [&](std::uint64_t a, std::uint64_t b) { return static_cast<double>(a - b) / dt; };
  std::string line = fmt::format("[t={}s] conns={}", elapsed_seconds, t.open());
  const std::size_t planned = plan.size();
  if (phase == "setup" || o.mode == Mode::conn) {
    if (t.connected < planned) line += fmt::format("/{}", planned);
    line += fmt::format(" +{:.0f}/s", per_s(t.connected, last.connected));
  }
  const std::uint64_t failed = t.conn_failed + t.sub_failed;
  if (failed) line += fmt::format(" fail={}", failed);
  if (t.dropped) line += fmt::format(" dropped={}", t.dropped);
  const Histogram* lat = nullptr;
  Histogram interval;
  if (o.mode == Mode::conn || phase == "setup") {
    interval = Histogram::diff(t.connack, last.connack);
    lat = &interval;
    if (interval.count()) line += " connack";
  } else {
    if (!plan.pubs.empty()) line += fmt::format(" pub={:.0f}/s", per_s(t.pub_sent, last.pub_sent));
    if (!plan.subs.empty()) line += fmt::format(" recv={:.0f}/s", per_s(t.recv, last.recv));
    if (!plan.subs.empty()) {
      interval = Histogram::diff(t.latency, last.latency);
    } else if (o.qos > 0) {
      interval = Histogram::diff(t.ack, last.ack);
      line += fmt::format(" acked={:.0f}/s", per_s(t.pub_acked, last.pub_acked));
      if (interval.count()) line += " ack";
    }
    lat = &interval;
  }
  if (lat && lat->count())
    line += fmt::format(" p50={} p99={}", fmt_ms(lat->quantile(0.5)), fmt_ms(lat->quantile(0.99)));
  if (t.dup) line += fmt::format(" dup={}", t.dup);
  if (t.ooo) line += fmt::format(" ooo={}", t.ooo);
  if (phase != "run" && phase != "setup") line += fmt::format(" ({})", phase);
  return line;
}

int print_summary(const Options& o, const Plan& plan, const RunRecord& r) {
  const Totals& t = r.totals;
  const std::size_t planned = plan.size();

  // Connect phase.
  const double connect_secs =
      t.last_connack > r.t_begin ? static_cast<double>(t.last_connack - r.t_begin) / 1e9 : 0.0;
  const double connect_rate = connect_secs > 0 ? static_cast<double>(t.connected) / connect_secs : 0.0;
  const PercentileSet ck = percentiles(t.connack);

  // Run window.
  const double window = std::max(1e-9, static_cast<double>(r.t_run1 - r.t_run0) / 1e9);
  const std::uint64_t sent_window = r.at_run1.pub_sent - r.at_run0.pub_sent;
  const std::uint64_t recv_window = r.at_run1.recv - r.at_run0.recv;
  const Histogram lat = Histogram::diff(t.latency, r.at_run0.latency);
  const PercentileSet lp = percentiles(lat);
  const PercentileSet ap = percentiles(t.ack);
  const double recv_active_secs =
      t.last_recv > t.first_recv ? static_cast<double>(t.last_recv - t.first_recv) / 1e9 : 0.0;

  // Exit status.
  const std::uint64_t failures = t.conn_failed + t.sub_failed + t.dropped;
  const bool ok = t.connected > 0 && static_cast<double>(failures) <= o.fail_threshold * static_cast<double>(planned);

  // ---- text summary
  std::string head = fmt::format("== tidemq_bench {}", mode_name(o.mode));
  if (o.mode == Mode::pubsub)
    head += fmt::format(" {} ({} pub / {} sub)", layout_name(o.layout), plan.pubs.size(), plan.subs.size());
  else
    head += fmt::format(" ({} client{})", planned, planned == 1 ? "" : "s");
  head += fmt::format(", MQTT {}", o.version == 5 ? "5.0" : "3.1.1");
  if (o.mode == Mode::sub) head += fmt::format(", QoS {}, filter '{}'", o.qos, plan.subs.empty() ? "" : plan.subs[0].topic);
  else if (o.mode != Mode::conn) head += fmt::format(", QoS {}, {} B payload", o.qos, o.payload_size);
  const std::string pub_t = targets_str(o.hosts, o.ports), sub_t = targets_str(o.sub_hosts, o.sub_ports);
  if (o.mode == Mode::pubsub && pub_t != sub_t) head += fmt::format(", pub {} / sub {}", pub_t, sub_t);
  else head += fmt::format(", {}", o.mode == Mode::sub ? sub_t : pub_t);
  head += fmt::format(", {} thread{}", o.threads, o.threads > 1 ? "s" : "");
  fmt::print("{}\n", head);
  fmt::print("connections: {} ok, {} failed", t.connected, t.conn_failed);
  if (!plan.subs.empty()) fmt::print(", {} subscribed, {} subscribe failures", t.subscribed, t.sub_failed);
  if (t.dropped) fmt::print(", {} dropped during the run", t.dropped);
  fmt::print("\n");
  if (t.connected)
    fmt::print("connect rate: {:.0f} conn/s ({} in {:.2f} s); connack latency p50 {} p90 {} p99 {} p99.9 {} max {}\n",
               connect_rate, t.connected, connect_secs, fmt_ms(ck.p50), fmt_ms(ck.p90), fmt_ms(ck.p99),
               fmt_ms(ck.p999), fmt_ms(ck.max));
  if (o.mode == Mode::conn)
    fmt::print("held {} connections for {:.1f} s\n", r.at_run0.open(), window);
  if (!plan.pubs.empty()) {
    fmt::print("published: {} msgs in {:.2f} s = {:.0f} msg/s", sent_window, window,
               static_cast<double>(sent_window) / window);
    if (o.qos > 0)
      fmt::print("; acknowledged {} ({} refused), ack latency p50 {} p99 {} max {}", t.pub_acked, t.pub_errors,
                 fmt_ms(ap.p50), fmt_ms(ap.p99), fmt_ms(ap.max));
    fmt::print("\n");
  }
  if (!plan.subs.empty()) {
    fmt::print("received: {} msgs in the window = {:.0f} msg/s; {} in total", recv_window,
               static_cast<double>(recv_window) / window, t.recv);
    if (recv_active_secs > 0)
      fmt::print(" ({:.0f} msg/s between first and last)", static_cast<double>(t.recv) / recv_active_secs);
    fmt::print("\n");
    if (o.mode == Mode::pubsub)
      fmt::print("delivery: lost {}, duplicate {}, out of order {}\n", r.lost, t.dup, t.ooo);
    else if (t.unique || t.dup || t.too_old)
      fmt::print("delivery: sequence gaps {}, duplicate {}, out of order {}\n", r.gaps, t.dup, t.ooo);
    if (lp.n)
      fmt::print("latency: p50 {} p90 {} p99 {} p99.9 {} max {} mean {} (n={})\n", fmt_ms(lp.p50), fmt_ms(lp.p90),
                 fmt_ms(lp.p99), fmt_ms(lp.p999), fmt_ms(lp.max), fmt_ms(static_cast<std::uint64_t>(lp.mean)), lp.n);
    else if (t.unstamped)
      fmt::print("latency: not measured (payloads carry no timestamp; needs -s >= {})\n", kStampSize);
  }
  const double tool_cpu = 100.0 * (r.cpu_run1 - r.cpu_run0) / window;
  const double machine_cpu = 100.0 * (r.busy_run1 - r.busy_run0) / window;
  fmt::print("tool CPU during the window: {:.0f}% of one core (whole machine: {:.0f}% busy over {} cores)\n", tool_cpu,
             machine_cpu, std::thread::hardware_concurrency());
  const bool watched = r.watch_begin.ok && r.watch_run0.ok && r.watch_run1.ok;
  const double broker_cpu = watched ? 100.0 * (r.watch_run1.cpu_s - r.watch_run0.cpu_s) / window : 0.0;
  const std::uint64_t held = r.at_run0.open();
  const double per_conn_kb =
      watched && held ? static_cast<double>(r.watch_run1.rss_kb - r.watch_begin.rss_kb) / static_cast<double>(held) : 0.0;
  if (o.watch_pid > 0) {
    if (watched)
      fmt::print("broker (pid {}): CPU {:.0f}% during the window; RSS {} KiB before connecting, {} KiB after, "
                 "{} KiB at the end ({:.2f} KiB per connection)\n",
                 o.watch_pid, broker_cpu, r.watch_begin.rss_kb, r.watch_run0.rss_kb, r.watch_run1.rss_kb, per_conn_kb);
    else
      fmt::print("broker (pid {}): could not read /proc/{}\n", o.watch_pid, o.watch_pid);
  }
  print_errors(r.errors);
  if (!ok)
    fmt::print("FAILED: {} failed or dropped connections (threshold {:.1f}% of {})\n", failures,
               o.fail_threshold * 100, planned);
  std::fflush(stdout);

  // ---- JSON
  if (!o.json_file.empty()) {
    std::string j = "{";
    j += fmt::format("\"mode\":\"{}\",\"layout\":\"{}\",\"host\":{},\"port\":{},\"mqtt_version\":{},", mode_name(o.mode),
                     o.mode == Mode::pubsub ? layout_name(o.layout) : "", json_string(o.host), o.port, o.version);
    j += fmt::format("\"targets\":{},\"sub_targets\":{},", json_string(targets_str(o.hosts, o.ports)),
                     json_string(targets_str(o.sub_hosts, o.sub_ports)));
    j += fmt::format("\"qos\":{},\"payload_size\":{},\"threads\":{},\"planned_connections\":{},\"pubs\":{},\"subs\":{},",
                     o.qos, o.payload_size, o.threads, planned, plan.pubs.size(), plan.subs.size());
    j += fmt::format("\"target_rate\":{},\"interval_ms\":{},", o.rate, o.interval_ms);
    j += fmt::format(
        "\"connections\":{{\"ok\":{},\"failed\":{},\"subscribed\":{},\"subscribe_failed\":{},\"dropped\":{},"
        "\"held\":{},\"connect_seconds\":{:.4f},\"connect_rate\":{:.1f},",
        t.connected, t.conn_failed, t.subscribed, t.sub_failed, t.dropped, r.at_run0.open(), connect_secs, connect_rate);
    json_percentiles(j, "connack", ck);
    j += "},";
    j += fmt::format("\"window_seconds\":{:.4f},", window);
    if (r.routes_wait_ms >= 0)
      j += fmt::format("\"routes_wait_ms\":{:.1f},\"routes_missing\":{},", r.routes_wait_ms, r.routes_missing);
    j += fmt::format("\"publish\":{{\"sent\":{},\"sent_total\":{},\"rate\":{:.1f},\"acked\":{},\"refused\":{},",
                     sent_window, t.pub_sent, static_cast<double>(sent_window) / window, t.pub_acked, t.pub_errors);
    json_percentiles(j, "ack_latency", ap);
    j += "},";
    j += fmt::format(
        "\"receive\":{{\"received\":{},\"received_total\":{},\"rate\":{:.1f},\"active_rate\":{:.1f},\"bytes\":{},"
        "\"lost\":{},\"gaps\":{},\"duplicate\":{},\"out_of_order\":{},",
        recv_window, t.recv, static_cast<double>(recv_window) / window,
        recv_active_secs > 0 ? static_cast<double>(t.recv) / recv_active_secs : 0.0, t.recv_bytes,
        o.mode == Mode::pubsub ? r.lost : 0, r.gaps, t.dup, t.ooo);
    json_percentiles(j, "latency", lp);
    j += fmt::format("}},\"tool_cpu_percent\":{:.1f},\"machine_cpu_percent\":{:.1f},\"cores\":{},", tool_cpu,
                     machine_cpu, std::thread::hardware_concurrency());
    if (watched)
      j += fmt::format(
          "\"broker\":{{\"pid\":{},\"cpu_percent\":{:.1f},\"rss_kb_begin\":{},\"rss_kb_run_start\":{},"
          "\"rss_kb_run_end\":{},\"rss_kb_per_connection\":{:.3f}}},",
          o.watch_pid, broker_cpu, r.watch_begin.rss_kb, r.watch_run0.rss_kb, r.watch_run1.rss_kb, per_conn_kb);
    json_errors(j, r.errors);
    j += fmt::format(",\"ok\":{}}}\n", ok ? "true" : "false");
    write_json_file(o.json_file, j);
  }
  return ok ? 0 : 1;
}

}  // namespace tidemq::bench
