// Domain failures of evacuation and rebalance as error values. message() is the reason token
// (docs/rebalance.md, "Option validation messages"): `already_started`, `eviction_agent_busy`, ...
// HTTP statuses and CLI exit codes are decided elsewhere (admin/error_map.cpp, tidemq_ctl).
#pragma once

#include <string_view>
#include <type_traits>

#include <boost/system/error_code.hpp>

namespace tidemq::rebalance {

enum class RebalanceErrc {
  already_started = 1,  // "already_started": a start while running (evacuation or rebalance)
  not_started,          // "not_started": a stop while disabled
  agent_busy,           // "eviction_agent_busy": the agent is owned by another kind
  invalid_coordinator,  // "invalid_coordinator": the agent is owned by another coordinator
  nothing_to_balance,   // "nothing_to_balance"
  invalid_nodes,        // "invalid_nodes": unknown node names (validation)
  nodes_unavailable,    // "nodes_unavailable": known nodes that are busy or down (validation)
  rpc_failed,           // "rpc_failed": a cross-node call failed or timed out
  agent_disabled,       // "disabled": evict/disable while the agent is disabled
  already_disabled,     // "already_disabled": donor release while not a donor
  invalid_options,      // "invalid_options": an option failed validation (text in OptionsError)
  malformed_body,       // "malformed_body": the request body is not a JSON object
  persist_failed,       // "persist_failed": the evacuation file could not be written
  cancelled,            // "cancelled": a start that a stop overtook
  invalid_node,         // "invalid_node": the {node} of the path is not a cluster member
};

const boost::system::error_category& rebalance_category() noexcept;

boost::system::error_code make_error_code(RebalanceErrc e) noexcept;

// The reason token alone ("eviction_agent_busy"); "unknown" for values outside the enum.
std::string_view to_token(RebalanceErrc e) noexcept;

}  // namespace tidemq::rebalance

template <>
struct boost::system::is_error_code_enum<tidemq::rebalance::RebalanceErrc> : std::true_type {};
