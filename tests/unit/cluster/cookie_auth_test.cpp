#include <catch2/catch.hpp>

#include <set>

#include "cluster/cookie_auth.hpp"

using namespace tidemq::cluster;

TEST_CASE("random_nonce returns 32 fresh random bytes", "[unit][cluster][cookie]") {
  std::set<std::string> seen;
  for (int i = 0; i < 16; ++i) {
    auto n = random_nonce();
    CHECK(n.size() == kNonceBytes);
    seen.insert(n);
  }
  CHECK(seen.size() == 16);
}

TEST_CASE("cookie_proof is a deterministic HMAC over role, nonce and node name", "[unit][cluster][cookie]") {
  const std::string nonce = std::string("\x00\x01nonce\x00", 8) + std::string(24, '\x7f');
  const auto p = cookie_proof("secret-cookie", "connect", nonce, "node-a");
  CHECK(p.size() == kProofBytes);
  CHECK(cookie_proof("secret-cookie", "connect", nonce, "node-a") == p);

  CHECK(cookie_proof("other-cookie", "connect", nonce, "node-a") != p);
  CHECK(cookie_proof("secret-cookie", "accept", nonce, "node-a") != p);
  CHECK(cookie_proof("secret-cookie", "connect", nonce.substr(0, 31) + "x", "node-a") != p);
  CHECK(cookie_proof("secret-cookie", "connect", nonce, "node-b") != p);
  CHECK(cookie_proof("", "connect", nonce, "node-a").size() == kProofBytes);
  CHECK(cookie_proof("", "connect", nonce, "node-a") != p);
}

TEST_CASE("cookie_proof matches a known HMAC-SHA256 value", "[unit][cluster][cookie]") {
  // HMAC-SHA256("key", "connect\0N\0name"), from `printf 'connect\0N\0name' | openssl dgst -sha256 -hmac key`.
  static const unsigned char kExpected[] = {
      0x88, 0xf6, 0xcc, 0x5b, 0xaa, 0xd1, 0x5d, 0x16, 0x50, 0x1d, 0x0f, 0x71, 0xe8, 0x73, 0xb6, 0x79,
      0x3f, 0x05, 0xf8, 0x2b, 0x99, 0x07, 0xcd, 0xf4, 0xf7, 0xa8, 0xe9, 0x1c, 0xec, 0xc9, 0x98, 0xfc};
  const auto p = cookie_proof("key", "connect", "N", "name");
  CHECK(p == std::string(reinterpret_cast<const char*>(kExpected), sizeof kExpected));
}

TEST_CASE("proofs_equal compares in constant time and checks sizes", "[unit][cluster][cookie]") {
  const auto a = cookie_proof("c", "accept", "n", "x");
  const auto b = cookie_proof("c", "accept", "n", "y");
  CHECK(proofs_equal(a, a));
  CHECK(proofs_equal(a, std::string(a)));
  CHECK_FALSE(proofs_equal(a, b));
  CHECK_FALSE(proofs_equal(a, a.substr(0, 31)));
  CHECK_FALSE(proofs_equal(a, a + '\0'));
  CHECK_FALSE(proofs_equal("", a));
  CHECK(proofs_equal("", ""));
}
