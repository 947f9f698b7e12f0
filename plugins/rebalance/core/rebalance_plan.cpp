#include "rebalance/core/rebalance_plan.hpp"

#include <algorithm>

#include "rebalance/core/balance.hpp"

namespace tidemq::rebalance {

namespace {

std::chrono::seconds ticks_to_seconds(std::uint64_t ticks, std::chrono::milliseconds interval) {
  const auto ms = interval.count() * static_cast<std::int64_t>(ticks);
  return std::chrono::seconds((ms + 999) / 1000);
}

// `total` spread evenly over `n` recipients, the remainder to the first ones.
std::uint64_t even_share(std::uint64_t total, std::size_t n, std::size_t index) {
  if (n == 0) return 0;
  return total / n + (index < total % n ? 1 : 0);
}

}  // namespace

RebalancePlan plan_rebalance(const RebalanceOptions& options, const NodeCountMap& counts,
                             std::chrono::milliseconds evict_interval) {
  RebalancePlan plan;
  std::vector<NodeId> nodes;
  if (options.nodes) nodes = *options.nodes;
  else for (const auto& [n, c] : counts) nodes.push_back(n);
  std::sort(nodes.begin(), nodes.end());
  nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());

  CountMap conns, sessions, disconnected, movable;
  for (const auto& n : nodes) {
    auto it = counts.find(n);
    const NodeCounts c = it == counts.end() ? NodeCounts{} : it->second;
    conns[n] = c.connections;
    sessions[n] = c.sessions;
    disconnected[n] = c.disconnected_sessions;
    movable[n] = c.disconnected_sessions > c.stuck_sessions ? c.disconnected_sessions - c.stuck_sessions : 0;
  }
  const DonorSplit split = donors_and_recipients(conns);
  plan.donors = split.donors;
  plan.recipients = split.recipients;
  const Thresholds conn_t{options.abs_conn_threshold, options.rel_conn_threshold};
  const Thresholds sess_t{options.abs_sess_threshold, options.rel_sess_threshold};
  plan.nothing_to_balance = nothing_to_balance(split, conns, sessions, conn_t, sess_t);

  PhaseEstimate conn_e, sess_e;
  if (!plan.nothing_to_balance) {
    conn_e = estimate_phase(conns, split.donors, split.recipients, options.conn_evict_rate, conn_t);
    sess_e = estimate_phase(disconnected, split.donors, split.recipients, options.sess_evict_rate, sess_t, &movable);
    plan.wait_health_check = options.wait_health_check;
    plan.evicting_conns = ticks_to_seconds(conn_e.ticks, evict_interval);
    plan.wait_takeover = options.wait_takeover;
    plan.evicting_sessions = ticks_to_seconds(sess_e.ticks, evict_interval);
  }
  auto share_of = [](const PhaseEstimate& e, const NodeId& n) -> std::uint64_t {
    for (const auto& s : e.shares) {
      if (s.node == n) return s.count;
    }
    return 0;
  };
  std::size_t recipient_index = 0;
  for (const auto& n : nodes) {
    PlanNode p;
    p.node = n;
    auto it = counts.find(n);
    if (it != counts.end()) p.counts = it->second;
    p.donor = std::find(split.donors.begin(), split.donors.end(), n) != split.donors.end();
    if (p.donor) {
      p.connections_to_evict = share_of(conn_e, n);
      p.sessions_to_migrate = share_of(sess_e, n);
    } else {
      p.connections_to_receive = even_share(conn_e.remaining, split.recipients.size(), recipient_index);
      p.sessions_to_receive = even_share(sess_e.remaining, split.recipients.size(), recipient_index);
      ++recipient_index;
    }
    plan.nodes.push_back(std::move(p));
  }
  return plan;
}

nlohmann::json to_json(const RebalancePlan& plan) {
  nlohmann::json nodes = nlohmann::json::array();
  for (const auto& p : plan.nodes) {
    nlohmann::json n = {{"node", p.node},
                        {"role", p.donor ? "donor" : "recipient"},
                        {"connections", p.counts.connections},
                        {"sessions", p.counts.sessions},
                        {"disconnected_sessions", p.counts.disconnected_sessions}};
    if (p.donor) {
      n["connections_to_evict"] = p.connections_to_evict;
      n["sessions_to_migrate"] = p.sessions_to_migrate;
    } else {
      n["connections_to_receive"] = p.connections_to_receive;
      n["sessions_to_receive"] = p.sessions_to_receive;
    }
    nodes.push_back(std::move(n));
  }
  return {{"nothing_to_balance", plan.nothing_to_balance},
          {"donors", plan.donors},
          {"recipients", plan.recipients},
          {"nodes", std::move(nodes)},
          {"projected_seconds",
           {{"wait_health_check", plan.wait_health_check.count()},
            {"evicting_conns", plan.evicting_conns.count()},
            {"wait_takeover", plan.wait_takeover.count()},
            {"evicting_sessions", plan.evicting_sessions.count()},
            {"total", plan.total().count()}}}};
}

}  // namespace tidemq::rebalance
