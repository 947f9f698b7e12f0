#include "rebalance/plugin_parts.hpp"

namespace tidemq::rebalance {

using plugin::Json;

Json PluginParts::local_status(ApiVersion api) const {
  if (evacuation->enabled()) return evacuation->fsm().status(session_recipients());
  if (auto d = rebalance->donor_status(api)) return *d;
  return rebalance->fsm().local_status(api);
}

std::vector<NodeId> PluginParts::session_recipients() const {
  return peers->available(evacuation->fsm().options().migrate_to);
}

Json PluginParts::eviction_status() const {
  if (!agent || !agent->enabled()) return Json{{"status", "disabled"}};
  return Json{{"status", "enabled"}, {"stats", {{"connections", agent->connection_count()}, {"sessions", agent->session_count()}}}};
}

}  // namespace tidemq::rebalance
