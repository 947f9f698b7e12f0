// Value parsers and node-list checks shared by the JSON and CLI option parsers. Internal.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "rebalance/core/types.hpp"

namespace tidemq::rebalance::detail {

// Erlang string:to_integer/1 on the whole string: decimal digits with an optional sign.
std::optional<std::int64_t> parse_cli_integer(std::string_view s);

// A decimal number with or without a fraction and exponent ("2", "2.0", "1.5e1"), whole
// string, finite. Not accepted: ".5", "2.", hex, inf, nan, surrounding spaces.
std::optional<double> parse_cli_number(std::string_view s);

// A duration string: one or more <digits><unit> groups, unit d, h, m, s or ms ("1m30s").
// Returns milliseconds.
std::optional<std::uint64_t> parse_duration_ms(std::string_view s);

// Splits on any run of ',' and ' ' (Erlang string:tokens(S, ", ")).
std::vector<std::string> split_node_list(std::string_view s);

// The order-preserving de-duplication of a node list.
std::vector<NodeId> unique_nodes(const std::vector<NodeId>& nodes);

// The availability check of a node list (EMQX available_nodes/1): the result kinds map to the
// texts of docs/rebalance.md, "Option validation messages". `unknown` lists every name the cluster
// does not know, in order; `unavailable` the known names that are not available.
struct NodeListCheck {
  enum class Kind { ok, unknown, none_available, some_unavailable } kind = Kind::ok;
  std::vector<NodeId> nodes;  // the de-duplicated input when ok or none_available
  std::vector<NodeId> offending;
};
NodeListCheck check_node_list(const std::vector<NodeId>& nodes, const ClusterView& cluster);

// True when the JSON text opens more than `limit` objects/arrays inside each other (brackets in
// strings do not count). A linear scan, so a hostile body is refused before anything recurses.
bool json_nesting_exceeds(std::string_view text, std::size_t limit);

}  // namespace tidemq::rebalance::detail
