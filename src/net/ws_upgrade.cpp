#include "net/ws_upgrade.hpp"

#include <boost/beast/http/field.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <fmt/format.h>

namespace tidemq::net {

namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

std::string printable(std::string_view s) {
  std::string out;
  for (char c : s.substr(0, 200)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return out;
}

}  // namespace

std::optional<std::string> choose_ws_subprotocol(const WsUpgradeRequest& req) {
  bool offered = false;
  auto [first, last] = req.equal_range(http::field::sec_websocket_protocol);
  for (auto it = first; it != last; ++it) {
    std::string_view v = it->value();
    while (true) {
      auto comma = v.find(',');
      std::string_view token = trim(v.substr(0, comma));
      if (!token.empty()) {
        offered = true;
        if (iequals(token, "mqtt") || iequals(token, "mqttv3.1")) return std::string(token);
      }
      if (comma == std::string_view::npos) break;
      v.remove_prefix(comma + 1);
    }
  }
  if (offered) return std::nullopt;
  return std::string();
}

WsUpgradeDecision decide_ws_upgrade(const WsUpgradeRequest& req, std::string_view path, bool extra_bytes) {
  WsUpgradeDecision d;
  std::string_view target = req.target();
  std::string_view target_path = target.substr(0, target.find('?'));
  if (!boost::beast::websocket::is_upgrade(req)) {
    d.status = http::status::upgrade_required;
    d.reason = fmt::format("not a WebSocket upgrade: {} {}", printable(req.method_string()), printable(target));
    return d;
  }
  if (target_path != path) {
    d.status = http::status::not_found;
    d.reason = fmt::format("path {} is not {}", printable(target), path);
    d.notable = true;
    return d;
  }
  auto proto = choose_ws_subprotocol(req);
  if (!proto) {
    d.status = http::status::bad_request;
    d.reason = fmt::format("no supported subprotocol (offered: {}; supported: mqtt, mqttv3.1)",
                           printable(req[http::field::sec_websocket_protocol]));
    d.notable = true;
    return d;
  }
  if (extra_bytes) {
    d.status = http::status::bad_request;
    d.reason = "data sent before the upgrade was answered";
    d.notable = true;
    return d;
  }
  d.accept = true;
  d.subprotocol = std::move(*proto);
  return d;
}

http::response<http::string_body> ws_refusal(const WsUpgradeDecision& d, const WsUpgradeRequest& req) {
  http::response<http::string_body> res{d.status, req.version() == 10 ? 10u : 11u};
  res.set(http::field::server, "tidemq");
  res.set(http::field::content_type, "text/plain");
  if (d.status == http::status::upgrade_required) {
    res.set(http::field::upgrade, "websocket");
    res.set(http::field::connection, "Upgrade, close");
    res.body() = "MQTT over WebSocket only\n";
  } else {
    res.keep_alive(false);
    res.body() = std::string(http::obsolete_reason(d.status)) + "\n";
  }
  res.prepare_payload();
  return res;
}

}  // namespace tidemq::net
