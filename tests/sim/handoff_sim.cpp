#include "handoff_sim.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <tuple>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sim_clients.hpp"

namespace tidemq::sim {

namespace {

const std::vector<std::pair<std::string, std::uint8_t>> kTopics = {
    {"t/q1/a", 1}, {"t/q1/b", 1}, {"t/q2/a", 2}, {"t/q2/b", 2}};

class Scenario {
 public:
  Scenario(const RunOptions& o) : opt_(o), w_(o.seed, make_config(o.seed)) {
    w_.verbose = o.verbose;
    crash_profile_ = o.profile == "crash";
  }
  ~Scenario() { clients_.clear(); }

  RunResult run();

 private:
  static SimConfig make_config(std::uint64_t seed) {
    Rng r(seed ^ 0x5eedc0ffeeULL);
    SimConfig c;
    c.nodes = 3 + static_cast<int>(r.below(2));
    c.link_delay_max = std::chrono::microseconds(200 + r.below(3000));
    c.spike_chance = static_cast<double>(r.below(40)) / 1000.0;
    c.spike_max = std::chrono::milliseconds(20 + r.below(250));
    c.rpc_timeout = std::chrono::milliseconds(60 + r.below(400));
    c.quiesce_max = std::chrono::microseconds(r.below(3000));
    return c;
  }

  SimNode& random_node() {
    std::vector<SimNode*> pick;
    for (auto& n : w_.nodes)
      if (n->alive()) pick.push_back(n.get());
    if (pick.empty()) return *w_.nodes[w_.rng.below(w_.nodes.size())];
    return *pick[w_.rng.below(pick.size())];
  }
  int alive_count() const {
    int n = 0;
    for (auto& node : w_.nodes) n += node->alive() && !node->paused();
    return n;
  }
  SimNode* other_alive(const SimNode& not_this) {
    std::vector<SimNode*> pick;
    for (auto& n : w_.nodes)
      if (n.get() != &not_this && n->alive() && !n->paused()) pick.push_back(n.get());
    return pick.empty() ? nullptr : pick[w_.rng.below(pick.size())];
  }

  void setup();
  void schedule_faults(TimePoint from, TimePoint until);
  void fault();
  void publisher_loop(SimClient& p, TimePoint until);
  void watch_mesh(TimePoint until);
  std::size_t partial_mesh_ = 0;  // 1 + index of the open "partial mesh" disturbance, or 0
  bool quiescent(std::string* why);
  void check(RunResult& r);
  // How long after its acceptance a message may still be on its way between nodes.
  Duration in_flight() const { return w_.cfg.spike_max + 300ms; }

  RunOptions opt_;
  World w_;
  Recorder rec_;
  std::map<std::string, TimePoint> migrating_since_;  // client id → when its last migration began
  bool crash_profile_ = false;
  std::vector<std::unique_ptr<SimClient>> clients_;
  std::vector<SimClient*> subscribers_, publishers_;
  std::uint64_t faults_ = 0;
  TimePoint t0_{};
  TimePoint last_resume_{};
  // Each node's last short pause (start, end): a crash soon after it also takes what the node
  // received while paused and was still passing on when it died.
  std::map<const SimNode*, std::pair<TimePoint, TimePoint>> last_short_pause_;
  bool faults_on_ = true;
};

void Scenario::setup() {
  for (int i = 0; i < w_.cfg.nodes; ++i)
    w_.nodes.push_back(std::make_unique<SimNode>(w_, i + 1, fmt::format("n{}", i + 1)));
  for (auto& n : w_.nodes) w_.skew_ms[n->id()] = static_cast<std::int64_t>(w_.rng.below(41)) - 20;
  for (auto& n : w_.nodes) n->boot();
  const int subs = 4 + static_cast<int>(w_.rng.below(7));
  for (int i = 0; i < subs; ++i) {
    const std::uint8_t v = w_.rng.chance(0.8) ? mqtt::kV5 : mqtt::kV311;
    auto c = std::make_unique<SimClient>(w_, rec_, fmt::format("sub{}", i), SimClient::Role::subscriber, v);
    std::set<std::size_t> picked;
    const std::size_t n = 1 + w_.rng.below(3);
    while (picked.size() < n) picked.insert(w_.rng.below(kTopics.size()));
    for (auto k : picked) c->subscriptions.push_back(kTopics[k]);
    c->lenient_qos2 = crash_profile_;
    subscribers_.push_back(c.get());
    clients_.push_back(std::move(c));
  }
  const int pubs = 2 + static_cast<int>(w_.rng.below(4));
  for (int i = 0; i < pubs; ++i) {
    auto c = std::make_unique<SimClient>(w_, rec_, fmt::format("pub{}", i), SimClient::Role::publisher, mqtt::kV5);
    std::set<std::size_t> picked;
    const std::size_t n = 1 + w_.rng.below(kTopics.size());
    while (picked.size() < n) picked.insert(w_.rng.below(kTopics.size()));
    for (auto k : picked) c->topics.push_back(kTopics[k]);
    publishers_.push_back(c.get());
    clients_.push_back(std::move(c));
  }
}

void Scenario::publisher_loop(SimClient& p, TimePoint until) {
  if (w_.clock.t >= until) {
    p.publishing = false;
    return;
  }
  p.publishing = true;
  p.publish_next();
  w_.sched.after(w_.rng.between(1ms, 15ms), [this, &p, until] { publisher_loop(p, until); });
}

void Scenario::schedule_faults(TimePoint from, TimePoint until) {
  const int n = 8 + static_cast<int>(w_.rng.below(30));
  for (int i = 0; i < n; ++i) {
    const TimePoint at = from + w_.rng.between(0ns, until - from);
    w_.sched.at(at, [this] {
      if (faults_on_) fault();
    });
  }
}

void Scenario::fault() {
  ++faults_;
  const std::uint64_t kind = w_.rng.below(100);
  if (kind < 10) {
    // A subscriber goes away for a while: its session waits offline (and may be migrated).
    SimClient* c = subscribers_[w_.rng.below(subscribers_.size())];
    if (c->connected()) c->go_offline(w_.rng.between(0ms, 20ms), w_.rng.between(50ms, 700ms));
    return;
  }
  if (kind < 40) {
    // A client loses its connection and reconnects elsewhere at once; its old node may notice late.
    auto& all = w_.rng.chance(0.8) ? subscribers_ : publishers_;
    SimClient* c = all[w_.rng.below(all.size())];
    if (!c->connected() || !c->node()) return;
    SimNode* next = w_.rng.chance(0.8) ? other_alive(*c->node()) : c->node();
    if (!next || !next->alive()) return;
    const Duration notice = w_.rng.chance(0.5) ? w_.rng.between(0ms, 3ms) : w_.rng.between(0ms, 200ms);
    c->drop_and_reconnect(notice, *next);
    return;
  }
  if (kind < 55) {
    // Eviction (rebalance/evacuation): connections told to use another server.
    SimNode& from = random_node();
    SimNode* to = other_alive(from);
    if (!to || from.paused()) return;
    const std::size_t k = 1 + w_.rng.below(4);
    w_.trace(fmt::format("FAULT evict {} connection(s) from {} to {}", k, from.name(), to->name()));
    from.run([&from, k, ref = to->name()] { from.broker().registry().evict_connections(k, core::DisconnectInfo{0x9C, ref}); });
    return;
  }
  if (kind < 75) {
    // Migration of offline sessions (the eviction agent's session phase).
    SimNode& from = random_node();
    SimNode* to = other_alive(from);
    if (!to) return;
    // Sometimes the target stalls right after (the reported case): the source's request waits
    // beyond its timeout and is resolved at the home.
    if (!crash_profile_ && w_.rng.chance(0.25) && !to->paused() && w_.clock.t >= last_resume_ + w_.cfg.heartbeat * w_.cfg.down_after) {
      bool any_paused = false;
      for (auto& n : w_.nodes) any_paused = any_paused || n->paused();
      const Duration limit = w_.cfg.heartbeat * (w_.cfg.down_after - 3) - w_.cfg.spike_max;
      if (!any_paused && limit > w_.cfg.rpc_timeout + 20ms) {
        const Duration d = w_.rng.between(w_.cfg.rpc_timeout + 10ms, limit);
        w_.sched.after(w_.rng.between(0ms, 2ms), [this, to, d] {
          if (to->paused() || !to->alive()) return;
          to->set_paused(true);
          w_.sched.after(d, [this, to] {
            to->set_paused(false);
            last_resume_ = w_.clock.t;
          });
        });
      }
    }
    from.run([this, &from, to = to->name()] {
      auto ids = from.broker().registry().offline_sessions(1 + w_.rng.below(6));
      if (ids.empty()) return;
      w_.trace(fmt::format("FAULT migrate {} session(s) {} -> {}", ids.size(), from.name(), to));
      for (const auto& id : ids) migrating_since_[id] = w_.clock.t;
      from.handoff().migrate(ids, to, [this, from = from.name(), to](cluster::SessionHandoff::MigrationFailures f) {
        for (auto& [c, why] : f) w_.trace(fmt::format("migration of {} {} -> {} failed: {}", c, from, to, why));
      });
    });
    return;
  }
  if (kind < 88) {
    // A short pause (SIGSTOP/SIGCONT): one node at a time, short enough (with the worst link
    // delay) that nobody declares it down.
    for (auto& n : w_.nodes)
      if (n->paused()) return;
    if (w_.clock.t < last_resume_ + w_.cfg.heartbeat * w_.cfg.down_after) return;
    const Duration limit = w_.cfg.heartbeat * (w_.cfg.down_after - 3) - w_.cfg.spike_max;
    if (limit <= 5ms) return;
    SimNode& n = random_node();
    const Duration d = w_.rng.between(5ms, limit);
    n.set_paused(true);
    last_short_pause_[&n] = {w_.clock.t, w_.clock.t + d};
    w_.sched.after(d, [this, &n] {
      n.set_paused(false);
      last_resume_ = w_.clock.t;
    });
    return;
  }
  if (!crash_profile_) {
    // Strict profile: a subscriber reconnects to the same node without dropping first (takeover).
    SimClient* c = subscribers_[w_.rng.below(subscribers_.size())];
    if (c->connected() && c->node()) c->drop_and_reconnect(w_.rng.between(0ms, 50ms), *c->node());
    return;
  }
  if (alive_count() < 3) return;  // keep a majority of the cluster running
  if (kind < 94) {
    SimNode& n = random_node();
    if (n.paused()) return;
    // Until the restarted node has its links again, what it holds gets nothing from the nodes it
    // has no link to yet: the disturbance lasts until a little after the restart. It begins at
    // the crash, or at the start of a short pause that ended just before: what the node received
    // while paused, it handled at the resume and may still have been passing on (a relay to a
    // session's new node, say) when it died; that lives in its memory only.
    TimePoint from = w_.clock.t;
    if (auto p = last_short_pause_.find(&n); p != last_short_pause_.end() && p->second.second + in_flight() >= w_.clock.t)
      from = p->second.first;
    rec_.disturbances.push_back({from, TimePoint::max(), "crash " + n.name()});
    const std::size_t index = rec_.disturbances.size() - 1;
    // Sessions live in memory: a frozen copy (a migration waiting for its commit) loses what it
    // collected since its snapshot.
    for (SimClient* s : subscribers_) {
      auto session = n.broker().registry().find(s->id());
      if (!session || !session->lock()->frozen) continue;
      auto since = migrating_since_.find(s->id());
      rec_.frozen_copies_lost[s->id()].emplace_back(since == migrating_since_.end() ? t0_ : since->second, w_.clock.t);
      w_.trace(fmt::format("{}: the frozen copy of {} dies with it", n.name(), s->id()));
    }
    n.crash();
    for (auto& c : clients_) {
      if (c->node() != &n) continue;
      if (SimNode* next = other_alive(n))
        c->drop_and_reconnect(0ns, *next);
      else
        c->drop_and_reconnect_later(50ms);
    }
    w_.sched.after(w_.rng.between(50ms, 600ms), [this, &n, index] {
      if (n.alive()) return;  // healed already
      n.boot();
      rec_.disturbances[index].to = w_.clock.t + 300ms;
    });
    return;
  }
  SimNode& n = random_node();
  if (n.paused()) return;
  const Duration d = w_.rng.between(w_.cfg.heartbeat * (w_.cfg.down_after + 1), w_.cfg.heartbeat * (w_.cfg.down_after * 2));
  rec_.disturbances.push_back({w_.clock.t, w_.clock.t + d, "long pause " + n.name()});
  n.set_paused(true);
  w_.sched.after(d, [&n] {
    if (n.paused()) n.set_paused(false);  // unless healed already
  });
}

// Crash profile: while some running nodes have no link between them (a node restarting, or one
// that paused long enough to lose its links), the cluster is partitioned and what is published on
// one side cannot reach sessions on the other; that lasts until each node has the routes of the
// peers it re-linked with. Those stretches count as disturbances.
void Scenario::watch_mesh(TimePoint until) {
  bool meshed = true;
  for (auto& a : w_.nodes)
    for (auto& b : w_.nodes)
      if (a != b && a->alive() && b->alive() && !a->routes_from(b->name())) meshed = false;
  if (!meshed && !partial_mesh_) {
    rec_.disturbances.push_back({w_.clock.t, TimePoint::max(), "partial mesh"});
    partial_mesh_ = rec_.disturbances.size();
  } else if (meshed && partial_mesh_) {
    rec_.disturbances[partial_mesh_ - 1].to = w_.clock.t;
    partial_mesh_ = 0;
  }
  if (w_.clock.t < until) w_.sched.after(5ms, [this, until] { watch_mesh(until); });
}

bool Scenario::quiescent(std::string* why) {
  for (auto& n : w_.nodes) {
    if (!n->alive() || n->paused()) return *why = n->name() + " is not running", false;
    for (auto& m : w_.nodes) {
      if (m == n) continue;
      if (!n->link_up(m->name())) return *why = n->name() + " has no link to " + m->name(), false;
    }
    if (n->handoff().in_motion() > 0) return *why = n->name() + " has handoffs in motion:\n" + n->handoff().describe_motion(), false;
  }
  for (SimClient* c : subscribers_) {
    if (!c->idle()) return *why = c->describe(), false;
    if (auto* n = c->node()) {
      auto info = n->broker().registry().info(c->id());
      if (!info) return *why = c->id() + " has no session on " + n->name(), false;
      if (info->queued > 0 || info->inflight > 0)
        return *why = fmt::format("{} still has {} queued / {} inflight on {}", c->id(), info->queued, info->inflight, n->name()), false;
    }
  }
  for (SimClient* p : publishers_)
    if (p->publishing || !p->idle()) return *why = p->id() + " is still publishing", false;
  // Fencing converges too: a stale copy is discarded once the home has heard of both.
  for (auto& c : clients_) {
    int copies = 0;
    for (auto& n : w_.nodes) copies += n->broker().registry().find(c->id()) != nullptr;
    if (copies > 1) return *why = c->id() + " has sessions on several nodes", false;
  }
  return true;
}

RunResult Scenario::run() {
  RunResult r;
  r.seed = opt_.seed;
  r.profile = opt_.profile;
  core::set_message_uid_base(opt_.seed * 0x100000001ULL + 1);
  t0_ = w_.clock.t;
  setup();
  const std::uint64_t budget = 3'000'000;
  w_.sched.run_until(t0_ + 40ms, budget);
  for (SimClient* c : subscribers_) c->connect_to(random_node());
  w_.sched.run_until(t0_ + 100ms, budget);
  const Duration settle = w_.cfg.spike_max + 100ms;
  const TimePoint pub_start = t0_ + 100ms + settle;
  const TimePoint pub_end = pub_start + w_.rng.between(800ms, 2000ms);
  for (SimClient* p : publishers_) {
    p->connect_to(random_node());
    w_.sched.at(pub_start, [this, p, pub_end] { publisher_loop(*p, pub_end); });
  }
  schedule_faults(pub_start, pub_end);
  if (crash_profile_) watch_mesh(pub_end + 5s);
  bool ok = w_.sched.run_until(pub_end, budget);
  faults_on_ = false;
  // Heal: every node running and linked, then wait for quiescence.
  for (auto& n : w_.nodes) {
    if (n->paused()) n->set_paused(false);
    if (!n->alive()) n->boot();
  }
  for (auto& d : rec_.disturbances)
    if (d.to == TimePoint::max()) d.to = w_.clock.t + 300ms;
  std::string why = "event budget exhausted";
  bool quiet = false;
  int calm = 0;
  const TimePoint deadline = pub_end + 30s;
  while (ok && w_.clock.t < deadline) {
    ok = w_.sched.run_until(w_.clock.t + 100ms, budget);
    if (quiescent(&why)) {
      if (++calm >= 3) {
        quiet = true;
        break;
      }
    } else {
      calm = 0;
    }
  }
  r.counts.events = w_.sched.executed();
  r.counts.virtual_seconds = std::chrono::duration<double>(w_.clock.t - t0_).count();
  if (!quiet) r.violations.push_back("STUCK: not quiescent 30 s after the faults stopped: " + why);
  check(r);
  r.counts.faults = faults_;
  for (auto& n : w_.nodes) {
    const auto& s = n->handoff().stats();
    r.counts.takeovers += s.takeovers_out;
    r.counts.migrations += s.migrations_out;
    r.counts.fenced += s.migrations_fenced;
    r.counts.superseded += s.migrations_superseded;
    r.counts.stale_discarded += s.stale_copies_discarded;
  }
  if (!r.ok()) r.trace_tail = w_.log_tail;
  return r;
}

void Scenario::check(RunResult& r) {
  // ---- sessions ----
  for (auto& c : clients_) {
    std::vector<std::string> holders;
    for (auto& n : w_.nodes)
      if (n->alive() && n->broker().registry().find(c->id())) holders.push_back(n->name());
    if (holders.size() > 1)
      r.violations.push_back(fmt::format("TWO SESSIONS: {} has a session on {}", c->id(), fmt::join(holders, ", ")));
    if (c->role() == SimClient::Role::subscriber && holders.empty())
      r.violations.push_back(fmt::format("NO SESSION: subscriber {} has no session anywhere", c->id()));
  }
  if (!crash_profile_) {
    for (auto& [sub, times] : rec_.resets)
      r.violations.push_back(fmt::format("SESSION LOST: {} got CONNACK session present 0 {} time(s)", sub, times.size()));
    for (auto& n : w_.nodes)
      if (n->relays_without_session)
        r.violations.push_back(fmt::format("RELAY LOST: {} dropped {} relayed deliveries (no session)", n->name(), n->relays_without_session));
  }

  // ---- messages ----
  const Duration settle = w_.cfg.spike_max + 100ms;
  using Key = std::tuple<std::string, std::string, std::uint64_t, std::uint64_t>;  // pub, topic, conn, seq
  std::map<Key, const Recorder::Accepted*> accepted;
  for (const auto& a : rec_.accepted) accepted[{a.publisher, a.topic, a.conn, a.seq}] = &a;
  r.counts.accepted = accepted.size();
  r.counts.receipts = rec_.receipts.size();
  // subscriber → message → deliveries
  std::map<std::string, std::map<Key, int>> got;
  for (const auto& x : rec_.receipts) ++got[x.subscriber][{x.publisher, x.topic, x.conn, x.seq}];
  // Crash profile: a message accepted shortly before a crash (or before a node was declared
  // down), or while a node was down, may have been on that node only.
  const Duration in_flight = this->in_flight();
  auto exempt_around = [&](TimePoint t) {
    for (const auto& d : rec_.disturbances)
      if (t + in_flight >= d.from && t <= d.to + 300ms) return true;
    return false;
  };
  std::vector<std::string> lost, dups;
  for (SimClient* s : subscribers_) {
    const auto& subs = rec_.subscribed[s->id()];
    const auto& resets = rec_.resets[s->id()];
    for (const auto& [key, a] : accepted) {
      const auto& [pub, topic, conn, seq] = key;
      auto sub_it = subs.find(topic);
      if (sub_it == subs.end() || a->at < sub_it->second + settle) continue;
      bool exempt = false;
      if (crash_profile_) {
        exempt = exempt_around(a->at);
        for (TimePoint reset : resets)
          if (a->at <= reset + settle) exempt = true;  // lost with the session, or before it was subscribed again
        for (const auto& [from, to] : rec_.frozen_copies_lost[s->id()])
          if (a->at >= from && a->at <= to) exempt = true;
      }
      const int n = got[s->id()].count(key) ? got[s->id()][key] : 0;
      if (exempt) {
        ++r.counts.exempt;
        continue;
      }
      ++r.counts.owed;
      if (n == 0 && lost.size() < 20) lost.push_back(fmt::format("{} never got {} {}#{} seq {} (QoS {}, accepted at {:.3f} s)", s->id(), pub, topic,
                                                                 conn, seq, a->qos,
                                                                 std::chrono::duration<double>(a->at - t0_).count()));
      if (n > 1 && a->qos == 2 && dups.size() < 20) dups.push_back(fmt::format("{} got QoS 2 {} {}#{} seq {} {} times", s->id(), pub, topic, conn, seq, n));
      if (n > 1 && a->qos == 1) r.counts.qos1_duplicates += n - 1;
    }
  }
  for (auto& l : lost) r.violations.push_back("LOST: " + l);
  for (auto& d : dups) r.violations.push_back("DUPLICATE: " + d);

  // ---- order: first receipts per (subscriber, publisher connection, topic) ----
  std::map<std::tuple<std::string, std::string, std::uint64_t, std::string>, std::uint64_t> highest;
  std::set<std::tuple<std::string, Key>> seen;
  int reorders = 0;
  for (const auto& x : rec_.receipts) {
    const Key key{x.publisher, x.topic, x.conn, x.seq};
    if (!accepted.count(key)) continue;
    if (!seen.insert({x.subscriber, key}).second) continue;  // a duplicate, not a reorder
    auto [it, first] = highest.try_emplace({x.subscriber, x.publisher, x.conn, x.topic}, x.seq);
    if (first) continue;
    if (x.seq < it->second) {
      bool exempt = crash_profile_ && exempt_around(x.at);
      if (!exempt && reorders++ < 20)
        r.violations.push_back(fmt::format("REORDERED: {} got {} {}#{} seq {} after seq {}", x.subscriber, x.publisher, x.topic,
                                           x.conn, x.seq, it->second));
    } else {
      it->second = x.seq;
    }
  }
}

}  // namespace

RunCounts& RunCounts::operator+=(const RunCounts& o) {
  events += o.events;
  virtual_seconds += o.virtual_seconds;
  accepted += o.accepted;
  owed += o.owed;
  exempt += o.exempt;
  receipts += o.receipts;
  qos1_duplicates += o.qos1_duplicates;
  takeovers += o.takeovers;
  migrations += o.migrations;
  fenced += o.fenced;
  superseded += o.superseded;
  stale_discarded += o.stale_discarded;
  faults += o.faults;
  return *this;
}

RunResult run_handoff_simulation(const RunOptions& options) {
  Scenario s(options);
  return s.run();
}

}  // namespace tidemq::sim
