// Which other nodes are available right now (running, eviction agent disabled; docs/rebalance.md,
// "Availability"), kept current from events instead of asked for at each status call: a node's
// answer when it comes up, its notice whenever its agent is enabled or disabled, and node-down
// events. Status and global_status read it without waiting on anyone. Control thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "rebalance/core/types.hpp"
#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class PeerAvailability {
 public:
  explicit PeerAvailability(plugin::ClusterServices& cluster);
  ~PeerAvailability();

  // Registers the notice method; asks every running member once.
  void register_methods(std::vector<plugin::Registration>& out);
  // This node's agent was enabled (true) or disabled: tells every running member.
  void local_changed(bool enabled);
  // Runs when another node's availability may have changed (it came up, went down, or its agent
  // was enabled or disabled).
  void on_change(std::function<void()> listener) { on_change_ = std::move(listener); }

  // The running members other than this node whose agent is known to be disabled, sorted;
  // only those in `among` when given.
  std::vector<NodeId> available(const std::optional<std::vector<NodeId>>& among) const;

  // What a node says about its agent: `incarnation` (its start time) and `generation` (its agent
  // changes since) order the answers, so a late reply never overwrites a newer notice.
  struct Report {
    std::int64_t incarnation = 0;
    std::uint64_t generation = 0;
    bool enabled = true;
  };
  plugin::Json local_report(bool enabled) const;

 private:
  void ask(const std::string& node);
  void take(const std::string& node, const plugin::Json& report);

  plugin::ClusterServices& cluster_;
  const std::int64_t incarnation_;
  std::uint64_t generation_ = 0;
  std::map<NodeId, Report> known_;
  std::function<void()> on_change_;
  plugin::Registration node_events_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace tidemq::rebalance
