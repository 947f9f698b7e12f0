// The composition root of a node: builds the broker core, the I/O threads and the listeners from
// the Config, runs until SIGINT/SIGTERM, then shuts down in order.
#pragma once

#include <memory>

#include "app/config.hpp"

namespace tidemq::app {

class Node {
 public:
  explicit Node(Config config);
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
