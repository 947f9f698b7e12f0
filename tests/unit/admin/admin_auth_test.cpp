// AdminAuth's failed-login limit: per address and user name, a locked-out pair still gets its
// right password checked once a second, the window and the limit come from the config.
#include <catch2/catch.hpp>

#include "admin/admin_auth.hpp"
#include "fake_clock.hpp"

using namespace tidemq;
using Verdict = admin::AdminAuth::Verdict;
using namespace std::chrono_literals;

namespace {

std::string basic(const std::string& user, const std::string& password) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const std::string in = user + ":" + password;
  std::string out;
  int val = 0, bits = -6;
  for (unsigned char c : in) {
    val = (val << 8) + c;
    bits += 8;
    while (bits >= 0) {
      out.push_back(k[(val >> bits) & 0x3F]);
      bits -= 6;
    }
  }
  if (bits > -6) out.push_back(k[((val << 8) >> (bits + 8)) & 0x3F]);
  while (out.size() % 4) out.push_back('=');
  return "Basic " + out;
}

}  // namespace

TEST_CASE("admin auth: lockout per address and user, the right password still gets in", "[unit][admin][auth]") {
  test::FakeClock clock;
  admin::AdminAuth auth("admin", "s3cret", "/nonexistent/api_keys", clock, admin::LoginLimits{3, 60s});
  const std::string ip = "10.0.0.1";
  for (int i = 0; i < 3; ++i) CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::wrong);
  // locked out: wrong passwords get 429 without being checked
  CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::rate_limited);
  // ... and so does the right one within the second after the last checked attempt
  CHECK(auth.check(basic("admin", "s3cret"), ip) == Verdict::rate_limited);
  clock.advance(1s);
  CHECK(auth.check(basic("admin", "s3cret"), ip) == Verdict::ok);  // one checked try a second: it gets in
  CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::wrong);  // and the count started over

  SECTION("guessing while locked out: one checked try a second") {
    for (int i = 0; i < 2; ++i) CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::wrong);
    CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::rate_limited);
    clock.advance(1s);
    CHECK(auth.check(basic("admin", "guess2"), ip) == Verdict::rate_limited);  // checked, wrong: still locked
    CHECK(auth.check(basic("admin", "s3cret"), ip) == Verdict::rate_limited);  // the second's try is used up
    clock.advance(1s);
    CHECK(auth.check(basic("admin", "s3cret"), ip) == Verdict::ok);
  }
  SECTION("another user or another address is not affected") {
    for (int i = 0; i < 5; ++i) auth.check(basic("admin", "guess"), ip);
    CHECK(auth.check(basic("other", "x"), ip) == Verdict::wrong);  // its own count
    CHECK(auth.check(basic("admin", "s3cret"), "10.0.0.2") == Verdict::ok);
  }
  SECTION("the window passes") {
    for (int i = 0; i < 5; ++i) auth.check(basic("admin", "guess"), ip);
    clock.advance(60s);
    CHECK(auth.check(basic("admin", "guess"), ip) == Verdict::wrong);
  }
  SECTION("missing credentials are not failures") {
    for (int i = 0; i < 10; ++i) CHECK(auth.check("", ip) == Verdict::missing);
    CHECK(auth.check(basic("admin", "s3cret"), ip) == Verdict::ok);
  }
}
