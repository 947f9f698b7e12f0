// tidemq_bench fleet: MQTT 5 devices with persistent sessions on several nodes, all on one io_context;
// evicted ones reconnect like devices behind a load balancer (the Server Reference, else another
// node). One JSON status line per --report-interval, for tools/bench/time_to_balance.py.
#include "scenario_fleet.hpp"

#include <array>
#include <boost/asio.hpp>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "addresses.hpp"
#include "bench.hpp"
#include "histogram.hpp"
#include "tidemq/mqtt/codec.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::bench {

namespace {

namespace asio = boost::asio;
namespace mq = tidemq::mqtt;
using tcp = asio::ip::tcp;
using boost::system::error_code;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kMaxNodes = 64;               // nodes tried in one reconnect episode are a bit mask
constexpr auto kAllRefusedBackoff = std::chrono::seconds(1);  // every node refused: wait before the next round
constexpr auto kSweep = std::chrono::milliseconds(250);      // connect timeouts and keep-alive pings
constexpr auto kPaceStep = std::chrono::milliseconds(10);    // initial connects are released in 10 ms steps
constexpr std::size_t kMaxInbound = 64 * 1024;      // a fleet client only expects small packets


bool is_redirect(std::uint8_t reason) {
  return reason == mq::rc::use_another_server || reason == mq::rc::server_moved;
}

// Counters of the whole fleet (single-threaded: one io_context).
struct FleetStats {
  std::vector<std::uint64_t> connected;  // per node, now
  std::uint64_t attempts = 0;            // TCP connects started
  std::uint64_t connects = 0;            // successful CONNACKs
  std::uint64_t reconnects = 0;          // of those, by clients that had been connected before
  std::uint64_t session_present = 0;     // reconnects that found their session (taken over)
  std::uint64_t evicted = 0;             // DISCONNECT 0x9C/0x9D received while connected
  std::uint64_t dropped = 0;             // other losses of a connection (close, error, other DISCONNECT)
  std::uint64_t refused = 0;             // CONNACK with a failure reason
  std::uint64_t redirects = 0;           // Server References followed
  std::uint64_t bad_references = 0;      // references naming no node of the list (ignored)
  std::uint64_t failed = 0;              // attempts without CONNACK: TCP error, timeout, close
  std::uint64_t timeouts = 0;            // of those, timeouts
  Histogram reconnect_ms;                // connection lost -> next successful CONNACK
  // CLOCK_MONOTONIC seconds (0 = never), so a driver script can line the fleet up with its own clock.
  double first_evicted = 0, last_evicted = 0, last_reconnect = 0;
};

double mono_seconds(Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

class Fleet;

// One device. States: waiting (a reconnect delay) → tcp → mqtt (CONNECT sent) → connected → waiting ...
// Every socket/timer callback carries the generation it was started in, so callbacks of an earlier
// attempt (after close) are ignored.
class Client {
 public:
  Client(Fleet& f, std::string id, std::size_t home, std::size_t src);
  void connect_to(std::size_t node);
  void sweep(Clock::time_point now);
  void shutdown();
  bool connected() const { return st_ == St::connected; }

 private:
  enum class St : std::uint8_t { waiting, tcp, mqtt, connected, stopped };

  void on_tcp(std::uint64_t gen, const error_code& ec);
  void read(std::uint64_t gen);
  void on_read(std::uint64_t gen, const error_code& ec, std::size_t n);
  void on_packet(mq::Packet& p);
  void send(const mq::Packet& p);
  void write_more(std::uint64_t gen);
  void lost(bool evicted, const std::optional<std::string>& reference);
  void attempt_failed(bool refused, const std::optional<std::string>& reference, bool timeout);
  void close_socket();
  void go_elsewhere();
  void retry_later(std::size_t node, Clock::duration extra = {});

  Fleet& f_;
  std::string id_;
  std::size_t home_;   // node of the first connect (retried until it works once)
  std::size_t src_;    // index into the source addresses
  std::size_t node_;   // node of the current (or last) connection
  tcp::socket sock_;
  asio::steady_timer timer_;
  St st_ = St::waiting;
  std::uint64_t gen_ = 0;
  bool ever_connected_ = false;
  std::uint64_t tried_ = 0;  // nodes that failed or refused in this reconnect episode
  Clock::time_point t_attempt_{}, t_lost_{}, last_send_{};
  std::uint16_t keepalive_ = 0;
  std::array<char, 512> chunk_{};
  std::string in_, out_, sending_;
};

class Fleet {
 public:
  explicit Fleet(const FleetOptions& o) : opt(o), sweeper_(ioc), pacer_(ioc), reporter_(ioc) {
    st.connected.assign(o.nodes.size(), 0);
    std::random_device rd;
    rng.seed(o.seed ? o.seed : (static_cast<std::uint64_t>(rd()) << 32) ^ rd() ^ static_cast<std::uint64_t>(getpid()));
  }

  // Resolves the nodes and source addresses, creates the clients; "" or an error.
  std::string prepare() {
    for (const auto& n : opt.nodes) {
      error_code ec;
      auto a = asio::ip::make_address(n.host, ec);
      if (ec) return fmt::format("node host '{}' is not an IP address", n.host);
      endpoints.emplace_back(a, n.port);
    }
    for (const auto& s : opt.src_ips) {
      error_code ec;
      auto a = asio::ip::make_address(s, ec);
      if (ec) return fmt::format("--src-ips: '{}' is not an IP address", s);
      src.push_back(a);
    }
    for (std::size_t n = 0; n < opt.nodes.size(); ++n)
      for (int i = 0; i < opt.nodes[n].count; ++i)
        clients_.push_back(std::make_unique<Client>(*this, fmt::format("{}_{}_{}", opt.prefix, n, i), n, clients_.size()));
    return {};
  }

  int run() {
    t0 = Clock::now();
    print_line("start");
    pace();
    sweep();
    report();
    ioc.run();
    print_summary();
    return 0;
  }

  // Node of a Server Reference ("host:port", possibly a space-separated list: the first known one).
  std::optional<std::size_t> node_of_reference(std::string_view ref) const {
    while (!ref.empty()) {
      const auto sp = ref.find(' ');
      std::string_view item = ref.substr(0, sp);
      ref = sp == std::string_view::npos ? std::string_view{} : ref.substr(sp + 1);
      const auto colon = item.rfind(':');
      if (colon == std::string_view::npos) continue;
      std::uint16_t port = 0;
      auto [p, ec] = std::from_chars(item.data() + colon + 1, item.data() + item.size(), port);
      if (ec != std::errc{} || p != item.data() + item.size()) continue;
      error_code aec;
      auto addr = asio::ip::make_address(std::string(item.substr(0, colon)), aec);
      if (aec) continue;
      for (std::size_t i = 0; i < endpoints.size(); ++i)
        if (endpoints[i] == tcp::endpoint(addr, port)) return i;
    }
    return std::nullopt;
  }

  std::chrono::milliseconds reconnect_delay() {
    std::uniform_int_distribution<int> d(opt.delay_min_ms, opt.delay_max_ms);
    return std::chrono::milliseconds(d(rng));
  }

  // A node other than those in `excluded` (bit mask), uniformly; nullopt when all are excluded.
  std::optional<std::size_t> pick_node(std::uint64_t excluded) {
    std::vector<std::size_t> candidates;
    for (std::size_t i = 0; i < endpoints.size(); ++i)
      if (!(excluded >> i & 1)) candidates.push_back(i);
    if (candidates.empty()) return std::nullopt;
    std::uniform_int_distribution<std::size_t> d(0, candidates.size() - 1);
    return candidates[d(rng)];
  }

  const FleetOptions& opt;
  asio::io_context ioc{1};
  std::vector<tcp::endpoint> endpoints;
  std::vector<asio::ip::address> src;
  std::mt19937_64 rng;
  FleetStats st;
  mq::Packet pkt;  // decode scratch, reused
  Clock::time_point t0;
  bool stopping = false;

 private:
  // Releases the initial connects at --conn-rate.
  void pace() {
    if (stopping) return;
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    std::size_t due = clients_.size();
    if (opt.conn_rate > 0) due = std::min(due, static_cast<std::size_t>(elapsed * opt.conn_rate) + 1);
    while (started_ < due) {
      Client& c = *clients_[started_++];
      c.connect_to(home_of(started_ - 1));
    }
    if (started_ < clients_.size()) {
      pacer_.expires_after(kPaceStep);
      pacer_.async_wait([this](const error_code& ec) {
        if (!ec) pace();
      });
    }
  }

  std::size_t home_of(std::size_t index) const {
    std::size_t n = 0;
    for (std::size_t acc = 0; n < opt.nodes.size(); ++n) {
      acc += static_cast<std::size_t>(opt.nodes[n].count);
      if (index < acc) break;
    }
    return n;
  }

  void sweep() {
    const auto now = Clock::now();
    for (auto& c : clients_) c->sweep(now);
    sweeper_.expires_after(kSweep);
    sweeper_.async_wait([this](const error_code& ec) {
      if (!ec) sweep();
    });
  }

  // One JSON status line per interval; also where the run ends (duration, or a signal).
  void report() {
    print_line("status");
    const double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
    if (g_interrupted.load() || elapsed >= opt.duration) return stop();
    const double next = std::min(opt.report_interval, opt.duration - elapsed);
    reporter_.expires_after(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(next)));
    reporter_.async_wait([this](const error_code& ec) {
      if (!ec) report();
    });
    // A signal should not wait for a whole interval.
    if (!signal_poll_armed_) {
      signal_poll_armed_ = true;
      poll_signal();
    }
  }

  void poll_signal() {
    auto t = std::make_shared<asio::steady_timer>(ioc, std::chrono::milliseconds(100));
    t->async_wait([this, t](const error_code& ec) {
      if (ec || stopping) return;
      if (g_interrupted.load()) return stop();
      poll_signal();
    });
  }

  void stop() {
    if (stopping) return;
    stopping = true;
    for (auto& c : clients_) c->shutdown();
    sweeper_.cancel();
    pacer_.cancel();
    reporter_.cancel();
    ioc.stop();
  }

  void print_line(const char* type) {
    std::uint64_t total = 0;
    std::string per;
    for (std::size_t i = 0; i < st.connected.size(); ++i) {
      total += st.connected[i];
      per += fmt::format("{}{}", i ? "," : "", st.connected[i]);
    }
    fmt::print(
        "{{\"type\":\"{}\",\"t\":{:.3f},\"clients\":{},\"connected\":[{}],\"total\":{},\"attempts\":{},"
        "\"connects\":{},\"reconnects\":{},\"session_present\":{},\"evicted\":{},\"dropped\":{},\"refused\":{},"
        "\"redirects\":{},\"bad_references\":{},\"failed\":{},\"timeouts\":{},\"mono\":{:.3f},"
        "\"first_evicted\":{:.3f},\"last_evicted\":{:.3f},\"last_reconnect\":{:.3f}}}\n",
        type, std::chrono::duration<double>(Clock::now() - t0).count(), clients_.size(), per, total, st.attempts,
        st.connects, st.reconnects, st.session_present, st.evicted, st.dropped, st.refused, st.redirects,
        st.bad_references, st.failed, st.timeouts, mono_seconds(Clock::now()), st.first_evicted, st.last_evicted,
        st.last_reconnect);
    std::fflush(stdout);
  }

  void print_summary() {
    print_line("final");
    const auto& h = st.reconnect_ms;
    fmt::print("{{\"type\":\"reconnect_ms\",\"count\":{},\"p50\":{},\"p90\":{},\"p99\":{},\"max\":{},\"mean\":{:.1f}}}\n",
               h.count(), h.quantile(0.5), h.quantile(0.9), h.quantile(0.99), h.max(), h.mean());
    std::fflush(stdout);
  }

  std::vector<std::unique_ptr<Client>> clients_;  // after ioc: destroyed (sockets closed) before it
  std::size_t started_ = 0;
  asio::steady_timer sweeper_, pacer_, reporter_;
  bool signal_poll_armed_ = false;
};

// ---------------------------------------------------------------------------------------------
// Client

Client::Client(Fleet& f, std::string id, std::size_t home, std::size_t src)
    : f_(f), id_(std::move(id)), home_(home), src_(src), node_(home), sock_(f.ioc), timer_(f.ioc) {}

void Client::connect_to(std::size_t node) {
  if (f_.stopping) return;
  close_socket();
  node_ = node;
  st_ = St::tcp;
  t_attempt_ = Clock::now();
  ++f_.st.attempts;
  const std::uint64_t gen = gen_;
  const auto& ep = f_.endpoints[node];
  error_code ec;
  sock_.open(ep.protocol(), ec);
  if (!ec && !f_.src.empty()) {
    bind_address_no_port(sock_.native_handle());
    sock_.bind(tcp::endpoint(f_.src[src_ % f_.src.size()], 0), ec);
  }
  if (!ec) sock_.set_option(tcp::no_delay(true), ec);
  if (ec) {
    // Out of descriptors or ports: count it and try again later, on the same node.
    return attempt_failed(false, std::nullopt, false);
  }
  sock_.async_connect(ep, [this, gen](const error_code& e) { on_tcp(gen, e); });
}

void Client::on_tcp(std::uint64_t gen, const error_code& ec) {
  if (gen != gen_ || st_ != St::tcp) return;
  if (ec) return attempt_failed(false, std::nullopt, false);
  mq::Connect c;
  c.protocol_level = mq::kV5;
  c.clean_start = false;  // keep the session: an evicted device takes it over where it reconnects
  c.keep_alive = f_.opt.keepalive;
  c.client_id = id_;
  c.props.session_expiry = f_.opt.session_expiry;
  keepalive_ = f_.opt.keepalive;
  st_ = St::mqtt;
  send(c);
  read(gen);
}

void Client::read(std::uint64_t gen) {
  sock_.async_read_some(asio::buffer(chunk_), [this, gen](const error_code& ec, std::size_t n) { on_read(gen, ec, n); });
}

void Client::on_read(std::uint64_t gen, const error_code& ec, std::size_t n) {
  if (gen != gen_ || (st_ != St::mqtt && st_ != St::connected)) return;
  if (ec) {
    if (st_ == St::connected) return lost(false, std::nullopt);
    return attempt_failed(false, std::nullopt, false);
  }
  in_.append(chunk_.data(), n);
  while (!in_.empty()) {
    std::size_t consumed = 0;
    mq::DecodeError err;
    const auto status = mq::decode_packet(in_, mq::kV5, UINT32_MAX, f_.pkt, consumed, err);
    if (status == mq::DecodeStatus::need_more) break;
    if (status == mq::DecodeStatus::error) {
      if (st_ == St::connected) return lost(false, std::nullopt);
      return attempt_failed(false, std::nullopt, false);
    }
    in_.erase(0, consumed);
    on_packet(f_.pkt);
    if (gen != gen_) return;  // the packet ended this connection
  }
  if (in_.size() > kMaxInbound) return st_ == St::connected ? lost(false, std::nullopt) : attempt_failed(false, std::nullopt, false);
  read(gen);
}

void Client::on_packet(mq::Packet& p) {
  if (auto* ca = std::get_if<mq::Connack>(&p)) {
    if (st_ != St::mqtt) return lost(false, std::nullopt);
    if (ca->reason != 0) return attempt_failed(true, ca->props.server_reference, false);
    const auto now = Clock::now();
    st_ = St::connected;
    ++f_.st.connected[node_];
    ++f_.st.connects;
    if (ever_connected_) {
      ++f_.st.reconnects;
      f_.st.last_reconnect = mono_seconds(now);
      if (ca->session_present) ++f_.st.session_present;
      f_.st.reconnect_ms.record(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::milliseconds>(now - t_lost_).count()));
    }
    ever_connected_ = true;
    tried_ = 0;
    if (ca->props.server_keep_alive) keepalive_ = *ca->props.server_keep_alive;
    return;
  }
  if (auto* d = std::get_if<mq::Disconnect>(&p)) {
    if (st_ != St::connected) return attempt_failed(false, std::nullopt, false);
    const bool redirect = is_redirect(d->reason);
    return lost(redirect, redirect ? d->props.server_reference : std::nullopt);
  }
  // PINGRESP, and anything else a device without subscriptions may get: nothing to do.
}

void Client::send(const mq::Packet& p) {
  mq::encode_packet(p, mq::kV5, out_);
  last_send_ = Clock::now();
  if (sending_.empty()) write_more(gen_);
}

void Client::write_more(std::uint64_t gen) {
  if (out_.empty()) return;
  std::swap(out_, sending_);
  out_.clear();
  asio::async_write(sock_, asio::buffer(sending_), [this, gen](const error_code& ec, std::size_t) {
    if (gen != gen_) return;
    sending_.clear();
    if (ec) return;  // the read side sees the failure and handles it
    write_more(gen);
  });
}

// The connection was up and is gone: evicted (DISCONNECT 0x9C/0x9D, maybe with a reference) or dropped.
void Client::lost(bool evicted, const std::optional<std::string>& reference) {
  --f_.st.connected[node_];
  ++(evicted ? f_.st.evicted : f_.st.dropped);
  t_lost_ = Clock::now();
  if (evicted) {
    if (f_.st.first_evicted == 0) f_.st.first_evicted = mono_seconds(t_lost_);
    f_.st.last_evicted = mono_seconds(t_lost_);
  }
  close_socket();
  tried_ = std::uint64_t{1} << node_;  // a load balancer would not send it straight back
  if (reference) {
    if (auto n = f_.node_of_reference(*reference)) {
      ++f_.st.redirects;
      return retry_later(*n);
    }
    ++f_.st.bad_references;
  }
  go_elsewhere();
}

// An attempt that did not end in a connection: refused by CONNACK, or no CONNACK at all.
void Client::attempt_failed(bool refused, const std::optional<std::string>& reference, bool timeout) {
  ++(refused ? f_.st.refused : f_.st.failed);
  if (timeout) ++f_.st.timeouts;
  close_socket();
  if (!ever_connected_) return retry_later(home_, kAllRefusedBackoff);  // the initial layout must hold
  if (reference) {
    if (auto n = f_.node_of_reference(*reference)) {
      ++f_.st.redirects;
      tried_ |= std::uint64_t{1} << node_;
      return retry_later(*n);
    }
    ++f_.st.bad_references;
  }
  tried_ |= std::uint64_t{1} << node_;
  go_elsewhere();
}

// Another node, not one tried in this episode; after a full round of refusals, back off and start over.
void Client::go_elsewhere() {
  if (auto n = f_.pick_node(tried_)) return retry_later(*n);
  tried_ = std::uint64_t{1} << node_;
  auto n = f_.pick_node(tried_);
  retry_later(n ? *n : node_, kAllRefusedBackoff);
}

void Client::retry_later(std::size_t node, Clock::duration extra) {
  if (f_.stopping) return;
  st_ = St::waiting;
  const std::uint64_t gen = gen_;
  timer_.expires_after(f_.reconnect_delay() + extra);
  timer_.async_wait([this, gen, node](const error_code& ec) {
    if (ec || gen != gen_ || st_ != St::waiting) return;
    connect_to(node);
  });
}

void Client::close_socket() {
  ++gen_;  // every callback of the old attempt is now stale
  error_code ignored;
  if (sock_.is_open()) sock_.close(ignored);
  in_.clear();
  out_.clear();
  sending_.clear();
}

void Client::sweep(Clock::time_point now) {
  switch (st_) {
    case St::tcp:
    case St::mqtt:
      if (now - t_attempt_ > std::chrono::duration<double>(f_.opt.connect_timeout)) attempt_failed(false, std::nullopt, true);
      break;
    case St::connected:
      if (keepalive_ && now - last_send_ >= std::chrono::milliseconds(keepalive_ * 500)) send(mq::Pingreq{});
      break;
    default: break;
  }
}

// End of the run: a best-effort DISCONNECT (normal, the session stays) and close. No waiting.
void Client::shutdown() {
  if (st_ == St::connected && sock_.is_open()) {
    std::string bytes;
    mq::encode_packet(mq::Disconnect{}, mq::kV5, bytes);
    error_code ignored;
    sock_.non_blocking(true, ignored);
    sock_.write_some(asio::buffer(bytes), ignored);
  }
  st_ = St::stopped;
  close_socket();
  timer_.cancel();
}

}  // namespace

std::string parse_fleet_nodes(const std::string& text, std::vector<FleetNode>& out) {
  out.clear();
  std::string_view rest = text;
  while (!rest.empty()) {
    const auto comma = rest.find(',');
    std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
    if (item.empty()) continue;
    FleetNode n;
    const auto eq = item.find('=');
    std::string_view addr = item.substr(0, eq);
    if (eq != std::string_view::npos) {
      std::string_view cnt = item.substr(eq + 1);
      auto [p, ec] = std::from_chars(cnt.data(), cnt.data() + cnt.size(), n.count);
      if (ec != std::errc{} || p != cnt.data() + cnt.size() || n.count < 0)
        return fmt::format("bad client count in '{}'", item);
    }
    const auto colon = addr.rfind(':');
    if (colon == std::string_view::npos) return fmt::format("'{}' is not host:port[=count]", item);
    n.host = std::string(addr.substr(0, colon));
    std::string_view port = addr.substr(colon + 1);
    auto [p, ec] = std::from_chars(port.data(), port.data() + port.size(), n.port);
    if (ec != std::errc{} || p != port.data() + port.size() || n.port == 0) return fmt::format("bad port in '{}'", item);
    out.push_back(std::move(n));
  }
  if (out.empty()) return "no nodes";
  if (out.size() > kMaxNodes) return fmt::format("at most {} nodes", kMaxNodes);
  return {};
}

int run_fleet(const FleetOptions& opt) {
  Fleet fleet(opt);
  if (auto err = fleet.prepare(); !err.empty()) {
    fmt::print(stderr, "tidemq_bench fleet: {}\n", err);
    return 2;
  }
  return fleet.run();
}

}  // namespace tidemq::bench
