#include "tidemq/mqtt/topic.hpp"

#include "tidemq/mqtt/codec.hpp"

namespace tidemq::mqtt {

bool valid_topic_name(std::string_view topic) {
  if (topic.empty() || topic.size() > 65535) return false;
  if (topic.find_first_of("+#") != std::string_view::npos) return false;
  return valid_utf8(topic);
}

bool valid_topic_filter(std::string_view filter) {
  if (filter.empty() || filter.size() > 65535 || !valid_utf8(filter)) return false;
  std::size_t start = 0;
  while (true) {
    std::size_t end = filter.find('/', start);
    std::string_view level = filter.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    if (level.find_first_of("+#") != std::string_view::npos) {
      if (level.size() != 1) return false;
      if (level == "#" && end != std::string_view::npos) return false;  // '#' must be last
    }
    if (end == std::string_view::npos) return true;
    start = end + 1;
  }
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() && (filter.front() == '+' || filter.front() == '#'))
    return false;
  std::size_t f = 0, t = 0;
  while (true) {
    std::size_t fe = filter.find('/', f);
    std::string_view flevel = filter.substr(f, fe == std::string_view::npos ? std::string_view::npos : fe - f);
    if (flevel == "#") return true;  // matches the parent level and everything below
    if (t > topic.size()) return false;  // topic exhausted but the filter goes on
    std::size_t te = topic.find('/', t);
    std::string_view tlevel = topic.substr(t, te == std::string_view::npos ? std::string_view::npos : te - t);
    if (flevel != "+" && flevel != tlevel) return false;
    const bool f_last = fe == std::string_view::npos;
    const bool t_last = te == std::string_view::npos;
    if (f_last && t_last) return true;
    if (f_last) return false;
    if (t_last) {
      // "a/#" matches "a": only a trailing "#" may follow.
      return filter.substr(fe + 1) == "#";
    }
    f = fe + 1;
    t = te + 1;
  }
}

std::optional<SharedFilter> parse_shared(std::string_view filter) {
  constexpr std::string_view kPrefix = "$share/";
  if (filter.substr(0, kPrefix.size()) != kPrefix) return std::nullopt;
  std::string_view rest = filter.substr(kPrefix.size());
  std::size_t slash = rest.find('/');
  if (slash == std::string_view::npos || slash == 0) return SharedFilter{};
  std::string_view group = rest.substr(0, slash);
  std::string_view inner = rest.substr(slash + 1);
  if (group.find_first_of("+#") != std::string_view::npos || inner.empty()) return SharedFilter{};
  return SharedFilter{group, inner};
}

}  // namespace tidemq::mqtt
