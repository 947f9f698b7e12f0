// A listener's admission control: max_connections counts open sockets (released when a
// connection closes, on any thread), max_conn_rate paces accepts; both counted for /metrics.
#include <catch2/catch.hpp>

#include <vector>

#include "fake_clock.hpp"
#include "net/admission.hpp"

using namespace tidemq;
using namespace std::chrono_literals;

TEST_CASE("admission: max_connections counts open sockets and frees a slot when one closes", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission a("tcp.default", net::ListenerLimits{3, 0}, clock);
  std::vector<net::ListenerSlot> open;
  for (int i = 0; i < 3; ++i) {
    auto slot = a.admit();
    REQUIRE(slot);
    open.push_back(std::move(*slot));
  }
  CHECK_FALSE(a.admit());
  CHECK_FALSE(a.admit());
  CHECK(a.load()->open == 3);
  CHECK(a.load()->refused == 2);
  CHECK(a.load()->accepted == 3);
  open.pop_back();  // a connection closes
  CHECK(a.load()->open == 2);
  REQUIRE(a.admit());  // the temporary slot is released again at once
  CHECK(a.load()->open == 2);
  CHECK(a.load()->accepted == 4);
}

TEST_CASE("admission: a slot released early (close) and then destroyed counts once", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission a("tcp.default", net::ListenerLimits{1, 0}, clock);
  auto slot = a.admit();
  REQUIRE(slot);
  net::ListenerSlot held = std::move(*slot);
  slot.reset();
  CHECK(a.load()->open == 1);
  held = net::ListenerSlot();  // what a connection's close() does
  CHECK(a.load()->open == 0);
  CHECK(a.admit());
}

TEST_CASE("admission: max_connections 0 means no limit", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission a("tcp.default", net::ListenerLimits{0, 0}, clock);
  std::vector<net::ListenerSlot> open;
  for (int i = 0; i < 10000; ++i) open.push_back(std::move(*a.admit()));
  CHECK(a.load()->open == 10000);
  CHECK(a.accept_delay() == util::Duration::zero());
}

TEST_CASE("admission: max_conn_rate paces accepts to the rate", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission a("tcp.default", net::ListenerLimits{0, 100}, clock);
  // Accept as fast as allowed for 10 s of fake time, following the delays it asks for.
  int accepted = 0;
  const auto end = clock.t + 10s;
  while (clock.t < end) {
    auto d = a.accept_delay();
    if (d == util::Duration::zero())
      ++accepted;
    else
      clock.advance(d);
  }
  // 100/s for 10 s plus the initial burst (5 tokens: 50 ms worth).
  CHECK(accepted >= 1000);
  CHECK(accepted <= 1000 + 5 + 1);
  CHECK(a.load()->paused > 0);
}

TEST_CASE("admission: refusals are logged at most once per 10 s", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission a("tcp.default", net::ListenerLimits{1, 0}, clock);
  CHECK(a.should_log_refusal());
  CHECK_FALSE(a.should_log_refusal());
  clock.advance(9s);
  CHECK_FALSE(a.should_log_refusal());
  clock.advance(1s);
  CHECK(a.should_log_refusal());
}

TEST_CASE("listener metrics name every listener", "[unit][net][admission]") {
  test::FakeClock clock;
  net::Admission tcp("tcp.default", net::ListenerLimits{1, 0}, clock), ws("ws.default", {}, clock);
  auto slot = tcp.admit();
  CHECK_FALSE(tcp.admit());
  std::string text = net::render_listener_metrics({tcp.load(), ws.load()});
  CHECK(text.find("tidemq_listener_connections{listener=\"tcp.default\"} 1\n") != std::string::npos);
  CHECK(text.find("tidemq_listener_connections{listener=\"ws.default\"} 0\n") != std::string::npos);
  CHECK(text.find("tidemq_listener_refused_total{listener=\"tcp.default\"} 1\n") != std::string::npos);
  CHECK(text.find("# TYPE tidemq_listener_accept_paused_total counter") != std::string::npos);
}
