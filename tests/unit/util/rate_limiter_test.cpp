#include <catch2/catch.hpp>

#include <deque>
#include <utility>
#include <vector>

#include "fake_clock.hpp"
#include "tidemq/util/rate_limiter.hpp"

using namespace tidemq;
using namespace std::chrono_literals;
using util::RateLimiter;

namespace {

// One obtain per tick: (time since start, how many were let through).
using Trace = std::vector<std::pair<util::Duration, std::uint64_t>>;

// The most any window [t, t + 100 ms] let through.
std::uint64_t worst_100ms_window(const Trace& trace) {
  std::uint64_t worst = 0;
  for (std::size_t i = 0; i < trace.size(); ++i) {
    std::uint64_t sum = 0;
    for (std::size_t j = i; j < trace.size() && trace[j].first - trace[i].first <= 100ms; ++j) sum += trace[j].second;
    worst = std::max(worst, sum);
  }
  return worst;
}

Trace simulate(test::FakeClock& clock, RateLimiter& lim, util::Duration run, util::Duration tick,
               std::uint64_t demand = 1'000'000) {
  Trace trace;
  const auto start = clock.now();
  for (auto t = 0ns; t <= run; t += tick) {
    trace.emplace_back(clock.now() - start, lim.obtain_up_to(demand));
    clock.advance(tick);
  }
  return trace;
}

std::uint64_t total(const Trace& trace) {
  std::uint64_t sum = 0;
  for (const auto& [t, n] : trace) sum += n;
  return sum;
}

}  // namespace

TEST_CASE("limiter refills at the configured rate", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, /*per_second=*/100, /*burst=*/100};
  REQUIRE(lim.obtain_up_to(500) == 100);  // burst drained
  clock.advance(250ms);
  REQUIRE(lim.obtain_up_to(500) == 25);  // exactly a quarter-second of tokens
  REQUIRE(lim.obtain_up_to(1) == 0);
}

TEST_CASE("limiter never gives more than asked", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 1000};
  CHECK(lim.obtain_up_to(0) == 0);
  CHECK(lim.obtain_up_to(3) == 3);
  CHECK(lim.available() == 47);  // default burst 1000/20 = 50
  clock.advance(1s);
  CHECK(lim.obtain_up_to(7) == 7);
  CHECK(lim.available() == 43);  // the bucket is capped at the burst
}

TEST_CASE("limiter default burst is 50 ms of tokens, at least one", "[unit][util][rate_limiter]") {
  CHECK(RateLimiter::smooth_burst(1) == 1);
  CHECK(RateLimiter::smooth_burst(19) == 1);
  CHECK(RateLimiter::smooth_burst(100) == 5);
  CHECK(RateLimiter::smooth_burst(1000) == 50);
  CHECK(RateLimiter::smooth_burst(2147483647u) == 107374182);
  test::FakeClock clock;
  RateLimiter lim{clock, 100};
  CHECK(lim.burst() == 5);
  CHECK(lim.rate() == 100);
}

TEST_CASE("limiter keeps fractions of tokens between calls", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 3, 2};
  REQUIRE(lim.obtain_up_to(10) == 2);
  std::uint64_t got = 0;
  for (int i = 0; i < 100; ++i) {  // 10 s in 100 ms steps: 0.3 token each
    clock.advance(100ms);
    got += lim.obtain_up_to(10);
  }
  CHECK(got == 30);
}

TEST_CASE("limiter delivers the rate over a long run", "[unit][util][rate_limiter]") {
  for (std::uint32_t rate : {1u, 100u, 1000u, 20000u}) {
    test::FakeClock clock;
    RateLimiter lim{clock, rate};
    const auto trace = simulate(clock, lim, 10s, 10ms);
    INFO("rate " << rate);
    // The initial bucket plus ten seconds of refill (the last tick at exactly 10 s).
    CHECK(total(trace) == lim.burst() + 10ull * rate);
  }
}

TEST_CASE("limiter driven by time_until_available loses nothing at low rates", "[unit][util][rate_limiter]") {
  // At r < 20 the bucket holds one token; a consumer that waits exactly until the next one is
  // due (instead of polling on a coarse tick that can find the bucket full) gets the full rate.
  // (Polling every 10 ms at r = 7 loses up to 7 % to the full bucket.)
  for (std::uint32_t rate : {3u, 7u, 19u}) {
    test::FakeClock clock;
    RateLimiter lim{clock, rate};
    const auto end = clock.now() + 10s + 1us;  // waits are rounded up to whole nanoseconds
    std::uint64_t got = lim.obtain_up_to(1000);
    while (true) {
      const auto wait = lim.time_until_available();
      if (clock.now() + wait > end) break;
      clock.advance(wait);
      got += lim.obtain_up_to(1000);
    }
    INFO("rate " << rate);
    CHECK(got == 1 + 10ull * rate);
  }
}

TEST_CASE("limiter spreads evictions evenly over each second", "[unit][util][rate_limiter]") {
  for (std::uint32_t rate : {100u, 1000u}) {
    test::FakeClock clock;
    RateLimiter lim{clock, rate};
    const auto trace = simulate(clock, lim, 10s, 10ms);
    INFO("rate " << rate);
    const double bound = 0.15 * rate + 1;
    CHECK(static_cast<double>(worst_100ms_window(trace)) <= bound);
    // Steady state: every 10 ms tick lets exactly r/100 through.
    for (std::size_t i = 1; i < trace.size(); ++i) CHECK(trace[i].second == rate / 100);
  }
}

TEST_CASE("limiter bound holds for uneven ticks and odd rates", "[unit][util][rate_limiter]") {
  for (std::uint32_t rate : {1u, 13u, 100u, 333u, 1000u, 5000u}) {
    for (auto tick : {1ms, 7ms, 10ms, 33ms, 100ms}) {
      test::FakeClock clock;
      RateLimiter lim{clock, rate};
      const auto trace = simulate(clock, lim, 5s, tick);
      INFO("rate " << rate << " tick " << tick.count() << " ms");
      CHECK(static_cast<double>(worst_100ms_window(trace)) <= 0.15 * rate + 1);
    }
  }
}

TEST_CASE("limiter gives no burst after idling beyond the bound", "[unit][util][rate_limiter]") {
  for (std::uint32_t rate : {100u, 1000u}) {
    test::FakeClock clock;
    RateLimiter lim{clock, rate};
    (void)simulate(clock, lim, 2s, 10ms);
    clock.advance(30s);  // idle
    const auto after = simulate(clock, lim, 2s, 10ms);
    INFO("rate " << rate);
    CHECK(after.front().second == lim.burst());
    CHECK(static_cast<double>(worst_100ms_window(after)) <= 0.15 * rate + 1);
  }
}

TEST_CASE("limiter is shared by two consumers", "[unit][util][rate_limiter]") {
  // Connection eviction and session migration take from the same bucket, turn by turn.
  test::FakeClock clock;
  RateLimiter lim{clock, 1000};
  Trace both;
  std::uint64_t conns = 0, sessions = 0;
  const auto start = clock.now();
  for (int i = 0; i <= 1000; ++i) {  // 10 s, 10 ms ticks, 5 ms apart
    const auto c = lim.obtain_up_to(1'000'000);
    conns += c;
    both.emplace_back(clock.now() - start, c);
    clock.advance(5ms);
    const auto s = lim.obtain_up_to(1'000'000);
    sessions += s;
    both.emplace_back(clock.now() - start, s);
    clock.advance(5ms);
  }
  CHECK(conns + sessions == 50 + 1000 * 10 + 5);  // burst + 10.005 s of refill
  CHECK(conns > 4000);
  CHECK(sessions > 4000);
  CHECK(static_cast<double>(worst_100ms_window(both)) <= 0.15 * 1000 + 1);
}

TEST_CASE("limiter consumers with small demands leave the rest to others", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 100};
  clock.advance(1s);
  CHECK(lim.obtain_up_to(2) == 2);
  CHECK(lim.obtain_up_to(100) == 3);
  CHECK(lim.obtain_up_to(100) == 0);
}

TEST_CASE("limiter rate changes take effect at once", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 1000};  // burst 50

  SECTION("lowering the rate clamps the bucket to the new burst") {
    clock.advance(1s);
    lim.set_rate(100);  // burst 5
    CHECK(lim.burst() == 5);
    CHECK(lim.obtain_up_to(1000) == 5);
    clock.advance(30ms);
    CHECK(lim.obtain_up_to(1000) == 3);
    clock.advance(1s);
    CHECK(lim.obtain_up_to(1000) == 5);
  }
  SECTION("raising the rate creates no tokens") {
    CHECK(lim.obtain_up_to(1000) == 50);
    lim.set_rate(10000);  // burst 500
    CHECK(lim.obtain_up_to(1000) == 0);
    clock.advance(10ms);
    CHECK(lim.obtain_up_to(1000) == 100);
  }
  SECTION("tokens earned before the change are kept at the old rate") {
    CHECK(lim.obtain_up_to(1000) == 50);
    clock.advance(20ms);  // 20 tokens at 1000/s
    lim.set_rate(10000);
    CHECK(lim.obtain_up_to(1000) == 20);
  }
  SECTION("a change mid-run keeps the 100 ms bound of the new rate") {
    auto trace = simulate(clock, lim, 1s, 10ms);
    lim.set_rate(100);
    auto after = simulate(clock, lim, 2s, 10ms);
    CHECK(static_cast<double>(worst_100ms_window(after)) <= 0.15 * 100 + 1);
  }
  SECTION("rate 0 pauses") {
    CHECK(lim.obtain_up_to(1000) == 50);
    lim.set_rate(0);
    clock.advance(10s);
    CHECK(lim.obtain_up_to(1000) == 0);
    CHECK(lim.time_until_available() == util::Duration::max());
    lim.set_rate(100);
    clock.advance(10ms);
    CHECK(lim.obtain_up_to(1000) == 1);
  }
  SECTION("an explicit burst") {
    lim.set_rate(10, 10);
    CHECK(lim.burst() == 10);
    clock.advance(5s);
    CHECK(lim.obtain_up_to(1000) == 10);
  }
}

TEST_CASE("limiter tells when the next token is due", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 100};
  CHECK(lim.time_until_available() == 0ns);
  CHECK(lim.obtain_up_to(100) == 5);
  CHECK(lim.time_until_available() == 10ms);
  clock.advance(4ms);
  CHECK(lim.time_until_available() == 6ms);
  clock.advance(6ms);
  CHECK(lim.time_until_available() == 0ns);
  CHECK(lim.obtain_up_to(100) == 1);
}

TEST_CASE("limiter ignores a clock that does not move forward", "[unit][util][rate_limiter]") {
  test::FakeClock clock;
  RateLimiter lim{clock, 100};
  CHECK(lim.obtain_up_to(100) == 5);
  clock.advance(-1s);
  CHECK(lim.obtain_up_to(100) == 0);
  clock.advance(1s + 10ms);
  CHECK(lim.obtain_up_to(100) == 1);
}
