#include <catch2/catch.hpp>

#include "rebalance/core/rebalance_errc.hpp"

using namespace tidemq::rebalance;

TEST_CASE("error values carry their reason tokens", "[unit][rebalance][errc]") {
  struct Row {
    RebalanceErrc e;
    const char* token;
  };
  const Row rows[] = {
      {RebalanceErrc::already_started, "already_started"},
      {RebalanceErrc::not_started, "not_started"},
      {RebalanceErrc::agent_busy, "eviction_agent_busy"},
      {RebalanceErrc::invalid_coordinator, "invalid_coordinator"},
      {RebalanceErrc::nothing_to_balance, "nothing_to_balance"},
      {RebalanceErrc::invalid_nodes, "invalid_nodes"},
      {RebalanceErrc::nodes_unavailable, "nodes_unavailable"},
      {RebalanceErrc::rpc_failed, "rpc_failed"},
      {RebalanceErrc::agent_disabled, "disabled"},
      {RebalanceErrc::already_disabled, "already_disabled"},
      {RebalanceErrc::invalid_options, "invalid_options"},
      {RebalanceErrc::malformed_body, "malformed_body"},
      {RebalanceErrc::persist_failed, "persist_failed"},
      {RebalanceErrc::cancelled, "cancelled"},
      {RebalanceErrc::invalid_node, "invalid_node"},
  };
  for (const auto& r : rows) {
    const boost::system::error_code ec = r.e;  // implicit: is_error_code_enum
    CHECK(ec);
    CHECK(ec.message() == r.token);
    CHECK(to_token(r.e) == r.token);
    CHECK(ec.category() == rebalance_category());
    CHECK(ec == r.e);
  }
  CHECK(std::string(rebalance_category().name()) == "rebalance");
  CHECK(static_cast<int>(RebalanceErrc::already_started) == 1);  // 0 stays "success"
  CHECK(to_token(static_cast<RebalanceErrc>(999)) == "unknown");
}
