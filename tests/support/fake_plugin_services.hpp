// In-memory BrokerServices / ClusterServices for plugin unit tests: counts, evictions and
// migrations are recorded; admission hooks can be run by hand.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "fake_clock.hpp"
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
  // With hold_calls, calls wait in `held` for the test to answer them; otherwise they fail.
  struct HeldCall {
    std::string node, method;
    plugin::Json args;
    plugin::Done done;
  };
  bool hold_calls = false;
  std::vector<HeldCall> held;
  std::map<std::string, std::function<void(const plugin::Json&, plugin::Done)>> methods;  // registered
  std::function<void(const std::string&, bool)> node_listener;

  void call(const std::string& node, const std::string& method, plugin::Json args, plugin::Done done) override {
    if (hold_calls) return held.push_back(HeldCall{node, method, std::move(args), std::move(done)});
    done(std::nullopt, "no method " + method + " in the fake");
  }
  plugin::Registration register_method(const std::string& method,
                                       std::function<void(const plugin::Json&, plugin::Done)> handler) override {
    methods[method] = std::move(handler);
    return {};
  }
  void migrate_sessions(std::vector<core::ClientId> ids, const std::string& node,
                        std::function<void(MigrationFailures)> done) override {
    MigrationFailures failed;
    for (const auto& id : ids) {
      migrations.emplace_back(id, node);
      if (auto it = migration_errors.find(id); it != migration_errors.end()) {
        failed.emplace_back(id, it->second);
      } else if (broker) {
        std::erase(broker->offline, id);
      }
    }
    ++migration_requests;
    done(std::move(failed));
  }
  std::size_t migration_requests = 0;  // calls of migrate_sessions (each a batch)
  plugin::Registration on_node_event(std::function<void(const std::string&, bool)> listener) override {
    node_listener = std::move(listener);
    return {};
  }
  MigrationAudit migration_audit() const override { return {}; }
};

// Timers on a FakeClock: advance() moves the clock and runs what fell due, in order.
struct FakeTimers : plugin::Timers {
  explicit FakeTimers(FakeClock& c) : clock(c) {}
  plugin::Registration after(util::Duration delay, std::function<void()> fn) override {
    const std::uint64_t id = next_id++;
    due.emplace(std::pair{clock.now() + delay, id}, std::move(fn));
    return plugin::Registration([this, id] { std::erase_if(due, [id](const auto& e) { return e.first.second == id; }); });
  }
  // Moves time forward in `step`s until `total` has passed.
  void advance(util::Duration total, util::Duration step = std::chrono::milliseconds(1)) {
    for (util::Duration passed{}; passed < total; passed += step) {
      clock.advance(step);
      while (!due.empty() && due.begin()->first.first <= clock.now()) {
        auto fn = std::move(due.begin()->second);
        due.erase(due.begin());
        fn();
      }
    }
  }
  FakeClock& clock;
  std::map<std::pair<util::TimePoint, std::uint64_t>, std::function<void()>> due;
  std::uint64_t next_id = 0;
};

}  // namespace tidemq::test
