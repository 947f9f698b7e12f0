// The WebSocket upgrade decision for MQTT listeners: path, subprotocol, refusal responses.
// Plain functions (compiled once in ws_upgrade.cpp) used by the ws and wss transports.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

namespace tidemq::net {

using WsUpgradeRequest = boost::beast::http::request<boost::beast::http::empty_body>;

struct WsUpgradeDecision {
  bool accept = false;
  std::string subprotocol;  // accepted: the one to answer with ("" when the client offered none)
  boost::beast::http::status status = boost::beast::http::status::bad_request;  // refused
  std::string reason;       // refused: for the log and the response body
  bool notable = false;     // refused: log at info (a client of ours, misconfigured) rather than debug
};

// The subprotocol to answer with, from every Sec-WebSocket-Protocol value offered: the first of
// "mqtt" / "mqttv3.1" (as the client spelled it); "" when none was offered; nullopt when only
// others were.
std::optional<std::string> choose_ws_subprotocol(const WsUpgradeRequest& req);

// `extra_bytes`: the client sent bytes after the request before our answer (not allowed).
WsUpgradeDecision decide_ws_upgrade(const WsUpgradeRequest& req, std::string_view path, bool extra_bytes);

boost::beast::http::response<boost::beast::http::string_body> ws_refusal(const WsUpgradeDecision& d,
                                                                         const WsUpgradeRequest& req);

}  // namespace tidemq::net
