// tidemq_bench sub: -c subscribers, one filter each (-t expanded per subscriber), counting what
// arrives (until -L messages with a limit); stamped payloads give latency and sequence gaps.
#include "load_plan.hpp"
#include "topic_pattern.hpp"

namespace tidemq::bench {

Plan plan_sub(const Options& o, const Brokers& b) {
  Plan plan;
  for (int i = 0; i < o.clients; ++i) {
    ConnSpec s = conn_spec(o, Role::sub, i, b.sub, static_cast<std::uint32_t>(i));
    s.topic = expand(o.topic, o.start_index + i, s.client_id);
    plan.subs.push_back(std::move(s));
  }
  return plan;
}

}  // namespace tidemq::bench
