// The rebalance plugin: node evacuation and cluster rebalance. This is its entry point;
// the pieces live in agent/ (the node's eviction agent) and core/ (pure logic: options, balance
// maths, rate limiter, state machines, the evacuation file).
#pragma once

#include <memory>

#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

std::unique_ptr<plugin::Plugin> make_rebalance_plugin();

}  // namespace tidemq::rebalance
