#include "core/retained_store.hpp"

#include <mutex>

#include "tidemq/mqtt/topic.hpp"

namespace tidemq::core {

void RetainedStore::put(const MessagePtr& m) {
  std::unique_lock lk(mu_);
  if (m->payload.empty())
    by_topic_.erase(m->topic);
  else
    by_topic_[m->topic] = m;
}

std::vector<MessagePtr> RetainedStore::match(std::string_view filter, util::TimePoint now) const {
  std::vector<MessagePtr> out;
  std::shared_lock lk(mu_);
  for (const auto& [topic, m] : by_topic_) {
    if (m->expires_at && *m->expires_at <= now) continue;
    if (mqtt::topic_matches(filter, topic)) out.push_back(m);
  }
  return out;
}

std::size_t RetainedStore::size() const {
  std::shared_lock lk(mu_);
  return by_topic_.size();
}

std::vector<MessagePtr> RetainedStore::all() const {
  std::shared_lock lk(mu_);
  std::vector<MessagePtr> out;
  out.reserve(by_topic_.size());
  for (const auto& [_, m] : by_topic_) out.push_back(m);
  return out;
}

}  // namespace tidemq::core
