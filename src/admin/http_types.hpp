// Plain request/response values for the admin API: handlers never see Beast.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace tidemq::admin {

struct HttpRequest {
  std::string method;                       // "GET", "POST", ...
  std::string path;                         // path as sent (percent-encoded), without the query
  std::map<std::string, std::string> query; // decoded query parameters
  std::string body;
  std::string authorization;                // the Authorization header, if any
  std::string content_type;
  std::string peer_ip;
};

struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
};

using Params = std::map<std::string, std::string>;

inline HttpResponse json_response(int status, const nlohmann::json& j) {
  return HttpResponse{status, j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace), "application/json", {}};
}

// v4 conventions (EMQX 4): {"code":0,"data":...} on success; errors carry their HTTP status as
// "code" with a message.
inline HttpResponse v4_ok(nlohmann::json data) { return json_response(200, {{"code", 0}, {"data", std::move(data)}}); }
inline HttpResponse v4_error(int status, const std::string& message) {
  return json_response(status, {{"code", status}, {"message", message}});
}

std::string url_decode(std::string_view s, bool plus_is_space);

// Standard base64 (with or without '=' padding); nullopt when `s` is not base64.
std::optional<std::string> decode_base64(std::string_view s);

}  // namespace tidemq::admin
