#include "rebalance/agent/eviction_agent.hpp"

#include <atomic>

#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::rebalance {

namespace {
constexpr int kAdmissionPriority = 110;  // after the built-in checks, before others
}  // namespace

// Sessions go to their targets in batches (one cluster request each, see Cluster::migrate_sessions);
// a few batches are in flight at once so that export, transfer and import overlap.
constexpr std::size_t kSessionsPerBatch = 256;
constexpr std::size_t kBatchesInFlight = 4;

struct MigrationBatch {
  std::string target;
  std::vector<core::ClientId> ids;
};

struct MigrationRun {
  std::vector<MigrationBatch> batches;
  std::size_t next = 0;
  std::size_t in_flight = 0;
  bool finished = false;
  EvictionAgent::MigrationReport report;
  std::function<void(EvictionAgent::MigrationReport)> done;
};

EvictionAgent::EvictionAgent(plugin::BrokerServices& broker, plugin::ClusterServices& cluster)
    : broker_(broker), cluster_(cluster), refusal_(std::make_shared<const std::optional<core::AdmissionRefusal>>()) {
  admission_hook_ = broker_.on_admission(kAdmissionPriority, [this](const core::AdmissionRequest&) {
    auto current = std::atomic_load(&refusal_);
    return *current;
  });
}

EvictionAgent::~EvictionAgent() { admission_hook_.reset(); }

void EvictionAgent::publish_refusal() {
  std::optional<core::AdmissionRefusal> r;
  if (kind_ && !allow_connections_) r = core::AdmissionRefusal{mqtt::rc::use_another_server, server_reference_};
  std::atomic_store(&refusal_, std::make_shared<const std::optional<core::AdmissionRefusal>>(std::move(r)));
}

EvictionAgent::Errc EvictionAgent::enable(const std::string& kind, std::optional<std::string> server_reference,
                                          bool allow_connections) {
  if (kind_ && *kind_ != kind) return Errc::busy;
  const bool was_enabled = kind_.has_value();
  kind_ = kind;
  server_reference_ = std::move(server_reference);
  allow_connections_ = allow_connections;
  publish_refusal();
  if (!was_enabled && on_change_) on_change_(true);
  return Errc::ok;
}

EvictionAgent::Errc EvictionAgent::disable(const std::string& kind) {
  if (!kind_) return Errc::disabled;
  if (*kind_ != kind) return Errc::busy;
  kind_.reset();
  server_reference_.reset();
  allow_connections_ = false;
  publish_refusal();
  if (on_change_) on_change_(false);
  return Errc::ok;
}

std::optional<core::AdmissionRefusal> EvictionAgent::admission() const { return *std::atomic_load(&refusal_); }

std::size_t EvictionAgent::evict_connections(std::size_t n) {
  if (!kind_ || n == 0) return 0;
  if (!pick_reference_) {
    const std::size_t told = broker_.evict_connections(n, core::DisconnectInfo{mqtt::rc::use_another_server, server_reference_});
    totals_.connections_evicted += told;
    return told;
  }
  // A reference per client: evict one at a time so that each gets the node that is best now.
  std::size_t told = 0;
  for (; told < n; ++told) {
    auto ref = pick_reference_();
    if (broker_.evict_connections(1, core::DisconnectInfo{mqtt::rc::use_another_server, ref ? ref : server_reference_}) == 0) break;
  }
  totals_.connections_evicted += told;
  return told;
}

void EvictionAgent::evict_sessions(std::size_t n, std::vector<std::string> targets, plugin::SessionFilter filter,
                                   std::function<void(MigrationReport)> done, const std::set<core::ClientId>& skip) {
  auto run = std::make_shared<MigrationRun>();
  run->done = std::move(done);
  if (!kind_ || targets.empty() || n == 0) return run->done(run->report);
  // Targets take turns session by session, then each target's share is cut in batches.
  std::vector<std::vector<core::ClientId>> per_target(targets.size());
  std::size_t picked = 0;
  for (auto& id : broker_.pick_sessions(n + skip.size() + picked_.size(), filter)) {
    if (skip.contains(id) || picked_.contains(id) || picked == n) continue;
    picked_.insert(id);
    per_target[picked++ % targets.size()].push_back(std::move(id));
  }
  for (std::size_t t = 0; t < targets.size(); ++t)
    for (std::size_t i = 0; i < per_target[t].size(); i += kSessionsPerBatch) {
      const auto first = per_target[t].begin() + static_cast<std::ptrdiff_t>(i);
      const auto last = per_target[t].begin() + static_cast<std::ptrdiff_t>(std::min(i + kSessionsPerBatch, per_target[t].size()));
      run->batches.push_back(MigrationBatch{targets[t], {first, last}});
    }
  if (run->batches.empty()) return run->done(std::move(run->report));
  for (std::size_t i = 0; i < kBatchesInFlight && run->next < run->batches.size(); ++i) migrate_next(run);
}

void EvictionAgent::migrate_next(std::shared_ptr<MigrationRun> run) {
  if (run->next >= run->batches.size()) {
    if (run->in_flight == 0 && !run->finished) {
      run->finished = true;
      run->done(std::move(run->report));
    }
    return;
  }
  MigrationBatch batch = std::move(run->batches[run->next++]);
  const std::size_t size = batch.ids.size();
  ++run->in_flight;
  auto ids = std::make_shared<std::vector<core::ClientId>>(batch.ids);
  cluster_.migrate_sessions(std::move(batch.ids), batch.target, [this, run, size, ids](plugin::ClusterServices::MigrationFailures failed) {
    for (const auto& id : *ids) picked_.erase(id);
    --run->in_flight;
    const std::size_t moved = size - std::min(size, failed.size());
    run->report.migrated += moved;
    totals_.sessions_migrated += moved;
    totals_.sessions_failed += failed.size();
    for (auto& f : failed) run->report.failed.push_back(std::move(f));
    migrate_next(run);
  });
}

}  // namespace tidemq::rebalance
