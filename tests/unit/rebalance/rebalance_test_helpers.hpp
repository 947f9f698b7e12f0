// Helpers for the rebalance unit tests: picking commands out of a state machine's output, the
// fixture both state-machine tests build on, node counts, JSON literals and a temporary directory.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>
#include <unistd.h>

#include "fake_clock.hpp"
#include "rebalance/core/fsm_io.hpp"
#include "rebalance/core/types.hpp"

namespace tidemq::rebalance::test {

using Strings = std::vector<std::string>;

// Every command of type T, in order.
template <class T>
std::vector<T> all(const Commands& cmds) {
  std::vector<T> out;
  for (const auto& c : cmds) {
    if (const T* t = std::get_if<T>(&c)) out.push_back(*t);
  }
  return out;
}

// The one command of type T (fails the test when there is not exactly one).
template <class T>
T one(const Commands& cmds) {
  auto v = all<T>(cmds);
  REQUIRE(v.size() == 1);
  return v.front();
}

template <class T>
bool has(const Commands& cmds) {
  return !all<T>(cmds).empty();
}

// The command kinds in order, without Log and PhaseChanged (asserted separately).
inline std::vector<std::string> kinds(const Commands& cmds) {
  std::vector<std::string> out;
  for (const auto& c : cmds) {
    std::visit(
        [&](const auto& x) {
          using T = std::decay_t<decltype(x)>;
          if constexpr (std::is_same_v<T, cmd::ArmTimer>) out.push_back("ArmTimer");
          else if constexpr (std::is_same_v<T, cmd::CancelTimer>) out.push_back("CancelTimer");
          else if constexpr (std::is_same_v<T, cmd::FetchCounts>) out.push_back("FetchCounts");
          else if constexpr (std::is_same_v<T, cmd::EnableAgent>) out.push_back("EnableAgent");
          else if constexpr (std::is_same_v<T, cmd::DisableAgent>) out.push_back("DisableAgent");
          else if constexpr (std::is_same_v<T, cmd::EvictConnections>) out.push_back("EvictConnections");
          else if constexpr (std::is_same_v<T, cmd::MigrateSessions>) out.push_back("MigrateSessions");
          else if constexpr (std::is_same_v<T, cmd::Persist>) out.push_back("Persist");
          else if constexpr (std::is_same_v<T, cmd::ClearPersisted>) out.push_back("ClearPersisted");
          else if constexpr (std::is_same_v<T, cmd::Reply>) out.push_back("Reply");
          else if constexpr (std::is_same_v<T, cmd::Finished>) out.push_back("Finished");
        },
        c);
  }
  return out;
}

// The state names announced by PhaseChanged, in order.
inline std::vector<std::string> phases(const Commands& cmds) {
  std::vector<std::string> out;
  for (const auto& p : all<cmd::PhaseChanged>(cmds)) out.push_back(p.state);
  return out;
}

// A document to compare a status with, written as a JSON literal.
inline nlohmann::json parse_json(const char* s) { return nlohmann::json::parse(s); }

// One node's counts in one expression (the plan and the rebalance FSM tests build many).
inline NodeCounts node_counts(std::uint64_t conns, std::uint64_t sessions, std::uint64_t disconnected = 0,
                              bool available = true, std::uint64_t stuck = 0) {
  NodeCounts c;
  c.connections = conns;
  c.sessions = sessions;
  c.disconnected_sessions = disconnected;
  c.available = available;
  c.stuck_sessions = stuck;
  return c;
}

// Which command of a type FsmFixture::token answers: the only one (the test fails unless there is
// exactly one) or the first one.
enum class TokenOf { only_command, first_command };

// What the evacuation and rebalance FSM fixtures share: a fake clock, the machine (named `self`)
// reading its time from it, the token a reply to one of its commands must carry, and firing the
// timer it armed.
template <class Fsm, TokenOf pick>
struct FsmFixture {
  tidemq::test::FakeClock clock;
  Fsm fsm;

  explicit FsmFixture(NodeId self, Timing timing = {}) : fsm{std::move(self), clock, std::move(timing)} {}

  // The token of the command of type T in `cmds` (see TokenOf).
  template <class T>
  static std::uint64_t token(const Commands& cmds) {
    if constexpr (pick == TokenOf::only_command) {
      return one<T>(cmds).token;
    } else {
      return all<T>(cmds).at(0).token;
    }
  }

  Commands fire(const Commands& cmds) { return fsm.handle(ev::TimerFired{token<cmd::ArmTimer>(cmds)}); }
};

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    static std::atomic<int> counter{0};
    path = std::filesystem::temp_directory_path() /
           ("tidemq_rebalance_test_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    std::filesystem::remove_all(path);
    std::filesystem::create_directories(path);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
};

}  // namespace tidemq::rebalance::test
