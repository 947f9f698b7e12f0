#include "core/router.hpp"

#include <algorithm>
#include <mutex>

#include "tidemq/mqtt/topic.hpp"

namespace tidemq::core {
namespace {

struct StringHash {
  using is_transparent = void;
  std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

struct Entry {
  SessionPtr session;
  Subscription sub;
};

struct SharedGroup {
  std::vector<Entry> members;
  mutable std::atomic<std::uint32_t> next{0};
};

// Calls f(level) for each '/'-separated level of s.
template <class F>
void for_each_level(std::string_view s, F&& f) {
  std::size_t start = 0;
  while (true) {
    std::size_t end = s.find('/', start);
    if (end == std::string_view::npos) {
      f(s.substr(start));
      return;
    }
    f(s.substr(start, end - start));
    start = end + 1;
  }
}

}  // namespace

struct Router::Node {
  Node* parent = nullptr;
  std::string level;
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::vector<Entry> subs;
  std::map<std::string, SharedGroup, std::less<>> groups;

  bool empty() const { return children.empty() && subs.empty() && groups.empty(); }
  bool has_subscribers() const { return !subs.empty() || !groups.empty(); }
};

Router::Router() : root_(std::make_unique<Node>()) {}
Router::~Router() = default;

Router::Node* Router::find_or_create(std::string_view filter) {
  Node* node = root_.get();
  for_each_level(filter, [&](std::string_view level) {
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      auto child = std::make_unique<Node>();
      child->parent = node;
      child->level = std::string(level);
      it = node->children.emplace(std::string(level), std::move(child)).first;
    }
    node = it->second.get();
  });
  return node;
}

void Router::prune(Node* node) {
  while (node != root_.get() && node->empty()) {
    Node* parent = node->parent;
    parent->children.erase(node->level);
    node = parent;
  }
}

void Router::subscribe(const SessionPtr& session, std::string_view filter, const Subscription& sub) {
  auto shared = mqtt::parse_shared(filter);
  std::string_view path = shared ? shared->filter : filter;
  std::unique_lock lk(mu_);
  Node* node = find_or_create(path);
  const bool had_subscribers = node->has_subscribers();
  std::vector<Entry>* list = &node->subs;
  if (shared) {
    auto it = node->groups.find(shared->group);
    if (it == node->groups.end()) it = node->groups.try_emplace(std::string(shared->group)).first;
    list = &it->second.members;
  }
  for (auto& e : *list) {
    if (e.session.get() == session.get()) {
      e.sub = sub;
      return;
    }
  }
  list->push_back(Entry{session, sub});
  subscriptions_.fetch_add(1, std::memory_order_relaxed);
  if (!had_subscribers) filters_.fetch_add(1, std::memory_order_relaxed);
}

bool Router::unsubscribe(const Session* session, std::string_view filter) {
  auto shared = mqtt::parse_shared(filter);
  std::string_view path = shared ? shared->filter : filter;
  std::unique_lock lk(mu_);
  Node* node = root_.get();
  bool found = true;
  for_each_level(path, [&](std::string_view level) {
    if (!found) return;
    auto it = node->children.find(level);
    if (it == node->children.end()) {
      found = false;
      return;
    }
    node = it->second.get();
  });
  if (!found) return false;
  auto erase_from = [&](std::vector<Entry>& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.session.get() == session; });
    if (it == list.end()) return false;
    list.erase(it);
    subscriptions_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  };
  bool removed;
  if (shared) {
    auto git = node->groups.find(shared->group);
    if (git == node->groups.end()) return false;
    removed = erase_from(git->second.members);
    if (git->second.members.empty()) node->groups.erase(git);
  } else {
    removed = erase_from(node->subs);
  }
  if (removed && !node->has_subscribers()) filters_.fetch_sub(1, std::memory_order_relaxed);
  prune(node);
  return removed;
}

namespace {

void emit_subs(const std::vector<Entry>& subs, std::vector<RouteTarget>& out) {
  for (const auto& e : subs) out.push_back(RouteTarget{e.session.get(), e.session, e.sub.options, e.sub.sub_id, false});
}

template <class Groups>
void emit_groups(const Groups& groups, std::vector<RouteTarget>& out) {
  for (const auto& [name, g] : groups) {
    const std::size_t n = g.members.size();
    if (n == 0) continue;
    std::uint32_t start = g.next.fetch_add(1, std::memory_order_relaxed);
    // Prefer an online member; fall back to the round-robin pick (its session queues the message).
    const Entry* pick = &g.members[start % n];
    for (std::size_t i = 0; i < n; ++i) {
      const Entry& e = g.members[(start + i) % n];
      if (e.session->online()) {
        pick = &e;
        break;
      }
    }
    out.push_back(RouteTarget{pick->session.get(), pick->session, pick->sub.options, pick->sub.sub_id, true});
  }
}

}  // namespace

void Router::match(std::string_view topic, std::vector<RouteTarget>& out) const {
  // Split once; topics rarely have more than a handful of levels.
  std::vector<std::string_view> levels;
  levels.reserve(8);
  for_each_level(topic, [&](std::string_view l) { levels.push_back(l); });
  const bool dollar = !topic.empty() && topic.front() == '$';

  std::shared_lock lk(mu_);
  auto walk = [&](auto& self, const Node* node, std::size_t depth) -> void {
    if (depth == levels.size()) {
      emit_subs(node->subs, out);
      emit_groups(node->groups, out);
      // "a/#" also matches "a".
      if (auto it = node->children.find(std::string_view("#")); it != node->children.end()) {
        emit_subs(it->second->subs, out);
        emit_groups(it->second->groups, out);
      }
      return;
    }
    const bool wildcards_allowed = !(dollar && depth == 0);
    if (wildcards_allowed) {
      if (auto it = node->children.find(std::string_view("#")); it != node->children.end()) {
        emit_subs(it->second->subs, out);
        emit_groups(it->second->groups, out);
      }
      if (auto it = node->children.find(std::string_view("+")); it != node->children.end())
        self(self, it->second.get(), depth + 1);
    }
    if (auto it = node->children.find(levels[depth]); it != node->children.end())
      self(self, it->second.get(), depth + 1);
  };
  walk(walk, root_.get(), 0);
}

}  // namespace tidemq::core
