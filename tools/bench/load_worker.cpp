// Worker: the io_context thread of a group of connections, its connect pacing and its 1 ms tick.
#include "load_worker.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>

#include "clock.hpp"
#include "load_connection.hpp"

namespace tidemq::bench {

namespace asio = boost::asio;

Worker::Worker(Shared& sh, int id) : sh(sh), id(id), ticker(ioc) {}

Worker::~Worker() = default;

void Worker::run_thread() {
  guard.emplace(asio::make_work_guard(ioc));
  thread = std::thread([this] {
    schedule_tick();
    ioc.run();
  });
}

void Worker::join() {
  if (thread.joinable()) thread.join();
}

void Worker::stop() {
  asio::post(ioc, [this] {
    ticker.cancel();
    guard.reset();
    ioc.stop();
  });
}

void Worker::add_and_connect(std::vector<ConnSpec> specs, double rate, std::uint64_t t0) {
  asio::post(ioc, [this, specs = std::move(specs), rate, t0]() mutable {
    pending_base = pending.size();
    for (auto& s : specs) {
      conns.push_back(std::make_unique<Conn>(*this, std::move(s)));
      Conn* c = conns.back().get();
      pending.push_back(c);
      if (c->spec().role == Role::pub && c->spec().period_ns) timed_pubs.push_back(c);
      if (c->spec().role == Role::pub && !c->spec().period_ns && sh.window) {
        credit_pubs.push_back(c);
        if (local_pubs.size() <= c->spec().index) local_pubs.resize(c->spec().index + 1, nullptr);
        local_pubs[c->spec().index] = c;
      }
    }
    pending_rate = rate;
    pending_t0 = t0;
    start_due(now_ns());
  });
}

void Worker::start_publishing(std::uint64_t t0) {
  asio::post(ioc, [this, t0] {
    publishing = true;
    for (auto& c : conns)
      if (c->spec().role == Role::pub) c->begin_publishing(t0);
  });
}

void Worker::stop_publishing() {
  asio::post(ioc, [this] { publishing = false; });
}

void Worker::disconnect_all() {
  asio::post(ioc, [this] {
    stopping = true;
    publishing = false;
    pending.resize(pending_next);  // never start the rest
    for (auto& c : conns) c->disconnect();
  });
}

void Worker::refill_dirty(std::uint64_t now) {
  for (Conn* c : dirty_pubs) {
    c->refill_pending = false;
    if (publishing) c->refill(now);
  }
  dirty_pubs.clear();
}

void Worker::refill_all(std::uint64_t now) {
  if (publishing)
    for (Conn* c : credit_pubs) c->refill(now);
}

void Worker::schedule_tick() {
  ticker.expires_after(std::chrono::milliseconds(1));
  ticker.async_wait([this](const boost::system::error_code& ec) {
    if (ec) return;
    tick();
    schedule_tick();
  });
}

void Worker::tick() {
  std::uint64_t now = now_ns();
  start_due(now);
  if (publishing)
    for (Conn* c : timed_pubs) c->pub_tick(now);
  refill_all(now);
  if (now - last_sweep >= 100 * kMs) {
    last_sweep = now;
    for (std::size_t i = 0; i < pending_next; ++i) pending[i]->sweep(now);
  }
}

void Worker::start_due(std::uint64_t now) {
  if (stopping || pending_next >= pending.size()) return;
  std::size_t due = pending.size();
  if (pending_rate > 0) {
    double elapsed = now > pending_t0 ? static_cast<double>(now - pending_t0) / 1e9 : 0.0;
    due = std::min(due, pending_base + static_cast<std::size_t>(elapsed * pending_rate) + 1);
  }
  while (pending_next < due) pending[pending_next++]->start();
}

}  // namespace tidemq::bench
