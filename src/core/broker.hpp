// The broker core of one node: the tables every connection shares (sessions, routes, retained
// messages, hooks, counters) and message routing. Thread-safe; owns no sockets and no threads.
#pragma once

#include <memory>
#include <vector>

#include "core/broker_settings.hpp"
#include "core/hooks.hpp"
#include "core/retained_store.hpp"
#include "core/router.hpp"
#include "core/session_registry.hpp"
#include "core/stats.hpp"

namespace tidemq::core {

class Broker {
 public:
  Broker(BrokerSettings settings, util::Clock& clock);

  const BrokerSettings& settings() const { return settings_; }
  util::Clock& clock() { return clock_; }
  Router& router() { return router_; }
  RetainedStore& retained() { return retained_; }
  SessionRegistry& registry() { return registry_; }
  Hooks& hooks() { return hooks_; }
  Stats& stats() { return stats_; }

  // Routes `m` to every matching subscription (and stores it if retained). Returns the number
  // of deliveries queued.
  std::size_t publish(const MessagePtr& m);
  void publish_all(const std::vector<MessagePtr>& ms) {
    for (const auto& m : ms) publish(m);
  }

  // Periodic housekeeping from the control thread: delayed wills and session expiry.
  void sweep();

 private:
  BrokerSettings settings_;
  util::Clock& clock_;
  Router router_;
  RetainedStore retained_;
  SessionRegistry registry_;
  Hooks hooks_;
  Stats stats_;
};

}  // namespace tidemq::core
