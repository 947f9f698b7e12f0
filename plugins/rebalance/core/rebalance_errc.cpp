#include "rebalance/core/rebalance_errc.hpp"

#include <string>

namespace tidemq::rebalance {

namespace {

class RebalanceCategory final : public boost::system::error_category {
 public:
  const char* name() const noexcept override { return "rebalance"; }
  std::string message(int ev) const override { return std::string(to_token(static_cast<RebalanceErrc>(ev))); }
};

}  // namespace

std::string_view to_token(RebalanceErrc e) noexcept {
  switch (e) {
    case RebalanceErrc::already_started: return "already_started";
    case RebalanceErrc::not_started: return "not_started";
    case RebalanceErrc::agent_busy: return "eviction_agent_busy";
    case RebalanceErrc::invalid_coordinator: return "invalid_coordinator";
    case RebalanceErrc::nothing_to_balance: return "nothing_to_balance";
    case RebalanceErrc::invalid_nodes: return "invalid_nodes";
    case RebalanceErrc::nodes_unavailable: return "nodes_unavailable";
    case RebalanceErrc::rpc_failed: return "rpc_failed";
    case RebalanceErrc::agent_disabled: return "disabled";
    case RebalanceErrc::already_disabled: return "already_disabled";
    case RebalanceErrc::invalid_options: return "invalid_options";
    case RebalanceErrc::malformed_body: return "malformed_body";
    case RebalanceErrc::persist_failed: return "persist_failed";
    case RebalanceErrc::cancelled: return "cancelled";
    case RebalanceErrc::invalid_node: return "invalid_node";
  }
  return "unknown";
}

const boost::system::error_category& rebalance_category() noexcept {
  static const RebalanceCategory category;
  return category;
}

boost::system::error_code make_error_code(RebalanceErrc e) noexcept {
  return {static_cast<int>(e), rebalance_category()};
}

}  // namespace tidemq::rebalance
