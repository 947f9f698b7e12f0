// The eviction agent of one node (docs/rebalance.md, "The eviction agent"): while enabled by a
// kind ("evacuation", "rebalance") it may refuse new CONNECTs (MQTT 5: CONNACK 0x9C + Server
// Reference; 3.1.1: return code 3), evict connections (DISCONNECT 0x9C + Server Reference; 3.1.1:
// a close) and migrate sessions to other nodes. Never persisted: a restarted node starts disabled (the
// evacuation coordinator re-enables it from its own file). Control thread only.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tidemq/plugin/plugin.hpp"

namespace tidemq::rebalance {

class EvictionAgent {
 public:
  enum class Errc { ok, busy, disabled };

  EvictionAgent(plugin::BrokerServices& broker, plugin::ClusterServices& cluster);
  ~EvictionAgent();

  // Enables for `kind`, or updates the options of the same kind; busy for another kind.
  Errc enable(const std::string& kind, std::optional<std::string> server_reference, bool allow_connections);
  Errc disable(const std::string& kind);
  bool enabled() const { return kind_.has_value(); }
  const std::optional<std::string>& kind() const { return kind_; }
  const std::optional<std::string>& server_reference() const { return server_reference_; }
  bool allows_connections() const { return allow_connections_; }

  std::size_t connection_count() const { return broker_.connection_count(); }
  std::size_t session_count() const { return broker_.session_count(plugin::SessionFilter::any); }
  std::size_t disconnected_session_count() const { return broker_.session_count(plugin::SessionFilter::disconnected); }

  // Tells up to `n` connections to go, with 0x9C and the server reference (`reference_for` picks
  // one per client when set, e.g. the least loaded node). Returns how many were told.
  std::size_t evict_connections(std::size_t n);
  void set_reference_picker(std::function<std::optional<std::string>()> pick) { pick_reference_ = std::move(pick); }
  // Runs whenever the agent goes from disabled to enabled (true) or back (false).
  void on_change(std::function<void(bool enabled)> listener) { on_change_ = std::move(listener); }

  // Migrates up to `n` sessions (`filter`: any, or only disconnected ones) to `targets`, one after
  // the other, round-robin over the targets. `done(migrated, failed)` runs when all are through.
  struct MigrationReport {
    std::size_t migrated = 0;
    std::vector<std::pair<core::ClientId, std::string>> failed;  // client id, reason
  };
  // Client ids in `skip` are left alone (given up after repeated failures).
  void evict_sessions(std::size_t n, std::vector<std::string> targets, plugin::SessionFilter filter,
                      std::function<void(MigrationReport)> done, const std::set<core::ClientId>& skip = {});

  // Totals since the node started (for /metrics).
  struct Totals {
    std::uint64_t connections_evicted = 0;
    std::uint64_t sessions_migrated = 0;
    std::uint64_t sessions_failed = 0;  // migration attempts that failed
  };
  const Totals& totals() const { return totals_; }

  // The refusal for a CONNECT while connections are not allowed (the admission hook's answer).
  std::optional<core::AdmissionRefusal> admission() const;

 private:
  void migrate_next(std::shared_ptr<struct MigrationRun> run);

  plugin::BrokerServices& broker_;
  plugin::ClusterServices& cluster_;
  std::optional<std::string> kind_;
  std::optional<std::string> server_reference_;
  bool allow_connections_ = false;
  std::function<std::optional<std::string>()> pick_reference_;
  std::function<void(bool)> on_change_;
  Totals totals_;
  // Sessions picked for a migration that has not finished: not picked again meanwhile (a stalled
  // target can keep a batch waiting for a while).
  std::set<core::ClientId> picked_;
  plugin::Registration admission_hook_;
  // Read by the admission hook on data threads: a published snapshot of the refusal.
  std::shared_ptr<const std::optional<core::AdmissionRefusal>> refusal_;
  void publish_refusal();
};

}  // namespace tidemq::rebalance
