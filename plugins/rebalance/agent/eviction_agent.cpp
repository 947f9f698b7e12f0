#include "rebalance/agent/eviction_agent.hpp"

#include <atomic>

namespace tidemq::rebalance {

namespace {
constexpr std::uint8_t kUseAnotherServer = 0x9C;
constexpr int kAdmissionPriority = 110;  // spec §4.3: after the built-in checks, before others
constexpr std::size_t kMigrationsInFlight = 32;
}  // namespace

struct MigrationRun {
  std::vector<core::ClientId> ids;
  std::size_t next = 0;
  std::size_t in_flight = 0;
  bool finished = false;
  std::vector<std::string> targets;
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
  if (kind_ && !allow_connections_) r = core::AdmissionRefusal{kUseAnotherServer, server_reference_};
  std::atomic_store(&refusal_, std::make_shared<const std::optional<core::AdmissionRefusal>>(std::move(r)));
}

EvictionAgent::Errc EvictionAgent::enable(const std::string& kind, std::optional<std::string> server_reference,
                                          bool allow_connections) {
  if (kind_ && *kind_ != kind) return Errc::busy;
  kind_ = kind;
  server_reference_ = std::move(server_reference);
  allow_connections_ = allow_connections;
  publish_refusal();
  return Errc::ok;
}

EvictionAgent::Errc EvictionAgent::disable(const std::string& kind) {
  if (!kind_) return Errc::disabled;
  if (*kind_ != kind) return Errc::busy;
  kind_.reset();
  server_reference_.reset();
  allow_connections_ = false;
  publish_refusal();
  return Errc::ok;
}

std::optional<core::AdmissionRefusal> EvictionAgent::admission() const { return *std::atomic_load(&refusal_); }

std::size_t EvictionAgent::evict_connections(std::size_t n) {
  if (!kind_ || n == 0) return 0;
  if (!pick_reference_) {
    const std::size_t told = broker_.evict_connections(n, core::DisconnectInfo{kUseAnotherServer, server_reference_});
    totals_.connections_evicted += told;
    return told;
  }
  // A reference per client: evict one at a time so that each gets the node that is best now.
  std::size_t told = 0;
  for (; told < n; ++told) {
    auto ref = pick_reference_();
    if (broker_.evict_connections(1, core::DisconnectInfo{kUseAnotherServer, ref ? ref : server_reference_}) == 0) break;
  }
  totals_.connections_evicted += told;
  return told;
}

void EvictionAgent::evict_sessions(std::size_t n, std::vector<std::string> targets, plugin::SessionFilter filter,
                                   std::function<void(MigrationReport)> done, const std::set<core::ClientId>& skip) {
  auto run = std::make_shared<MigrationRun>();
  run->done = std::move(done);
  if (!kind_ || targets.empty() || n == 0) return run->done(run->report);
  for (auto& id : broker_.pick_sessions(n + skip.size(), filter))
    if (!skip.contains(id) && run->ids.size() < n) run->ids.push_back(std::move(id));
  run->targets = std::move(targets);
  if (run->ids.empty()) return run->done(std::move(run->report));
  // A few migrations in flight at once: each is a round trip to its target node.
  for (std::size_t i = 0; i < kMigrationsInFlight && run->next < run->ids.size(); ++i) migrate_next(run);
}

void EvictionAgent::migrate_next(std::shared_ptr<MigrationRun> run) {
  if (run->next >= run->ids.size()) {
    if (run->in_flight == 0 && !run->finished) {
      run->finished = true;
      run->done(std::move(run->report));
    }
    return;
  }
  const core::ClientId id = run->ids[run->next];
  const std::string target = run->targets[run->next % run->targets.size()];
  ++run->next;
  ++run->in_flight;
  cluster_.migrate_session(id, target, [this, run, id](std::string error) {
    --run->in_flight;
    if (error.empty()) {
      ++run->report.migrated;
      ++totals_.sessions_migrated;
    } else {
      run->report.failed.emplace_back(id, error);
      ++totals_.sessions_failed;
    }
    migrate_next(run);
  });
}

}  // namespace tidemq::rebalance
