// The broker side of the plugin interface (include/tidemq/plugin/plugin.hpp): adapts the broker
// core, the cluster (or a lone node) and the admin router to the services plugins see, and starts
// and stops the plugins.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace boost::asio {
class io_context;
}
namespace tidemq::core {
class Broker;
}
namespace tidemq::cluster {
class Cluster;
}
namespace tidemq::admin {
class Router;
}

namespace tidemq::app {

// What the config loader checks of `plugins`' sections: plugins.<name>.enable and every key each
// declared (Plugin::config_keys()); a key that is not one word is left out and logged.
std::vector<KeySpec> plugin_config_keys(const std::vector<std::unique_ptr<plugin::Plugin>>& plugins);

class PluginHost {
 public:
  // Plugin routes go into `routes` at start(), before the admin servers open.
  PluginHost(boost::asio::io_context& control, core::Broker& broker, cluster::Cluster& cluster, admin::Router& routes,
             std::filesystem::path data_dir);
  ~PluginHost();

  // `section`: its plugins.<name> section from the Config (load_config with plugin_config_keys).
  void add(std::unique_ptr<plugin::Plugin> p, plugin::Json section);
  // Starts every plugin whose section has enable = true; false (logged) when one fails.
  bool start();
  void stop();

  std::string render_metrics() const;  // what the plugins add to GET /metrics

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemq::app
