// In-memory BrokerServices / ClusterServices for plugin unit tests: counts, evictions and
// migrations are recorded; admission hooks can be run by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "tidemq/plugin/plugin.hpp"

namespace tidemq::test {

struct FakeBrokerServices : plugin::BrokerServices {
  std::size_t connections = 0;
  std::vector<core::ClientId> offline, online;
  std::vector<core::DisconnectInfo> evicted;  // one entry per client told to go
  std::map<int, plugin::AdmissionHook> hooks;
  std::vector<core::ClientId> discarded;

  std::size_t connection_count() const override { return connections; }
  std::size_t session_count(plugin::SessionFilter f) const override {
    return f == plugin::SessionFilter::any ? offline.size() + online.size() : offline.size();
  }
  std::size_t evict_connections(std::size_t max, const core::DisconnectInfo& why) override {
    std::size_t n = std::min(max, connections);
    for (std::size_t i = 0; i < n; ++i) evicted.push_back(why);
    connections -= n;
    return n;
  }
  std::vector<core::ClientId> pick_sessions(std::size_t max, plugin::SessionFilter f) const override {
    std::vector<core::ClientId> out(offline.begin(), offline.begin() + std::min(max, offline.size()));
    if (f == plugin::SessionFilter::any)
      for (const auto& id : online)
        if (out.size() < max) out.push_back(id);
    return out;
  }
  void discard_session(const core::ClientId& id) override { discarded.push_back(id); }
  plugin::Registration on_admission(int priority, plugin::AdmissionHook hook) override {
    hooks[priority] = std::move(hook);
    return plugin::Registration([this, priority] { hooks.erase(priority); });
  }
  std::optional<core::AdmissionRefusal> admit(const std::string& client_id = "c") {
    std::optional<std::string> username;
    std::string peer = "127.0.0.1:1";
    for (auto& [_, h] : hooks)
      if (auto r = h(core::AdmissionRequest{client_id, 5, username, peer})) return r;
    return std::nullopt;
  }
};

struct FakeClusterServices : plugin::ClusterServices {
  std::string self_name = "n1@127.0.0.1";
  std::vector<plugin::Member> member_list{{"n1@127.0.0.1", true, true, {}}};
  std::vector<std::pair<core::ClientId, std::string>> migrations;  // client id, target
  std::map<core::ClientId, std::string> migration_errors;          // client id → error to answer
  FakeBrokerServices* broker = nullptr;                             // migrated sessions leave it

  std::string self() const override { return self_name; }
  std::vector<plugin::Member> members() const override { return member_list; }
  void call(const std::string&, const std::string& method, plugin::Json, plugin::Done done) override {
    done(std::nullopt, "no method " + method + " in the fake");
  }
  plugin::Registration register_method(const std::string&, std::function<void(const plugin::Json&, plugin::Done)>) override {
    return {};
  }
  void migrate_session(const core::ClientId& id, const std::string& node, std::function<void(std::string)> done) override {
    migrations.emplace_back(id, node);
    if (auto it = migration_errors.find(id); it != migration_errors.end()) return done(it->second);
    if (broker) std::erase(broker->offline, id);
    done("");
  }
  plugin::Registration on_node_event(std::function<void(const std::string&, bool)>) override { return {}; }
  MigrationAudit migration_audit() const override { return {}; }
};

}  // namespace tidemq::test
