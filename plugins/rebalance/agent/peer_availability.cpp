#include "rebalance/agent/peer_availability.hpp"

#include <algorithm>
#include <chrono>
#include <tuple>

namespace tidemq::rebalance {

namespace {
constexpr const char* kNotice = "rebalance.agent.changed.v1";
constexpr const char* kAsk = "rebalance.agent.v1";

std::int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}
}  // namespace

PeerAvailability::PeerAvailability(plugin::ClusterServices& cluster) : cluster_(cluster), incarnation_(wall_ms()) {
  node_events_ = cluster_.on_node_event([this](const std::string& node, bool up) {
    if (up) return ask(node);
    if (known_.erase(node) > 0 && on_change_) on_change_();
  });
}

PeerAvailability::~PeerAvailability() { *alive_ = false; }

void PeerAvailability::register_methods(std::vector<plugin::Registration>& out) {
  out.push_back(cluster_.register_method(kNotice, [this](const plugin::Json& a, plugin::Done reply) {
    if (!a.is_object() || !a.contains("node") || !a["node"].is_string())
      return reply(plugin::Json{{"error", "invalid_arguments"}}, "");
    take(a["node"].get<std::string>(), a);
    reply(plugin::Json{{"ok", true}}, "");
  }));
  for (const auto& m : cluster_.members())
    if (!m.self && m.running) ask(m.name);
}

plugin::Json PeerAvailability::local_report(bool enabled) const {
  return plugin::Json{{"node", cluster_.self()}, {"enabled", enabled}, {"incarnation", incarnation_}, {"generation", generation_}};
}

void PeerAvailability::local_changed(bool enabled) {
  ++generation_;
  const plugin::Json notice = local_report(enabled);
  for (const auto& m : cluster_.members())
    if (!m.self && m.running) cluster_.call(m.name, kNotice, notice, [](std::optional<plugin::Json>, std::string) {});
}

void PeerAvailability::ask(const std::string& node) {
  cluster_.call(node, kAsk, plugin::Json::object(), [this, alive = alive_, node](std::optional<plugin::Json> r, std::string) {
    if (*alive && r && r->is_object()) take(node, *r);
  });
}

void PeerAvailability::take(const std::string& node, const plugin::Json& a) {
  if (node == cluster_.self()) return;
  Report r;
  try {
    r.enabled = a.at("enabled").get<bool>();
    r.incarnation = a.value("incarnation", std::int64_t{0});
    r.generation = a.value("generation", std::uint64_t{0});
  } catch (const plugin::Json::exception&) {
    return;
  }
  auto it = known_.find(node);
  if (it != known_.end() &&
      std::tie(r.incarnation, r.generation) < std::tie(it->second.incarnation, it->second.generation))
    return;  // older than what we know
  const bool changed = it == known_.end() || it->second.enabled != r.enabled;
  known_[node] = r;
  if (changed && on_change_) on_change_();
}

std::vector<NodeId> PeerAvailability::available(const std::optional<std::vector<NodeId>>& among) const {
  std::vector<NodeId> out;
  for (const auto& m : cluster_.members()) {
    if (m.self || !m.running) continue;
    if (among && std::find(among->begin(), among->end(), m.name) == among->end()) continue;
    auto it = known_.find(m.name);
    if (it != known_.end() && !it->second.enabled) out.push_back(m.name);
  }
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace tidemq::rebalance
