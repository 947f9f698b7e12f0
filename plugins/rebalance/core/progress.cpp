#include "rebalance/core/progress.hpp"

#include <algorithm>
#include <ctime>

#include <fmt/format.h>

#include "rebalance/core/fsm_io.hpp"

namespace tidemq::rebalance {

namespace {
std::uint64_t ceil_seconds(std::chrono::milliseconds ms) {
  if (ms.count() <= 0) return 0;
  return static_cast<std::uint64_t>((ms.count() + 999) / 1000);
}
}  // namespace

std::string_view to_string(RunResult r) noexcept {
  switch (r) {
    case RunResult::completed: return "completed";
    case RunResult::aborted: return "aborted";
    case RunResult::stopped: return "stopped";
  }
  return "unknown";
}

Progress wait_progress(util::TimePoint since, std::chrono::milliseconds length, util::TimePoint now) {
  if (length.count() <= 0) return {100, 0};
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(now - since);
  const auto clamped = std::clamp(elapsed, std::chrono::milliseconds(0), length);
  const int percent = static_cast<int>(clamped.count() * 100 / length.count());
  return {percent, ceil_seconds(length - clamped)};
}

Progress work_progress(std::uint64_t baseline, std::uint64_t remaining, std::uint64_t ticks,
                       std::chrono::milliseconds interval) {
  Progress p;
  if (baseline == 0 || remaining == 0) p.percent = remaining == 0 ? 100 : 0;
  else if (remaining >= baseline) p.percent = 0;
  else p.percent = static_cast<int>((baseline - remaining) * 100 / baseline);
  p.eta_seconds = ceil_seconds(interval * static_cast<std::int64_t>(ticks));
  return p;
}

void add_progress(nlohmann::json& status, const Progress& p) {
  status["progress"] = p.percent;
  status["eta_seconds"] = p.eta_seconds ? nlohmann::json(*p.eta_seconds) : nlohmann::json(nullptr);
}

std::string rfc3339(std::chrono::system_clock::time_point t) {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t secs = static_cast<std::time_t>(ms >= 0 ? ms / 1000 : (ms - 999) / 1000);
  const auto millis = static_cast<int>(ms - static_cast<std::int64_t>(secs) * 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
}

}  // namespace tidemq::rebalance
