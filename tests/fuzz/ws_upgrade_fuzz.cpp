// ws_upgrade_fuzz: what a client sends to a WebSocket (ws/wss) MQTT listener, before and after the
// upgrade, read the way WsTransport (src/net/ws_transport.hpp) reads it.
//
// Input: byte 0 bit 0 picks the phase, bits 1-7 how many bytes one socket read returns; the rest
// is what the client sends.
//   upgrade: the bytes are the upgrade request. Beast's request_parser (empty body, the listener's
//     16 KiB header limit) reads them whole, as http::async_read does; then decide_ws_upgrade()
//     (path /mqtt, bytes left over count as sent too early), ws_refusal() when refused, and for an
//     accepted request the WebSocket accept itself (Beast checks the handshake headers and answers
//     101), with the subprotocol decorator the listener installs.
//   frames: a valid upgrade is accepted first; the bytes are the client's WebSocket frames, read
//     with the listener's settings (binary, no auto-fragment, no message size limit: the Channel
//     bounds packets) into a 4 KiB buffer until an error or a frame that is not binary, which
//     closes the connection (last_read_acceptable()).
// Checked, beyond the sanitizers: nothing throws, a refusal is a well-formed response with the
// decided status, an accepted subprotocol is one of "mqtt" / "mqttv3.1" or none.
#include <array>
#include <cstdint>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/websocket.hpp>

#include "fuzz_support.hpp"
#include "net/ws_upgrade.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using TestStream = beast::test::stream;

constexpr std::string_view kPath = "/mqtt";

boost::asio::io_context& io() {
  static boost::asio::io_context ctx;
  return ctx;
}

// The server side of a connection whose client sent `bytes` (and then nothing more); what the
// server writes goes to `sink`.
TestStream server_stream(std::string_view bytes, std::size_t read_size, TestStream& sink) {
  TestStream s(io(), bytes);
  s.connect(sink);
  s.read_size(read_size);
  s.close_remote();
  return s;
}

// The listener's WebSocket settings and its accept (WsTransport's constructor and accept()).
void configure(websocket::stream<TestStream&>& ws, const std::string& subprotocol) {
  ws.binary(true);
  ws.auto_fragment(false);
  ws.read_message_max(0);
  websocket::stream_base::timeout t{};
  t.handshake_timeout = std::chrono::seconds(5);
  t.idle_timeout = websocket::stream_base::none();
  t.keep_alive_pings = false;
  ws.set_option(t);
  ws.set_option(websocket::stream_base::decorator([proto = subprotocol](websocket::response_type& res) {
    res.set(http::field::server, "tidemq");
    if (!proto.empty()) res.set(http::field::sec_websocket_protocol, proto);
  }));
}

void upgrade(std::string_view bytes, std::size_t read_size) {
  TestStream sink(io());
  TestStream stream = server_stream(bytes, read_size, sink);
  beast::flat_buffer buf;
  http::request_parser<http::empty_body> parser;
  parser.header_limit(16 * 1024);
  beast::error_code ec;
  http::read(stream, buf, parser, ec);
  if (ec && tidemq::fuzz::verbose()) std::fprintf(stderr, "request: %s\n", ec.message().c_str());
  if (ec) {
    // WsTransport answers 431 or 400 to what it could not parse, nothing to a client that left.
    if (ec == http::error::end_of_stream || ec == http::error::partial_message) return;
    if (ec.category() != http::make_error_code(http::error::header_limit).category()) return;
    tidemq::net::WsUpgradeDecision d;
    d.status = ec == http::error::header_limit ? http::status::request_header_fields_too_large : http::status::bad_request;
    auto res = tidemq::net::ws_refusal(d, parser.get());
    http::write(stream, res, ec);
    return;
  }
  const auto& req = parser.get();
  const auto d = tidemq::net::decide_ws_upgrade(req, kPath, buf.size() != 0);
  if (tidemq::fuzz::verbose())
    std::fprintf(stderr, "upgrade: %s %s\n", d.accept ? "accepted, subprotocol" : "refused:",
                 d.accept ? d.subprotocol.c_str() : d.reason.c_str());
  if (!d.accept) {
    FUZZ_CHECK(!d.reason.empty());
    auto res = tidemq::net::ws_refusal(d, req);
    FUZZ_CHECK(res.result() == d.status);
    http::write(stream, res, ec);
    FUZZ_CHECK(!ec);
    return;
  }
  FUZZ_CHECK(d.subprotocol.empty() || d.subprotocol.size() == 4 || d.subprotocol.size() == 8);
  websocket::stream<TestStream&> ws(stream);
  configure(ws, d.subprotocol);
  ws.accept(req, ec);  // Beast's own checks of the handshake headers; a failure is answered by it
  if (tidemq::fuzz::verbose()) std::fprintf(stderr, "accept: %s\n", ec ? ec.message().c_str() : "ok");
}

void frames(std::string_view bytes, std::size_t read_size) {
  static const http::request<http::empty_body> kUpgrade = [] {
    http::request<http::empty_body> r{http::verb::get, kPath, 11};
    r.set(http::field::host, "localhost");
    r.set(http::field::upgrade, "websocket");
    r.set(http::field::connection, "Upgrade");
    r.set(http::field::sec_websocket_key, "dGhlIHNhbXBsZSBub25jZQ==");
    r.set(http::field::sec_websocket_version, "13");
    r.set(http::field::sec_websocket_protocol, "mqtt");
    return r;
  }();
  TestStream sink(io());
  TestStream stream = server_stream(bytes, read_size, sink);
  const auto d = tidemq::net::decide_ws_upgrade(kUpgrade, kPath, false);
  FUZZ_CHECK(d.accept && d.subprotocol == "mqtt");
  websocket::stream<TestStream&> ws(stream);
  configure(ws, d.subprotocol);
  beast::error_code ec;
  ws.accept(kUpgrade, ec);
  FUZZ_CHECK(!ec);
  std::array<char, 4096> buf;
  while (true) {
    const std::size_t n = ws.read_some(boost::asio::buffer(buf), ec);
    if (tidemq::fuzz::verbose())
      std::fprintf(stderr, "read %zu bytes, %s: %s\n", n, ws.got_binary() ? "binary" : "text", ec.message().c_str());
    if (ec || !ws.got_binary()) break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  tidemq::fuzz::Input in(data, size);
  const std::uint8_t choice = in.byte();
  // 1 … 128 bytes per read, or everything at once (0): the parsers must not care.
  const std::size_t read_size = (choice >> 1) == 0 ? std::size_t(-1) : (choice >> 1);
  try {
    if (choice & 1)
      frames(in.rest(), read_size);
    else
      upgrade(in.rest(), read_size);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "exception: %s\n", e.what());
    FUZZ_CHECK(false);
  }
  io().restart();
  return 0;
}
