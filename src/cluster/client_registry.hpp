// The cluster-wide client registry, partitioned: every client id has a "home" node, chosen by
// rendezvous hashing over the running members, that records which node HOLDS the client's session
// and at which ownership EPOCH. The home orders everything that happens to one client id:
//   - a CONNECT anywhere first LOCATES the session here and gets a TICKET, a number larger than
//     every epoch and ticket issued before for that client id (newer connects win);
//   - the node that then holds the session (taken over, or fresh) COMMITS it with that ticket as
//     its epoch; a migration commits only while nothing else happened to the session since;
//   - epochs are fencing tokens: a copy with an older epoch than the registry's is stale.
// So the entry always names the node that holds the session, or held it last (docs/cluster.md,
// "Ownership epochs"). Pure and single-threaded (the control thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace tidemq::cluster {

using Epoch = std::uint64_t;

// Who owns a client's session, and since which grant.
struct Ownership {
  std::string node;
  Epoch epoch = 0;
  bool operator==(const Ownership&) const = default;
};
// The newer of two ownerships: the larger epoch; equal epochs (two homes granted in the same
// millisecond during a membership change) are ordered by node name, so every node decides alike.
bool newer(const Ownership& a, const Ownership& b);

// The member (by node name) that is home for `client_id`: the highest hash of (node, client id).
// `members` must not be empty; the result does not depend on their order.
std::string home_of(std::string_view client_id, const std::vector<std::string>& members);

class ClientRegistry {
 public:
  // `wall_ms`: milliseconds since the Unix epoch. Epochs are at least wall_ms << 16, so that a
  // grant made after a node was declared down is newer than any grant made before, even by a
  // home node that has forgotten the old one (clocks must agree to well within cluster.down_after).
  explicit ClientRegistry(std::function<std::uint64_t()> wall_ms);

  struct Located {
    std::optional<Ownership> holder;  // none: no session known (the requester is recorded as holder)
    Epoch ticket = 0;                 // the connect's place in line
  };
  // A CONNECT on `node`, made at wall clock `connected_ms` there (0: now). The ticket's wall-clock
  // part is when the client connected, not when the home got to it: a connect that waited for a
  // home cut off from the others (and that its client gave up on) does not beat the client's later
  // connect elsewhere when the two sides meet again.
  Located locate(const std::string& client_id, const std::string& node, std::uint64_t connected_ms = 0);
  // `node` holds the session since the connect with ticket `epoch` (taken over or fresh). The
  // newest commit wins. The ownership that lost, if any, is returned: the committer's own (a newer
  // one is recorded already) or another node's (which, if it still has a copy, has a stale one).
  std::optional<Ownership> commit_connect(const std::string& client_id, const std::string& node, Epoch epoch);
  // A migration's commit: `node` takes the session only while `expected` still holds it and no
  // connect has located it since. Returns the granted epoch (the source's + 1: a migration is no
  // connect, see fence), or nullopt.
  std::optional<Epoch> commit_migration(const std::string& client_id, const std::string& node, const Ownership& expected);
  // A migration source whose target did not answer: it keeps the session, with epoch + 1, if it
  // still holds it at `epoch` and no connect has located it since, or nobody holds it. The pending
  // commit then fails. (Not a wall-clock epoch: a session a client connected to elsewhere meanwhile
  // stays newer than a fenced copy.)
  std::optional<Epoch> fence(const std::string& client_id, const std::string& node, Epoch epoch);
  // The session ended at `node`; ignored unless `node` at `epoch` is still the holder.
  void release(const std::string& client_id, const std::string& node, Epoch epoch);
  // Re-registration after a membership change. The newer ownership stays; the other one is
  // returned: its node holds a stale copy and must be told. (The same node at another epoch is
  // the same copy: the newer epoch stays, nobody is told.)
  std::optional<Ownership> adopt(const std::string& client_id, const Ownership& owner);

  std::optional<Ownership> owner(const std::string& client_id) const;
  // Forget every entry held by a node that went down.
  std::size_t drop_node(const std::string& node);
  // Entries whose home is no longer this node (after a membership change), removed and returned.
  std::vector<std::pair<std::string, Ownership>> take_not_homed_at(const std::string& self,
                                                                   const std::vector<std::string>& members);
  std::size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    Ownership holder;
    Epoch ticket = 0;  // the last ticket issued (≥ holder.epoch)
  };
  Epoch next_epoch(Epoch after, std::uint64_t at_ms = 0) const;

  std::function<std::uint64_t()> wall_ms_;
  std::unordered_map<std::string, Entry> entries_;  // client id → entry
};

}  // namespace tidemq::cluster
