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
  std::string full;                 // "$share/<group>/<filter>"
  std::vector<Entry> members;       // local members
  std::vector<NodeIndex> remotes;   // nodes with members, ascending
  mutable std::atomic<std::uint32_t> next{0};        // match(): over members + remotes
  mutable std::atomic<std::uint32_t> next_local{0};  // pick_shared(): over members only

  bool empty() const { return members.empty() && remotes.empty(); }
};

// What only some trie nodes need: shared groups and remote routes. Kept behind a pointer so that
// the common node (plain local subscriptions only) stays small.
struct NodeExtra {
  std::map<std::string, SharedGroup, std::less<>> groups;  // by group name
  std::vector<NodeIndex> remotes;                          // nodes with plain routes here, ascending

  bool empty() const { return groups.empty() && remotes.empty(); }
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

bool insert_sorted(std::vector<NodeIndex>& v, NodeIndex n) {
  auto it = std::lower_bound(v.begin(), v.end(), n);
  if (it != v.end() && *it == n) return false;
  v.insert(it, n);
  return true;
}

bool erase_sorted(std::vector<NodeIndex>& v, NodeIndex n) {
  auto it = std::lower_bound(v.begin(), v.end(), n);
  if (it == v.end() || *it != n) return false;
  v.erase(it);
  return true;
}

std::string full_shared(std::string_view group, std::string_view filter) {
  std::string s;
  s.reserve(8 + group.size() + filter.size());
  s.append("$share/").append(group).append("/").append(filter);
  return s;
}

SharedGroup& group_for(NodeExtra& x, std::string_view group, std::string_view filter) {
  auto it = x.groups.find(group);
  if (it == x.groups.end()) {
    it = x.groups.try_emplace(std::string(group)).first;
    it->second.full = full_shared(group, filter);
  }
  return it->second;
}

// A local member, round-robin from `start`, preferring an online one; null when there is none.
const Entry* pick_local(const std::vector<Entry>& members, std::uint32_t start) {
  const std::size_t n = members.size();
  if (n == 0) return nullptr;
  for (std::size_t i = 0; i < n; ++i) {
    const Entry& e = members[(start + i) % n];
    if (e.session->online()) return &e;
  }
  return &members[start % n];  // its session queues the message
}

RouteTarget local_target(const Entry& e, bool shared) {
  return RouteTarget{e.session.get(), e.session, e.sub.options, e.sub.sub_id, shared, 0, {}};
}

}  // namespace

struct Router::Node {
  Node* parent = nullptr;
  std::string level;
  std::unordered_map<std::string, std::unique_ptr<Node>, StringHash, std::equal_to<>> children;
  std::vector<Entry> subs;
  std::unique_ptr<NodeExtra> extra;  // null unless there are shared groups or remote routes here

  bool empty() const { return children.empty() && subs.empty() && !extra; }
  bool has_local() const {
    if (!subs.empty()) return true;
    if (extra)
      for (const auto& [name, g] : extra->groups)
        if (!g.members.empty()) return true;
    return false;
  }
  NodeExtra& ensure_extra() {
    if (!extra) extra = std::make_unique<NodeExtra>();
    return *extra;
  }
  void trim_extra() {
    if (extra && extra->empty()) extra.reset();
  }
};

namespace {

// Removes every route of `idx` below (and at) `n`, pruning emptied children. `n` itself is left
// for the caller to prune.
template <class N>
void drop_remote(N* n, NodeIndex idx) {
  for (auto it = n->children.begin(); it != n->children.end();) {
    drop_remote(it->second.get(), idx);
    if (it->second->empty())
      it = n->children.erase(it);
    else
      ++it;
  }
  if (!n->extra) return;
  erase_sorted(n->extra->remotes, idx);
  for (auto git = n->extra->groups.begin(); git != n->extra->groups.end();) {
    erase_sorted(git->second.remotes, idx);
    if (git->second.empty())
      git = n->extra->groups.erase(git);
    else
      ++git;
  }
  n->trim_extra();
}

// Calls f(node, filter) for every node below `n` (not `n` itself); `path` is n's filter.
template <class N, class F>
void visit(const N* n, std::string& path, bool root, F& f) {
  for (const auto& [level, child] : n->children) {
    const std::size_t len = path.size();
    if (!root) path += '/';
    path += level;
    f(*child, path);
    visit(child.get(), path, false, f);
    path.resize(len);
  }
}

}  // namespace

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

Router::Node* Router::find(std::string_view filter) const {
  Node* node = root_.get();
  for_each_level(filter, [&](std::string_view level) {
    if (node == nullptr) return;
    auto it = node->children.find(level);
    node = it == node->children.end() ? nullptr : it->second.get();
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

void Router::notify(std::string_view filter, bool added) const {
  if (listener_) listener_(filter, added);
}

void Router::set_route_listener(RouteListener listener) {
  std::unique_lock lk(mu_);
  listener_ = std::move(listener);
}

void Router::subscribe(const SessionPtr& session, std::string_view filter, const Subscription& sub) {
  auto shared = mqtt::parse_shared(filter);
  std::string_view path = shared ? shared->filter : filter;
  std::unique_lock lk(mu_);
  Node* node = find_or_create(path);
  const bool had_local = node->has_local();
  std::vector<Entry>* list = &node->subs;
  if (shared) list = &group_for(node->ensure_extra(), shared->group, path).members;
  for (auto& e : *list) {
    if (e.session.get() == session.get()) {
      e.sub = sub;
      return;
    }
  }
  list->push_back(Entry{session, sub});
  subscriptions_.fetch_add(1, std::memory_order_relaxed);
  if (!had_local) filters_.fetch_add(1, std::memory_order_relaxed);
  if (list->size() == 1) notify(filter, true);
}

bool Router::unsubscribe(const Session* session, std::string_view filter) {
  auto shared = mqtt::parse_shared(filter);
  std::string_view path = shared ? shared->filter : filter;
  std::unique_lock lk(mu_);
  Node* node = find(path);
  if (node == nullptr) return false;
  auto erase_from = [&](std::vector<Entry>& list) {
    auto it = std::find_if(list.begin(), list.end(), [&](const Entry& e) { return e.session.get() == session; });
    if (it == list.end()) return false;
    list.erase(it);
    subscriptions_.fetch_sub(1, std::memory_order_relaxed);
    return true;
  };
  bool removed;
  bool last;
  if (shared) {
    if (!node->extra) return false;
    auto git = node->extra->groups.find(shared->group);
    if (git == node->extra->groups.end()) return false;
    removed = erase_from(git->second.members);
    last = removed && git->second.members.empty();
    if (git->second.empty()) node->extra->groups.erase(git);
    node->trim_extra();
  } else {
    removed = erase_from(node->subs);
    last = removed && node->subs.empty();
  }
  if (removed && !node->has_local()) filters_.fetch_sub(1, std::memory_order_relaxed);
  if (last) notify(filter, false);
  prune(node);
  return removed;
}

void Router::add_remote(NodeIndex node_index, std::string_view filter) {
  if (node_index == 0) return;
  auto shared = mqtt::parse_shared(filter);
  if (shared && shared->group.empty()) return;
  std::string_view path = shared ? shared->filter : filter;
  if (!mqtt::valid_topic_filter(path)) return;
  std::unique_lock lk(mu_);
  NodeExtra& x = find_or_create(path)->ensure_extra();
  if (shared)
    insert_sorted(group_for(x, shared->group, path).remotes, node_index);
  else
    insert_sorted(x.remotes, node_index);
}

void Router::remove_remote(NodeIndex node_index, std::string_view filter) {
  if (node_index == 0) return;
  auto shared = mqtt::parse_shared(filter);
  if (shared && shared->group.empty()) return;
  std::string_view path = shared ? shared->filter : filter;
  std::unique_lock lk(mu_);
  Node* node = find(path);
  if (node == nullptr || !node->extra) return;
  if (shared) {
    auto git = node->extra->groups.find(shared->group);
    if (git == node->extra->groups.end()) return;
    erase_sorted(git->second.remotes, node_index);
    if (git->second.empty()) node->extra->groups.erase(git);
  } else {
    erase_sorted(node->extra->remotes, node_index);
  }
  node->trim_extra();
  prune(node);
}

void Router::remove_node(NodeIndex node_index) {
  if (node_index == 0) return;
  std::unique_lock lk(mu_);
  drop_remote(root_.get(), node_index);
}

namespace {

void emit_subs(const std::vector<Entry>& subs, std::vector<RouteTarget>& out) {
  for (const auto& e : subs) out.push_back(local_target(e, false));
}

// One target for the group: round-robin over local members and remote nodes; the first online
// local member or remote node from the round-robin position wins.
void emit_group(const SharedGroup& g, std::vector<RouteTarget>& out) {
  const std::size_t locals = g.members.size();
  const std::size_t n = locals + g.remotes.size();
  if (n == 0) return;
  const std::uint32_t start = g.next.fetch_add(1, std::memory_order_relaxed);
  std::size_t pick = start % n;  // fallback: every candidate is an offline local member
  for (std::size_t i = 0; i < n; ++i) {
    const std::size_t c = (start + i) % n;
    if (c >= locals || g.members[c].session->online()) {
      pick = c;
      break;
    }
  }
  if (pick < locals)
    out.push_back(local_target(g.members[pick], true));
  else
    out.push_back(RouteTarget{nullptr, nullptr, {}, 0, true, g.remotes[pick - locals], g.full});
}

}  // namespace

void Router::match(std::string_view topic, std::vector<RouteTarget>& out, MatchScope scope) const {
  // Split once; topics rarely have more than a handful of levels.
  std::vector<std::string_view> levels;
  levels.reserve(8);
  for_each_level(topic, [&](std::string_view l) { levels.push_back(l); });
  const bool dollar = !topic.empty() && topic.front() == '$';
  const bool all = scope == MatchScope::all;

  std::shared_lock lk(mu_);
  auto emit = [&](const Node* node) {
    emit_subs(node->subs, out);
    if (all && node->extra) {
      for (const auto& [name, g] : node->extra->groups) emit_group(g, out);
      for (NodeIndex r : node->extra->remotes) out.push_back(RouteTarget{nullptr, nullptr, {}, 0, false, r, {}});
    }
  };
  auto walk = [&](auto& self, const Node* node, std::size_t depth) -> void {
    if (depth == levels.size()) {
      emit(node);
      // "a/#" also matches "a".
      if (auto it = node->children.find(std::string_view("#")); it != node->children.end()) emit(it->second.get());
      return;
    }
    const bool wildcards_allowed = !(dollar && depth == 0);
    if (wildcards_allowed) {
      if (auto it = node->children.find(std::string_view("#")); it != node->children.end()) emit(it->second.get());
      if (auto it = node->children.find(std::string_view("+")); it != node->children.end())
        self(self, it->second.get(), depth + 1);
    }
    if (auto it = node->children.find(levels[depth]); it != node->children.end())
      self(self, it->second.get(), depth + 1);
  };
  walk(walk, root_.get(), 0);
}

std::optional<RouteTarget> Router::pick_shared(std::string_view shared_filter) const {
  auto shared = mqtt::parse_shared(shared_filter);
  if (!shared || shared->group.empty()) return std::nullopt;
  std::shared_lock lk(mu_);
  const Node* node = find(shared->filter);
  if (node == nullptr || !node->extra) return std::nullopt;
  auto git = node->extra->groups.find(shared->group);
  if (git == node->extra->groups.end()) return std::nullopt;
  const SharedGroup& g = git->second;
  if (g.members.empty()) return std::nullopt;
  const Entry* e = pick_local(g.members, g.next_local.fetch_add(1, std::memory_order_relaxed));
  return local_target(*e, true);
}

std::vector<std::string> Router::local_filters() const {
  std::vector<std::string> out;
  std::string path;
  std::shared_lock lk(mu_);
  auto f = [&](const Node& n, const std::string& p) {
    if (!n.subs.empty()) out.push_back(p);
    if (n.extra)
      for (const auto& [name, g] : n.extra->groups)
        if (!g.members.empty()) out.push_back(g.full);
  };
  visit(root_.get(), path, true, f);
  lk.unlock();
  std::sort(out.begin(), out.end());
  return out;
}

std::vector<std::pair<std::string, std::vector<NodeIndex>>> Router::routes() const {
  std::vector<std::pair<std::string, std::vector<NodeIndex>>> out;
  std::string path;
  std::shared_lock lk(mu_);
  auto f = [&](const Node& n, const std::string& p) {
    auto nodes_of = [](bool local, const std::vector<NodeIndex>& remotes) {
      std::vector<NodeIndex> nodes;
      nodes.reserve(remotes.size() + 1);
      if (local) nodes.push_back(0);
      nodes.insert(nodes.end(), remotes.begin(), remotes.end());
      return nodes;
    };
    static const std::vector<NodeIndex> kNone;
    const auto& remotes = n.extra ? n.extra->remotes : kNone;
    if (!n.subs.empty() || !remotes.empty()) out.emplace_back(p, nodes_of(!n.subs.empty(), remotes));
    if (n.extra)
      for (const auto& [name, g] : n.extra->groups)
        if (!g.empty()) out.emplace_back(g.full, nodes_of(!g.members.empty(), g.remotes));
  };
  visit(root_.get(), path, true, f);
  lk.unlock();
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  return out;
}

}  // namespace tidemq::core
