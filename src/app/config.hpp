// The node's configuration: conf/tidemq.conf (TOML, dotted keys), then TIDEMQ_* environment
// variables, then --set key=value, validated against one table of known keys. Unknown keys and
// bad values are errors that name the key and where it came from (file and line).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/broker_settings.hpp"

namespace tidemq::app {

struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct TcpListenerConfig {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
};

struct Config {
  std::string node_name;
  std::string data_dir;
  unsigned io_threads = 0;  // resolved: never 0
  std::vector<TcpListenerConfig> tcp_listeners;
  core::BrokerSettings mqtt;
  unsigned idle_timeout = 15;  // seconds a new connection may take to send CONNECT
  std::string log_level;
  std::optional<std::string> log_file;
  std::string source;  // the config file's path
};

// One documented key: its name (a '*' stands for one user-chosen level), type and default.
struct KeySpec {
  enum class Type { string, integer, boolean };
  const char* name;
  Type type;
  const char* default_value;  // as written in the config file
  std::int64_t min = 0;
  std::int64_t max = 0;
};
const std::vector<KeySpec>& config_keys();

// Throws ConfigError. `env` is a null-terminated environ-style array (may be null).
Config load_config(const std::string& path, const std::vector<std::string>& sets, char** env);

}  // namespace tidemq::app
