#include "rebalance/core/rebalance_status.hpp"

namespace tidemq::rebalance {

std::string_view to_string(RebalanceState s) noexcept {
  switch (s) {
    case RebalanceState::disabled: return "disabled";
    case RebalanceState::wait_health_check: return "wait_health_check";
    case RebalanceState::evicting_conns: return "evicting_conns";
    case RebalanceState::wait_takeover: return "wait_takeover";
    case RebalanceState::evicting_sessions: return "evicting_sessions";
  }
  return "unknown";
}

std::optional<RebalanceState> rebalance_state_from_string(std::string_view s) noexcept {
  for (auto st : {RebalanceState::disabled, RebalanceState::wait_health_check, RebalanceState::evicting_conns,
                  RebalanceState::wait_takeover, RebalanceState::evicting_sessions}) {
    if (to_string(st) == s) return st;
  }
  return std::nullopt;
}

nlohmann::json to_json(const LastResult& r) {
  return {{"result", to_string(r.result)},
          {"reason", r.reason ? nlohmann::json(*r.reason) : nlohmann::json(nullptr)},
          {"finished_at", rfc3339(r.finished_at)}};
}

nlohmann::json to_json(const DonorView& v) {
  nlohmann::json j = {
      {"state", to_string(v.state)},
      {"coordinator_node", v.coordinator_node},
      {"connection_eviction_rate", v.connection_eviction_rate},
      {"session_eviction_rate", v.session_eviction_rate},
      {"connection_eviction_rpc_timeout", v.connection_eviction_rpc_timeout.count()},
      {"session_eviction_rpc_timeout", v.session_eviction_rpc_timeout.count()},
      {"recipients", v.recipients},
      {"initial_connected", v.initial_connected},
      {"initial_sessions", v.initial_sessions},
  };
  if (v.connection_goal) j["connection_goal"] = *v.connection_goal;
  if (v.disconnected_session_goal) j["disconnected_session_goal"] = *v.disconnected_session_goal;
  add_progress(j, v.progress);
  return j;
}

std::optional<DonorView> donor_view_from_json(const nlohmann::json& j) {
  try {
    DonorView v;
    auto state = rebalance_state_from_string(j.at("state").get<std::string>());
    if (!state) return std::nullopt;
    v.state = *state;
    v.coordinator_node = j.at("coordinator_node").get<std::string>();
    v.connection_eviction_rate = j.at("connection_eviction_rate").get<std::uint32_t>();
    v.session_eviction_rate = j.at("session_eviction_rate").get<std::uint32_t>();
    v.connection_eviction_rpc_timeout =
        std::chrono::milliseconds(j.at("connection_eviction_rpc_timeout").get<std::int64_t>());
    v.session_eviction_rpc_timeout = std::chrono::milliseconds(j.at("session_eviction_rpc_timeout").get<std::int64_t>());
    v.recipients = j.at("recipients").get<std::vector<NodeId>>();
    v.initial_connected = j.at("initial_connected").get<std::uint64_t>();
    v.initial_sessions = j.at("initial_sessions").get<std::uint64_t>();
    if (j.contains("connection_goal")) v.connection_goal = j.at("connection_goal").get<double>();
    if (j.contains("disconnected_session_goal")) {
      v.disconnected_session_goal = j.at("disconnected_session_goal").get<double>();
    }
    v.progress.percent = j.at("progress").get<int>();
    if (!j.at("eta_seconds").is_null()) v.progress.eta_seconds = j.at("eta_seconds").get<std::uint64_t>();
    return v;
  } catch (const nlohmann::json::exception&) {
    return std::nullopt;
  }
}

nlohmann::json render_donor_status(const DonorView& v, const LiveCounts& live, ApiVersion api) {
  nlohmann::json j = {
      {"status", "enabled"},
      {"process", "rebalance"},
      {"state", to_string(v.state)},
      {"coordinator_node", v.coordinator_node},
      {"connection_eviction_rate", v.connection_eviction_rate},
      {"session_eviction_rate", v.session_eviction_rate},
      {"recipients", v.recipients},
      {"stats",
       {{"initial_connected", v.initial_connected},
        {"initial_sessions", v.initial_sessions},
        {"current_connected", live.connections},
        {"current_sessions", live.sessions},
        {"current_disconnected_sessions", live.disconnected_sessions}}},
  };
  if (api == ApiVersion::v5) {
    j["connection_eviction_rpc_timeout"] = v.connection_eviction_rpc_timeout.count();
    j["session_eviction_rpc_timeout"] = v.session_eviction_rpc_timeout.count();
  }
  if (v.connection_goal) j["connection_goal"] = *v.connection_goal;
  if (v.disconnected_session_goal) j["disconnected_session_goal"] = *v.disconnected_session_goal;
  add_progress(j, v.progress);
  return j;
}

}  // namespace tidemq::rebalance
