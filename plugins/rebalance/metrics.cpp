#include "rebalance/metrics.hpp"

#include <fmt/format.h>

#include "tidemq/util/prometheus.hpp"

namespace tidemq::rebalance {

std::string render_metrics(const PluginParts& parts) {
  if (!parts.agent) return "";
  const EvictionAgent& agent = *parts.agent;
  const EvacuationCoordinator& evacuation = *parts.evacuation;
  const RebalanceCoordinator& rebalance = *parts.rebalance;
  util::PrometheusText w;
  auto family = [&](const char* name, const char* type, const char* help) { w.family(name, type, help); };
  family("tidemq_rebalance_state", "gauge", "1 for the current state of each process on this node.");
  w.sample("tidemq_rebalance_state", 1, fmt::format("process=\"evacuation\",state=\"{}\"", to_string(evacuation.fsm().state())));
  w.sample("tidemq_rebalance_state", 1, fmt::format("process=\"rebalance\",state=\"{}\"", to_string(rebalance.fsm().state())));
  const auto& t = agent.totals();
  family("tidemq_rebalance_connections_evicted_total", "counter", "Connections told to go by the eviction agent.");
  w.sample("tidemq_rebalance_connections_evicted_total", t.connections_evicted);
  family("tidemq_rebalance_sessions_migrated_total", "counter", "Sessions migrated to other nodes.");
  w.sample("tidemq_rebalance_sessions_migrated_total", t.sessions_migrated);
  family("tidemq_rebalance_sessions_migration_failed_total", "counter", "Session migration attempts that failed; the session stayed on this node (a session that is retried counts once per attempt; the status's failed_sessions counts sessions given up after 3 attempts).");
  w.sample("tidemq_rebalance_sessions_migration_failed_total", t.sessions_failed);
  const bool evicting = agent.enabled();
  family("tidemq_rebalance_connections_remaining", "gauge", "Connections still on this node while it is evicting.");
  w.sample("tidemq_rebalance_connections_remaining", evicting ? agent.connection_count() : 0);
  family("tidemq_rebalance_sessions_remaining", "gauge", "Sessions still on this node while it is evicting.");
  w.sample("tidemq_rebalance_sessions_remaining", evicting ? agent.session_count() : 0);
  Progress p = evacuation.enabled() ? evacuation.fsm().progress() : rebalance.fsm().progress();
  family("tidemq_rebalance_eta_seconds", "gauge", "Estimated seconds left in the current phase (-1: unknown or idle).");
  w.sample("tidemq_rebalance_eta_seconds", p.eta_seconds && (evacuation.enabled() || rebalance.fsm().busy()) ? static_cast<std::int64_t>(*p.eta_seconds) : -1);
  const auto audit = parts.ctx->cluster.migration_audit();
  family("tidemq_rebalance_messages_lost_total", "counter", "Messages missing after a migration (audit; must stay 0).");
  w.sample("tidemq_rebalance_messages_lost_total", audit.messages_lost);
  family("tidemq_rebalance_migration_audit_mismatches_total", "counter", "Migrated sessions whose message count dropped.");
  w.sample("tidemq_rebalance_migration_audit_mismatches_total", audit.mismatches);
  return w.take();
}

}  // namespace tidemq::rebalance
