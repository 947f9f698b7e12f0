// Injected time, so that keep-alive, will delay and expiry logic is testable with a fake clock.
#pragma once

#include <chrono>

namespace tidemq::util {

using Duration = std::chrono::steady_clock::duration;
using TimePoint = std::chrono::steady_clock::time_point;

struct Clock {
  virtual ~Clock() = default;
  virtual TimePoint now() const = 0;
};

struct SteadyClock final : Clock {
  TimePoint now() const override { return std::chrono::steady_clock::now(); }
};

}  // namespace tidemq::util
