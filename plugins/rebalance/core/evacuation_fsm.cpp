#include "rebalance/core/evacuation_fsm.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tidemq::rebalance {

namespace {
constexpr std::string_view kProcess = "evacuation";

std::chrono::milliseconds ms(std::chrono::seconds s) { return std::chrono::duration_cast<std::chrono::milliseconds>(s); }
}  // namespace

std::string_view to_string(EvacuationState s) noexcept {
  switch (s) {
    case EvacuationState::disabled: return "disabled";
    case EvacuationState::waiting_health_check: return "waiting_health_check";
    case EvacuationState::evicting_conns: return "evicting_conns";
    case EvacuationState::waiting_takeover: return "waiting_takeover";
    case EvacuationState::evicting_sessions: return "evicting_sessions";
    case EvacuationState::prohibiting: return "prohibiting";
  }
  return "unknown";
}

EvacuationFsm::EvacuationFsm(NodeId self, const util::Clock& clock, Timing timing)
    : self_(std::move(self)), clock_(clock), timing_(std::move(timing)) {}

void EvacuationFsm::enter(EvacuationState s, Commands& out) {
  state_ = s;
  baseline_.reset();
  remaining_ = 0;
  no_targets_ = false;
  wait_length_ = std::chrono::milliseconds(0);
  out.push_back(cmd::PhaseChanged{std::string(kProcess), std::string(to_string(s))});
}

void EvacuationFsm::arm(std::chrono::milliseconds after, Commands& out, bool phase_wait) {
  token_ = next_token();
  await_ = Await::timer;
  if (phase_wait) {
    wait_since_ = clock_.now();
    wait_length_ = after;
  }
  out.push_back(cmd::ArmTimer{token_, after});
}

void EvacuationFsm::fetch(Commands& out) {
  token_ = next_token();
  await_ = Await::counts;
  const bool sessions = state_ == EvacuationState::evicting_sessions;
  out.push_back(cmd::FetchCounts{token_, {self_}, sessions, sessions ? options_.migrate_to : std::nullopt});
}

void EvacuationFsm::reset() {
  state_ = EvacuationState::disabled;
  await_ = Await::nothing;
  token_ = 0;
  start_pending_ = false;
  baseline_.reset();
  remaining_ = 0;
  no_targets_ = false;
}

Commands EvacuationFsm::begin(const EvacuationOptions& o, std::uint64_t conns, std::uint64_t sessions, bool restore) {
  options_ = o;
  stats_ = EvacuationStats{conns, conns, sessions, sessions, 0, 0, 0};
  Commands out;
  const bool refuse_now = restore || o.wait_health_check.count() == 0;
  if (!restore) out.push_back(cmd::Persist{o});
  enter(refuse_now ? EvacuationState::evicting_conns : EvacuationState::waiting_health_check, out);
  token_ = next_token();
  await_ = Await::agent;
  out.push_back(cmd::EnableAgent{token_, {self_}, std::string(kKindEvacuation), o.server_reference, !refuse_now});
  if (restore) out.push_back(cmd::Log{LogLevel::warn, std::string(kRestoreBanner)});
  return out;
}

Commands EvacuationFsm::handle(const ev::EvacuationStart& e) {
  if (state_ != EvacuationState::disabled) return {cmd::Reply{Request::start, RebalanceErrc::already_started}};
  if (!e.agent_available) return {cmd::Reply{Request::start, RebalanceErrc::agent_busy}};
  start_pending_ = true;
  return begin(e.options, e.connections, e.sessions, /*restore=*/false);
}

Commands EvacuationFsm::handle(const ev::EvacuationRestore& e) {
  if (state_ != EvacuationState::disabled) return {};
  if (!e.agent_available) {
    return {cmd::ClearPersisted{},
            cmd::Log{LogLevel::warn, "eviction agent busy at restore; the persisted evacuation is dropped"}};
  }
  return begin(e.options, e.connections, e.sessions, /*restore=*/true);
}

Commands EvacuationFsm::handle(const ev::Stop&) {
  if (state_ == EvacuationState::disabled) return {cmd::Reply{Request::stop, RebalanceErrc::not_started}};
  Commands out{cmd::CancelTimer{}, cmd::ClearPersisted{}, cmd::DisableAgent{{self_}, std::string(kKindEvacuation)}};
  if (start_pending_) out.push_back(cmd::Reply{Request::start, RebalanceErrc::cancelled});
  reset();
  out.push_back(cmd::PhaseChanged{std::string(kProcess), "disabled"});
  out.push_back(cmd::Reply{Request::stop, {}});
  return out;
}

Commands EvacuationFsm::handle(const ev::PersistFailed& e) {
  if (!start_pending_) return {};
  Commands out{cmd::Log{LogLevel::error, "cannot persist the evacuation: " + e.message},
               cmd::Reply{Request::start, RebalanceErrc::persist_failed}};
  reset();
  out.push_back(cmd::PhaseChanged{std::string(kProcess), "disabled"});
  return out;
}

Commands EvacuationFsm::handle(const ev::AgentReply& e) {
  if (await_ != Await::agent || e.token != token_) return {};
  Commands out;
  if (e.ec) {
    if (start_pending_) {  // the agent was not enabled by us: nothing to disable
      out.push_back(cmd::ClearPersisted{});
      out.push_back(cmd::Reply{Request::start, e.ec});
    } else {
      out.push_back(cmd::ClearPersisted{});
      out.push_back(cmd::DisableAgent{{self_}, std::string(kKindEvacuation)});
      out.push_back(cmd::Log{LogLevel::error, "evacuation ended: the eviction agent refused: " + e.ec.message()});
    }
    reset();
    out.push_back(cmd::PhaseChanged{std::string(kProcess), "disabled"});
    return out;
  }
  if (start_pending_) {
    start_pending_ = false;
    out.push_back(cmd::Reply{Request::start, {}});
  }
  if (state_ == EvacuationState::waiting_health_check) arm(ms(options_.wait_health_check), out, true);
  else fetch(out);  // evicting_conns: the first tick at once
  return out;
}

Commands EvacuationFsm::handle(const ev::TimerFired& e) {
  if (await_ != Await::timer || e.token != token_) return {};
  Commands out;
  switch (state_) {
    case EvacuationState::waiting_health_check:
      enter(EvacuationState::evicting_conns, out);
      token_ = next_token();
      await_ = Await::agent;
      out.push_back(cmd::EnableAgent{token_, {self_}, std::string(kKindEvacuation), options_.server_reference, false});
      break;
    case EvacuationState::waiting_takeover:
      enter(EvacuationState::evicting_sessions, out);
      fetch(out);
      break;
    case EvacuationState::evicting_conns:
    case EvacuationState::evicting_sessions: fetch(out); break;
    default: break;
  }
  return out;
}

Commands EvacuationFsm::handle(const ev::RecipientsChanged&) {
  if (state_ != EvacuationState::evicting_sessions || !no_targets_ || await_ != Await::timer) return {};
  Commands out{cmd::CancelTimer{}};
  fetch(out);
  return out;
}

Commands EvacuationFsm::handle(const ev::LocalCounts& e) {
  if (await_ != Await::counts || e.token != token_) return {};
  if (state_ == EvacuationState::evicting_conns) return on_conn_tick(e);
  if (state_ == EvacuationState::evicting_sessions) return on_session_tick(e);
  return {};
}

Commands EvacuationFsm::on_conn_tick(const ev::LocalCounts& e) {
  Commands out;
  const std::uint64_t c = e.connections;
  stats_.current_connected = c;
  if (!baseline_) baseline_ = c;
  remaining_ = c;
  if (c == 0) {
    enter(EvacuationState::waiting_takeover, out);
    arm(ms(options_.wait_takeover), out, true);
    return out;
  }
  const std::uint64_t n = std::min<std::uint64_t>(options_.conn_evict_rate, c);
  stats_.connections_evicted += n;
  out.push_back(cmd::EvictConnections{next_token(), self_, n, std::chrono::milliseconds(0)});
  arm(timing_.evict_interval, out, false);
  return out;
}

Commands EvacuationFsm::on_session_tick(const ev::LocalCounts& e) {
  Commands out;
  const std::uint64_t s = e.sessions;
  const std::uint64_t movable = s > e.stuck_sessions ? s - e.stuck_sessions : 0;
  stats_.current_sessions = s;
  if (!baseline_) baseline_ = movable;
  remaining_ = movable;
  if (movable == 0) {
    if (s > 0) {
      out.push_back(cmd::Log{LogLevel::warn, fmt::format("evacuation: {} session(s) could not be migrated and stay "
                                                         "on this node",
                                                         s)});
    }
    enter(EvacuationState::prohibiting, out);
    await_ = Await::nothing;
    return out;
  }
  std::vector<NodeId> targets;
  for (const auto& n : e.available_targets) {
    if (n != self_ && std::find(targets.begin(), targets.end(), n) == targets.end()) targets.push_back(n);
  }
  if (targets.empty()) {
    no_targets_ = true;
    out.push_back(cmd::Log{LogLevel::warn,
                           fmt::format("evacuation: no available node to migrate {} session(s) to; retrying in {} s",
                                       movable, (timing_.no_target_retry.count() + 999) / 1000)});
    arm(timing_.no_target_retry, out, false);
    return out;
  }
  no_targets_ = false;
  token_ = next_token();
  await_ = Await::batch;
  batch_started_ = clock_.now();
  out.push_back(cmd::MigrateSessions{token_, self_, std::min<std::uint64_t>(options_.sess_evict_rate, movable),
                                     std::move(targets), SessionFilter::any, std::chrono::milliseconds(0)});
  return out;
}

Commands EvacuationFsm::handle(const ev::BatchDone& e) {
  if (await_ != Await::batch || e.token != token_) return {};
  Commands out;
  stats_.sessions_migrated += e.done;
  stats_.sessions_failed += e.given_up;
  if (e.ec) out.push_back(cmd::Log{LogLevel::error, "evacuation: session migration failed: " + e.ec.message()});
  if (e.given_up > 0) {
    out.push_back(cmd::Log{LogLevel::error, fmt::format("evacuation: {} session(s) failed {} times and are no longer "
                                                        "retried",
                                                        e.given_up, kMaxSessionMigrationAttempts)});
  }
  arm(timing_.rest_of_interval(batch_started_, clock_.now()), out, false);
  return out;
}

Commands EvacuationFsm::handle(const EvacuationEvent& e) {
  return std::visit([this](const auto& ev) { return handle(ev); }, e);
}

Progress EvacuationFsm::progress() const {
  switch (state_) {
    case EvacuationState::disabled: return {};
    case EvacuationState::prohibiting: return {100, 0};
    case EvacuationState::waiting_health_check:
    case EvacuationState::waiting_takeover:
      if (wait_length_.count() == 0 && await_ != Await::timer) return {0, std::nullopt};  // not armed yet
      return wait_progress(wait_since_, wait_length_, clock_.now());
    case EvacuationState::evicting_conns:
    case EvacuationState::evicting_sessions: {
      if (!baseline_) return {0, std::nullopt};
      const std::uint64_t rate =
          state_ == EvacuationState::evicting_conns ? options_.conn_evict_rate : options_.sess_evict_rate;
      Progress p = work_progress(*baseline_, remaining_, (remaining_ + rate - 1) / rate, timing_.evict_interval);
      if (no_targets_) p.eta_seconds.reset();
      return p;
    }
  }
  return {};
}

nlohmann::json EvacuationFsm::body(const std::vector<NodeId>& session_recipients) const {
  std::vector<NodeId> recipients;
  for (const auto& n : session_recipients) {
    if (n != self_) recipients.push_back(n);
  }
  nlohmann::json j = {
      {"state", to_string(state_)},
      {"connection_eviction_rate", options_.conn_evict_rate},
      {"session_eviction_rate", options_.sess_evict_rate},
      {"connection_goal", 0},
      {"session_goal", 0},
      {"session_recipients", recipients},
      {"stats",
       {{"initial_connected", stats_.initial_connected},
        {"current_connected", stats_.current_connected},
        {"initial_sessions", stats_.initial_sessions},
        {"current_sessions", stats_.current_sessions}}},
  };
  add_progress(j, progress());
  if (stats_.sessions_failed > 0) j["failed_sessions"] = stats_.sessions_failed;
  return j;
}

nlohmann::json EvacuationFsm::status(const std::vector<NodeId>& session_recipients) const {
  if (state_ == EvacuationState::disabled) return {{"status", "disabled"}};
  nlohmann::json j = body(session_recipients);
  j["status"] = "enabled";
  j["process"] = kProcess;
  return j;
}

nlohmann::json EvacuationFsm::global_entry(const std::vector<NodeId>& session_recipients) const {
  if (state_ == EvacuationState::disabled) return nullptr;
  nlohmann::json j = body(session_recipients);
  j["node"] = self_;
  return j;
}

}  // namespace tidemq::rebalance
