// Migrates a tick's batch of sessions through the node's rate limiter in 10 ms steps, and
// keeps the per-session attempt count (a session that failed 3 times is left alone;
// docs/rebalance.md, "Session migration").
// Both coordinators use it: the evacuation for its own node, a rebalance donor for its own.
// Control thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "rebalance/agent/eviction_agent.hpp"
#include "tidemq/util/rate_limiter.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class SessionPacer {
 public:
  static constexpr int kMaxAttempts = 3;

  struct Report {
    std::uint64_t migrated = 0;
    std::uint64_t failed = 0;    // failed this time, to be retried on a later tick
    std::uint64_t given_up = 0;  // reached kMaxAttempts this time
  };

  SessionPacer(EvictionAgent& agent, util::RateLimiter& limiter, plugin::Timers& timers);
  ~SessionPacer();

  // Migrates up to `count` sessions at `rate` per second to `targets` (round-robin);
  // `done` once every released session has been tried. A batch still running is abandoned
  // (its done is never called).
  void migrate(std::uint64_t count, std::uint32_t rate, std::vector<std::string> targets, plugin::SessionFilter filter,
               std::function<void(Report)> done);
  void stop();
  // Forgets the attempt counts (a new evacuation or donor run).
  void reset_attempts() { attempts_.clear(); }
  // Sessions that reached kMaxAttempts: they stay on this node.
  std::uint64_t stuck_sessions() const;

 private:
  struct Batch;
  void step(std::shared_ptr<Batch> batch);
  void finish_if_done(const std::shared_ptr<Batch>& batch);

  EvictionAgent& agent_;
  util::RateLimiter& limiter_;
  plugin::Timers& timers_;
  std::map<core::ClientId, int> attempts_;  // failed attempts per client
  std::shared_ptr<Batch> current_;
  plugin::Registration timer_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tidemq::rebalance
