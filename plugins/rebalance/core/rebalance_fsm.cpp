#include "rebalance/core/rebalance_fsm.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tidemq::rebalance {

namespace {

constexpr std::string_view kProcess = "rebalance";

std::chrono::milliseconds ms(std::chrono::seconds s) { return std::chrono::duration_cast<std::chrono::milliseconds>(s); }

bool contains(const std::vector<NodeId>& v, const NodeId& n) { return std::find(v.begin(), v.end(), n) != v.end(); }

}  // namespace

RebalanceFsm::RebalanceFsm(NodeId self, const util::Clock& clock, Timing timing)
    : self_(std::move(self)), clock_(clock), timing_(std::move(timing)) {}

bool RebalanceFsm::is_donor(const NodeId& n) const { return running() && contains(donors_, n); }

std::chrono::system_clock::time_point RebalanceFsm::wall_now() const {
  return timing_.wall_clock ? timing_.wall_clock() : std::chrono::system_clock::now();
}

void RebalanceFsm::enter(RebalanceState s, Commands& out) {
  state_ = s;
  baseline_.reset();
  estimate_ = {};
  wait_armed_ = false;
  out.push_back(cmd::PhaseChanged{std::string(kProcess), std::string(to_string(s))});
}

// One command per donor batch under a fresh token; the tick waits for every donor's BatchDone.
template <class MakeCommand>
void RebalanceFsm::begin_batch(const std::vector<Batch>& batches, Commands& out, MakeCommand make) {
  token_ = next_token();
  await_ = Await::batch;
  batch_started_ = clock_.now();
  pending_.clear();
  for (const auto& b : batches) {
    pending_.insert(b.node);
    out.push_back(make(b));
  }
}

void RebalanceFsm::arm(std::chrono::milliseconds after, Commands& out, bool phase_wait) {
  token_ = next_token();
  await_ = Await::timer;
  if (phase_wait) {
    wait_since_ = clock_.now();
    wait_length_ = after;
    wait_armed_ = true;
  }
  out.push_back(cmd::ArmTimer{token_, after});
}

void RebalanceFsm::fetch(Commands& out) {
  token_ = next_token();
  await_ = Await::counts;
  out.push_back(cmd::FetchCounts{token_, nodes_, false, std::nullopt});
}

void RebalanceFsm::clear_run() {
  stage_ = Stage::idle;
  state_ = RebalanceState::disabled;
  nodes_.clear();
  donors_.clear();
  recipients_.clear();
  initial_.clear();
  connection_goal_.reset();
  disconnected_session_goal_.reset();
  donor_conn_avg_.reset();
  donor_sess_avg_.reset();
  await_ = Await::nothing;
  token_ = 0;
  pending_.clear();
  baseline_.reset();
  estimate_ = {};
  wait_armed_ = false;
}

std::vector<NodeId> RebalanceFsm::donors_except(const std::set<NodeId>& excluded) const {
  std::vector<NodeId> out;
  for (const auto& d : donors_) {
    if (!excluded.count(d)) out.push_back(d);
  }
  return out;
}

Commands RebalanceFsm::fail_start(boost::system::error_code ec, std::string why, const std::set<NodeId>& excluded) {
  Commands out;
  if (stage_ == Stage::enabling) {  // release the donors enabled so far (not one that refused or is gone)
    auto release = donors_except(excluded);
    if (!release.empty()) out.push_back(cmd::DisableAgent{std::move(release), std::string(kKindRebalance)});
  }
  out.push_back(cmd::Log{LogLevel::error, "rebalance start failed: " + why});
  out.push_back(cmd::Reply{Request::start, ec});
  clear_run();
  return out;
}

Commands RebalanceFsm::finish(RunResult result, std::optional<std::string> reason, Commands out) {
  if (!donors_.empty()) out.push_back(cmd::DisableAgent{donors_, std::string(kKindRebalance)});
  out.push_back(cmd::Finished{result, reason});
  last_result_ = LastResult{result, std::move(reason), wall_now()};
  clear_run();
  out.push_back(cmd::PhaseChanged{std::string(kProcess), "disabled"});
  return out;
}

Commands RebalanceFsm::abort(const std::string& reason, const std::set<NodeId>& excluded) {
  Commands out{cmd::CancelTimer{}};
  auto release = donors_except(excluded);
  if (!release.empty()) out.push_back(cmd::DisableAgent{std::move(release), std::string(kKindRebalance)});
  out.push_back(cmd::Log{LogLevel::error, "rebalance aborted: " + reason});
  out.push_back(cmd::Finished{RunResult::aborted, reason});
  last_result_ = LastResult{RunResult::aborted, reason, wall_now()};
  clear_run();
  out.push_back(cmd::PhaseChanged{std::string(kProcess), "disabled"});
  return out;
}

Commands RebalanceFsm::handle(const ev::RebalanceStart& e) {
  if (busy()) return {cmd::Reply{Request::start, RebalanceErrc::already_started}};
  std::vector<NodeId> nodes = e.options.nodes.value_or(std::vector<NodeId>{});
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
  if (nodes.empty()) return {cmd::Reply{Request::start, RebalanceErrc::nothing_to_balance}};
  options_ = e.options;
  options_.nodes = nodes;
  nodes_ = std::move(nodes);
  stage_ = Stage::counting;
  Commands out;
  fetch(out);
  return out;
}

Commands RebalanceFsm::handle(const ev::ClusterCounts& e) {
  if (await_ != Await::counts || e.token != token_) return {};
  for (const auto& n : nodes_) {
    if (!e.counts.count(n)) {
      const std::string why = fmt::format("no counts from '{}'", n);
      if (stage_ == Stage::counting) return fail_start(RebalanceErrc::rpc_failed, why);
      return abort(why);
    }
  }
  if (stage_ == Stage::counting) return on_start_counts(e);
  if (state_ == RebalanceState::evicting_conns) return on_conn_tick(e.counts);
  if (state_ == RebalanceState::evicting_sessions) return on_session_tick(e.counts);
  return {};
}

Commands RebalanceFsm::on_start_counts(const ev::ClusterCounts& e) {
  CountMap conns;
  CountMap sessions;
  for (const auto& n : nodes_) {
    conns[n] = e.counts.at(n).connections;
    sessions[n] = e.counts.at(n).sessions;
  }
  const DonorSplit split = donors_and_recipients(conns);
  const Thresholds conn_t{options_.abs_conn_threshold, options_.rel_conn_threshold};
  const Thresholds sess_t{options_.abs_sess_threshold, options_.rel_sess_threshold};
  if (nothing_to_balance(split, conns, sessions, conn_t, sess_t)) {
    clear_run();
    return {cmd::Reply{Request::start, RebalanceErrc::nothing_to_balance}};
  }
  donors_ = split.donors;
  recipients_ = split.recipients;
  for (const auto& n : nodes_) initial_[n] = e.counts.at(n);
  stage_ = Stage::enabling;
  token_ = next_token();
  await_ = Await::agent;
  pending_ = std::set<NodeId>(donors_.begin(), donors_.end());
  const bool allow = options_.wait_health_check.count() > 0;
  return {cmd::EnableAgent{token_, donors_, std::string(kKindRebalance), std::nullopt, allow}};
}

Commands RebalanceFsm::on_conn_tick(const NodeCountMap& counts) {
  CountMap conns;
  for (const auto& n : nodes_) conns[n] = counts.at(n).connections;
  const double d = average(conns, donors_);
  const double r = average(conns, recipients_);
  donor_conn_avg_ = d;
  connection_goal_ = r;
  const Thresholds t{options_.abs_conn_threshold, options_.rel_conn_threshold};
  estimate_ = estimate_phase(conns, donors_, recipients_, options_.conn_evict_rate, t);
  if (!baseline_) baseline_ = estimate_.remaining;
  Commands out;
  if (within_thresholds(d, r, t)) {
    out.push_back(cmd::Log{LogLevel::info, fmt::format("rebalance: connections balanced (donor avg {}, recipient avg "
                                                       "{})",
                                                       d, r)});
    enter(RebalanceState::wait_takeover, out);
    arm(ms(options_.wait_takeover), out, true);
    return out;
  }
  const auto batches = nodes_to_evict(conns, donors_, recipients_, options_.conn_evict_rate);
  if (batches.empty()) {
    arm(timing_.evict_interval, out, false);
    return out;
  }
  begin_batch(batches, out, [&](const Batch& b) {
    return cmd::EvictConnections{token_, b.node, b.count, options_.conn_evict_rpc_timeout};
  });
  return out;
}

Commands RebalanceFsm::on_session_tick(const NodeCountMap& counts) {
  CountMap disconnected;
  CountMap movable;
  std::uint64_t stuck = 0;
  for (const auto& n : nodes_) {
    const auto& c = counts.at(n);
    disconnected[n] = c.disconnected_sessions;
    movable[n] = c.disconnected_sessions > c.stuck_sessions ? c.disconnected_sessions - c.stuck_sessions : 0;
    if (contains(donors_, n)) stuck += std::min(c.stuck_sessions, c.disconnected_sessions);
  }
  const double d = average(disconnected, donors_);
  const double r = average(disconnected, recipients_);
  donor_sess_avg_ = d;
  disconnected_session_goal_ = r;
  const Thresholds t{options_.abs_sess_threshold, options_.rel_sess_threshold};
  estimate_ = estimate_phase(disconnected, donors_, recipients_, options_.sess_evict_rate, t, &movable);
  if (!baseline_) baseline_ = estimate_.remaining;
  if (within_thresholds(d, r, t)) {
    Commands out{cmd::Log{LogLevel::info, "rebalance completed"}};
    return finish(RunResult::completed, std::nullopt, std::move(out));
  }
  std::vector<NodeId> targets;
  for (const auto& n : recipients_) {
    if (counts.at(n).available) targets.push_back(n);
  }
  if (targets.empty()) return abort("no recipient is available for sessions");
  const auto batches = nodes_to_evict(disconnected, donors_, recipients_, options_.sess_evict_rate, &movable);
  if (batches.empty()) {
    const std::string reason = fmt::format("{} disconnected session(s) could not be migrated", stuck);
    Commands out{cmd::Log{LogLevel::warn, "rebalance completed: " + reason}};
    return finish(RunResult::completed, reason, std::move(out));
  }
  Commands out;
  begin_batch(batches, out, [&](const Batch& b) {
    return cmd::MigrateSessions{token_, b.node, b.count, targets, SessionFilter::disconnected,
                                options_.sess_evict_rpc_timeout};
  });
  return out;
}

Commands RebalanceFsm::handle(const ev::AgentReply& e) {
  if (await_ != Await::agent || e.token != token_ || !pending_.count(e.node)) return {};
  if (e.ec) {
    const std::string why = fmt::format("eviction agent on '{}' refused: {}", e.node, e.ec.message());
    if (stage_ == Stage::enabling) return fail_start(e.ec, why, {e.node});
    return abort(why, {e.node});
  }
  pending_.erase(e.node);
  if (!pending_.empty()) return {};
  Commands out;
  if (stage_ == Stage::enabling) {
    stage_ = Stage::running;
    last_result_.reset();
    counters_ = {};
    const bool wait = options_.wait_health_check.count() > 0;
    enter(wait ? RebalanceState::wait_health_check : RebalanceState::evicting_conns, out);
    out.push_back(cmd::Reply{Request::start, {}});
    if (wait) arm(ms(options_.wait_health_check), out, true);
    else fetch(out);
    return out;
  }
  fetch(out);  // donors now refuse connections: the first evicting_conns tick
  return out;
}

Commands RebalanceFsm::handle(const ev::BatchDone& e) {
  if (await_ != Await::batch || e.token != token_ || !pending_.count(e.node)) return {};
  const bool conns = state_ == RebalanceState::evicting_conns;
  if (e.ec) {
    return abort(fmt::format("{} on '{}' failed: {}", conns ? "connection eviction" : "session migration", e.node,
                             e.ec.message()));
  }
  Commands out;
  if (conns) {
    counters_.connections_evicted += e.done;
  } else {
    counters_.sessions_migrated += e.done;
    counters_.sessions_failed += e.given_up;
    if (e.given_up > 0) {
      out.push_back(cmd::Log{LogLevel::error, fmt::format("rebalance: {} session(s) on '{}' failed {} times and are no "
                                                          "longer retried",
                                                          e.given_up, e.node, kMaxSessionMigrationAttempts)});
    }
  }
  pending_.erase(e.node);
  if (pending_.empty()) arm(timing_.rest_of_interval(batch_started_, clock_.now()), out, false);
  return out;
}

Commands RebalanceFsm::handle(const ev::TimerFired& e) {
  if (await_ != Await::timer || e.token != token_) return {};
  Commands out;
  switch (state_) {
    case RebalanceState::wait_health_check:
      enter(RebalanceState::evicting_conns, out);
      token_ = next_token();
      await_ = Await::agent;
      pending_ = std::set<NodeId>(donors_.begin(), donors_.end());
      out.push_back(cmd::EnableAgent{token_, donors_, std::string(kKindRebalance), std::nullopt, false});
      break;
    case RebalanceState::wait_takeover:
      enter(RebalanceState::evicting_sessions, out);
      fetch(out);
      break;
    case RebalanceState::evicting_conns:
    case RebalanceState::evicting_sessions: fetch(out); break;
    case RebalanceState::disabled: break;
  }
  return out;
}

Commands RebalanceFsm::handle(const ev::CountsFailed& e) {
  if (await_ != Await::counts || e.token != token_) return {};
  const std::string why = fmt::format("cannot read counts from '{}': {}", e.node, e.reason);
  if (stage_ == Stage::counting) return fail_start(RebalanceErrc::rpc_failed, why);
  return abort(why);
}

Commands RebalanceFsm::handle(const ev::NodeDown& e) {
  if (!busy() || !contains(nodes_, e.node)) return {};
  const std::string why = fmt::format("node '{}' down", e.node);
  if (stage_ != Stage::running) return fail_start(RebalanceErrc::rpc_failed, why, {e.node});
  return abort(why, {e.node});
}

Commands RebalanceFsm::handle(const ev::DonorLost& e) {
  if (!busy() || !contains(donors_, e.node)) return {};
  const std::string why = fmt::format("donor '{}' lost: {}", e.node, e.reason);
  if (stage_ != Stage::running) return fail_start(RebalanceErrc::rpc_failed, why, {e.node});
  return abort(why, {e.node});
}

Commands RebalanceFsm::handle(const ev::Stop&) {
  switch (stage_) {
    case Stage::idle: return {cmd::Reply{Request::stop, RebalanceErrc::not_started}};
    case Stage::counting: {
      clear_run();
      return {cmd::Reply{Request::start, RebalanceErrc::cancelled}, cmd::Reply{Request::stop, {}}};
    }
    case Stage::enabling: {
      Commands out{cmd::DisableAgent{donors_, std::string(kKindRebalance)},
                   cmd::Reply{Request::start, RebalanceErrc::cancelled}, cmd::Reply{Request::stop, {}}};
      clear_run();
      return out;
    }
    case Stage::running: break;
  }
  Commands out{cmd::CancelTimer{}, cmd::Log{LogLevel::info, "rebalance stopped"}};
  out = finish(RunResult::stopped, std::nullopt, std::move(out));
  out.push_back(cmd::Reply{Request::stop, {}});
  return out;
}

Commands RebalanceFsm::handle(const RebalanceEvent& e) {
  return std::visit([this](const auto& ev) { return handle(ev); }, e);
}

Progress RebalanceFsm::progress() const {
  if (!running()) return {};
  switch (state_) {
    case RebalanceState::wait_health_check:
    case RebalanceState::wait_takeover:
      if (!wait_armed_) return {0, std::nullopt};
      return wait_progress(wait_since_, wait_length_, clock_.now());
    case RebalanceState::evicting_conns:
    case RebalanceState::evicting_sessions:
      if (!baseline_) return {0, std::nullopt};
      return work_progress(*baseline_, estimate_.remaining, estimate_.ticks, timing_.evict_interval);
    case RebalanceState::disabled: break;
  }
  return {};
}

std::optional<DonorView> RebalanceFsm::donor_view(const NodeId& donor) const {
  if (!is_donor(donor)) return std::nullopt;
  DonorView v;
  // While the donors are being enabled the run has no state yet: a donor shows the state the run
  // enters once they all agreed, so its status is right from the moment its agent is on.
  v.state = stage_ == Stage::enabling && state_ == RebalanceState::disabled
                ? (options_.wait_health_check.count() > 0 ? RebalanceState::wait_health_check
                                                          : RebalanceState::evicting_conns)
                : state_;
  v.coordinator_node = self_;
  v.connection_eviction_rate = options_.conn_evict_rate;
  v.session_eviction_rate = options_.sess_evict_rate;
  v.connection_eviction_rpc_timeout = options_.conn_evict_rpc_timeout;
  v.session_eviction_rpc_timeout = options_.sess_evict_rpc_timeout;
  v.recipients = recipients_;
  v.connection_goal = connection_goal_;
  v.disconnected_session_goal = disconnected_session_goal_;
  const auto& init = initial_.at(donor);
  v.initial_connected = init.connections;
  v.initial_sessions = init.sessions;
  v.progress = progress();
  return v;
}

nlohmann::json RebalanceFsm::entry_body(ApiVersion api) const {
  nlohmann::json j = {
      {"state", to_string(state_)},
      {"coordinator_node", self_},
      {"connection_eviction_rate", options_.conn_evict_rate},
      {"session_eviction_rate", options_.sess_evict_rate},
      {"donors", donors_},
      {"recipients", recipients_},
  };
  if (api == ApiVersion::v5) {
    j["connection_eviction_rpc_timeout"] = options_.conn_evict_rpc_timeout.count();
    j["session_eviction_rpc_timeout"] = options_.sess_evict_rpc_timeout.count();
  }
  if (connection_goal_) j["connection_goal"] = *connection_goal_;
  if (disconnected_session_goal_) j["disconnected_session_goal"] = *disconnected_session_goal_;
  if (donor_conn_avg_) j["donor_conn_avg"] = *donor_conn_avg_;
  if (donor_sess_avg_) j["donor_sess_avg"] = *donor_sess_avg_;
  add_progress(j, progress());
  return j;
}

nlohmann::json RebalanceFsm::coordinator_entry(ApiVersion api) const {
  if (!running()) return nullptr;
  nlohmann::json j = entry_body(api);
  j["node"] = self_;
  return j;
}

nlohmann::json RebalanceFsm::local_status(ApiVersion api) const {
  if (!running()) {
    nlohmann::json j = {{"status", "disabled"}};
    if (last_result_) j["last_result"] = to_json(*last_result_);
    return j;
  }
  nlohmann::json j = entry_body(api);
  j["status"] = "enabled";
  j["process"] = kProcess;
  return j;
}

}  // namespace tidemq::rebalance
