// The HTTP client of tidemq_ctl (library tidemq_ctl_http, which tidemq_bench links too): one
// synchronous HTTP/1.1 exchange with a node's admin API, basic auth, every step bounded by a
// timeout. Boost.Beast stays inside http_client.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>

namespace tidemq::ctl {

// Where the admin API is and who we are.
struct Target {
  std::string host;
  std::uint16_t port = 8081;
  std::string base_path;  // URL path prefix without trailing '/', usually empty
  std::string user = "admin";
  std::string password = "public";
  bool authenticate = true;  // send user and password (HTTP basic auth); false: no Authorization header
  std::string url() const;  // "http://host:port" (+ base path), for messages
};

struct HttpResult {
  int status = 0;
  std::string body;
};

// An exchange that got no valid answer: the node cannot be reached, did not answer in time, or
// answered something that is not HTTP. what() is the message for the operator ("cannot reach
// http://127.0.0.1:8081: Connection refused"); reason() is its last part ("Connection refused").
class HttpFailure : public std::runtime_error {
 public:
  HttpFailure(const std::string& message, std::string reason)
      : std::runtime_error(message), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// One exchange on a connection of its own: `method` target.base_path + `path_and_query`, with
// `json_body` as an application/json body when given; each step (connect, write, read) may take
// `timeout`. Any HTTP status is returned; throws HttpFailure when there is none.
HttpResult http_request(const Target& target, const std::string& method, const std::string& path_and_query,
                        const std::optional<std::string>& json_body, std::chrono::milliseconds timeout,
                        const std::string& user_agent);

}  // namespace tidemq::ctl
