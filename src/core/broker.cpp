#include "core/broker.hpp"

#include <algorithm>

#include "core/delivery_plan.hpp"

namespace tidemq::core {

Broker::Broker(BrokerSettings settings, util::Clock& clock)
    : settings_(std::move(settings)), clock_(clock), registry_(router_, settings_, clock) {}

void Broker::sweep() {
  publish_all(registry_.sweep());
  Stats::raise(stats_.connections_max, registry_.connection_count());
  Stats::raise(stats_.sessions_max, registry_.session_count());
  Stats::raise(stats_.subscriptions_max, router_.subscription_count());
  Stats::raise(stats_.topics_max, router_.filter_count());
  Stats::raise(stats_.retained_max, retained_.size());
}

std::size_t Broker::publish(const MessagePtr& m, bool* refused) {
  thread_local std::vector<RouteTarget> targets;
  thread_local std::vector<RemoteDelivery> remote;
  targets.clear();
  router_.match(m->topic, targets);
  if (forwarder_) {
    // Remote targets: one delivery per node however many of its filters match.
    remote.clear();
    for (const RouteTarget& t : targets) {
      if (t.remote == 0) continue;
      auto it = std::find_if(remote.begin(), remote.end(), [&](const RemoteDelivery& r) { return r.node == t.remote; });
      if (it == remote.end()) it = remote.insert(remote.end(), RemoteDelivery{t.remote, false, {}});
      if (t.shared)
        it->shared.push_back(t.shared_filter);
      else
        it->match_local = true;
    }
    if ((!remote.empty() || m->retain) && !forwarder_->forward(m, remote, refused != nullptr)) {
      *refused = true;
      return 0;
    }
  }
  if (m->retain) retained_.put(m);
  if (targets.empty()) {
    Stats::add(stats_.messages_dropped_no_subscribers);
    return 0;
  }
  return deliver_local(m, targets, 0) + remote.size();
}

std::size_t Broker::deliver_forwarded(const MessagePtr& m, bool match_local, const std::vector<std::string>& shared,
                                      NodeIndex origin) {
  thread_local std::vector<RouteTarget> targets;
  targets.clear();
  if (match_local) router_.match(m->topic, targets, MatchScope::local_plain);
  for (const auto& group : shared)
    if (auto t = router_.pick_shared(group)) targets.push_back(std::move(*t));
  if (targets.empty()) {
    Stats::add(stats_.messages_dropped_no_subscribers);
    return 0;
  }
  return deliver_local(m, targets, origin);
}

std::size_t Broker::deliver_local(const MessagePtr& m, std::vector<RouteTarget>& targets, NodeIndex origin) {
  thread_local std::vector<PlannedCopy> copies;
  plan_copies(*m, targets, copies);
  for (PlannedCopy& c : copies)
    if (!c.session->deliver(Delivery{m, c.qos, c.retain, std::move(c.sub_ids)}, origin))
      Stats::add(stats_.messages_dropped_queue_full);
  const std::size_t queued = copies.size();
  copies.clear();
  targets.clear();  // drop the session references now, not at the next publish
  return queued;
}

}  // namespace tidemq::core
