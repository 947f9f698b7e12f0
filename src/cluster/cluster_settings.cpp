#include "cluster/cluster_settings.hpp"

#include <charconv>

namespace tidemq::cluster {

namespace {

template <class T>
std::optional<T> parse_number(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || s.empty()) return std::nullopt;
  return v;
}

}  // namespace

std::string NodeAddress::to_string() const {
  const std::string h = host.find(':') != std::string::npos ? "[" + host + "]" : host;
  auto at = name.find('@');
  return name.substr(0, at) + "@" + h + ":" + std::to_string(port);
}

std::optional<NodeAddress> parse_node_address(std::string_view text) {
  auto at = text.find('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= text.size()) return std::nullopt;
  std::string_view short_name = text.substr(0, at);
  if (short_name.find_first_of(" /:@") != std::string_view::npos) return std::nullopt;
  std::string_view rest = text.substr(at + 1);
  NodeAddress a;
  if (rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos || close == 1) return std::nullopt;
    a.host = std::string(rest.substr(1, close - 1));
    rest.remove_prefix(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      auto port = parse_number<std::uint16_t>(rest.substr(1));
      if (!port || *port == 0) return std::nullopt;
      a.port = *port;
    }
  } else {
    auto colon = rest.find(':');
    a.host = std::string(rest.substr(0, colon));
    if (a.host.empty() || a.host.find_first_of(" /@") != std::string::npos) return std::nullopt;
    if (colon != std::string_view::npos) {
      auto port = parse_number<std::uint16_t>(rest.substr(colon + 1));
      if (!port || *port == 0) return std::nullopt;
      a.port = *port;
    }
  }
  a.name = std::string(short_name) + "@" + a.host;
  return a;
}

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  using namespace std::chrono;
  std::size_t digits = 0;
  while (digits < text.size() && text[digits] >= '0' && text[digits] <= '9') ++digits;
  auto n = parse_number<std::uint64_t>(text.substr(0, digits));
  if (!n || *n > 86'400'000) return std::nullopt;
  std::string_view unit = text.substr(digits);
  if (unit == "ms") return milliseconds(*n);
  if (unit == "s" || unit.empty()) return milliseconds(*n * 1000);
  if (unit == "m") return milliseconds(*n * 60'000);
  return std::nullopt;
}

}  // namespace tidemq::cluster
