// The "rebalance" logger and the state-machine commands that only log (Finished, PhaseChanged,
// Log), shared by both coordinators.
#pragma once

#include <memory>

#include <spdlog/logger.h>

#include "rebalance/core/fsm_io.hpp"

namespace tidemq::rebalance {

std::shared_ptr<spdlog::logger> rebalance_logger();

// Logs `c` when it is one of the logging commands; false for any other command.
bool log_command(const Command& c);

}  // namespace tidemq::rebalance
