// The composition root of a node: builds the broker core, the I/O threads and the listeners from
// the Config, runs until SIGINT/SIGTERM, then shuts down in order.
#pragma once

#include <memory>
#include <vector>

#include "app/config.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::app {

class Node {
 public:
  // `plugins`: the built-in plugins (make_builtin_plugins()), whose sections `config` holds.
  Node(Config config, std::vector<std::unique_ptr<plugin::Plugin>> plugins);
  ~Node();
  // Runs until a stop signal; returns the process exit code.
  int run();

 private:
  bool start_admin();
  bool start_cluster();

  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemq::app
