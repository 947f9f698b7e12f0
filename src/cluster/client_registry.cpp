#include "cluster/client_registry.hpp"

#include <algorithm>
#include <utility>

namespace tidemq::cluster {

namespace {

// FNV-1a then a splitmix finaliser: stable across processes and builds (std::hash is not).
std::uint64_t stable_hash(std::string_view a, std::string_view b) {
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  mix(a);
  mix(std::string_view("\0", 1));
  mix(b);
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

}  // namespace

std::string home_of(std::string_view client_id, const std::vector<std::string>& members) {
  const std::string* best = &members.front();
  std::uint64_t best_score = stable_hash(*best, client_id);
  for (std::size_t i = 1; i < members.size(); ++i) {
    std::uint64_t score = stable_hash(members[i], client_id);
    if (score > best_score || (score == best_score && members[i] < *best)) {
      best = &members[i];
      best_score = score;
    }
  }
  return *best;
}

bool newer(const Ownership& a, const Ownership& b) {
  if (a.epoch != b.epoch) return a.epoch > b.epoch;
  return a.node > b.node;
}

ClientRegistry::ClientRegistry(std::function<std::uint64_t()> wall_ms) : wall_ms_(std::move(wall_ms)) {}

Epoch ClientRegistry::next_epoch(Epoch after, std::uint64_t at_ms) const {
  const std::uint64_t now = wall_ms_();
  return std::max(after + 1, (at_ms != 0 ? std::min(at_ms, now) : now) << 16);
}

ClientRegistry::Located ClientRegistry::locate(const std::string& client_id, const std::string& node,
                                               std::uint64_t connected_ms) {
  Located l;
  auto [it, inserted] = entries_.try_emplace(client_id);
  Entry& e = it->second;
  l.ticket = next_epoch(inserted ? 0 : std::max(e.ticket, e.holder.epoch), connected_ms);
  e.ticket = l.ticket;
  if (inserted)
    e.holder = Ownership{node, l.ticket};  // a fresh session, unless the commit says otherwise
  else
    l.holder = e.holder;
  return l;
}

std::optional<Ownership> ClientRegistry::commit_connect(const std::string& client_id, const std::string& node, Epoch epoch) {
  const Ownership mine{node, epoch};
  auto [it, inserted] = entries_.try_emplace(client_id, Entry{mine, epoch});
  if (inserted) return std::nullopt;
  Entry& e = it->second;
  if (e.holder == mine) return std::nullopt;
  if (!newer(mine, e.holder)) return mine;
  Ownership loser = std::exchange(e.holder, mine);
  e.ticket = std::max(e.ticket, epoch);
  if (loser.node == node) return std::nullopt;  // the same node at an older ticket
  return loser;
}

std::optional<Epoch> ClientRegistry::commit_migration(const std::string& client_id, const std::string& node,
                                                      const Ownership& expected) {
  auto it = entries_.find(client_id);
  if (it == entries_.end() || it->second.holder != expected || it->second.ticket > expected.epoch) return std::nullopt;
  // One more than the source's, as for a fence: a migration moves the session, it is no connect,
  // so a session a client connected to elsewhere meanwhile stays the newer one.
  const Epoch granted = it->second.ticket + 1;
  it->second = Entry{Ownership{node, granted}, granted};
  return granted;
}

std::optional<Epoch> ClientRegistry::fence(const std::string& client_id, const std::string& node, Epoch epoch) {
  auto it = entries_.find(client_id);
  if (it != entries_.end() && (it->second.holder != Ownership{node, epoch} || it->second.ticket > epoch)) return std::nullopt;
  // One more than what it replaces, not a wall-clock epoch: a fence voids the pending commit but is
  // no connect (only connects get wall-clock epochs, see next_epoch). A session that a client
  // connected to elsewhere meanwhile (a home on the other side of a partition, or one that forgot
  // this entry) has a wall-clock epoch, so it stays the newer one when the two sides meet again,
  // and this copy is the stale one.
  const Epoch granted = std::max(epoch, it == entries_.end() ? Epoch{0} : it->second.ticket) + 1;
  entries_[client_id] = Entry{Ownership{node, granted}, granted};
  return granted;
}

void ClientRegistry::release(const std::string& client_id, const std::string& node, Epoch epoch) {
  auto it = entries_.find(client_id);
  if (it != entries_.end() && it->second.holder == Ownership{node, epoch}) entries_.erase(it);
}

std::optional<Ownership> ClientRegistry::adopt(const std::string& client_id, const Ownership& owner) {
  auto [it, inserted] = entries_.try_emplace(client_id, Entry{owner, owner.epoch});
  if (inserted || it->second.holder == owner) return std::nullopt;
  // The same node at another epoch: a node holds one copy, so it is that copy; keep the newer epoch.
  if (it->second.holder.node == owner.node) {
    it->second.holder.epoch = std::max(it->second.holder.epoch, owner.epoch);
    it->second.ticket = std::max(it->second.ticket, owner.epoch);
    return std::nullopt;
  }
  if (newer(owner, it->second.holder)) {
    Ownership loser = std::exchange(it->second.holder, owner);
    it->second.ticket = std::max(it->second.ticket, owner.epoch);
    return loser;
  }
  return owner;
}

std::optional<Ownership> ClientRegistry::owner(const std::string& client_id) const {
  auto it = entries_.find(client_id);
  if (it == entries_.end()) return std::nullopt;
  return it->second.holder;
}

std::size_t ClientRegistry::drop_node(const std::string& node) {
  return std::erase_if(entries_, [&](const auto& e) { return e.second.holder.node == node; });
}

std::vector<std::pair<std::string, Ownership>> ClientRegistry::take_not_homed_at(const std::string& self,
                                                                                const std::vector<std::string>& members) {
  std::vector<std::pair<std::string, Ownership>> out;
  for (auto it = entries_.begin(); it != entries_.end();) {
    if (home_of(it->first, members) != self) {
      out.emplace_back(it->first, std::move(it->second.holder));
      it = entries_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace tidemq::cluster
