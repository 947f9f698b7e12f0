// The broker core of one node: the tables every connection shares (sessions, routes, retained
// messages, hooks, counters) and message routing. Thread-safe; owns no sockets and no threads.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/broker_settings.hpp"
#include "core/hooks.hpp"
#include "core/retained_store.hpp"
#include "core/router.hpp"
#include "core/session_registry.hpp"
#include "core/stats.hpp"

namespace tidemq::core {

// ---- what the cluster plugs into the broker (both optional; a lone node has neither) ----

// One remote node a published message must reach, and what it must do with it there.
struct RemoteDelivery {
  NodeIndex node = 0;
  bool match_local = false;          // the node has plain subscriptions matching the topic
  std::vector<std::string> shared;   // "$share/g/f" groups whose member the node must pick
};

class RemoteForwarder {
 public:
  virtual ~RemoteForwarder() = default;
  // Any thread. Passes `m` on to other nodes: those in `to`, and every node when m->retain
  // (each node keeps its own copy of the retained messages). A QoS 0 message is dropped (and
  // counted) for a link whose peer is not reading. A QoS 1/2 message is never dropped: when
  // `may_refuse` and a link it needs is full, it is queued nowhere and forward() returns false
  // (the publisher is told and may send it again); without `may_refuse` it is queued anyway.
  virtual bool forward(const MessagePtr& m, const std::vector<RemoteDelivery>& to, bool may_refuse) = 0;
};

// Where a CONNECT's session is, cluster-wide. Before a connection attaches, the locator claims the
// client id for this node and brings the client's session here from whichever node held it (with
// clean_start: ends it there), so that attach finds it in the registry.
struct LocateResult {
  std::optional<std::uint8_t> refuse;       // CONNACK reason when the cluster cannot answer now
  std::uint64_t epoch = 0;                  // the ownership epoch granted to this connect
  std::shared_ptr<void> until_attached;     // held by the connection until it has attached
};
class SessionLocator {
 public:
  virtual ~SessionLocator() = default;
  // Any thread; `done` is called exactly once, on any thread. The locator learns that the
  // connection has attached (or gave up) when the result's `until_attached` is released.
  virtual void locate(const ClientId& id, bool clean_start, std::function<void(LocateResult)> done) = 0;
};

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
  // of deliveries queued. With `refused` given, a QoS 1/2 message that another node's full link
  // cannot take is refused as a whole: `*refused` is set and it is neither stored nor delivered
  // anywhere, so that the publisher's retry is not a duplicate. Without it (wills, expiring
  // sessions: nobody could retry) the message is passed on in any case.
  std::size_t publish(const MessagePtr& m, bool* refused = nullptr);
  void publish_all(const std::vector<MessagePtr>& ms) {
    for (const auto& m : ms) publish(m);
  }

  // A message forwarded by node `origin`: delivered to local subscriptions only (plain ones when
  // `match_local`, plus one member of each named shared group).
  std::size_t deliver_forwarded(const MessagePtr& m, bool match_local, const std::vector<std::string>& shared,
                                NodeIndex origin);

  // Periodic housekeeping from the control thread: delayed wills and session expiry.
  void sweep();

  // Set once at startup, before any connection.
  void set_cluster(RemoteForwarder* forwarder, SessionLocator* locator) {
    forwarder_ = forwarder;
    locator_ = locator;
  }
  SessionLocator* locator() const { return locator_; }

 private:
  BrokerSettings settings_;
  util::Clock& clock_;
  Router router_;
  RetainedStore retained_;
  SessionRegistry registry_;
  Hooks hooks_;
  Stats stats_;
  RemoteForwarder* forwarder_ = nullptr;
  SessionLocator* locator_ = nullptr;

  std::size_t deliver_local(const MessagePtr& m, std::vector<RouteTarget>& targets, NodeIndex origin);
};

}  // namespace tidemq::core
