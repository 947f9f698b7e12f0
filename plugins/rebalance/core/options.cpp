#include "rebalance/core/options.hpp"

#include <stdexcept>

#include "rebalance/core/erlang_format.hpp"

namespace tidemq::rebalance {

void throw_exception_from_error(const OptionsError& e, const boost::source_location&) {
  throw std::invalid_argument(e.message);
}

std::string v5_message(const OptionsError& e) {
  if (!e.v5_text.empty()) return e.v5_text;
  switch (e.code) {
    case RebalanceErrc::invalid_nodes: {
      std::string out = "Invalid nodes: [";
      for (std::size_t i = 0; i < e.nodes.size(); ++i) out += (i ? "," : "") + erl_binary(e.nodes[i]);
      return out + "]";
    }
    case RebalanceErrc::nodes_unavailable: return "Nodes unavailable: " + erl_atom_list(e.nodes);
    default: return e.message;
  }
}

nlohmann::json to_json(const RebalanceOptions& o) {
  nlohmann::json j = {
      {"wait_health_check", o.wait_health_check.count()},
      {"conn_evict_rate", o.conn_evict_rate},
      {"sess_evict_rate", o.sess_evict_rate},
      {"abs_conn_threshold", o.abs_conn_threshold},
      {"abs_sess_threshold", o.abs_sess_threshold},
      {"rel_conn_threshold", o.rel_conn_threshold},
      {"rel_sess_threshold", o.rel_sess_threshold},
      {"wait_takeover", o.wait_takeover.count()},
      {"conn_evict_rpc_timeout", o.conn_evict_rpc_timeout.count()},
      {"sess_evict_rpc_timeout", o.sess_evict_rpc_timeout.count()},
  };
  if (o.nodes) j["nodes"] = *o.nodes;
  return j;
}

nlohmann::json to_json(const EvacuationOptions& o) {
  nlohmann::json j = {
      {"server_reference", nullptr},
      {"conn_evict_rate", o.conn_evict_rate},
      {"sess_evict_rate", o.sess_evict_rate},
      {"wait_takeover", o.wait_takeover.count()},
      {"wait_health_check", o.wait_health_check.count()},
      {"migrate_to", nullptr},
  };
  if (o.server_reference) j["server_reference"] = *o.server_reference;
  if (o.migrate_to) j["migrate_to"] = *o.migrate_to;
  if (o.redirect_least_loaded) j["redirect_policy"] = "least_loaded";
  return j;
}

}  // namespace tidemq::rebalance
