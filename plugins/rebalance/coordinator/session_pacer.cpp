#include "rebalance/coordinator/session_pacer.hpp"

#include <set>

#include "rebalance/coordinator/command_log.hpp"

namespace tidemq::rebalance {

namespace {
constexpr auto kPaceTick = std::chrono::milliseconds(10);
}

struct SessionPacer::Batch {
  std::uint64_t backlog = 0;  // sessions not yet released to the agent
  std::size_t in_flight = 0;  // agent calls not yet answered
  std::vector<std::string> targets;
  plugin::SessionFilter filter = plugin::SessionFilter::disconnected;
  Report report;
  std::function<void(Report)> done;
};

SessionPacer::SessionPacer(EvictionAgent& agent, util::RateLimiter& limiter, plugin::Timers& timers)
    : agent_(agent), limiter_(limiter), timers_(timers) {}

SessionPacer::~SessionPacer() { *alive_ = false; }

void SessionPacer::migrate(std::uint64_t count, std::uint32_t rate, std::vector<std::string> targets,
                           plugin::SessionFilter filter, std::function<void(Report)> done) {
  stop();
  limiter_.set_rate(rate);
  current_ = std::make_shared<Batch>();
  current_->backlog = count;
  current_->targets = std::move(targets);
  current_->filter = filter;
  current_->done = std::move(done);
  step(current_);
}

void SessionPacer::stop() {
  current_.reset();
  timer_.reset();
}

std::uint64_t SessionPacer::stuck_sessions() const {
  std::uint64_t n = 0;
  for (const auto& [_, failed] : attempts_)
    if (failed >= kMaxAttempts) ++n;
  return n;
}

void SessionPacer::step(std::shared_ptr<Batch> batch) {
  if (batch != current_) return;
  if (!agent_.enabled()) batch->backlog = 0;
  const std::uint64_t n = batch->backlog == 0 ? 0 : limiter_.obtain_up_to(batch->backlog);
  if (n > 0) {
    batch->backlog -= n;
    std::set<core::ClientId> stuck;
    for (const auto& [id, failed] : attempts_)
      if (failed >= kMaxAttempts) stuck.insert(id);
    ++batch->in_flight;
    agent_.evict_sessions(static_cast<std::size_t>(n), batch->targets, batch->filter,
                          [this, alive = alive_, batch, n](EvictionAgent::MigrationReport r) {
                            if (!*alive) return;
                            --batch->in_flight;
                            batch->report.migrated += r.migrated;
                            for (const auto& [id, why] : r.failed) {
                              const int failed = ++attempts_[id];
                              if (failed == kMaxAttempts) {
                                ++batch->report.given_up;
                                rebalance_logger()->warn("session {} could not be migrated after {} attempts: {}", id,
                                                         failed, why);
                              } else if (failed < kMaxAttempts) {
                                ++batch->report.failed;
                              }
                            }
                            // Fewer sessions left than asked for: nothing more to release.
                            if (r.migrated + r.failed.size() < n) batch->backlog = 0;
                            finish_if_done(batch);
                          },
                          stuck);
  }
  if (batch->backlog == 0) return finish_if_done(batch);
  if (batch != current_) return;  // finished synchronously and replaced
  timer_ = timers_.after(kPaceTick, [this, alive = alive_, batch] {
    if (*alive) step(batch);
  });
}

void SessionPacer::finish_if_done(const std::shared_ptr<Batch>& batch) {
  if (batch != current_ || batch->backlog > 0 || batch->in_flight > 0) return;
  current_.reset();
  timer_.reset();
  auto done = std::move(batch->done);
  done(batch->report);
}

}  // namespace tidemq::rebalance
