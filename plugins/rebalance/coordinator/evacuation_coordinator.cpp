#include "rebalance/coordinator/evacuation_coordinator.hpp"

#include "rebalance/coordinator/command_log.hpp"

namespace tidemq::rebalance {

EvacuationCoordinator::EvacuationCoordinator(plugin::PluginContext& ctx, EvictionAgent& agent, util::RateLimiter& limiter,
                                             Timing timing)
    : ctx_(ctx),
      agent_(agent),
      fsm_(ctx.cluster.self(), ctx.clock, std::move(timing)),
      store_(ctx.data_dir),
      pacer_(agent, limiter, ctx.timers),
      session_pacer_(agent, limiter, ctx.timers) {}

EvacuationCoordinator::~EvacuationCoordinator() { *alive_ = false; }

void EvacuationCoordinator::restore() {
  auto loaded = store_.load();
  if (!loaded) return;
  for (const auto& w : loaded->warnings) rebalance_logger()->warn("{}", w);
  rebalance_logger()->warn("resuming the evacuation recorded in {}: MQTT connections are refused", store_.path().string());
  feed(ev::EvacuationRestore{loaded->options, agent_.connection_count(), agent_.session_count(),
                             !agent_.enabled() || agent_.kind() == std::string(kKindEvacuation)});
}

void EvacuationCoordinator::start(EvacuationOptions options, ReplyFn reply) {
  replies_.hold(Request::start, std::move(reply));
  feed(ev::EvacuationStart{std::move(options), agent_.connection_count(), agent_.session_count(),
                           !agent_.enabled() || agent_.kind() == std::string(kKindEvacuation)});
  replies_.expect_answered(Request::start, "evacuation");  // the agent answers at once, so the machine does
}

void EvacuationCoordinator::stop(ReplyFn reply) {
  // A stop that cannot remove the file would not outlive a restart: it fails, and the evacuation
  // goes on, as a start that cannot write the file fails (docs/rebalance.md, "Evacuation file").
  std::string error;
  if (fsm_.enabled() && !store_.clear(&error)) {
    rebalance_logger()->error("evacuation stop refused: cannot remove {}: {}", store_.path().string(), error);
    return reply(make_error_code(RebalanceErrc::persist_failed));
  }
  replies_.hold(Request::stop, std::move(reply));
  feed(ev::Stop{});
  replies_.expect_answered(Request::stop, "evacuation");
}

void EvacuationCoordinator::feed(const EvacuationEvent& e) { run(fsm_.handle(e)); }

void EvacuationCoordinator::run(Commands cmds) {
  auto log = rebalance_logger();
  for (std::size_t i = 0; i < cmds.size(); ++i) {
    const Command& c = cmds[i];
    if (auto* arm = std::get_if<cmd::ArmTimer>(&c)) {
      timer_ = ctx_.timers.after(arm->after, [this, alive = alive_, token = arm->token] {
        if (*alive) feed(ev::TimerFired{token});
      });
    } else if (std::holds_alternative<cmd::CancelTimer>(c)) {
      timer_.reset();
    } else if (auto* f = std::get_if<cmd::FetchCounts>(&c)) {
      fetch_counts(*f);
    } else if (auto* en = std::get_if<cmd::EnableAgent>(&c)) {
      auto rc = agent_.enable(en->kind, en->server_reference, en->allow_connections);
      if (rc == EvictionAgent::Errc::ok && fsm_.options().redirect_least_loaded) {
        agent_.set_reference_picker([this] { return least_loaded_reference(); });
        refresh_loads();
      }
      boost::system::error_code ec;
      if (rc == EvictionAgent::Errc::busy) ec = make_error_code(RebalanceErrc::agent_busy);
      feed(ev::AgentReply{en->token, ctx_.cluster.self(), ec});
    } else if (auto* dis = std::get_if<cmd::DisableAgent>(&c)) {
      agent_.disable(dis->kind);
      agent_.set_reference_picker(nullptr);
      loads_.clear();
      loads_at_ = {};
      pacer_.stop();
      session_pacer_.stop();
      session_pacer_.reset_attempts();
    } else if (auto* ec = std::get_if<cmd::EvictConnections>(&c)) {
      // The FSM asks once per tick; the pacer spreads the batch over the second. With
      // least_loaded it waits (up to 2 s) for the first loads, so nobody gets the static fallback.
      std::function<bool()> hold;
      if (fsm_.options().redirect_least_loaded) {
        const auto since = ctx_.clock.now();
        hold = [this, since] { return loads_at_ == util::TimePoint{} && ctx_.clock.now() - since < std::chrono::seconds(2); };
      }
      pacer_.evict(ec->count, fsm_.options().conn_evict_rate, std::move(hold));
    } else if (auto* m = std::get_if<cmd::MigrateSessions>(&c)) {
      migrate(*m);
    } else if (auto* p = std::get_if<cmd::Persist>(&c)) {
      std::string error;
      if (!store_.save(p->options, &error)) {
        log->error("cannot write {}: {}", store_.path().string(), error);
        run(fsm_.handle(ev::PersistFailed{error}));
        return;  // the agent must not be enabled without the file
      }
    } else if (std::holds_alternative<cmd::ClearPersisted>(c)) {
      std::string error;
      if (!store_.clear(&error)) log->warn("cannot remove {}: {}", store_.path().string(), error);
    } else if (auto* r = std::get_if<cmd::Reply>(&c)) {
      replies_.answer(r->request, r->ec);
    } else {
      log_command(c);
    }
  }
}

std::optional<std::string> EvacuationCoordinator::least_loaded_reference() {
  if (ctx_.clock.now() - loads_at_ > std::chrono::seconds(1)) refresh_loads();
  const auto members = ctx_.cluster.members();
  const plugin::Member* best = nullptr;
  std::uint64_t best_load = 0;
  for (const auto& m : members) {
    auto it = loads_.find(m.name);
    if (it == loads_.end() || m.mqtt_endpoints.empty() || !m.running) continue;
    if (fsm_.options().migrate_to &&
        std::find(fsm_.options().migrate_to->begin(), fsm_.options().migrate_to->end(), m.name) == fsm_.options().migrate_to->end())
      continue;
    if (!best || it->second < best_load) {
      best = &m;
      best_load = it->second;
    }
  }
  if (!best) return std::nullopt;  // nothing known yet: the static redirect_to, if any
  ++loads_[best->name];
  return best->mqtt_endpoints.front();
}

void EvacuationCoordinator::refresh_loads() {
  if (loads_pending_) return;
  std::vector<NodeId> others;
  for (const auto& m : ctx_.cluster.members())
    if (!m.self && m.running) others.push_back(m.name);
  if (others.empty()) return;
  loads_pending_ = true;
  auto remaining = std::make_shared<std::size_t>(others.size());
  auto fresh = std::make_shared<std::map<NodeId, std::uint64_t>>();
  for (const auto& node : others)
    ctx_.cluster.call(node, "rebalance.agent.v1", plugin::Json::object(),
                      [this, alive = alive_, node, remaining, fresh](std::optional<plugin::Json> r, std::string) {
                        if (!*alive) return;
                        if (r && r->is_object() && !r->value("enabled", true)) (*fresh)[node] = r->value("connections", std::uint64_t{0});
                        if (--*remaining > 0) return;
                        loads_ = std::move(*fresh);
                        loads_at_ = ctx_.clock.now();
                        loads_pending_ = false;
                      });
}

void EvacuationCoordinator::fetch_counts(const cmd::FetchCounts& c) {
  ev::LocalCounts counts{c.token, agent_.connection_count(), agent_.session_count(), session_pacer_.stuck_sessions(), {}};
  if (!c.with_targets) return feed(counts);
  // Recipients: running members (or the listed ones) whose agent is disabled, asked over RPC.
  std::vector<NodeId> candidates;
  for (const auto& m : ctx_.cluster.members()) {
    if (m.self || !m.running) continue;
    if (c.targets && std::find(c.targets->begin(), c.targets->end(), m.name) == c.targets->end()) continue;
    candidates.push_back(m.name);
  }
  if (candidates.empty()) return feed(counts);
  struct Gather {
    ev::LocalCounts counts;
    std::size_t remaining;
    std::vector<NodeId> available;
  };
  auto g = std::make_shared<Gather>(Gather{std::move(counts), candidates.size(), {}});
  for (const auto& node : candidates) {
    ctx_.cluster.call(node, "rebalance.agent.v1", plugin::Json::object(),
                      [this, alive = alive_, g, node](std::optional<plugin::Json> r, std::string) {
                        if (!*alive) return;
                        if (r && r->is_object() && !r->value("enabled", true)) g->available.push_back(node);
                        if (--g->remaining > 0) return;
                        std::sort(g->available.begin(), g->available.end());
                        g->counts.available_targets = g->available;
                        feed(g->counts);
                      });
  }
}

void EvacuationCoordinator::migrate(const cmd::MigrateSessions& c) {
  auto filter = c.filter == SessionFilter::any ? plugin::SessionFilter::any : plugin::SessionFilter::disconnected;
  session_pacer_.migrate(c.count, fsm_.options().sess_evict_rate, c.targets, filter,
                         [this, token = c.token, node = c.node](SessionPacer::Report r) {
                           feed(ev::BatchDone{token, node, {}, r.migrated, r.failed, r.given_up});
                         });
}

}  // namespace tidemq::rebalance
