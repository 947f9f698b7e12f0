#include "core/broker.hpp"

#include <algorithm>

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

std::size_t Broker::publish(const MessagePtr& m) {
  if (m->retain) retained_.put(m);
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
    if (!remote.empty() || m->retain) forwarder_->forward(m, remote);
  }
  if (targets.empty()) {
    Stats::add(stats_.messages_dropped_no_subscribers);
    return 0;
  }
  return deliver_local(m, targets) + remote.size();
}

std::size_t Broker::deliver_forwarded(const MessagePtr& m, bool match_local, const std::vector<std::string>& shared) {
  thread_local std::vector<RouteTarget> targets;
  targets.clear();
  if (match_local) router_.match(m->topic, targets, MatchScope::local_plain);
  for (const auto& group : shared)
    if (auto t = router_.pick_shared(group)) targets.push_back(std::move(*t));
  if (targets.empty()) {
    Stats::add(stats_.messages_dropped_no_subscribers);
    return 0;
  }
  return deliver_local(m, targets);
}

std::size_t Broker::deliver_local(const MessagePtr& m, std::vector<RouteTarget>& targets) {
  // MQTT 3.1.1 clients get one copy at the highest QoS of their matching subscriptions; MQTT 5
  // clients one copy per subscription (each with its own Subscription Identifier).
  if (targets.size() > 1)
    std::sort(targets.begin(), targets.end(), [](const RouteTarget& a, const RouteTarget& b) { return a.session < b.session; });
  std::size_t queued = 0;
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const RouteTarget& t = targets[i];
    if (t.remote != 0) continue;  // handled by the forwarder
    if (t.options.no_local && t.session->id() == m->publisher) continue;
    std::uint8_t qos = std::min(m->qos, t.options.qos);
    if (t.session->protocol_level() != mqtt::kV5) {
      // Fold the following targets of the same session into this one.
      while (i + 1 < targets.size() && targets[i + 1].session == t.session) {
        ++i;
        if (!(targets[i].options.no_local && t.session->id() == m->publisher))
          qos = std::max(qos, std::min(m->qos, targets[i].options.qos));
      }
      if (!t.session->deliver(Delivery{m, qos, false, 0})) Stats::add(stats_.messages_dropped_queue_full);
    } else {
      bool retain = t.options.retain_as_published && m->retain;
      if (!t.session->deliver(Delivery{m, qos, retain, t.sub_id})) Stats::add(stats_.messages_dropped_queue_full);
    }
    ++queued;
  }
  targets.clear();  // drop the session references now, not at the next publish
  return queued;
}

}  // namespace tidemq::core
