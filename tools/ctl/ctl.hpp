// tidemq_ctl: shared declarations of the command groups, the node locator and the API client.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "http_client.hpp"

namespace CLI {
class App;
}

namespace tidemq::ctl {

// A command that failed (exit code 1); what() is printed after "Error: ".
struct Failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A failed command whose message is printed as it is, without "Error: " (emqx_ctl's
// "Failed to join the cluster: ..."); still exit code 1, on stderr.
struct PlainFailure : Failure {
  using Failure::Failure;
};

// What the command line and the environment said about where the node is. Empty means "not given"
// (then the node's config file decides).
struct ConnectionOptions {
  std::string config_file = "conf/tidemq.conf";
  bool config_given = false;  // -c was used: the file must be readable
  std::string url;
  std::string user;
  std::string password;
  bool user_given = false;
  bool password_given = false;
  double timeout_seconds = 10;
};

// Flags and TIDEMQ_CTL_* (already merged by CLI11) > the node's config file > built-in defaults.
Target resolve_target(const ConnectionOptions& options);

// Parses "http://host[:port][/path]" (or "host:port"). Throws Failure.
void parse_url(const std::string& url, Target& out);

// The admin API: JSON in and out; any failure (transport, HTTP status, "code" != 0) throws Failure
// with a message fit for the operator.
class Api {
 public:
  Api(Target target, std::chrono::milliseconds timeout) : target_(std::move(target)), timeout_(timeout) {}
  nlohmann::json get(const std::string& path) { return call("GET", path, std::nullopt); }
  nlohmann::json post(const std::string& path, const nlohmann::json& body) { return call("POST", path, body); }
  nlohmann::json put(const std::string& path, const nlohmann::json& body) { return call("PUT", path, body); }
  nlohmann::json del(const std::string& path) { return call("DELETE", path, std::nullopt); }
  const Target& target() const { return target_; }

  // A v4 answer: the document, or the message of a logical error (HTTP 200 {"code":400,...}).
  struct Answer {
    nlohmann::json doc;
    std::optional<std::string> refused;
  };
  // Like get/post, but a logical error is returned, not thrown: the rebalance commands print it
  // in their own words ("Rebalance start error: already_started"). Transport and HTTP failures
  // throw Failure.
  Answer call_v4(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body);

 private:
  nlohmann::json call(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body);
  Target target_;
  std::chrono::milliseconds timeout_;
};

// Percent-encodes one path segment (everything but RFC 3986 unreserved characters).
std::string path_segment(std::string_view s);

// The chosen command, run after parsing succeeded.
struct Context {
  ConnectionOptions connection;
  std::function<void(Api&)> action;
};

// Each command group lives in its own cmd_*.cpp.
void add_status_command(CLI::App& app, Context& ctx);
void add_clients_commands(CLI::App& app, Context& ctx);
void add_users_commands(CLI::App& app, Context& ctx);
void add_api_keys_commands(CLI::App& app, Context& ctx);
void add_cluster_commands(CLI::App& app, Context& ctx);
void add_rebalance_commands(CLI::App& app, Context& ctx);  // rebalance ..., eviction status

// Small JSON helpers for printing.
std::string text(const nlohmann::json& v, const char* null_text = "undefined");  // strings unquoted

}  // namespace tidemq::ctl
