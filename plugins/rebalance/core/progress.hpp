// Progress (0–100) and ETA of the current phase, as shown in status (beyond EMQX).
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "tidemq/util/clock.hpp"

namespace tidemq::rebalance {

struct Progress {
  int percent = 0;                          // 0 … 100, of the current phase
  std::optional<std::uint64_t> eta_seconds;  // nullopt: unknown (no measurement yet, no recipients)

  friend bool operator==(const Progress&, const Progress&) = default;
};

// A wait of `length` that began at `since`.
Progress wait_progress(util::TimePoint since, std::chrono::milliseconds length, util::TimePoint now);

// Work that was `baseline` at the first tick of the phase and is `remaining` now, taking `ticks`
// more ticks of `interval`.
Progress work_progress(std::uint64_t baseline, std::uint64_t remaining, std::uint64_t ticks,
                       std::chrono::milliseconds interval);

// Adds "progress" and "eta_seconds" (null when unknown) to a status object.
void add_progress(nlohmann::json& status, const Progress& p);

// RFC 3339 UTC with milliseconds: 2024-05-01T12:00:00.123Z.
std::string rfc3339(std::chrono::system_clock::time_point t);

}  // namespace tidemq::rebalance
