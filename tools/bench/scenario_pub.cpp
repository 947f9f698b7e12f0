// tidemq_bench pub: -c publishers at -r msg/s in total (or every -I ms each; flat out without),
// up to -L messages, QoS 1/2 with an --inflight window; the publishers of pubsub are made here too.
#include "load_plan.hpp"
#include "topic_pattern.hpp"

namespace tidemq::bench {

std::vector<ConnSpec> plan_publishers(const Options& o, const Brokers& b, int count, bool same_topic) {
  const int P = count;
  const long base = o.start_index;
  // Per-publisher rate: -I wins over -r; neither → flat out.
  double per_pub_rate = 0;
  if (o.interval_ms > 0) per_pub_rate = 1000.0 / o.interval_ms;
  else if (o.rate > 0) per_pub_rate = o.rate / P;
  const std::uint64_t period = per_pub_rate > 0 ? static_cast<std::uint64_t>(1e9 / per_pub_rate) : 0;
  std::vector<ConnSpec> pubs;
  for (int i = 0; i < P; ++i) {
    ConnSpec s = conn_spec(o, Role::pub, i, b.pub, static_cast<std::uint32_t>(i));
    s.topic = same_topic ? expand(o.topic, base, client_id(o, 'p', base)) : expand(o.topic, base + i, s.client_id);
    if (o.limit) s.limit = o.limit / P + (static_cast<std::uint64_t>(i) < o.limit % P ? 1 : 0);
    s.period_ns = period;
    s.phase_ns = period ? period * static_cast<std::uint64_t>(i) / static_cast<std::uint64_t>(P) : 0;
    pubs.push_back(std::move(s));
  }
  return pubs;
}

Plan plan_pub(const Options& o, const Brokers& b) {
  Plan plan;
  plan.pubs = plan_publishers(o, b, o.clients, false);
  return plan;
}

}  // namespace tidemq::bench
