// The subscription index: a topic-filter trie shared by all threads (shared_mutex; matching takes
// only a shared lock). Shared subscriptions ($share/group/filter) keep a member list per group and
// hand each message to one member, round-robin, preferring members that are online.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/session.hpp"

namespace tidemq::core {

struct RouteTarget {
  Session* session;  // valid while the caller holds `keep`
  std::shared_ptr<Session> keep;
  mqtt::SubscribeOptions options;
  std::uint32_t sub_id = 0;
  bool shared = false;
};

class Router {
 public:
  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // `filter` is the full filter as subscribed (may start with $share/<group>/); it must be valid.
  // Subscribing again with the same filter replaces the options.
  void subscribe(const SessionPtr& session, std::string_view filter, const Subscription& sub);
  bool unsubscribe(const Session* session, std::string_view filter);

  // Appends one target per matching subscription (one member per shared group).
  void match(std::string_view topic, std::vector<RouteTarget>& out) const;

  std::size_t subscription_count() const { return subscriptions_.load(std::memory_order_relaxed); }
  std::size_t filter_count() const { return filters_.load(std::memory_order_relaxed); }

 private:
  struct Node;
  Node* find_or_create(std::string_view filter);
  void prune(Node* node);

  mutable std::shared_mutex mu_;
  std::unique_ptr<Node> root_;
  std::atomic<std::size_t> subscriptions_{0};
  std::atomic<std::size_t> filters_{0};  // distinct topic filters with at least one subscriber
};

}  // namespace tidemq::core
