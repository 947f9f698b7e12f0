// The broker side of the plugin interface (include/tidemq/plugin/plugin.hpp): adapts the broker
// core, the cluster (or a lone node) and the admin router to the services plugins see, and starts
// and stops the plugins.
#pragma once

#include <memory>
#include <string>
#include <vector>

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

class PluginHost {
 public:
  // `cluster` may be null (clustering off: the node is a cluster of one). Plugin routes go into
  // `routes` at start(), before the admin servers open.
  PluginHost(boost::asio::io_context& control, core::Broker& broker, cluster::Cluster* cluster, admin::Router& routes,
             std::string node_name, std::filesystem::path data_dir);
  ~PluginHost();

  void add(std::unique_ptr<plugin::Plugin> p);
  // Starts every plugin; false (logged) when one fails.
  bool start();
  void stop();

  std::string render_metrics() const;  // what the plugins add to GET /metrics

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemq::app
