// decode_base64 (Basic auth credentials, base64 payloads of POST /api/v4/mqtt/publish): padded and
// unpadded input, and what is not base64.
#include <catch2/catch.hpp>

#include "admin/http_types.hpp"

using tidemq::admin::decode_base64;

TEST_CASE("base64: padded and unpadded input decode alike", "[unit][admin]") {
  CHECK(decode_base64("YWRtaW46cHVibGlj") == "admin:public");
  CHECK(decode_base64("YQ==") == "a");
  CHECK(decode_base64("YQ") == "a");
  CHECK(decode_base64("YWI=") == "ab");
  CHECK(decode_base64("YWI") == "ab");
  CHECK(decode_base64("") == "");
  // Unpadded, longer than a short string's inline buffer: the tail's bytes must fit the buffer
  // (they were written past it before; found by admin_http_fuzz).
  CHECK(decode_base64("YWRtVVVVVVVVVVVVVVVVVVj").has_value());
  CHECK(decode_base64("YWJjZGVmZ2hpamtsbW5vcHFyc3R1dnd4eXo").value() == "abcdefghijklmnopqrstuvwxyz");
}

TEST_CASE("base64: what is not base64 is refused", "[unit][admin]") {
  CHECK_FALSE(decode_base64("YW*i"));
  CHECK_FALSE(decode_base64("YQ==YQ"));
}
