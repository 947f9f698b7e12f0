#include "tidemq/util/rate_limiter.hpp"

#include <chrono>

namespace tidemq::util {

RateLimiter::RateLimiter(const util::Clock& clock, std::uint32_t per_second)
    : RateLimiter(clock, per_second, smooth_burst(per_second)) {}

RateLimiter::RateLimiter(const util::Clock& clock, std::uint32_t per_second, std::uint32_t burst)
    : clock_(clock),
      rate_(per_second),
      burst_(std::max<std::uint32_t>(1, burst)),
      credit_(static_cast<std::uint64_t>(burst_) * kUnit),
      last_(clock.now()) {}

void RateLimiter::refill() {
  const util::TimePoint now = clock_.now();
  if (now <= last_) return;
  const auto elapsed =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
  last_ = now;
  const std::uint64_t cap = static_cast<std::uint64_t>(burst_) * kUnit;
  if (credit_ >= cap) {
    credit_ = cap;
    return;
  }
  if (rate_ == 0) return;
  const std::uint64_t missing = cap - credit_;
  const std::uint64_t ns_to_full = (missing + rate_ - 1) / rate_;
  credit_ = elapsed >= ns_to_full ? cap : credit_ + elapsed * rate_;  // elapsed·rate < missing + rate
}

std::uint64_t RateLimiter::obtain_up_to(std::uint64_t n) {
  refill();
  const std::uint64_t take = std::min(n, credit_ / kUnit);
  credit_ -= take * kUnit;
  return take;
}

std::uint64_t RateLimiter::available() {
  refill();
  return credit_ / kUnit;
}

util::Duration RateLimiter::time_until_available() {
  refill();
  if (credit_ >= kUnit) return util::Duration::zero();
  if (rate_ == 0) return util::Duration::max();
  const std::uint64_t ns = (kUnit - credit_ + rate_ - 1) / rate_;
  return std::chrono::duration_cast<util::Duration>(std::chrono::nanoseconds(static_cast<std::int64_t>(ns)));
}

void RateLimiter::set_rate(std::uint32_t per_second) { set_rate(per_second, smooth_burst(per_second)); }

void RateLimiter::set_rate(std::uint32_t per_second, std::uint32_t burst) {
  refill();  // tokens earned so far, at the old rate
  rate_ = per_second;
  burst_ = std::max<std::uint32_t>(1, burst);
  credit_ = std::min(credit_, static_cast<std::uint64_t>(burst_) * kUnit);
}

}  // namespace tidemq::util
