// tidemq — a node of the tidemq MQTT broker.
// Exit codes: 0 after a clean stop, 1 on a runtime failure (e.g. a port in use), 2 on a bad
// command line or configuration.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/basic_file_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "app/builtin_plugins.hpp"
#include "app/config.hpp"
#include "app/plugin_host.hpp"
#include "app/node.hpp"

extern char** environ;

namespace {

void setup_logging(const tidemq::app::Config& c) {
  std::shared_ptr<spdlog::logger> logger;
  if (c.log_file)
    logger = spdlog::basic_logger_mt("tidemq", *c.log_file);
  else
    logger = spdlog::stdout_color_mt("tidemq");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(c.log_level == "warning" ? "warn" : c.log_level));
  spdlog::flush_on(spdlog::level::info);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"tidemq — MQTT broker node"};
  std::string config_path = "conf/tidemq.conf";
  std::vector<std::string> sets;
  app.add_option("-c,--config", config_path, "configuration file (TOML)")->capture_default_str();
  app.add_option("--set", sets, "override a configuration key: --set key=value (repeatable)");
  app.set_version_flag("--version", std::string("tidemq ") + TIDEMQ_VERSION);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : 2;
  }

  tidemq::app::Config config;
  auto plugins = tidemq::app::make_builtin_plugins();
  try {
    config = tidemq::app::load_config(config_path, sets, environ, tidemq::app::plugin_config_keys(plugins));
  } catch (const tidemq::app::ConfigError& e) {
    std::cerr << "tidemq: configuration error: " << e.what() << "\n";
    return 2;
  }
  try {
    setup_logging(config);
  } catch (const spdlog::spdlog_ex& e) {
    std::cerr << "tidemq: cannot open log file: " << e.what() << "\n";
    return 2;
  }
  spdlog::info("tidemq {} starting as {} (config {})", TIDEMQ_VERSION, config.node_name, config.source);
  try {
    tidemq::app::Node node(std::move(config), std::move(plugins));
    return node.run();
  } catch (const std::exception& e) {
    spdlog::critical("fatal: {}", e.what());
    return 1;
  }
}
