// Retained messages by topic. Lookup on SUBSCRIBE scans all topics with the filter, which is
// fine for the tens of thousands of retained topics typical of a fleet; a trie would replace it.
#pragma once

#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "tidemq/core/types.hpp"

namespace tidemq::core {

class RetainedStore {
 public:
  // Stores `m` for its topic; an empty payload deletes the topic's retained message.
  void put(const MessagePtr& m);
  // Messages whose topic matches `filter` and that have not expired at `now`.
  std::vector<MessagePtr> match(std::string_view filter, util::TimePoint now) const;
  std::size_t size() const;
  std::vector<MessagePtr> all() const;

 private:
  mutable std::shared_mutex mu_;
  std::unordered_map<std::string, MessagePtr> by_topic_;
};

}  // namespace tidemq::core
