// valid_utf8: well-formed UTF-8 (RFC 3629) without U+0000, as MQTT strings require (§1.5.4).
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "mqtt_test_helpers.hpp"
#include "tidemq/mqtt/codec.hpp"

using namespace tidemq::mqtt;
using tidemq::mqtt::test::bytes;
using tidemq::mqtt::test::hex;

namespace {

// Independent encoder for the exhaustive check below.
std::string utf8(std::uint32_t cp) {
  if (cp < 0x80) return bytes({static_cast<int>(cp)});
  if (cp < 0x800) return bytes({0xC0 | static_cast<int>(cp >> 6), 0x80 | static_cast<int>(cp & 0x3F)});
  if (cp < 0x10000)
    return bytes({0xE0 | static_cast<int>(cp >> 12), 0x80 | static_cast<int>((cp >> 6) & 0x3F),
                  0x80 | static_cast<int>(cp & 0x3F)});
  return bytes({0xF0 | static_cast<int>(cp >> 18), 0x80 | static_cast<int>((cp >> 12) & 0x3F),
                0x80 | static_cast<int>((cp >> 6) & 0x3F), 0x80 | static_cast<int>(cp & 0x3F)});
}

}  // namespace

TEST_CASE("valid_utf8 accepts well-formed strings", "[unit][mqtt][codec]") {
  const std::vector<std::string> good = {
      "",
      "plain ascii / with + and #",
      bytes({0x01}),                    // U+0001 (a control character: allowed, SHOULD NOT only)
      bytes({0x7F}),                    // U+007F
      bytes({0xC2, 0x80}),              // U+0080, smallest two-byte
      bytes({0xC3, 0xA9}),              // é
      bytes({0xDF, 0xBF}),              // U+07FF, largest two-byte
      bytes({0xE0, 0xA0, 0x80}),        // U+0800, smallest three-byte
      bytes({0xE2, 0x82, 0xAC}),        // €
      bytes({0xED, 0x9F, 0xBF}),        // U+D7FF, just below the surrogates
      bytes({0xEE, 0x80, 0x80}),        // U+E000, just above the surrogates
      bytes({0xEF, 0xBB, 0xBF}),        // U+FEFF, must not be stripped
      bytes({0xEF, 0xBF, 0xBF}),        // U+FFFF (noncharacter, still well-formed)
      bytes({0xF0, 0x90, 0x80, 0x80}),  // U+10000, smallest four-byte
      bytes({0xF0, 0x9F, 0x98, 0x80}),  // 😀
      bytes({0xF4, 0x8F, 0xBF, 0xBF}),  // U+10FFFF, the largest code point
      bytes({'a', 0xC3, 0xA9, 'b', 0xE2, 0x82, 0xAC, 'c', 0xF0, 0x9F, 0x98, 0x80, 'd'}),
  };
  for (const auto& s : good) {
    CAPTURE(hex(s));
    CHECK(valid_utf8(s));
  }
}

TEST_CASE("valid_utf8 rejects malformed strings, U+0000, overlongs and surrogates", "[unit][mqtt][codec]") {
  const std::vector<std::string> bad = {
      bytes({0x00}),                          // U+0000
      bytes({'a', 0x00}),                     // U+0000 at the end
      bytes({0xC0, 0x80}),                    // overlong U+0000 ("modified UTF-8")
      bytes({0xC0, 0xAF}),                    // overlong '/'
      bytes({0xC1, 0xBF}),                    // overlong U+007F
      bytes({0xE0, 0x80, 0x80}),              // overlong U+0000
      bytes({0xE0, 0x9F, 0xBF}),              // overlong U+07FF
      bytes({0xF0, 0x80, 0x80, 0x80}),        // overlong U+0000
      bytes({0xF0, 0x8F, 0xBF, 0xBF}),        // overlong U+FFFF
      bytes({0xED, 0xA0, 0x80}),              // U+D800
      bytes({0xED, 0xAD, 0xBF}),              // U+DB7F
      bytes({0xED, 0xB0, 0x80}),              // U+DC00
      bytes({0xED, 0xBF, 0xBF}),              // U+DFFF
      bytes({0xED, 0xA0, 0xBD, 0xED, 0xB8, 0x80}),  // CESU-8 surrogate pair
      bytes({0xF4, 0x90, 0x80, 0x80}),        // U+110000
      bytes({0xF7, 0xBF, 0xBF, 0xBF}),        // U+1FFFFF
      bytes({0xF8, 0x88, 0x80, 0x80, 0x80}),  // five-byte form
      bytes({0xFC, 0x84, 0x80, 0x80, 0x80, 0x80}),
      bytes({0xFE}),
      bytes({0xFF}),
      bytes({0x80}),                          // lone continuation bytes
      bytes({0xBF}),
      bytes({'a', 0x80, 'b'}),
      bytes({0xC3}),                          // truncated
      bytes({0xE2, 0x82}),
      bytes({0xF0, 0x9F, 0x98}),
      bytes({'a', 0xC3, 0xA9, 0xC3}),
      bytes({0xC3, 0x28}),                    // bad continuation
      bytes({0xE2, 0x28, 0xA1}),
      bytes({0xE2, 0x82, 0x28}),
      bytes({0xF0, 0x28, 0x8C, 0xBC}),
      bytes({0xF0, 0x9F, 0x98, 0x28}),
      bytes({0xC3, 0xA9, 0xA9}),              // one continuation too many
  };
  for (const auto& s : bad) {
    CAPTURE(hex(s));
    CHECK_FALSE(valid_utf8(s));
  }
}

TEST_CASE("valid_utf8 over every code point", "[unit][mqtt][codec]") {
  int wrong = 0;
  std::uint32_t first_wrong = 0;
  for (std::uint32_t cp = 0; cp <= 0x10FFFF; ++cp) {
    const bool expected = cp != 0 && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (valid_utf8(utf8(cp)) != expected && wrong++ == 0) first_wrong = cp;
  }
  INFO("first wrong code point U+" << std::hex << first_wrong);
  CHECK(wrong == 0);
}
