// The plugins built into this binary, chosen at build time (CMake option TIDEMQ_PLUGINS).
#pragma once

#include <memory>
#include <vector>

#include "tidemq/plugin/plugin.hpp"

namespace tidemq::app {

// A new instance of each built-in plugin, in start order.
std::vector<std::unique_ptr<plugin::Plugin>> make_builtin_plugins();

}  // namespace tidemq::app
