// Naming and aiming the connections of a plan.
#include "load_plan.hpp"

namespace tidemq::bench {

std::string client_id(const Options& o, char role, long index) {
  return o.prefix + "_" + role + std::to_string(index);
}

ConnSpec conn_spec(const Options& o, Role role, int i, const BrokerSide& side, std::uint32_t src) {
  ConnSpec s;
  s.role = role;
  s.index = static_cast<std::uint32_t>(i);
  s.client_id = client_id(o, role == Role::pub ? 'p' : role == Role::sub ? 's' : 'c', o.start_index + i);
  const auto k = static_cast<std::size_t>(i);
  s.addr = side.addrs[k % side.addrs.size()];
  s.port = side.ports[k % side.ports.size()];
  s.src = src;
  return s;
}

}  // namespace tidemq::bench
