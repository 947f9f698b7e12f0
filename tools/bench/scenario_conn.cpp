// tidemq_bench conn: -c idle connections opened at -R conn/s and held (--hold, else --duration).
#include "load_plan.hpp"

namespace tidemq::bench {

Plan plan_conn(const Options& o, const Brokers& b) {
  Plan plan;
  for (int i = 0; i < o.clients; ++i)
    plan.idle.push_back(conn_spec(o, Role::idle, i, b.pub, static_cast<std::uint32_t>(i)));
  return plan;
}

}  // namespace tidemq::bench
