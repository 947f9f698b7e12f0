// The subscription index: a topic-filter trie shared by all threads (shared_mutex; matching takes
// only a shared lock). Shared subscriptions ($share/group/filter) keep a member list per group and
// hand each message to one member, round-robin, preferring members that are online.
//
// The same trie also holds REMOTE routes for the cluster layer: "node N has local subscribers for
// filter F" (for a shared filter: "node N has members of group g on f"). Local subscriptions carry
// sessions; remote routes carry only the node index. A listener reports every filter that gains its
// first or loses its last local subscriber, so the cluster layer can tell its peers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/session.hpp"

namespace tidemq::core {

struct RouteTarget {
  Session* session;  // valid while the caller holds `keep`; null for a remote target
  std::shared_ptr<Session> keep;
  mqtt::SubscribeOptions options;  // default for a remote target
  std::uint32_t sub_id = 0;
  bool shared = false;
  NodeIndex remote = 0;       // != 0: forward to that node
  std::string shared_filter;  // remote shared target only: the full "$share/<group>/<filter>" to deliver on that node
};

enum class MatchScope {
  all,          // local subscriptions, shared groups (local and remote members), remote plain routes
  local_plain,  // local non-shared subscriptions only (for a message forwarded from another node)
};

class Router {
 public:
  // filter: full form (with "$share/<group>/" for a group); added: first local subscriber (true)
  // or last one gone (false).
  using RouteListener = std::function<void(std::string_view filter, bool added)>;

  Router();
  ~Router();
  Router(const Router&) = delete;
  Router& operator=(const Router&) = delete;

  // `filter` is the full filter as subscribed (may start with $share/<group>/); it must be valid.
  // Subscribing again with the same filter replaces the options.
  void subscribe(const SessionPtr& session, std::string_view filter, const Subscription& sub);
  bool unsubscribe(const Session* session, std::string_view filter);

  // Called under the router's write lock whenever a filter (full form) gains its first LOCAL
  // subscriber or loses its last one (for a shared group: the group's local members). Must be cheap
  // and must not call back into the Router. Set before use; may be empty.
  void set_route_listener(RouteListener listener);

  // Remote routes: node `node` (!= 0) has local subscribers for `filter` (full form; "$share/g/f"
  // means the node has members of group g on f). Idempotent. Node 0 and invalid filters are ignored.
  void add_remote(NodeIndex node, std::string_view filter);
  void remove_remote(NodeIndex node, std::string_view filter);
  // Drops every route of that node (and prunes the trie).
  void remove_node(NodeIndex node);

  // scope all: one target per matching local subscription; one per shared group (round-robin over
  // local members and remote nodes with members, preferring online local members; remote nodes
  // count as online; a remote pick has remote = node, shared = true, shared_filter set); one per
  // remote node per matching plain filter (remote = node, session null, default options).
  // scope local_plain: only local non-shared subscriptions.
  void match(std::string_view topic, std::vector<RouteTarget>& out, MatchScope scope = MatchScope::all) const;

  // One local member of the shared group named by a full "$share/g/f" filter (online preferred,
  // round-robin), or nullopt when the group has no local member. shared = true; shared_filter empty.
  std::optional<RouteTarget> pick_shared(std::string_view shared_filter) const;

  // Full filters that have local subscribers (for a full route sync to a joining node), sorted.
  std::vector<std::string> local_filters() const;
  // Every route, for the admin API: full filter → nodes (0 = local; ascending), sorted by filter.
  std::vector<std::pair<std::string, std::vector<NodeIndex>>> routes() const;

  // Local subscriptions / filters with local subscribers (remote routes are not counted).
  std::size_t subscription_count() const { return subscriptions_.load(std::memory_order_relaxed); }
  std::size_t filter_count() const { return filters_.load(std::memory_order_relaxed); }

 private:
  struct Node;
  Node* find_or_create(std::string_view filter);
  Node* find(std::string_view filter) const;
  void prune(Node* node);
  void notify(std::string_view filter, bool added) const;

  mutable std::shared_mutex mu_;
  std::unique_ptr<Node> root_;
  RouteListener listener_;
  std::atomic<std::size_t> subscriptions_{0};
  std::atomic<std::size_t> filters_{0};  // distinct topic filters with at least one local subscriber
};

}  // namespace tidemq::core
