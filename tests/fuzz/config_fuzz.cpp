// config_fuzz: the node's configuration loader, load_config() (TOML file, then TIDEMQ_*
// environment variables, then --set key=value), with the TOML parser compiled in.
//
// A configuration file is written by the operator, not by an attacker, but a typo must end in a
// ConfigError that names the key, never in a crash or another exception: a node that dies with
// std::out_of_range, or starts with a value outside its range, is a bug. Any exception other than
// ConfigError escapes and stops the fuzzer.
//
// Input: the file's text; after a NUL byte (TOML has no NUL), NUL-separated overrides: those that
// start with TIDEMQ_ are environment variables ("TIDEMQ_MQTT__MAX_QOS=1"), the others --set values
// ("mqtt.max_qos=1").
#include <cstdint>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "fuzz_support.hpp"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  tidemq::fuzz::quiet_logs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = (tidemq::fuzz::scratch_dir("config") / "tidemq.conf").string();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  tidemq::fuzz::write_file(path, input.substr(0, nul));

  std::vector<std::string> sets, env_storage;
  if (nul != std::string_view::npos) {
    std::string_view rest = input.substr(nul + 1);
    while (!rest.empty()) {
      const auto end = rest.find('\0');
      std::string item(rest.substr(0, end));
      (item.starts_with("TIDEMQ_") ? env_storage : sets).push_back(std::move(item));
      if (end == std::string_view::npos) break;
      rest.remove_prefix(end + 1);
    }
  }
  std::vector<char*> env;
  for (auto& e : env_storage) env.push_back(e.data());
  env.push_back(nullptr);

  try {
    tidemq::app::load_config(path, sets, env.data());
  } catch (const tidemq::app::ConfigError&) {
  }
  return 0;
}
