// Releases a batch of connection evictions through the node's rate limiter in 10 ms steps, so a
// tick's batch is spread over the second instead of leaving at once. Control thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>

#include "rebalance/agent/eviction_agent.hpp"
#include "tidemq/util/rate_limiter.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class EvictionPacer {
 public:
  EvictionPacer(EvictionAgent& agent, util::RateLimiter& limiter, plugin::Timers& timers);
  ~EvictionPacer();

  // Replaces the backlog with `count` evictions at `rate` per second. While `hold()` is true,
  // nothing is evicted yet (e.g. waiting for redirect targets).
  void evict(std::uint64_t count, std::uint32_t rate, std::function<bool()> hold = nullptr);
  void stop();
  std::uint64_t backlog() const { return backlog_; }

 private:
  void step();

  EvictionAgent& agent_;
  util::RateLimiter& limiter_;
  plugin::Timers& timers_;
  std::uint64_t backlog_ = 0;
  std::function<bool()> hold_;
  plugin::Registration timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tidemq::rebalance
