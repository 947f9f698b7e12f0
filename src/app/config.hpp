// The node's configuration: conf/tidemq.conf (TOML, dotted keys), then TIDEMQ_* environment
// variables, then --set key=value, validated against one table of known keys. Unknown keys and
// bad values are errors that name the key and where it came from (file and line).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cluster_settings.hpp"
#include "core/broker_settings.hpp"
#include "net/listener_limits.hpp"
#include "tidemq/plugin/config_key.hpp"

namespace tidemq::app {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TcpListenerConfig {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  net::ListenerLimits limits;          // MQTT listeners only
};

struct TlsConfig {
  std::string certfile;
  std::string keyfile;
  std::string cacertfile;
  bool verify_peer = false;            // verify = "verify_peer"
  bool fail_if_no_peer_cert = false;
};

// listeners.ssl.<name>, listeners.ws.<name>, listeners.wss.<name>
struct ExtraListenerConfig {
  enum class Kind { ssl, ws, wss };
  Kind kind;
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  std::string path = "/mqtt";          // ws / wss
  TlsConfig tls;                       // ssl / wss
  net::ListenerLimits limits;
};

struct ManagementConfig {
  std::optional<TcpListenerConfig> http;   // management.listener.http.bind ("" disables)
  std::optional<TcpListenerConfig> https;  // management.listener.https.bind
  TlsConfig https_tls;
  std::string default_user = "admin";
  std::string default_password = "public";
  bool metrics_auth = true;
  std::size_t max_body_size = 1048576;
  std::string api_keys_file;               // resolved against node.data_dir when relative
  int login_max_failures = 10;             // management.login.max_failures
  std::chrono::seconds login_window{60};   // management.login.window
  std::size_t max_connections = 128;       // open admin connections per server; more are closed at once
  std::chrono::milliseconds request_timeout{30000};  // a whole request must arrive within it (and idle keep-alive ends)
  std::chrono::milliseconds reply_timeout{15000};    // a request that waits for the cluster gets 504 after it
};

struct AclRuleConfig {
  std::string permission;               // allow | deny
  std::string action;                   // publish | subscribe | all
  std::vector<std::string> topics;
  std::optional<std::string> username;
  std::optional<std::string> clientid;
  std::optional<std::string> ipaddr;    // CIDR
  std::string origin;                   // file and line, for messages
};

struct AuthConfig {
  bool allow_anonymous = true;
  std::string password_file;            // "" = no password file
  std::string no_match = "allow";       // authorization.no_match
  std::string deny_action = "ignore";   // authorization.deny_action
  std::vector<AclRuleConfig> rules;     // [[authorization.rules]]
};

struct Config {
  std::string node_name;
  std::string data_dir;
  unsigned io_threads = 0;  // resolved: never 0
  std::vector<TcpListenerConfig> tcp_listeners;
  std::vector<ExtraListenerConfig> extra_listeners;
  ManagementConfig management;
  AuthConfig auth;
  core::BrokerSettings mqtt;
  cluster::ClusterSettings cluster;
  unsigned idle_timeout = 15;  // seconds a new connection may take to send CONNECT
  std::string log_level;
  std::optional<std::string> log_file;
  std::string source;  // the config file's path
  std::vector<std::string> notices;  // to log at startup (keys that are accepted but no longer used)
  // plugins.<name>.*: each built-in plugin's section, every key it declared with its value.
  std::map<std::string, nlohmann::json> plugins;
};

// One documented key: its name (a '*' stands for one user-chosen level), type and default; the
// same type a plugin declares its keys with.
using KeySpec = plugin::ConfigKey;
const std::vector<KeySpec>& config_keys();

// Throws ConfigError. `env` is a null-terminated environ-style array (may be null). `plugin_keys`:
// the keys the built-in plugins declare, full names ("plugins.<plugin>.<key>", no '*').
Config load_config(const std::string& path, const std::vector<std::string>& sets, char** env,
                   const std::vector<KeySpec>& plugin_keys = {});

}  // namespace tidemq::app
