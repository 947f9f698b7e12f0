// A listener's admission control: max_connections and max_conn_rate (net/listener_limits.hpp),
// and the counters /metrics shows for them. The listener asks it on the control thread; the
// slots it hands out are released on the connections' own threads when they close.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "net/listener_limits.hpp"
#include "tidemq/util/clock.hpp"
#include "tidemq/util/rate_limiter.hpp"

namespace tidemq::net {

// One listener's figures, shared by the listener and its connections.
struct ListenerLoad {
  explicit ListenerLoad(std::string l) : label(std::move(l)) {}
  const std::string label;                  // "tcp.default", "ws.default"
  std::atomic<std::size_t> open{0};         // sockets open now
  std::atomic<std::uint64_t> accepted{0};   // sockets accepted and kept
  std::atomic<std::uint64_t> refused{0};    // sockets closed at once: max_connections reached
  std::atomic<std::uint64_t> paused{0};     // times accepting paused for max_conn_rate
};

// Held by a connection for as long as its socket is open: counts it in ListenerLoad::open.
class ListenerSlot {
 public:
  ListenerSlot() = default;
  explicit ListenerSlot(std::shared_ptr<ListenerLoad> load) : load_(std::move(load)) {}
  ListenerSlot(ListenerSlot&&) noexcept = default;
  ListenerSlot& operator=(ListenerSlot&& other) noexcept {
    release();
    load_ = std::move(other.load_);
    return *this;
  }
  ~ListenerSlot() { release(); }

 private:
  void release() {
    if (load_) load_->open.fetch_sub(1, std::memory_order_relaxed);
    load_.reset();
  }
  std::shared_ptr<ListenerLoad> load_;
};

class Admission {
 public:
  Admission(std::string label, ListenerLimits limits, const util::Clock& clock);

  // How long to wait before accepting the next socket: zero now, or until max_conn_rate allows
  // one more (a token is taken when zero is returned).
  util::Duration accept_delay();
  // For a socket just accepted: its slot, or nothing when the listener is full (close it).
  std::optional<ListenerSlot> admit();
  // True at most once every 10 s while refusing: when to log it.
  bool should_log_refusal();

  const std::shared_ptr<ListenerLoad>& load() const { return load_; }
  const ListenerLimits& limits() const { return limits_; }

 private:
  ListenerLimits limits_;
  const util::Clock& clock_;
  std::optional<util::RateLimiter> rate_;
  std::shared_ptr<ListenerLoad> load_;
  std::optional<util::TimePoint> last_refusal_log_;
};

// The Prometheus text of every listener's figures (appended to GET /metrics).
std::string render_listener_metrics(const std::vector<std::shared_ptr<ListenerLoad>>& loads);

}  // namespace tidemq::net
