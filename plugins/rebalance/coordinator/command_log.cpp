#include "rebalance/coordinator/command_log.hpp"

#include <spdlog/spdlog.h>

namespace tidemq::rebalance {

std::shared_ptr<spdlog::logger> rebalance_logger() {
  if (auto l = spdlog::get("rebalance")) return l;
  auto l = spdlog::default_logger()->clone("rebalance");
  spdlog::register_logger(l);
  return l;
}

bool log_command(const Command& c) {
  auto log = rebalance_logger();
  if (auto* fin = std::get_if<cmd::Finished>(&c)) {
    log->log(fin->result == RunResult::aborted ? spdlog::level::warn : spdlog::level::info, "run finished: {}{}",
             to_string(fin->result), fin->reason ? " (" + *fin->reason + ")" : "");
  } else if (auto* ph = std::get_if<cmd::PhaseChanged>(&c)) {
    log->info("{}: state {}", ph->process, ph->state);
  } else if (auto* l = std::get_if<cmd::Log>(&c)) {
    log->log(l->level == LogLevel::error  ? spdlog::level::err
             : l->level == LogLevel::warn ? spdlog::level::warn
                                          : spdlog::level::info,
             "{}", l->message);
  } else {
    return false;
  }
  return true;
}

}  // namespace tidemq::rebalance
