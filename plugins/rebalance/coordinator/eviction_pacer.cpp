#include "rebalance/coordinator/eviction_pacer.hpp"

namespace tidemq::rebalance {

namespace {
constexpr auto kPaceTick = std::chrono::milliseconds(10);
}

EvictionPacer::EvictionPacer(EvictionAgent& agent, util::RateLimiter& limiter, plugin::Timers& timers)
    : agent_(agent), limiter_(limiter), timers_(timers) {}

EvictionPacer::~EvictionPacer() { *alive_ = false; }

void EvictionPacer::evict(std::uint64_t count, std::uint32_t rate, std::function<bool()> hold) {
  limiter_.set_rate(rate);
  backlog_ = count;
  hold_ = std::move(hold);
  step();
}

void EvictionPacer::stop() {
  backlog_ = 0;
  timer_.reset();
}

void EvictionPacer::step() {
  if (backlog_ == 0 || !agent_.enabled()) return stop();
  const std::uint64_t n = hold_ && hold_() ? 0 : limiter_.obtain_up_to(backlog_);
  if (n > 0) {
    const std::size_t told = agent_.evict_connections(static_cast<std::size_t>(n));
    backlog_ = told < n ? 0 : backlog_ - n;  // fewer connections left than asked: done
  }
  if (backlog_ == 0) return stop();
  timer_ = timers_.after(kPaceTick, [this, alive = alive_] {
    if (*alive) step();
  });
}

}  // namespace tidemq::rebalance
