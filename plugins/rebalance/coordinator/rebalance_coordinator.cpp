#include "rebalance/coordinator/rebalance_coordinator.hpp"

#include <set>

#include "rebalance/coordinator/command_log.hpp"

namespace tidemq::rebalance {

namespace {

using plugin::Json;
constexpr auto kRenewEvery = std::chrono::milliseconds(1000);

boost::system::error_code error_from(const std::string& token) {
  for (auto e : {RebalanceErrc::already_started, RebalanceErrc::not_started, RebalanceErrc::agent_busy,
                 RebalanceErrc::invalid_coordinator, RebalanceErrc::nothing_to_balance, RebalanceErrc::already_disabled,
                 RebalanceErrc::agent_disabled})
    if (to_token(e) == token) return make_error_code(e);
  return make_error_code(RebalanceErrc::rpc_failed);
}

}  // namespace

RebalanceCoordinator::RebalanceCoordinator(plugin::PluginContext& ctx, EvictionAgent& agent, util::RateLimiter& limiter, Timing timing)
    : ctx_(ctx),
      agent_(agent),
      fsm_(ctx.cluster.self(), ctx.clock, std::move(timing)),
      pacer_(agent, limiter, ctx.timers),
      session_pacer_(agent, limiter, ctx.timers) {
  node_events_ = ctx_.cluster.on_node_event([this](const std::string& node, bool up) {
    if (up) return;
    if (fsm_.busy()) feed(ev::NodeDown{node});
    if (donor_ && donor_->coordinator == node) donor_release("coordinator node " + node + " is down");
  });
}

RebalanceCoordinator::~RebalanceCoordinator() { *alive_ = false; }

void RebalanceCoordinator::register_methods(std::vector<plugin::Registration>& out) {
  auto& cl = ctx_.cluster;
  out.push_back(cl.register_method("rebalance.counts.v1", [this](const Json&, plugin::Done reply) {
    const std::uint64_t stuck = donor_ ? session_pacer_.stuck_sessions() : 0;
    reply(Json{{"connections", agent_.connection_count()},
               {"sessions", agent_.session_count()},
               {"disconnected_sessions", agent_.disconnected_session_count()},
               {"stuck_sessions", stuck},
               {"available", !agent_.enabled()}},
          "");
  }));
  out.push_back(cl.register_method("rebalance.donor.enable.v1", [this](const Json& a, plugin::Done reply) { donor_enable(a, reply); }));
  out.push_back(cl.register_method("rebalance.donor.release.v1", [this](const Json& a, plugin::Done reply) {
    if (!donor_) return reply(Json{{"error", "already_disabled"}}, "");
    if (donor_->coordinator != a.value("coordinator", "")) return reply(Json{{"error", "invalid_coordinator"}}, "");
    donor_release("released by the coordinator");
    reply(Json{{"ok", true}}, "");
  }));
  out.push_back(cl.register_method("rebalance.donor.renew.v1", [this](const Json& a, plugin::Done reply) {
    if (!donor_ || donor_->coordinator != a.value("coordinator", "")) return reply(Json{{"error", "not a donor of this coordinator"}}, "");
    donor_->lease_until = ctx_.clock.now() + kDonorLease;
    if (a.contains("view")) donor_->view = donor_view_from_json(a["view"]);
    reply(Json{{"ok", true}}, "");
  }));
  out.push_back(cl.register_method("rebalance.donor.evict_conns.v1", [this](const Json& a, plugin::Done reply) {
    if (!donor_) return reply(Json{{"error", "agent_disabled"}}, "");
    pacer_.evict(a.value("count", std::uint64_t{0}), a.value("rate", kDefaultConnEvictRate));
    reply(Json{{"done", a.value("count", std::uint64_t{0})}}, "");
  }));
  out.push_back(cl.register_method("rebalance.donor.evict_sessions.v1", [this](const Json& a, plugin::Done reply) {
    if (!donor_) return reply(Json{{"error", "agent_disabled"}}, "");
    session_pacer_.migrate(a.value("count", std::uint64_t{0}), a.value("rate", kDefaultSessEvictRate),
                           a.value("targets", std::vector<std::string>{}), plugin::SessionFilter::disconnected,
                           [reply](SessionPacer::Report r) {
                             reply(Json{{"done", r.migrated}, {"failed", r.failed}, {"given_up", r.given_up}}, "");
                           });
  }));
}

// ---- coordinator --------------------------------------------------------------------------

void RebalanceCoordinator::start(RebalanceOptions options, ReplyFn reply) {
  replies_.hold(Request::start, std::move(reply));  // answered once every donor agreed
  feed(ev::RebalanceStart{std::move(options)});
}

void RebalanceCoordinator::stop(ReplyFn reply) {
  replies_.hold(Request::stop, std::move(reply));
  feed(ev::Stop{});
  replies_.expect_answered(Request::stop, "rebalance");
}

void RebalanceCoordinator::feed(const RebalanceEvent& e) { run(fsm_.handle(e)); }

void RebalanceCoordinator::run(Commands cmds) {
  const std::string self = ctx_.cluster.self();
  bool phase_changed = false;
  for (const Command& c : cmds) {
    phase_changed = phase_changed || std::holds_alternative<cmd::PhaseChanged>(c);
    if (auto* arm = std::get_if<cmd::ArmTimer>(&c)) {
      timer_ = ctx_.timers.after(arm->after, [this, alive = alive_, token = arm->token] {
        if (*alive) feed(ev::TimerFired{token});
      });
    } else if (std::holds_alternative<cmd::CancelTimer>(c)) {
      timer_.reset();
    } else if (auto* f = std::get_if<cmd::FetchCounts>(&c)) {
      fetch_counts(*f);
    } else if (auto* en = std::get_if<cmd::EnableAgent>(&c)) {
      for (const auto& node : en->nodes) {
        Json args{{"coordinator", self}, {"kind", en->kind}, {"allow_connections", en->allow_connections}};
        if (en->server_reference) args["server_reference"] = *en->server_reference;
        if (auto v = fsm_.donor_view(node)) args["view"] = to_json(*v);  // the donor's status from the start
        ctx_.cluster.call(node, "rebalance.donor.enable.v1", args,
                          [this, alive = alive_, token = en->token, node](std::optional<Json> r, std::string error) {
                            if (!*alive) return;
                            boost::system::error_code ec;
                            if (!r)
                              ec = make_error_code(RebalanceErrc::rpc_failed);
                            else if (r->contains("error"))
                              ec = error_from((*r)["error"].get<std::string>());
                            if (!r) rebalance_logger()->warn("enabling the agent on {} failed: {}", node, error);
                            feed(ev::AgentReply{token, node, ec});
                          });
      }
      if (!lease_timer_.active()) renew_leases();
    } else if (auto* dis = std::get_if<cmd::DisableAgent>(&c)) {
      for (const auto& node : dis->nodes)
        ctx_.cluster.call(node, "rebalance.donor.release.v1", Json{{"coordinator", self}}, [](std::optional<Json>, std::string) {});
    } else if (auto* ec = std::get_if<cmd::EvictConnections>(&c)) {
      ctx_.cluster.call(ec->node, "rebalance.donor.evict_conns.v1",
                        Json{{"count", ec->count}, {"rate", fsm_.options().conn_evict_rate}},
                        [this, alive = alive_, token = ec->token, node = ec->node](std::optional<Json> r, std::string) {
                          if (!*alive) return;
                          ev::BatchDone d{token, node, {}, 0, 0, 0};
                          if (!r || r->contains("error"))
                            d.ec = make_error_code(RebalanceErrc::rpc_failed);
                          else
                            d.done = r->value("done", std::uint64_t{0});
                          feed(d);
                        });
    } else if (auto* m = std::get_if<cmd::MigrateSessions>(&c)) {
      ctx_.cluster.call(m->node, "rebalance.donor.evict_sessions.v1",
                        Json{{"count", m->count}, {"targets", m->targets}, {"rate", fsm_.options().sess_evict_rate}},
                        [this, alive = alive_, token = m->token, node = m->node](std::optional<Json> r, std::string) {
                          if (!*alive) return;
                          ev::BatchDone d{token, node, {}, 0, 0, 0};
                          if (!r || r->contains("error")) {
                            d.ec = make_error_code(RebalanceErrc::rpc_failed);
                          } else {
                            d.done = r->value("done", std::uint64_t{0});
                            d.failed = r->value("failed", std::uint64_t{0});
                            d.given_up = r->value("given_up", std::uint64_t{0});
                          }
                          feed(d);
                        });
    } else if (auto* r = std::get_if<cmd::Reply>(&c)) {
      replies_.answer(r->request, r->ec);
    } else {
      log_command(c);
    }
  }
  // A donor's status follows the coordinator's state at once, not at the next lease renewal.
  if (phase_changed && fsm_.running()) send_views();
}

void RebalanceCoordinator::fetch_counts(const cmd::FetchCounts& c) {
  struct Gather {
    std::uint64_t token;
    NodeCountMap counts;
    std::size_t remaining;
    std::optional<std::pair<NodeId, std::string>> failed;
  };
  auto g = std::make_shared<Gather>(Gather{c.token, {}, c.nodes.size(), std::nullopt});
  if (c.nodes.empty()) return feed(ev::ClusterCounts{c.token, {}});
  for (const auto& node : c.nodes) {
    ctx_.cluster.call(node, "rebalance.counts.v1", Json::object(),
                      [this, alive = alive_, g, node](std::optional<Json> r, std::string error) {
                        if (!*alive) return;
                        if (r && r->is_object()) {
                          NodeCounts n;
                          n.connections = r->value("connections", std::uint64_t{0});
                          n.sessions = r->value("sessions", std::uint64_t{0});
                          n.disconnected_sessions = r->value("disconnected_sessions", std::uint64_t{0});
                          n.stuck_sessions = r->value("stuck_sessions", std::uint64_t{0});
                          n.available = r->value("available", true);
                          g->counts[node] = n;
                        } else if (!g->failed) {
                          g->failed = std::pair{node, error.empty() ? std::string("no answer") : error};
                        }
                        if (--g->remaining > 0) return;
                        if (g->failed)
                          feed(ev::CountsFailed{g->token, g->failed->first, g->failed->second});
                        else
                          feed(ev::ClusterCounts{g->token, std::move(g->counts)});
                      });
  }
}

// Every second while a rebalance runs: each donor's lease, with the view it shows in its status.
void RebalanceCoordinator::renew_leases() {
  lease_timer_.reset();
  if (!fsm_.busy()) return;
  send_views();
  lease_timer_ = ctx_.timers.after(kRenewEvery, [this, alive = alive_] {
    if (*alive) renew_leases();
  });
}

// Renews each donor's lease and hands it the view it shows in its status.
void RebalanceCoordinator::send_views() {
  const std::string self = ctx_.cluster.self();
  for (const auto& donor : fsm_.donors()) {
    Json args{{"coordinator", self}};
    if (auto v = fsm_.donor_view(donor)) args["view"] = to_json(*v);
    ctx_.cluster.call(donor, "rebalance.donor.renew.v1", args,
                      [this, alive = alive_, donor](std::optional<Json> r, std::string error) {
                        if (!*alive || !fsm_.running()) return;
                        if (!r) return;  // unreachable: node-down or the next renewal decides
                        if (r->contains("error")) feed(ev::DonorLost{donor, (*r)["error"].get<std::string>()});
                        (void)error;
                      });
  }
}

// ---- donor --------------------------------------------------------------------------------

void RebalanceCoordinator::donor_enable(const Json& a, plugin::Done reply) {
  const std::string coordinator = a.value("coordinator", "");
  if (donor_ && donor_->coordinator != coordinator) return reply(Json{{"error", "invalid_coordinator"}}, "");
  std::optional<std::string> ref;
  if (a.contains("server_reference") && a["server_reference"].is_string()) ref = a["server_reference"].get<std::string>();
  if (agent_.enable(std::string(kKindRebalance), ref, a.value("allow_connections", false)) != EvictionAgent::Errc::ok)
    return reply(Json{{"error", "eviction_agent_busy"}}, "");
  if (!donor_) {
    donor_.emplace();
    donor_->coordinator = coordinator;
    session_pacer_.reset_attempts();
  }
  donor_->lease_until = ctx_.clock.now() + kDonorLease;
  if (a.contains("view")) donor_->view = donor_view_from_json(a["view"]);
  check_lease();
  reply(Json{{"ok", true}}, "");
}

void RebalanceCoordinator::check_lease() {
  if (!donor_) return;
  if (ctx_.clock.now() >= donor_->lease_until) return donor_release("the coordinator's lease lapsed");
  donor_->check = ctx_.timers.after(std::chrono::milliseconds(250), [this, alive = alive_] {
    if (*alive) check_lease();
  });
}

void RebalanceCoordinator::donor_release(const std::string& why) {
  if (!donor_) return;
  rebalance_logger()->info("rebalance donor role released ({}), coordinator {}", why, donor_->coordinator);
  agent_.disable(std::string(kKindRebalance));
  pacer_.stop();
  session_pacer_.stop();
  donor_.reset();
}

std::optional<Json> RebalanceCoordinator::donor_status(ApiVersion api) const {
  std::optional<DonorView> view = donor_ ? donor_->view : std::nullopt;
  // A coordinator that is one of its own donors shows the donor body for the whole run, also
  // before its own enable call has arrived.
  if (!view && fsm_.busy()) view = fsm_.donor_view(ctx_.cluster.self());
  if (!view) return std::nullopt;
  LiveCounts live{agent_.connection_count(), agent_.session_count(), agent_.disconnected_session_count()};
  return render_donor_status(*view, live, api);
}

}  // namespace tidemq::rebalance
