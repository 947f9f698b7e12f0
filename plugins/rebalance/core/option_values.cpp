#include "rebalance/core/option_values.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>

namespace tidemq::rebalance::detail {

namespace {
bool is_digit(char c) { return c >= '0' && c <= '9'; }
}  // namespace

std::optional<std::int64_t> parse_cli_integer(std::string_view s) {
  bool negative = false;
  if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
    negative = s[0] == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  std::int64_t v = 0;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return negative ? -v : v;
}

std::optional<double> parse_cli_number(std::string_view s) {
  std::size_t i = 0;
  const std::size_t n = s.size();
  if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
  auto digits = [&] {
    const std::size_t start = i;
    while (i < n && is_digit(s[i])) ++i;
    return i > start;
  };
  if (!digits()) return std::nullopt;
  if (i < n && s[i] == '.') {
    ++i;
    if (!digits()) return std::nullopt;
  }
  if (i < n && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < n && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return std::nullopt;
  }
  if (i != n) return std::nullopt;
  std::string_view body = s;
  if (!body.empty() && body[0] == '+') body.remove_prefix(1);  // from_chars takes no '+'
  double v = 0;
  auto [ptr, ec] = std::from_chars(body.data(), body.data() + body.size(), v);
  if (ec != std::errc() || ptr != body.data() + body.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

std::optional<std::uint64_t> parse_duration_ms(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < s.size()) {
    const std::size_t start = i;
    while (i < s.size() && is_digit(s[i])) ++i;
    if (i == start) return std::nullopt;
    std::uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(s.data() + start, s.data() + i, value);
    if (ec != std::errc()) return std::nullopt;
    std::uint64_t unit = 0;
    if (s.substr(i, 2) == "ms") {
      unit = 1;
      i += 2;
    } else if (i < s.size()) {
      switch (s[i]) {
        case 'd': unit = 86'400'000; break;
        case 'h': unit = 3'600'000; break;
        case 'm': unit = 60'000; break;
        case 's': unit = 1'000; break;
        default: return std::nullopt;
      }
      ++i;
    } else {
      return std::nullopt;  // a bare number is not a duration string
    }
    if (value > (std::numeric_limits<std::uint64_t>::max() - total) / unit) return std::nullopt;
    total += value * unit;
  }
  return total;
}

std::vector<std::string> split_node_list(std::string_view s) {
  std::vector<std::string> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ',' || s[i] == ' ')) ++i;
    const std::size_t start = i;
    while (i < s.size() && s[i] != ',' && s[i] != ' ') ++i;
    if (i > start) out.emplace_back(s.substr(start, i - start));
  }
  return out;
}

std::vector<NodeId> unique_nodes(const std::vector<NodeId>& nodes) {
  std::vector<NodeId> out;
  for (const auto& n : nodes) {
    if (std::find(out.begin(), out.end(), n) == out.end()) out.push_back(n);
  }
  return out;
}

NodeListCheck check_node_list(const std::vector<NodeId>& nodes, const ClusterView& cluster) {
  NodeListCheck r;
  r.nodes = unique_nodes(nodes);
  for (const auto& n : r.nodes) {
    if (!cluster.is_member(n)) r.offending.push_back(n);
  }
  if (!r.offending.empty()) {
    r.kind = NodeListCheck::Kind::unknown;
    return r;
  }
  std::size_t available = 0;
  for (const auto& n : r.nodes) {
    if (cluster.is_available(n)) ++available;
    else r.offending.push_back(n);
  }
  if (available == 0) {
    r.kind = NodeListCheck::Kind::none_available;
    r.offending.clear();
  } else if (!r.offending.empty()) {
    r.kind = NodeListCheck::Kind::some_unavailable;
  }
  return r;
}

bool json_nesting_exceeds(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > limit) return true;
    } else if ((c == '}' || c == ']') && depth > 0) {
      --depth;
    }
  }
  return false;
}

}  // namespace tidemq::rebalance::detail
