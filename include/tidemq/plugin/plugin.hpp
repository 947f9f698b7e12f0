// The narrow interface between the broker and its plugins (docs/architecture.md): a plugin sees
// counts, a few eviction and session operations, cluster RPC and membership, and admin routes —
// never a Connection, a Session or a socket. Implemented in src/app (PluginHost); plugin code runs
// on the control thread. No Asio here.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "tidemq/cluster/types.hpp"
#include "tidemq/plugin/config_key.hpp"
#include "tidemq/core/types.hpp"
#include "tidemq/util/clock.hpp"

namespace tidemq::plugin {

using Json = nlohmann::json;

// Unregisters what it stands for when destroyed.
class Registration {
 public:
  Registration() = default;
  explicit Registration(std::function<void()> undo) : undo_(std::move(undo)) {}
  Registration(Registration&& o) noexcept : undo_(std::exchange(o.undo_, nullptr)) {}
  Registration& operator=(Registration&& o) noexcept {
    reset();
    undo_ = std::exchange(o.undo_, nullptr);
    return *this;
  }
  ~Registration() { reset(); }
  bool active() const { return static_cast<bool>(undo_); }
  void reset() {
    if (auto u = std::exchange(undo_, nullptr)) u();
  }

 private:
  std::function<void()> undo_;
};

enum class SessionFilter { any, disconnected };

// Refuses (a value) or admits (nullopt) a CONNECT before authentication; any thread, keep it cheap.
using AdmissionHook = std::function<std::optional<core::AdmissionRefusal>(const core::AdmissionRequest&)>;

struct BrokerServices {
  virtual ~BrokerServices() = default;
  virtual std::size_t connection_count() const = 0;
  virtual std::size_t session_count(SessionFilter f) const = 0;
  // Tells up to `max` live connections to go (DISCONNECT with `why` to MQTT 5 clients, a close to
  // 3.1.1 ones); returns how many were told. Does not wait for them.
  virtual std::size_t evict_connections(std::size_t max, const core::DisconnectInfo& why) = 0;
  virtual std::vector<core::ClientId> pick_sessions(std::size_t max, SessionFilter f) const = 0;
  virtual void discard_session(const core::ClientId& id) = 0;
  // Lower priority runs first; the first refusal wins.
  virtual Registration on_admission(int priority, AdmissionHook hook) = 0;
};

using cluster::Done;
using cluster::Member;

struct ClusterServices {
  virtual ~ClusterServices() = default;
  virtual std::string self() const = 0;
  virtual std::vector<Member> members() const = 0;  // self included; a lone node lists itself only
  // Calls `method` on `node` (locally when it is this node); fails for unknown or stopped nodes
  // and after the cluster RPC timeout.
  virtual void call(const std::string& node, const std::string& method, Json args, Done done) = 0;
  virtual Registration register_method(const std::string& method, std::function<void(const Json& args, Done reply)> handler) = 0;
  // Moves offline sessions of this node to `node`, many per cluster request; `done` lists those
  // that did not move (client id, why). A session that failed stays on this node.
  using MigrationFailures = cluster::MigrationFailures;
  virtual void migrate_sessions(std::vector<core::ClientId> ids, const std::string& node,
                                cluster::MigrationDone done) = 0;
  // Migration audit of this node.
  using MigrationAudit = cluster::MigrationAudit;
  virtual MigrationAudit migration_audit() const = 0;
  // A member came up (true) or went down (false).
  virtual Registration on_node_event(std::function<void(const std::string& node, bool up)> listener) = 0;
};

struct HttpRequest {
  std::string method;
  std::string path;
  std::string body;
  std::vector<std::pair<std::string, std::string>> query;
};
struct HttpResponse {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
};
using HttpReply = std::function<void(HttpResponse)>;
using HttpHandler = std::function<void(const HttpRequest&, const std::vector<std::pair<std::string, std::string>>& params, HttpReply)>;

struct AdminServices {
  virtual ~AdminServices() = default;
  // Adds an admin API route ("/api/v4/load_rebalance/{node}/start"); `is_public` skips auth.
  virtual void add_route(const std::string& method, const std::string& pattern, HttpHandler handler, bool is_public) = 0;
  // Adds lines to GET /metrics (Prometheus text), produced at scrape time.
  virtual void add_metrics(std::function<std::string()> render) = 0;
};

// A delayed call on the control thread.
struct Timers {
  virtual ~Timers() = default;
  virtual Registration after(util::Duration delay, std::function<void()> fn) = 0;
};

struct PluginContext {
  BrokerServices& broker;
  ClusterServices& cluster;
  AdminServices& admin;
  Timers& timers;
  std::filesystem::path data_dir;
  util::Clock& clock;
  // The plugin's config section: each key it declared (config_keys()) with its value or default,
  // as a JSON string, integer, boolean or array of strings.
  Json config = Json::object();
};

struct Plugin {
  virtual ~Plugin() = default;
  virtual std::string_view name() const noexcept = 0;  // also its config section: plugins.<name>
  // The keys of its config section, `plugins.<name>.<key>` (config file, TIDEMQ_PLUGINS__<NAME>__<KEY>,
  // --set). The node checks every value against its key and refuses to start, naming where it came
  // from, on a bad value or a key no plugin declared. `plugins.<name>.enable` (default true) is the
  // host's and needs no declaring.
  virtual std::vector<ConfigKey> config_keys() const { return {}; }
  // Registers hooks, routes and RPC methods; runs before any listener accepts MQTT traffic, so a
  // plugin can refuse connections from the first one (the evacuation restored from disk does).
  // Returns an error message, or "" when started.
  virtual std::string start(PluginContext& ctx) = 0;
  virtual void stop() noexcept = 0;  // idempotent
};

}  // namespace tidemq::plugin
