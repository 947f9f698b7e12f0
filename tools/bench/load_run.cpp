// The control loop of a load run, on the main thread: resolves the brokers, has the scenario plan
// its connections, starts the workers and runs the phases (setup with subscribers first; pubsub's
// route wait and settle time; the measurement window; drain; disconnect), printing a progress line
// every second, then counts what was lost and prints the summary.
#include "load_run.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "addresses.hpp"
#include "bench.hpp"
#include "clock.hpp"
#include "load_connection.hpp"
#include "load_report.hpp"
#include "load_worker.hpp"
#include "payload.hpp"
#include "route_wait.hpp"

namespace tidemq::bench {

namespace {

Plan plan_scenario(const Options& o, const Brokers& b) {
  switch (o.mode) {
    case Mode::conn: return plan_conn(o, b);
    case Mode::pub: return plan_pub(o, b);
    case Mode::sub: return plan_sub(o, b);
    case Mode::pubsub: return plan_pubsub(o, b);
    case Mode::takeover: break;  // not a load run: scenario_takeover.cpp
  }
  return {};
}

class Runner {
 public:
  explicit Runner(const Options& o) : opt_(o), sh_{o} {}
  int run();

 private:
  bool resolve();
  void start_workers();
  void connect_group(std::vector<ConnSpec> specs);
  // Sleeps in 10 ms steps until `done()` or `deadline` or Ctrl-C; prints progress every second.
  template <class Pred>
  void wait(Pred done, std::uint64_t deadline);
  void progress(std::uint64_t now);
  Totals collect(bool histograms = true) const;

  void setup();
  void wait_routes();
  void settle();
  void measure();
  void drain();
  void disconnect();
  void count_delivery();

  const Options& opt_;
  Shared sh_;
  Brokers brokers_;
  Plan plan_;
  std::vector<std::unique_ptr<Worker>> workers_;
  RunRecord rec_;
  std::string phase_ = "setup";

  // progress
  std::uint64_t next_report_ = 0;
  std::uint64_t last_report_t_ = 0;
  Totals last_;  // at the previous progress line
};

bool Runner::resolve() {
  brokers_.pub.ports = opt_.ports;
  brokers_.sub.ports = opt_.sub_ports;
  if (!resolve_hosts(opt_.hosts, brokers_.pub.addrs) || !resolve_hosts(opt_.sub_hosts, brokers_.sub.addrs))
    return false;
  if (!parse_src_ips(opt_.src_ips, sh_.src)) return false;
  sh_.level = opt_.version == 5 ? mqtt::kV5 : mqtt::kV311;
  return true;
}

void Runner::start_workers() {
  for (int i = 0; i < opt_.threads; ++i) workers_.push_back(std::make_unique<Worker>(sh_, i));
  for (auto& w : workers_) w->run_thread();
}

void Runner::connect_group(std::vector<ConnSpec> specs) {
  const std::size_t T = workers_.size();
  std::vector<std::vector<ConnSpec>> per(T);
  for (auto& s : specs) per[s.index % T].push_back(std::move(s));
  const double rate = opt_.conn_rate > 0 ? opt_.conn_rate / static_cast<double>(T) : 0;
  const std::uint64_t t0 = now_ns();
  for (std::size_t i = 0; i < T; ++i) workers_[i]->add_and_connect(std::move(per[i]), rate, t0);
}

template <class Pred>
void Runner::wait(Pred done, std::uint64_t deadline) {
  for (;;) {
    std::uint64_t now = now_ns();
    if (now >= next_report_) {
      progress(now);
      next_report_ += kSec;
      if (next_report_ < now) next_report_ = now + kSec;
    }
    if (g_interrupted.load() || now >= deadline || done()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
}

void Runner::progress(std::uint64_t now) {
  Totals t = collect();
  const auto elapsed = static_cast<long>(std::lround(static_cast<double>(now - rec_.t_begin) / 1e9));
  const std::string line =
      progress_line(opt_, plan_, phase_, t, last_, static_cast<double>(now - last_report_t_) / 1e9, elapsed);
  if (!opt_.quiet) {
    fmt::print("{}\n", line);
    std::fflush(stdout);
  }
  last_ = std::move(t);
  last_report_t_ = now;
}

Totals Runner::collect(bool histograms) const {
  Totals t;
  for (const auto& w : workers_) t.add(w->st, histograms);
  return t;
}

int Runner::run() {
  if (!resolve()) return 2;
  plan_ = plan_scenario(opt_, brokers_);
  if (sh_.src.empty() && plan_.size() > 28000)
    fmt::print(stderr,
               "tidemq_bench: warning: {} connections from one source address may exhaust the ephemeral "
               "ports (see /proc/sys/net/ipv4/ip_local_port_range); use --src-ips\n",
               plan_.size());
  if (plan_.window) {
    sh_.delivered_n = plan_.pubs.size();
    sh_.delivered = std::make_unique<std::atomic<std::uint64_t>[]>(sh_.delivered_n);
    sh_.receivers = plan_.receivers_per_pub;
    sh_.window = plan_.window;
  }
  start_workers();
  rec_.watch_begin = sample_proc(opt_.watch_pid);
  rec_.t_begin = now_ns();
  next_report_ = rec_.t_begin + kSec;
  last_report_t_ = rec_.t_begin;

  setup();
  wait_routes();
  settle();
  measure();
  drain();
  disconnect();
  for (auto& w : workers_) w->stop();
  for (auto& w : workers_) w->join();

  rec_.totals = collect();
  count_delivery();
  rec_.errors = sh_.errors.top(8);
  return print_summary(opt_, plan_, rec_);
}

// Subscribers first (so nothing published is missed), then publishers / idle connections; each
// group until every connection is ready or has failed.
void Runner::setup() {
  const Options& o = opt_;
  auto settle_bound = [&](std::size_t n) {
    double connect_phase = o.conn_rate > 0 ? static_cast<double>(n) / o.conn_rate : 0;
    return now_ns() + static_cast<std::uint64_t>((connect_phase + o.connect_timeout + 2) * 1e9);
  };
  std::size_t expected_settled = 0;
  auto group = [&](std::vector<ConnSpec>& specs) {
    if (specs.empty() || g_interrupted.load()) return;
    expected_settled += specs.size();
    const std::size_t n = specs.size();
    connect_group(std::vector<ConnSpec>(specs.begin(), specs.end()));
    const std::size_t target = expected_settled;
    wait([&] { return collect(false).settled >= target; }, settle_bound(n));
  };
  group(plan_.subs);
  group(plan_.pubs);
  group(plan_.idle);
}

// --wait-routes (cluster): until the publishers' node knows every subscriber filter.
void Runner::wait_routes() {
  if (opt_.wait_routes.empty() || plan_.subs.empty() || g_interrupted.load()) return;
  phase_ = "routes";
  RouteWait routes(opt_.wait_routes, plan_.subs);
  const std::uint64_t t0 = now_ns();
  wait([&] { return routes.poll(); }, t0 + static_cast<std::uint64_t>(std::max(opt_.connect_timeout, 10.0) * 1e9));
  rec_.routes_wait_ms = static_cast<double>(now_ns() - t0) / 1e6;
  rec_.routes_missing = routes.missing();
  routes.report(rec_.routes_wait_ms, opt_.quiet);
}

// --settle-ms: a pause between the setup and publishing.
void Runner::settle() {
  if (opt_.settle_ms > 0 && !g_interrupted.load()) {
    phase_ = "settle";
    wait([] { return false; }, now_ns() + static_cast<std::uint64_t>(opt_.settle_ms * 1e6));
  }
}

// The measurement window: --duration (conn: --hold), or until -L is reached.
void Runner::measure() {
  const Options& o = opt_;
  phase_ = "run";
  rec_.at_run0 = collect();
  rec_.t_run0 = now_ns();
  rec_.watch_run0 = sample_proc(o.watch_pid);
  rec_.cpu_run0 = self_cpu_s();
  rec_.busy_run0 = machine_busy_s();
  if (!g_interrupted.load()) {
    if (!plan_.pubs.empty())
      for (auto& w : workers_) w->start_publishing(rec_.t_run0);
    double secs = o.duration;
    if (o.mode == Mode::conn && o.hold) secs = *o.hold;
    const std::uint64_t deadline = rec_.t_run0 + static_cast<std::uint64_t>(secs * 1e9);
    const std::uint64_t P = plan_.pubs.size();
    wait(
        [&] {
          if (o.mode == Mode::pub || o.mode == Mode::pubsub) {
            if (o.limit) return collect(false).pubs_done >= P;
          } else if (o.mode == Mode::sub && o.limit) {
            return collect(false).recv >= o.limit;
          }
          return false;
        },
        deadline);
  }
  rec_.t_run1 = now_ns();
  rec_.watch_run1 = sample_proc(o.watch_pid);
  rec_.cpu_run1 = self_cpu_s();
  rec_.busy_run1 = machine_busy_s();
  for (auto& w : workers_) w->stop_publishing();
  rec_.at_run1 = collect();
}

// What was published is still on its way (or awaiting its acknowledgement).
void Runner::drain() {
  const Options& o = opt_;
  if (g_interrupted.load() || plan_.pubs.empty() || (o.mode != Mode::pubsub && o.qos == 0)) return;
  phase_ = "drain";
  const std::uint64_t factor = plan_.receivers_per_pub;
  std::uint64_t last_recv = 0, last_change = now_ns();
  // Give the stop_publishing posts a moment to land before reading the final sent count.
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  wait(
      [&] {
        Totals t = collect(false);
        const bool acks_done = o.qos == 0 || t.pub_acked + t.pub_errors >= t.pub_sent;
        bool recv_done = true;
        if (o.mode == Mode::pubsub) {
          const std::uint64_t expected = t.pub_sent * factor;
          const std::uint64_t got = o.payload_size >= kStampSize ? t.unique : t.recv;
          recv_done = got >= expected;
          if (t.recv != last_recv) {
            last_recv = t.recv;
            last_change = now_ns();
          } else if (now_ns() - last_change > kSec) {
            recv_done = true;  // nothing arrives any more: the rest is lost
          }
        }
        return acks_done && recv_done;
      },
      now_ns() + static_cast<std::uint64_t>(o.drain * 1e9));
}

// DISCONNECT everything and wait (3 s at most) until every socket is closed.
void Runner::disconnect() {
  phase_ = "disconnect";
  for (auto& w : workers_) w->disconnect_all();
  wait(
      [&] {
        Totals t = collect(false);
        return t.sock_closed >= t.sock_open;
      },
      now_ns() + 3 * kSec);
}

// Loss accounting: pubsub exactly, from what each publisher sent; sub from gaps in the sequences.
void Runner::count_delivery() {
  const Options& o = opt_;
  const Totals& t = rec_.totals;
  std::uint64_t lost = 0, gaps = 0, subs_ok = 0;
  std::vector<std::uint64_t> sent_by_pub(plan_.pubs.size(), 0);
  for (auto& w : workers_)
    for (auto& c : w->conns)
      if (c->spec().role == Role::pub) sent_by_pub[c->spec().index] = c->sent();
  const bool stamped = o.payload_size >= kStampSize;
  for (auto& w : workers_) {
    for (auto& c : w->conns) {
      if (c->spec().role != Role::sub) continue;
      for (const auto& [pub, tr] : c->tracks()) gaps += tr.gaps();
      if (!c->subscribed_ok()) continue;
      ++subs_ok;
      if (o.mode != Mode::pubsub || !stamped) continue;
      auto expect_from = [&](std::uint32_t p) {
        auto it = c->tracks().find(p);
        std::uint64_t got = it == c->tracks().end() ? 0 : it->second.unique();
        lost += sent_by_pub[p] > got ? sent_by_pub[p] - got : 0;
      };
      if (o.layout == Layout::pairwise) expect_from(c->spec().index);
      else
        for (std::uint32_t p = 0; p < sent_by_pub.size(); ++p) expect_from(p);
    }
  }
  if (o.mode == Mode::pubsub && !stamped) {
    const std::uint64_t factor = o.layout == Layout::pairwise ? 1 : subs_ok;
    const std::uint64_t expected = t.pub_sent * factor;
    lost = expected > t.recv ? expected - t.recv : 0;
  }
  rec_.lost = lost;
  rec_.gaps = gaps;
}

}  // namespace

int run_load(const Options& opt) {
  Runner r(opt);
  return r.run();
}

}  // namespace tidemq::bench
