// Injected time, so that keep-alive, will delay and expiry logic is testable with a fake clock.
#pragma once

#include <chrono>
#include <cstdint>

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

// Wall-clock time for display (the admin API's connected_at and friends), never for deadlines:
// milliseconds since the Unix epoch.
inline std::int64_t wall_clock_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace tidemq::util
