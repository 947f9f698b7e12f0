// Topic names, topic filters and their matching (MQTT 5 §4.7, §4.8.2).
#pragma once

#include <optional>
#include <string_view>

namespace tidemq::mqtt {

// A topic name used in PUBLISH: non-empty, no wildcards, valid UTF-8.
bool valid_topic_name(std::string_view topic);

// A topic filter used in SUBSCRIBE: '#' only last and alone in its level, '+' alone in its level.
// `$share/...` filters must be checked with parse_shared first.
bool valid_topic_filter(std::string_view filter);

// Whether `filter` matches `topic`. Topics starting with '$' are not matched by a filter whose
// first level is a wildcard.
bool topic_matches(std::string_view filter, std::string_view topic);

struct SharedFilter {
  std::string_view group;
  std::string_view filter;
};

// "$share/<group>/<filter>" → {group, filter}; nullopt for a non-shared filter.
// A shared filter with an empty or wildcard group, or no filter, is returned with group empty.
std::optional<SharedFilter> parse_shared(std::string_view filter);

}  // namespace tidemq::mqtt
