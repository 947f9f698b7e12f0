// The cluster layer of one node: a full mesh of authenticated links to the other members,
// membership with heartbeats and node-down events, route replication, the partitioned client
// registry, cross-node session takeover and migration, and a small RPC used by the admin API and
// plugins. Everything runs on the control thread except forward() and locate(), which data
// threads call. See docs/cluster.md for the protocol.
//
// With clustering off (ClusterSettings::enabled false) a node is a cluster of one: no listener and
// no peers; it lists itself as the only member, calls to itself work, join, leave and session
// migration are refused with kClusteringOff. Callers need no separate code for a lone node.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/cluster_settings.hpp"
#include "tidemq/cluster/types.hpp"
#include "core/broker.hpp"

namespace boost::asio {
class io_context;
}

namespace tidemq::cluster {

class Cluster {
 public:
  static constexpr const char* kClusteringOff =
      "clustering is off on this node: set a secret cluster.cookie (see conf/tidemq.conf)";

  using Json = cluster::Json;
  using Done = cluster::Done;
  using SyncMethod = std::function<Json(const Json& args)>;  // throws std::runtime_error to fail
  using AsyncMethod = std::function<void(const Json& args, Done reply)>;

  Cluster(ClusterSettings settings, boost::asio::io_context& control, core::Broker& broker);
  ~Cluster();
  Cluster(const Cluster&) = delete;
  Cluster& operator=(const Cluster&) = delete;

  // How the session handoff waits until every data thread has finished the publish it was in
  // (`then` runs on the control thread afterwards). Set before start(); without it, a lone
  // control thread is assumed and `then` is only posted.
  void set_quiescer(std::function<void(std::function<void()>)> quiescer);

  // Opens the cluster listener and contacts the seeds and remembered members. False (logged)
  // when the listener cannot open. A cluster of one opens nothing.
  bool start();
  void stop();

  const std::string& self() const;
  const ClusterSettings& settings() const;

  std::vector<Member> members() const;  // self included, sorted by name
  std::vector<std::string> running_members() const;

  // ---- RPC (control thread) ----
  void register_method(const std::string& method, SyncMethod handler);
  void register_async_method(const std::string& method, AsyncMethod handler);
  // Forgets `method`: a call to it fails with "unknown method <method>" from then on.
  void unregister_method(const std::string& method);
  // Calls `method` on `node` (the local handler when `node` is this node). Fails when the node is
  // unknown or down, or does not answer within cluster.rpc_timeout.
  void call(const std::string& node, const std::string& method, Json args, Done done);

  // ---- membership ----
  // Connects to `address` ("name@host[:port]") and joins its cluster; `done("")` on success.
  void join(const std::string& address, std::function<void(std::string error)> done);
  // Leaves the cluster: the other members forget this node; it runs alone afterwards. Returns an
  // error (kClusteringOff) for a cluster of one, "" otherwise.
  std::string leave();
  // Called on the control thread when a member comes up (true) or goes down (false).
  void add_node_listener(std::function<void(const std::string& node, bool up)> listener);

  // ---- clients, sessions and routes ----
  // The node owning `client_id`'s session, from the client registry ("" when unknown).
  void find_client(const std::string& client_id, std::function<void(std::string node, std::string error)> done);
  // Moves offline sessions from this node to `node`, many per request; `done` lists the sessions
  // that did not move, each with why (empty: all moved). A session that failed stays here.
  void migrate_sessions(std::vector<std::string> client_ids, const std::string& node, MigrationDone done);
  // Migrations sent from this node, checked message counts before export against after import.
  MigrationAudit migration_audit() const;

  // Handoff counters in the Prometheus text format (control thread).
  std::string render_metrics() const;

  // Every route known here: full filter → node name.
  std::vector<std::pair<std::string, std::string>> routes() const;

  core::RemoteForwarder& forwarder();
  core::SessionLocator& locator();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace tidemq::cluster
