// The load engine's threads: one Worker per --threads, each running its own io_context with the
// connections pinned to it, started at the -R pace and ticked every millisecond (timed publishers,
// window refills, timeouts, keep-alive). Included by the engine's .cpp files only (Asio).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "error_log.hpp"
#include "load_plan.hpp"
#include "load_stats.hpp"
#include "options.hpp"
#include "tidemq/mqtt/codec.hpp"

namespace tidemq::bench {

class Conn;

// What every worker needs to know, fixed before the workers start.
struct Shared {
  const Options& opt;
  std::vector<boost::asio::ip::address> src;  // --src-ips
  std::uint8_t level = mqtt::kV5;             // protocol level on the wire
  ErrorLog errors;
  // pubsub closed loop: messages received per publisher (over all its subscribers), so a publisher
  // running flat out keeps at most `window` messages on their way.
  std::unique_ptr<std::atomic<std::uint64_t>[]> delivered;
  std::size_t delivered_n = 0;
  std::uint64_t receivers = 1;  // subscribers per publisher
  std::uint64_t window = 0;     // 0 = open loop
};

class Worker {
 public:
  Worker(Shared& sh, int id);
  ~Worker();

  void run_thread();
  void join();
  void stop();

  // Creates connections for `specs` and starts them at `rate` per second from `t0` on.
  void add_and_connect(std::vector<ConnSpec> specs, double rate, std::uint64_t t0);
  void start_publishing(std::uint64_t t0);
  void stop_publishing();
  void disconnect_all();

  // Publishers on this worker get their window refilled right after their messages arrive;
  // the 1 ms tick covers publishers on other workers (and the stall check).
  void refill_dirty(std::uint64_t now);

  Shared& sh;
  int id;
  boost::asio::io_context ioc{1};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guard;
  std::thread thread;
  Stats st;
  mqtt::Packet pkt;  // decode scratch, reused
  bool publishing = false;
  bool stopping = false;
  std::vector<std::unique_ptr<Conn>> conns;
  std::vector<Conn*> credit_pubs;  // flat-out publishers limited by the pubsub window
  std::vector<Conn*> local_pubs;   // by publisher index, those pinned to this worker
  std::vector<Conn*> dirty_pubs;   // local publishers whose messages arrived since the last refill

 private:
  void refill_all(std::uint64_t now);
  void schedule_tick();
  void tick();
  void start_due(std::uint64_t now);

  boost::asio::steady_timer ticker;
  std::vector<Conn*> pending;  // every connection, in start order; [0, pending_next) started
  std::size_t pending_next = 0;
  std::size_t pending_base = 0;
  double pending_rate = 0;
  std::uint64_t pending_t0 = 0;
  std::vector<Conn*> timed_pubs;
  std::uint64_t last_sweep = 0;
};

}  // namespace tidemq::bench
