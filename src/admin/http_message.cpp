#include "admin/http_message.hpp"

namespace tidemq::admin {

namespace http = boost::beast::http;

HttpRequest to_request(const http::request<http::string_body>& r, const std::string& peer_ip) {
  HttpRequest req;
  req.method = std::string(r.method_string());
  std::string_view target = r.target();
  auto q = target.find('?');
  req.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos) {
    std::string_view qs = target.substr(q + 1);
    while (!qs.empty()) {
      auto amp = qs.find('&');
      std::string_view kv = qs.substr(0, amp);
      auto eq = kv.find('=');
      req.query[url_decode(kv.substr(0, eq), true)] =
          eq == std::string_view::npos ? std::string() : url_decode(kv.substr(eq + 1), true);
      if (amp == std::string_view::npos) break;
      qs.remove_prefix(amp + 1);
    }
  }
  req.body = r.body();
  if (auto it = r.find(http::field::authorization); it != r.end()) req.authorization = std::string(it->value());
  if (auto it = r.find(http::field::content_type); it != r.end()) req.content_type = std::string(it->value());
  req.peer_ip = peer_ip;
  return req;
}

http::response<http::string_body> to_beast(const HttpResponse& res, unsigned version, bool keep_alive) {
  http::response<http::string_body> out{static_cast<http::status>(res.status), version};
  out.set(http::field::server, "tidemq");
  out.set(http::field::content_type, res.content_type);
  for (const auto& [k, v] : res.headers) out.set(k, v);
  out.keep_alive(keep_alive);
  out.body() = res.body;
  out.prepare_payload();
  return out;
}

HttpResponse unreadable_request(const boost::beast::error_code& ec) {
  return ec == http::error::body_limit ? v4_error(413, "request body too large") : v4_error(400, "bad request: " + ec.message());
}

}  // namespace tidemq::admin
