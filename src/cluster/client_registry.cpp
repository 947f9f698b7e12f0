#include "cluster/client_registry.hpp"

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

std::optional<std::string> ClientRegistry::claim(const std::string& client_id, const std::string& node) {
  auto [it, inserted] = owners_.try_emplace(client_id, node);
  if (inserted) return std::nullopt;
  std::string previous = std::exchange(it->second, node);
  if (previous == node) return std::nullopt;
  return previous;
}

void ClientRegistry::release(const std::string& client_id, const std::string& node) {
  auto it = owners_.find(client_id);
  if (it != owners_.end() && it->second == node) owners_.erase(it);
}

void ClientRegistry::adopt(const std::string& client_id, const std::string& node) {
  owners_.try_emplace(client_id, node);
}

std::optional<std::string> ClientRegistry::owner(const std::string& client_id) const {
  auto it = owners_.find(client_id);
  if (it == owners_.end()) return std::nullopt;
  return it->second;
}

std::size_t ClientRegistry::drop_node(const std::string& node) {
  return std::erase_if(owners_, [&](const auto& e) { return e.second == node; });
}

std::vector<std::pair<std::string, std::string>> ClientRegistry::take_not_homed_at(
    const std::string& self, const std::vector<std::string>& members) {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto it = owners_.begin(); it != owners_.end();) {
    if (home_of(it->first, members) != self) {
      out.emplace_back(it->first, it->second);
      it = owners_.erase(it);
    } else {
      ++it;
    }
  }
  return out;
}

}  // namespace tidemq::cluster
