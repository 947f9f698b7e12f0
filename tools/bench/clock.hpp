// The one clock of tidemq_bench: steady (CLOCK_MONOTONIC) nanoseconds, as the payload stamps carry.
#pragma once

#include <chrono>
#include <cstdint>

namespace tidemq::bench {

inline constexpr std::uint64_t kSec = 1'000'000'000ull;
inline constexpr std::uint64_t kMs = 1'000'000ull;

inline std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
          .count());
}

}  // namespace tidemq::bench
