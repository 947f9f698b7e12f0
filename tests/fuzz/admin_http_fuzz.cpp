// admin_http_fuzz: the admin HTTP API as a client reaches it: Beast's request parser with the
// server's body limit, the request as HttpServer hands it on (to_request), Basic auth and the real
// router with every route a node registers — broker, users, API keys, cluster (both the clustered
// and the clustering-off variants) and the rebalance plugin's — down to the handlers and the JSON
// bodies they parse (evacuation and rebalance options above all).
//
// Input: byte 0 bit 0 picks the node (0: clustering off, 1: a cluster of one), bit 1 the framing:
//   0: the rest is what a client sends on one keep-alive connection: up to kMaxRequests requests,
//      answered in order until one cannot be parsed or asks to close;
//   1: the rest is one request whose body is everything after the header: the target sets its
//      Content-Length (and drops any Transfer-Encoding), so that a mutation that changes the
//      length of a JSON body reaches the handler instead of breaking the framing.
// The seeds carry a valid Authorization header (user admin, password public) and
// admin_http_fuzz.dict the route paths and option names, so that the fuzzer gets past the 401
// into the handlers.
//
// The request conversion, the answer to an unreadable request and the response conversion are the
// server's own (admin/http_message.hpp); running an asynchronous route's handler is mirrored here
// (dispatch() answers those with a 500 that says so). An answer that never comes is the 504 the
// server gives after its reply timeout; nothing here waits for time.
// Checked, beyond the sanitizers, leaks and hangs: no request gets 500 (an exception escaped a
// handler: the server logs "internal error"), and every answer serializes.
#include <cctype>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include <boost/beast/_experimental/test/stream.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>

#include "admin/http_message.hpp"
#include "admin/http_server.hpp"
#include "fuzz_node.hpp"
#include "fuzz_support.hpp"

namespace {

namespace beast = boost::beast;
namespace http = beast::http;
using namespace tidemq;

constexpr int kMaxRequests = 8;

// Framing 1: the header as sent without its Content-Length and Transfer-Encoding lines, then a
// Content-Length of what follows it.
std::string framed(std::string_view in) {
  const auto end = in.find("\r\n\r\n");
  if (end == std::string_view::npos) return std::string(in);
  auto starts = [](std::string_view line, std::string_view name) {
    if (line.size() < name.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
      if (std::tolower(static_cast<unsigned char>(line[i])) != name[i]) return false;
    return true;
  };
  std::string out;
  std::string_view head = in.substr(0, end);
  while (true) {
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    if (!starts(line, "content-length:") && !starts(line, "transfer-encoding:")) out.append(line).append("\r\n");
    if (eol == std::string_view::npos) break;
    head.remove_prefix(eol + 2);
  }
  const std::string_view body = in.substr(end + 4);
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n";
  out += body;
  return out;
}

// ---- the node's admin side ----

struct Admin {
  test::FakeClock auth_clock;  // moved an hour on per input: no lockout outlives its input
  std::filesystem::path dir = fuzz::scratch_dir("admin");
  // Built once: its password hash costs a PBKDF2 of 100 000 rounds.
  admin::AdminAuth auth{"admin", "public", (dir / "api_keys.json").string(), auth_clock};

  // API keys added by an input are deleted after it (each added key costs a PBKDF2 too).
  void reset() {
    auth_clock.advance(std::chrono::hours(1));
    for (const auto& k : auth.list_api_keys()) auth.delete_api_key(k.key);
  }
};

// Whether the route is POST /api/v4/cluster/join of the clustered node: it resolves and connects
// to the address in the body (real DNS and TCP), so it is not run here.
bool is_cluster_join(const admin::Router::Route& r) {
  return r.method == "POST" && r.segments == std::vector<std::string>{"api", "v4", "cluster", "join"};
}

// One request through the server's dispatch; an asynchronous route's handler runs as call_async()
// runs it, and the node settles until it has answered.
admin::HttpResponse answer(fuzz::LoneNode& node, const admin::HttpServer& server, const admin::HttpRequest& req) {
  admin::HttpResponse res = server.dispatch(req);
  const auto m = node.routes.match(req.method, req.path);
  if (!m.route || !m.route->async_handler || res.status != 500) return res;  // answered (or refused by auth)
  if (node.cluster && is_cluster_join(*m.route)) return admin::v4_error(400, "not run by the fuzz target");
  auto pending = std::make_shared<std::optional<admin::HttpResponse>>();
  try {
    m.route->async_handler(req, m.params, [pending](admin::HttpResponse r) {
      if (!*pending) *pending = std::move(r);
    });
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s %s: asynchronous handler threw: %s\n", req.method.c_str(), req.path.c_str(), e.what());
    return admin::v4_error(500, "internal error");
  }
  node.settle();
  if (!*pending) return admin::v4_error(504, "no answer from the cluster in time");
  return std::move(**pending);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static Admin admin_side;
  admin_side.reset();
  fuzz::Input in(data, size);
  const std::uint8_t choice = in.byte();
  const bool clustered = choice & 1;
  const std::string bytes = choice & 2 ? framed(in.rest()) : std::string(in.rest());

  fuzz::LoneNode node(admin_side.dir / "node", admin_side.auth, clustered);
  const admin::HttpServerOptions options;
  admin::HttpServer server(node.ctx, node.routes, admin_side.auth, options);

  // The client's bytes arrive on a stream that ends after them; answers go to `sink`.
  beast::test::stream sink(node.ctx);
  beast::test::stream stream(node.ctx, bytes);
  stream.connect(sink);
  stream.close_remote();
  beast::flat_buffer buffer;
  for (int i = 0; i < kMaxRequests; ++i) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options.body_limit);
    beast::error_code ec;
    http::read(stream, buffer, parser, ec);
    if (ec == http::error::end_of_stream || ec == boost::asio::error::eof) break;
    if (ec) {
      auto res = admin::to_beast(admin::unreadable_request(ec), 11, false);
      http::write(stream, res, ec);
      break;
    }
    const auto& req = parser.get();
    const admin::HttpResponse handled = answer(node, server, admin::to_request(req, "127.0.0.1"));
    if (handled.status == 500)
      std::fprintf(stderr, "%s %s answered 500: %s\n", std::string(req.method_string()).c_str(),
                   std::string(req.target()).c_str(), handled.body.c_str());
    if (fuzz::verbose())
      std::fprintf(stderr, "%s %s -> %d %s\n", std::string(req.method_string()).c_str(), std::string(req.target()).c_str(),
                   handled.status, handled.body.substr(0, 300).c_str());
    FUZZ_CHECK(handled.status != 500);
    auto res = admin::to_beast(handled, req.version(), req.keep_alive());
    http::write(stream, res, ec);
    FUZZ_CHECK(!ec);
    if (!res.keep_alive()) break;
    node.settle();
  }
  return 0;
}
