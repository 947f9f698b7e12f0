// tidemq_bench pubsub: publishers and subscribers in one process (one clock for latency, exact loss
// counts). Layouts: pairwise (publisher i → its own topic → subscriber i), fanin (every publisher →
// the subscribers of the wildcard filter), fanout (every publisher → one topic → every subscriber).
// Flat-out publishers run a closed loop of --window messages on their way unless --window 0.
#include "load_plan.hpp"
#include "topic_pattern.hpp"

namespace tidemq::bench {

Plan plan_pubsub(const Options& o, const Brokers& b) {
  Plan plan;
  plan.pubs = plan_publishers(o, b, o.pubs, o.layout == Layout::fanout);
  for (int i = 0; i < o.subs; ++i) {
    // The publishers took the first source addresses.
    ConnSpec s = conn_spec(o, Role::sub, i, b.sub, static_cast<std::uint32_t>(o.pubs + i));
    if (!o.sub_topic.empty()) s.topic = expand(o.sub_topic, o.start_index + i, s.client_id);
    else if (o.layout == Layout::pairwise) s.topic = plan.pubs[static_cast<std::size_t>(i)].topic;
    else if (o.layout == Layout::fanin) s.topic = wildcard_of(o.topic);
    else s.topic = plan.pubs[0].topic;
    plan.subs.push_back(std::move(s));
  }
  plan.receivers_per_pub = o.layout == Layout::pairwise ? 1 : plan.subs.size();
  if (o.window > 0 && o.rate <= 0 && o.interval_ms <= 0) plan.window = static_cast<std::uint64_t>(o.window);
  return plan;
}

}  // namespace tidemq::bench
