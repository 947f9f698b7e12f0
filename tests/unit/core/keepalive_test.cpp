#include <catch2/catch.hpp>

#include "core/keepalive.hpp"
#include "fake_clock.hpp"

using namespace tidemq;
using namespace std::chrono_literals;

TEST_CASE("keep-alive expires after 1.5 × the interval of silence", "[unit][core][keepalive]") {
  test::FakeClock clock;
  core::KeepAliveWatch w;
  w.start(10, clock.now());
  clock.advance(14900ms);
  CHECK_FALSE(w.expired(clock.now()));
  w.on_activity(clock.now());
  clock.advance(14900ms);
  CHECK_FALSE(w.expired(clock.now()));
  clock.advance(100ms);
  CHECK(w.expired(clock.now()));
  CHECK(w.deadline() == clock.now());
}

TEST_CASE("keep-alive 0 never expires", "[unit][core][keepalive]") {
  test::FakeClock clock;
  core::KeepAliveWatch w;
  w.start(0, clock.now());
  clock.advance(std::chrono::hours(24));
  CHECK_FALSE(w.expired(clock.now()));
}
