// One config key: its name, type, default and range. The node's own keys (src/app/config.cpp) and
// the keys a plugin declares for its section (Plugin::config_keys()) are the same kind of thing,
// checked by the same loader.
#pragma once

#include <cstdint>
#include <string>

namespace tidemq::plugin {

struct ConfigKey {
  enum class Type { string, integer, boolean, string_array };
  // The node's keys: the full dotted name, where '*' stands for one user-chosen level. A plugin's
  // keys: one level, no dots; the loader puts them under plugins.<plugin>.
  std::string name;
  Type type = Type::string;
  std::string default_value;  // as written in the config file: "\"text\"", "10", "true", "[]"
  std::int64_t min = 0;       // integers: the allowed range
  std::int64_t max = 0;
};

}  // namespace tidemq::plugin
