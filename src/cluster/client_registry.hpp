// The cluster-wide client registry, partitioned: every client id has a "home" node, chosen by
// rendezvous hashing over the running members, that records which node owns the client's session.
// The home serialises claims for one client id, so two racing connects are ordered: the later
// claim learns about the earlier owner and takes the session over from it. Control thread only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tidemq::cluster {

// The member (by node name) that is home for `client_id`: the highest hash of (node, client id).
// `members` must not be empty; the result does not depend on their order.
std::string home_of(std::string_view client_id, const std::vector<std::string>& members);

class ClientRegistry {
 public:
  // `node` now owns the session of `client_id`; returns the previous owner (if another node).
  std::optional<std::string> claim(const std::string& client_id, const std::string& node);
  // `node` no longer has the session (ended or moved); ignored when another node owns it now.
  void release(const std::string& client_id, const std::string& node);
  // Re-registration after membership changed: keeps an existing owner, otherwise records `node`.
  void adopt(const std::string& client_id, const std::string& node);
  std::optional<std::string> owner(const std::string& client_id) const;
  // Forget every entry owned by a node that went down.
  std::size_t drop_node(const std::string& node);
  // Entries whose home is no longer this node (after a membership change), removed and returned.
  std::vector<std::pair<std::string, std::string>> take_not_homed_at(const std::string& self,
                                                                     const std::vector<std::string>& members);
  std::size_t size() const { return owners_.size(); }

 private:
  std::unordered_map<std::string, std::string> owners_;  // client id → node name
};

}  // namespace tidemq::cluster
