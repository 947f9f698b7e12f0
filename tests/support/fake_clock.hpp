// A clock that moves only when the test says so.
#pragma once

#include "tidemq/util/clock.hpp"

namespace tidemq::test {

struct FakeClock final : util::Clock {
  util::TimePoint t{std::chrono::hours(1000)};
  util::TimePoint now() const override { return t; }
  void advance(util::Duration d) { t += d; }
};

}  // namespace tidemq::test
