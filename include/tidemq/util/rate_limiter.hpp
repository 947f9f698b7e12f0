// A token bucket with continuous refill (nanosecond resolution) holding at most `burst` tokens,
// by default 1/20 s worth (at least 1). A consumer that asks often (every 10 ms, say) therefore
// gets an even flow over each second: at rate r no 100 ms window passes more than
// burst + 0.1·r ≤ 0.15·r + 1 tokens, also after idling. Used by the rebalance plugin's one
// eviction limiter per node and by the MQTT listeners' max_conn_rate.
//
// Rate changes take effect at once: tokens earned so far are kept at the old rate, then the
// bucket is clamped to the new burst, so lowering the rate never lets an old, larger bucket
// through and raising it creates no tokens. Rate 0 pauses the limiter. Not thread-safe: its owner
// keeps it on one executor.
#pragma once

#include <algorithm>
#include <cstdint>

#include "tidemq/util/clock.hpp"

namespace tidemq::util {

class RateLimiter {
 public:
  // The default burst: 50 ms worth of tokens, at least 1.
  static constexpr std::uint32_t smooth_burst(std::uint32_t per_second) noexcept {
    return std::max<std::uint32_t>(1, per_second / 20);
  }

  // Starts full. An explicit burst (at least 1) above smooth_burst() gives up the 100 ms bound.
  RateLimiter(const util::Clock& clock, std::uint32_t per_second);
  RateLimiter(const util::Clock& clock, std::uint32_t per_second, std::uint32_t burst);

  // Takes and returns how many of `n` may go now (0 … n).
  [[nodiscard]] std::uint64_t obtain_up_to(std::uint64_t n);
  // Whole tokens available now, without taking any.
  [[nodiscard]] std::uint64_t available();
  // Time until at least one token is available (0 if one is now); Duration::max() when paused.
  [[nodiscard]] util::Duration time_until_available();

  // New rate with the default burst, or with an explicit one; see the header comment.
  void set_rate(std::uint32_t per_second);
  void set_rate(std::uint32_t per_second, std::uint32_t burst);

  std::uint32_t rate() const noexcept { return rate_; }
  std::uint32_t burst() const noexcept { return burst_; }

 private:
  // Credit is kept in token·ns/s: one token is kUnit units and a rate r adds r units per ns.
  static constexpr std::uint64_t kUnit = 1'000'000'000;

  void refill();

  const util::Clock& clock_;
  std::uint32_t rate_;
  std::uint32_t burst_;
  std::uint64_t credit_;
  util::TimePoint last_;
};

}  // namespace tidemq::util
