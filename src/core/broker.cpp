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
  // MQTT 3.1.1 clients get one copy at the highest QoS of their matching subscriptions (at the
  // first of their targets); MQTT 5 clients one copy per subscription (each with its own
  // Subscription Identifier). Deliveries go out in match order, so that the order of a fan-out
  // does not depend on where sessions sit in memory (the simulation replays seeds exactly).
  constexpr std::int16_t kAsIs = -1, kFolded = -2;
  thread_local std::vector<std::pair<Session*, std::uint32_t>> v3;
  thread_local std::vector<std::int16_t> fold;  // per target: kAsIs, kFolded (skip) or the QoS to send
  auto excluded = [&](const RouteTarget& t) {
    return t.remote != 0 || (t.options.no_local && t.session->id() == m->publisher);
  };
  const std::size_t n = targets.size();
  fold.assign(n, kAsIs);
  if (n > 1) {
    v3.clear();
    for (std::size_t i = 0; i < n; ++i)
      if (!excluded(targets[i]) && targets[i].session->protocol_level() != mqtt::kV5)
        v3.emplace_back(targets[i].session, static_cast<std::uint32_t>(i));
    if (v3.size() > 1) {
      std::sort(v3.begin(), v3.end());
      for (std::size_t k = 0; k < v3.size();) {
        std::size_t j = k;
        std::uint8_t qos = 0;
        for (; j < v3.size() && v3[j].first == v3[k].first; ++j)
          qos = std::max(qos, std::min(m->qos, targets[v3[j].second].options.qos));
        fold[v3[k].second] = qos;
        for (std::size_t x = k + 1; x < j; ++x) fold[v3[x].second] = kFolded;
        k = j;
      }
    }
  }
  std::size_t queued = 0;
  for (std::size_t i = 0; i < n; ++i) {
    const RouteTarget& t = targets[i];
    if (excluded(t) || fold[i] == kFolded) continue;
    std::uint8_t qos = std::min(m->qos, t.options.qos);
    if (t.session->protocol_level() != mqtt::kV5) {
      if (fold[i] >= 0) qos = static_cast<std::uint8_t>(fold[i]);
      if (!t.session->deliver(Delivery{m, qos, false, 0}, origin)) Stats::add(stats_.messages_dropped_queue_full);
    } else {
      bool retain = t.options.retain_as_published && m->retain;
      if (!t.session->deliver(Delivery{m, qos, retain, t.sub_id}, origin)) Stats::add(stats_.messages_dropped_queue_full);
    }
    ++queued;
  }
  targets.clear();  // drop the session references now, not at the next publish
  return queued;
}

}  // namespace tidemq::core
