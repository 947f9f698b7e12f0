// The session handoff protocol of one node: where a client's session is, how it moves between
// nodes, and how nothing is lost or doubled while it moves (docs/cluster.md, "Handoff"). It covers
//   - the home side of the client registry (claims, commits, fences, re-registration),
//   - cross-node takeover at CONNECT,
//   - migration of offline sessions (evacuation, rebalance), with a timeout resolved by fencing,
//   - the handoff window: relay from the old copy, barrier marks, the end marker,
//   - fencing of stale copies after a membership change.
// It does no I/O: peers' messages come in through on_message() and leave through HandoffEnv::send;
// sessions live in the broker's SessionRegistry. The cluster layer carries its messages, and the
// deterministic simulation (tests/sim) runs several of these over a simulated network.
// Single-threaded: everything runs on the control thread.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/client_registry.hpp"
#include "core/broker.hpp"
#include "tidemq/cluster/types.hpp"

namespace tidemq::cluster {

// What the protocol needs from the node around it.
class HandoffEnv {
 public:
  using Json = nlohmann::json;
  virtual ~HandoffEnv() = default;
  virtual const std::string& self() const = 0;
  virtual std::vector<std::string> running() const = 0;  // running members, this node included, sorted
  virtual bool is_running(const std::string& node) const = 0;
  virtual core::NodeIndex index_of(const std::string& node) const = 0;  // 0 for this node
  // Sends a protocol message to `node` (this node too: then it comes back through on_message
  // later, never from within send). Messages to one node arrive in order, and in order with the
  // relayed deliveries and forwarded publishes sent to it.
  virtual void send(const std::string& node, const std::string& method, Json args) = 0;
  // A function that relays deliveries of `client_id`'s old copy to `node` (in order with send).
  virtual core::DeliveryForwarder relay_to(const std::string& node, const core::ClientId& client_id) = 0;
  // Runs `then` once every publish that was in progress on any data thread has finished.
  virtual void quiesce(std::function<void()> then) = 0;
  // Sends this node's pending route changes now (before a barrier that depends on them).
  virtual void flush_routes() = 0;
  // Runs `task` later on this (control) thread.
  virtual void post(std::function<void()> task) = 0;
  virtual util::TimePoint now() const = 0;
  virtual std::uint64_t wall_ms() const = 0;
  // A decision worth a debug line (why a CONNECT was refused, a copy fenced, ...).
  virtual void note(const std::string& what) { (void)what; }
};

struct HandoffSettings {
  std::chrono::milliseconds rpc_timeout{5000};  // a CONNECT waits this long; a migration, before it fences
  std::size_t migration_request_bytes = 4 * 1024 * 1024;
};

// Counters for /metrics (monotonic).
struct HandoffStats {
  std::uint64_t takeovers_out = 0;         // sessions handed to a connect on another node
  std::uint64_t takeovers_in = 0;          // sessions brought here for a local connect
  std::uint64_t migrations_out = 0;        // sessions migrated away (committed)
  std::uint64_t migrations_in = 0;         // sessions migrated here (committed)
  std::uint64_t migrations_failed = 0;     // migrations that did not commit (the session stayed)
  std::uint64_t migrations_fenced = 0;     // ... of which resolved by fencing after a timeout
  std::uint64_t migrations_superseded = 0; // frozen copies taken by a connect instead
  std::uint64_t stale_copies_discarded = 0;// copies fenced by a newer epoch
  std::uint64_t stale_requests = 0;        // takeovers refused as older than this node's epoch
  std::uint64_t windows_closed = 0;        // handoff windows completed here (new copy)
  std::uint64_t relays_ended = 0;          // old copies that relayed until their end marker
  std::uint64_t relays_dropped = 0;        // old copies dropped because their new node went down
  std::uint64_t duplicates_dropped = 0;    // held deliveries found relayed (true duplicates)
  std::uint64_t copies_dropped = 0;        // direct copies from a node before its barrier mark
  std::uint64_t connects_refused = 0;      // CONNECTs answered 0x88 (cluster could not answer)
  std::uint64_t bad_messages = 0;          // protocol messages with wrong arguments (ignored)
};

class SessionHandoff {
 public:
  using Json = nlohmann::json;
  using MigrationFailures = cluster::MigrationFailures;
  using MigrationDone = cluster::MigrationDone;
  // What happened to each migrated session (for the migration audit): message counts before
  // export and right after import.
  using MigrationAuditSink = std::function<void(const core::ClientId&, const std::string& node,
                                                std::size_t held_before, std::size_t held_after)>;

  SessionHandoff(HandoffEnv& env, core::Broker& broker, HandoffSettings settings);
  ~SessionHandoff();
  SessionHandoff(const SessionHandoff&) = delete;
  SessionHandoff& operator=(const SessionHandoff&) = delete;

  // A local CONNECT: claims the client id and brings its session here. `done` runs once (on this
  // thread): refuse set, or the epoch to attach with.
  void connect(const core::ClientId& client_id, bool clean_start, std::function<void(core::LocateResult)> done);
  // Moves offline sessions to `node`; `done` lists those that did not move, each with why.
  void migrate(std::vector<core::ClientId> client_ids, const std::string& node, MigrationDone done);
  void set_audit_sink(MigrationAuditSink sink);

  // True for the methods this protocol handles (prefix "handoff.").
  static bool handles(const std::string& method);
  // Returns "" when the message was taken, else why it was refused (malformed: nothing changed).
  std::string on_message(const std::string& from, const std::string& method, const Json& args);

  void node_down(const std::string& node);
  // After any membership change (up or down): re-registers entries and sessions at their homes.
  void rehome();
  void tick();
  // A session ended here (expiry, clean disconnect, kick): its registry entry goes.
  void session_ended(const core::ClientId& client_id, Epoch epoch);

  // The home side of the registry (for lookups by the admin API).
  const ClientRegistry& registry() const;
  const HandoffStats& stats() const;
  // Client ids with something in motion here (for the simulation's quiescence check), and a
  // description of what, for failure reports.
  std::size_t in_motion() const;
  std::string describe_motion() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tidemq::cluster
