#include "cluster/session_handoff.hpp"

#include <algorithm>
#include <stdexcept>

#include <fmt/format.h>

#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::cluster {

using Json = nlohmann::json;

namespace {

// Protocol messages (docs/cluster.md, "Handoff"). Requests carry an id `r` chosen by the sender;
// the answer names it.
constexpr const char* kLocate = "handoff.locate.v1";      // → home {c, n, r, at}
constexpr const char* kLocated = "handoff.located.v1";    // ← {c, r, holder, t}
constexpr const char* kOwned = "handoff.owned.v1";        // → home {c, n, e}: a connect's node holds it
constexpr const char* kCommit = "handoff.commit.v1";      // → home {n, r, items: [[c, node, epoch]...]}
constexpr const char* kCommitted = "handoff.committed.v1";// ← {r, epochs: [e or 0...]}
constexpr const char* kFence = "handoff.fence.v1";        // → home {c, n, e, r}
constexpr const char* kFenced = "handoff.fenced.v1";      // ← {r, e (0: refused)}
constexpr const char* kRelease = "handoff.release.v1";    // → home {c, n, e}
constexpr const char* kAdopt = "handoff.adopt.v1";        // → home {entries: [[c, node, epoch]...]}
constexpr const char* kStale = "handoff.stale.v1";        // home → {c, e}: your copy at e is stale
constexpr const char* kTakeover = "handoff.takeover.v1";  // taker → owner {c, clean, e, r}
constexpr const char* kTaken = "handoff.taken.v1";        // ← {r, snapshot | none | superseded | redirect}
constexpr const char* kImport = "handoff.import.v1";      // source → target {r, items: [{s, e}...]}
constexpr const char* kImported = "handoff.imported.v1";  // ← {r, results: [{e, queued, inflight} | {error}]}
// The window's messages travel in batches: {items: [{...}, ...]}, one item per session.
constexpr const char* kRouted = "handoff.routed.v1";      // new owner → old {c, e, marks: [...]}
constexpr const char* kBarrier = "handoff.barrier.v1";    // new owner → others {c, e, old, ended}
constexpr const char* kMark = "handoff.mark.v1";          // others → old and new owner {c, e[, n | of | unreached]}
constexpr const char* kEnd = "handoff.end.v1";            // old owner → new {c, e}
constexpr const char* kEnded = "handoff.ended.v1";        // old (or new) owner → others {c, e, n: the new owner}
constexpr const char* kFlushed = "handoff.flushed.v1";    // others → new owner {c, e}
bool is_window_message(const std::string& m) {
  return m == kRouted || m == kBarrier || m == kMark || m == kEnd || m == kEnded || m == kFlushed;
}

struct BadArgs : std::runtime_error {
  using std::runtime_error::runtime_error;
};

const Json& field(const Json& a, const char* k) {
  auto it = a.find(k);
  if (it == a.end()) throw BadArgs(fmt::format("missing '{}'", k));
  return *it;
}
std::string str(const Json& a, const char* k) {
  const Json& v = field(a, k);
  if (!v.is_string()) throw BadArgs(fmt::format("'{}' is not a string", k));
  return v.get<std::string>();
}
std::uint64_t u64(const Json& a, const char* k) {
  const Json& v = field(a, k);
  if (!v.is_number_unsigned()) throw BadArgs(fmt::format("'{}' is not an unsigned integer", k));
  return v.get<std::uint64_t>();
}
bool flag(const Json& a, const char* k) {
  auto it = a.find(k);
  return it != a.end() && it->is_boolean() && it->get<bool>();
}
const Json& list(const Json& a, const char* k) {
  const Json& v = field(a, k);
  if (!v.is_array()) throw BadArgs(fmt::format("'{}' is not a list", k));
  return v;
}

Json ownership_json(const std::optional<Ownership>& o) { return o ? Json::array({o->node, o->epoch}) : Json(); }
std::optional<Ownership> ownership_of(const Json& j) {
  if (j.is_array() && j.size() == 2 && j[0].is_string() && j[1].is_number_unsigned())
    return Ownership{j[0].get<std::string>(), j[1].get<Epoch>()};
  return std::nullopt;
}

std::size_t held_messages(const core::SessionSnapshot& s) { return s.queue.size() + s.inflight.size(); }

// Roughly what a snapshot weighs on the wire: its messages dominate.
std::size_t snapshot_bytes(const core::SessionSnapshot& snap) {
  std::size_t n = 256 + snap.subscriptions.size() * 64;
  for (const auto& m : snap.queue) n += 64 + m.topic.size() + m.payload.size();
  for (const auto& i : snap.inflight) n += 64 + i.message.topic.size() + i.message.payload.size();
  return n;
}

constexpr int kMaxHops = 8;                                      // forwarding addresses followed per connect
constexpr std::chrono::seconds kForwardingLife{60};              // how long a node remembers where a session went

}  // namespace

struct SessionHandoff::Impl {
  HandoffEnv& env;
  core::Broker& broker;
  core::SessionRegistry& sessions;
  HandoffSettings s;
  ClientRegistry table;
  HandoffStats stats;
  MigrationAuditSink audit;
  std::uint64_t next_id = 1;

  // ---- what is in motion, per client id ----------------------------------------------------

  // A local CONNECT being located.
  struct Connect {
    core::ClientId c;
    bool clean = false;
    std::function<void(core::LocateResult)> done;
    std::string home;      // where the locate went
    Epoch epoch = 0;       // the ticket (0: locate not answered yet)
    std::string source;    // the node asked for the session ("" while locating)
    int hops = 0;
    util::TimePoint deadline{};
    bool answered = false; // done() called (the transfer may still go on)
    std::uint64_t at_ms = 0;  // wall clock of the CONNECT: its place among connects on other homes
  };
  // The new copy of a session that moved here, while its handoff window is open.
  struct Arriving {
    std::string from;
    Epoch epoch = 0;
    std::set<std::string> marks;    // nodes whose barrier mark has not come yet
    std::set<std::string> flushes;  // nodes whose flush (after the end) has not come yet
    bool ended = false;             // the old owner's end marker came
    std::set<std::string> barrier_to;  // every node the barrier went to
  };
  // The old copy of a session that is leaving (or left) this node.
  struct Leaving {
    std::string to;
    core::SessionPtr old;
    // migration, before the target committed
    bool frozen = false;
    core::SessionSnapshot frozen_snapshot;
    Epoch from_epoch = 0;
    std::uint64_t run = 0;
    std::uint64_t request = 0;         // the import request carrying it (answers to others are not ours)
    std::uint64_t fence = 0;           // the last fence request
    bool refused = false;              // the target refused it while a fence was under way
    bool fencing = false;
    bool target_lost = false;          // the link to the target went down since the import was sent
    // relaying, once the target owns it
    Epoch epoch = 0;
    bool routed = false;               // the new owner's route announcement reached this node
    std::set<std::string> awaited;     // barrier marks still to come
    std::set<std::string> others;      // every node the barrier went to (told when the relay ends)
    // Marks that came before `routed` (a mark can overtake the import's answer), by epoch.
    std::set<std::pair<Epoch, std::string>> early;
    bool ending = false;               // waiting for the data threads before the end marker
  };
  struct Tracked {
    std::vector<std::uint64_t> connects;  // local connects in progress, oldest first
    int attaching = 0;                    // answered connects whose connection has not attached yet
    int importing = 0;                    // migrated here, waiting for the home's commit
    Epoch attaching_epoch = 0;
    std::optional<Arriving> arriving;
    std::optional<Leaving> leaving;
    std::vector<std::function<void()>> deferred;  // requests waiting for this client id to settle
    bool idle() const {
      return connects.empty() && attaching == 0 && importing == 0 && !arriving && !leaving && deferred.empty();
    }
  };
  std::unordered_map<core::ClientId, Tracked> tracked;
  std::unordered_map<std::uint64_t, Connect> connects;
  // Where sessions that left this node went, until the registry surely knows (a connect that
  // finds the registry still naming this node is sent on).
  struct Forward {
    std::string node;
    Epoch epoch = 0;
    util::TimePoint until{};
  };
  std::unordered_map<core::ClientId, Forward> forwarding;
  std::vector<std::function<void()>> retry_next_tick;  // requests a non-home node turned away
  // Barriers this node took part in as a third node, until the old owner's relay ended. Keyed by
  // the new owner too: two homes that disagreed during a membership change may have granted the
  // same epoch to two nodes, and each window must be told apart.
  struct BarrierKey {
    core::ClientId c;
    Epoch epoch = 0;
    std::string new_owner;
    auto operator<=>(const BarrierKey&) const = default;
  };
  std::map<BarrierKey, std::string> barriers;  // → the old owner

  // ---- migrations -----------------------------------------------------------------------------

  struct Run {  // one migrate() call
    MigrationDone done;
    MigrationFailures failed;
    std::size_t remaining = 0;
  };
  std::unordered_map<std::uint64_t, Run> runs;
  struct ImportSent {  // an import request this node sent
    std::string to;
    std::vector<core::ClientId> cids;
    util::TimePoint deadline{};
    bool resolving = false;
  };
  std::map<std::uint64_t, ImportSent> imports_sent;
  struct ImportReceived {  // an import request being committed here
    std::string from;
    std::uint64_t request = 0;
    std::vector<std::optional<core::SessionSnapshot>> snaps;  // none: refused before commit
    std::vector<Epoch> from_epochs;
    std::vector<std::string> errors;
    std::vector<Epoch> granted;
    std::size_t awaiting = 0;  // commit answers still to come
    bool source_lost = false;  // the link to the source went down meanwhile
    std::uint64_t rehomes_at = 0;  // membership changes seen when the commits were asked for
  };
  std::unordered_map<std::uint64_t, ImportReceived> imports_received;
  std::uint64_t rehomes = 0;  // membership changes handled (rehome)
  struct CommitSent {
    std::uint64_t import = 0;
    std::string home;
    std::vector<std::size_t> items;
  };
  std::unordered_map<std::uint64_t, CommitSent> commits_sent;
  struct FenceSent {
    core::ClientId c;
    std::string home;
    Epoch epoch = 0;
  };
  std::unordered_map<std::uint64_t, FenceSent> fences_sent;

  static std::string describe(const Tracked& t) {
    std::string out = fmt::format("connects={} attaching={} importing={}", t.connects.size(), t.attaching, t.importing);
    if (t.arriving)
      out += fmt::format(" arriving(from={} e={} ended={} marks={} flushes={})", t.arriving->from, t.arriving->epoch,
                         t.arriving->ended, t.arriving->marks.size(), t.arriving->flushes.size());
    if (t.leaving)
      out += fmt::format(" leaving(to={} frozen={} e={} routed={} awaited={} ending={})", t.leaving->to, t.leaving->frozen,
                         t.leaving->epoch, t.leaving->routed, t.leaving->awaited.size(), t.leaving->ending);
    return out + fmt::format(" deferred={}", t.deferred.size());
  }

  // ---- batching ---------------------------------------------------------------------------------

  // Window messages wait here until the current event is handled, then leave one per (node,
  // method). Sending later than asked is always safe: each of them only has to come after
  // something that was sent before it was asked for.
  std::map<std::pair<std::string, std::string>, Json> outbox;
  void window(const std::string& node, const char* method, Json item) {
    auto [it, _] = outbox.try_emplace({node, method}, Json::array());
    it->second.push_back(std::move(item));
  }
  void flush_window() {
    for (auto& [key, items] : std::exchange(outbox, {})) env.send(key.first, key.second, Json{{"items", std::move(items)}});
  }

  // One wait for the data threads serves every request made before it started; requests made
  // while one is under way wait for the next.
  std::vector<std::function<void()>> quiesce_covered, quiesce_next;
  bool quiescing = false;
  void after_data_threads(std::function<void()> then) {
    quiesce_next.push_back(std::move(then));
    if (!quiescing) start_quiesce();
  }
  void start_quiesce() {
    quiescing = true;
    quiesce_covered = std::exchange(quiesce_next, {});
    env.quiesce([this] {
      auto ready = std::exchange(quiesce_covered, {});
      quiescing = false;
      for (auto& f : ready) f();
      if (!quiesce_next.empty()) start_quiesce();
      flush_window();
    });
  }

  Impl(HandoffEnv& e, core::Broker& b, HandoffSettings settings)
      : env(e), broker(b), sessions(b.registry()), s(settings), table([&e] { return e.wall_ms(); }) {}

  const std::string& self() const { return env.self(); }
  std::string home(const core::ClientId& c) const { return home_of(c, env.running()); }
  Tracked& track(const core::ClientId& c) { return tracked[c]; }
  Tracked* find(const core::ClientId& c) {
    auto it = tracked.find(c);
    return it == tracked.end() ? nullptr : &it->second;
  }
  void settle(const core::ClientId& c) {
    auto it = tracked.find(c);
    if (it == tracked.end()) return;
    if (!it->second.deferred.empty()) {
      auto ready = std::move(it->second.deferred);
      it->second.deferred.clear();
      for (auto& f : ready) f();  // may defer again
      it = tracked.find(c);
      if (it == tracked.end()) return;
    }
    if (it->second.idle()) tracked.erase(it);
  }

  // ---- local CONNECT ---------------------------------------------------------------------------

  void connect(const core::ClientId& c, bool clean, std::function<void(core::LocateResult)> done) {
    const std::uint64_t id = next_id++;
    Connect& k = connects[id];
    k.c = c;
    k.clean = clean;
    k.done = std::move(done);
    k.home = home(c);
    k.deadline = env.now() + s.rpc_timeout;
    k.at_ms = env.wall_ms();
    track(c).connects.push_back(id);
    env.send(k.home, kLocate, Json{{"c", c}, {"n", self()}, {"r", id}, {"at", k.at_ms}});
  }

  void on_located(const Json& a) {
    auto it = connects.find(u64(a, "r"));
    if (it == connects.end()) return;
    if (flag(a, "not_home")) {
      retry_next_tick.push_back([this, id = it->first] { relocate(id); });
      return;
    }
    it->second.epoch = u64(a, "t");
    located(it->first, ownership_of(a.value("holder", Json())));
  }

  void located(std::uint64_t id, const std::optional<Ownership>& holder) {
    auto it = connects.find(id);
    if (it == connects.end()) return;
    Connect& k = it->second;
    const core::ClientId c = k.c;
    Tracked& t = track(c);
    if (!holder) return keep_here(id);  // nobody holds it: fresh here (or a copy here the registry lost)
    if (holder->node == self()) {
      if (t.importing > 0) return keep_here(id);  // a migration is bringing it: keep_here waits
      if (t.leaving && t.leaving->frozen) {
        // This connect's ticket has fenced the pending migration: the session stays.
        supersede_frozen(c, t, "the client reconnected here");
        return keep_here(id);
      }
      if (sessions.epoch_of(c)) return keep_here(id);
      // Not here although the registry says so: an earlier connect here may be bringing it, or
      // it left for a node that has not committed yet.
      if (wait_for_earlier(id, [this, id, holder] { located(id, holder); })) return;
      if (auto f = forwarding.find(c); f != forwarding.end()) return ask(id, f->second.node);
      return keep_here(id);
    }
    if (k.answered) {
      // The connection gave up before its locate was answered: nobody waits for the session here,
      // and taking it over now would pull an old copy away from wherever the client went since.
      env.note(fmt::format("CONNECT of {} gave up before it was located: no takeover from {}", c, holder->node));
      return answer(id, std::nullopt);
    }
    if (!env.is_running(holder->node)) {
      // The home still names a node this one cannot reach: whether its sessions died with it is
      // the home's call (it forgets them when it sees the node down). Until then: try again later.
      return refuse(id, "its holder " + holder->node + " is not reachable from here");
    }
    ask(id, holder->node);
  }

  void relocate(std::uint64_t id) {
    auto it = connects.find(id);
    if (it == connects.end()) return;
    Connect& k = it->second;
    if (++k.hops > kMaxHops) return refuse(id, "too many hops");
    k.epoch = 0;
    k.source.clear();
    k.home = home(k.c);
    env.send(k.home, kLocate, Json{{"c", k.c}, {"n", self()}, {"r", id}, {"at", k.at_ms}});
  }

  // Asks `node` for the session (at most a few hops along forwarding addresses).
  void ask(std::uint64_t id, const std::string& node) {
    Connect& k = connects.at(id);
    if (++k.hops > kMaxHops) return refuse(id, "too many hops");
    k.source = node;
    const core::ClientId c = k.c;
    env.send(node, kTakeover, Json{{"c", c}, {"clean", k.clean}, {"e", k.epoch}, {"r", id}});
    settle(c);  // takeover requests that waited for this connect's ticket can be answered now
  }

  // The connect keeps the session here (brought here, found here, or fresh): it holds it from now
  // on at its ticket, and the home is told.
  void keep_here(std::uint64_t id) {
    Connect& k = connects.at(id);
    if (Tracked* t = find(k.c); t && t->importing > 0) {
      // A migration is bringing it here: the connect takes it once it is in.
      t->deferred.push_back([this, id] {
        if (connects.count(id)) keep_here(id);
      });
      return;
    }
    if (Tracked* t = find(k.c); t && t->leaving && t->leaving->frozen) {
      // Our copy is being migrated and the registry names another node: once the migration is
      // settled, locate the session again.
      t->deferred.push_back([this, id] { relocate(id); });
      return;
    }
    const auto mine = sessions.epoch_of(k.c);
    if (!mine && k.answered) {
      // The connection gave up meanwhile: no session will be created here, so this node must not
      // claim one (it would fence a connect that did get a session elsewhere).
      return answer(id, std::nullopt);
    }
    if (mine && *mine < k.epoch) sessions.set_epoch(k.c, k.epoch);  // never backwards
    forwarding.erase(k.c);
    env.send(home(k.c), kOwned, Json{{"c", k.c}, {"n", self()}, {"e", k.epoch}});
    answer(id, std::nullopt);
  }

  // An earlier connect here may still be bringing the session from elsewhere: then `retry` waits
  // for it (and true is returned).
  bool wait_for_earlier(std::uint64_t id, std::function<void()> retry) {
    const Connect& k = connects.at(id);
    Tracked& t = track(k.c);
    for (std::uint64_t other : t.connects) {
      const Connect& o = connects.at(other);
      if (other != id && o.epoch != 0 && o.epoch < k.epoch && !o.source.empty()) {
        t.deferred.push_back(std::move(retry));
        return true;
      }
    }
    return false;
  }

  // A takeover request from a connect on `from` with ticket e.
  void on_takeover(const std::string& from, const Json& a) {
    take_over(from, str(a, "c"), flag(a, "clean"), u64(a, "e"), u64(a, "r"));
  }

  void take_over(const std::string& from, const core::ClientId& c, bool clean, Epoch e, std::uint64_t r) {
    auto reply = [&](Json body) {
      body["r"] = r;
      body["c"] = c;
      env.send(from, kTaken, std::move(body));
    };
    auto superseded = [&] {
      ++stats.stale_requests;
      reply(Json{{"superseded", true}});
    };
    if (!env.is_running(from)) return;
    Tracked& t = track(c);
    auto retry = [this, from, c, clean, e, r] { take_over(from, c, clean, e, r); };
    // Local connects of the same client id: a newer one wins; wait for an older one to attach,
    // so that there is a session to hand over (and exactly one connection survives: the newest).
    for (std::uint64_t id : t.connects) {
      const Connect& k = connects.at(id);
      if (k.epoch == 0) return t.deferred.push_back(retry);
      if (k.epoch > e) return superseded();
    }
    if (t.attaching > 0 && t.attaching_epoch > e) return superseded();
    // Wait while a session is being attached, arriving, or committed here by a migration, and
    // while an earlier copy given away from here still relays (a node relays one copy at a time).
    if (!t.connects.empty() || t.attaching > 0 || t.arriving || t.importing > 0 || (t.leaving && !t.leaving->frozen)) {
      env.note(fmt::format("takeover of {} for {} waits: {}", c, from, describe(t)));
      return t.deferred.push_back(retry);
    }
    if (t.leaving && t.leaving->frozen) {
      if (t.leaving->from_epoch > e) return superseded();  // an older connect than the one that holds it
      // A migration of this session is pending; this connect's ticket has fenced it.
      Leaving& l = *t.leaving;
      auto x = sessions.give_away_frozen(l.old, std::move(l.frozen_snapshot), clean, env.relay_to(from, c));
      broker.publish_all(x.wills);
      fail_migration_item(c, t, "the client reconnected on " + from);
      ++stats.migrations_superseded;
      t.leaving.reset();
      if (x.snapshot) begin_relay(t, from, e, x.old);
      forwarding[c] = Forward{from, e, env.now() + kForwardingLife};
      ++stats.takeovers_out;
      reply(x.snapshot ? Json{{"snapshot", *x.snapshot}} : Json{{"none", true}});
      if (x.old) x.old->open_relay();  // the snapshot is ahead of every relayed delivery now
      return settle(c);
    }
    if (auto mine = sessions.epoch_of(c)) {
      if (*mine > e) {
        superseded();
        return settle(c);
      }
      auto x = sessions.give_away(c, clean, env.relay_to(from, c));
      broker.publish_all(x.wills);
      if (x.snapshot) {
        begin_relay(t, from, e, x.old);
        ++stats.takeovers_out;
      }
      forwarding[c] = Forward{from, e, env.now() + kForwardingLife};
      reply(x.snapshot ? Json{{"snapshot", *x.snapshot}} : Json{{"none", true}});
      if (x.old) x.old->open_relay();  // the snapshot is ahead of every relayed delivery now
      return settle(c);
    }
    // Not here: if it left recently, the registry may not know yet where it went.
    if (auto f = forwarding.find(c); f != forwarding.end()) {
      if (f->second.epoch > e)
        superseded();
      else
        reply(Json{{"redirect", f->second.node}});
      return settle(c);
    }
    reply(Json{{"none", true}});
    settle(c);
  }

  void on_taken(const std::string& from, const Json& a) {
    auto it = connects.find(u64(a, "r"));
    if (it == connects.end()) return;
    Connect& k = it->second;
    if (k.source != from) return;
    const std::uint64_t id = it->first;
    if (flag(a, "superseded")) return refuse(id, "a newer connect of the same client id on " + from + " wins");
    if (a.contains("redirect")) {
      const std::string to = str(a, "redirect");
      if (to == self()) return keep_here(id);  // it came here (an earlier connect of ours took it)
      if (!env.is_running(to)) return keep_here(id);
      return ask(id, to);
    }
    const auto snap_it = a.find("snapshot");
    if (snap_it == a.end() || !snap_it->is_object()) {
      // Not there: but an earlier connect here may be bringing it.
      k.source.clear();
      std::function<void()> retry = [this, id] {
        if (connects.count(id) && !wait_for_earlier(id, [this, id] { keep_here(id); })) keep_here(id);
      };
      if (!wait_for_earlier(id, retry)) keep_here(id);
      return;
    }
    core::SessionSnapshot snap;
    try {
      snap = snap_it->get<core::SessionSnapshot>();
    } catch (const std::exception&) {
      ++stats.bad_messages;
      return refuse(id, "bad snapshot from " + from);
    }
    Tracked& t = track(k.c);
    if (t.arriving && t.arriving->epoch < k.epoch) {
      // An older copy is still arriving: once its window closed, this one replaces it.
      t.deferred.push_back([this, from, a] { on_taken(from, a); });
      return;
    }
    const auto mine = sessions.epoch_of(k.c);
    if (t.arriving || (mine && *mine > k.epoch)) {
      // A newer copy is here already (the client was told its session was gone, or took it by
      // another way): this one is dropped, and its old node is released at once.
      ++stats.stale_copies_discarded;
      window(from, kRouted, Json{{"c", k.c}, {"e", k.epoch}, {"marks", Json::array()}});
      return refuse(id, "a newer copy is here already");
    }
    if (t.leaving && t.leaving->frozen) {
      // Our copy is older than the one that came (it was being migrated): it is stale.
      Leaving& l = *t.leaving;
      const Epoch stale_epoch = l.from_epoch;
      sessions.thaw(l.old, std::move(l.frozen_snapshot), stale_epoch);
      fail_migration_item(k.c, t, "a newer copy of the session came to this node");
      t.leaving.reset();
      discard_stale(k.c, stale_epoch);
    } else if (mine) {
      discard_stale(k.c, *mine);  // ours is older
    }
    if (!arrive(k.c, t, std::move(snap), from, k.epoch)) {
      window(from, kRouted, Json{{"c", k.c}, {"e", k.epoch}, {"marks", Json::array()}});  // release its relay
      return refuse(id, "the session could not be imported");
    }
    ++stats.takeovers_in;
    keep_here(id);
  }

  void refuse(std::uint64_t id, const std::string& why) {
    if (auto it = connects.find(id); it != connects.end())
      env.note(fmt::format("CONNECT of {} refused (0x88): {}", it->second.c, why));
    answer(id, mqtt::rc::server_unavailable);
  }

  // Answers a local connect (once) and forgets it; its connection then attaches.
  void answer(std::uint64_t id, std::optional<std::uint8_t> refuse) {
    auto it = connects.find(id);
    if (it == connects.end()) return;
    Connect k = std::move(it->second);
    connects.erase(it);
    Tracked& t = track(k.c);
    std::erase(t.connects, id);
    if (!k.answered) {
      core::LocateResult res;
      res.refuse = refuse;
      res.epoch = k.epoch;
      if (!refuse) {
        ++t.attaching;
        t.attaching_epoch = std::max(t.attaching_epoch, k.epoch);
        res.until_attached = std::shared_ptr<void>(nullptr, [this, &env = env, c = k.c](void*) {
          env.post([this, c] { attached(c); });
        });
      } else {
        ++stats.connects_refused;
      }
      k.done(std::move(res));
    }
    settle(k.c);
  }

  void attached(const core::ClientId& c) {
    Tracked* t = find(c);
    if (!t || t->attaching == 0) return;
    if (--t->attaching == 0) t->attaching_epoch = 0;
    settle(c);
    flush_window();
  }

  // ---- the handoff window ------------------------------------------------------------------

  // The new copy: imported with a gate, then announced (routes first, then the barrier).
  bool arrive(const core::ClientId& c, Tracked& t, core::SessionSnapshot snap, const std::string& from, Epoch epoch) {
    std::set<std::string> marks;
    for (const auto& n : env.running())
      if (n != self() && n != from) marks.insert(n);
    std::vector<core::NodeIndex> awaiting;
    for (const auto& n : marks) awaiting.push_back(env.index_of(n));
    std::string error;
    if (!sessions.import_moved(snap, epoch, env.index_of(from), std::move(awaiting), &error)) return false;
    t.arriving = Arriving{from, epoch, marks, marks, false, marks};
    env.flush_routes();
    // Publishes that matched before the session was subscribed here may still be on their way to
    // the old copy only: the announcement waits for them.
    after_data_threads([this, c, from, epoch, marks] {
      Tracked* t = find(c);
      if (!t || !t->arriving || t->arriving->epoch != epoch) return;
      if (env.is_running(from)) {
        Json names = Json::array();
        for (const auto& n : marks) names.push_back(n);
        window(from, kRouted, Json{{"c", c}, {"e", epoch}, {"marks", std::move(names)}});
      }
      // If the old owner relays no more already, the third nodes need not wait for its `ended`.
      const bool ended = t->arriving->ended;
      for (const auto& n : t->arriving->marks)
        if (env.is_running(n)) window(n, kBarrier, Json{{"c", c}, {"e", epoch}, {"old", from}, {"ended", ended}});
    });
    return true;
  }

  enum class WindowEvent { mark, end, flushed };
  void gate_event(const core::ClientId& c, Tracked& t, WindowEvent ev, const std::string& node) {
    Arriving& w = *t.arriving;
    core::HandoffGate::Outcome out{true};
    if (auto session = sessions.find(c)) {
      switch (ev) {
        case WindowEvent::mark: out = session->handoff_mark(env.index_of(node)); break;
        case WindowEvent::end: out = session->handoff_end(); break;
        case WindowEvent::flushed: out = session->handoff_flushed(env.index_of(node)); break;
      }
    }
    stats.duplicates_dropped += out.duplicates_dropped;
    stats.copies_dropped += out.copies_dropped;
    switch (ev) {
      case WindowEvent::mark: w.marks.erase(node); break;
      case WindowEvent::end: w.ended = true; break;
      case WindowEvent::flushed: w.flushes.erase(node); break;
    }
    if (w.ended && w.marks.empty() && w.flushes.empty()) {
      t.arriving.reset();
      ++stats.windows_closed;
      settle(c);
    }
  }

  // The old copy: relays to `to` until the new owner's routes are everywhere.
  void begin_relay(Tracked& t, const std::string& to, Epoch epoch, core::SessionPtr old) {
    Leaving l;
    l.to = to;
    l.old = std::move(old);
    l.epoch = epoch;
    t.leaving = std::move(l);
  }

  void on_routed(const std::string& from, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    Tracked* t = find(c);
    if (!t || !t->leaving || t->leaving->frozen || t->leaving->to != from || t->leaving->epoch != e) return;
    Leaving& l = *t->leaving;
    l.routed = true;
    for (const auto& m : list(a, "marks")) {
      if (!m.is_string()) continue;
      l.others.insert(m.get<std::string>());
      if (!l.early.contains({e, m.get<std::string>()}) && env.is_running(m.get<std::string>()))
        l.awaited.insert(m.get<std::string>());
    }
    l.early.clear();
    maybe_end_relay(c, *t);
  }

  void on_mark(const std::string& sender, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    // The new owner speaks for a node it lost its link to ("of"): that node cannot route to it,
    // so there is nothing more to wait for from it.
    const std::string from = a.contains("of") ? str(a, "of") : sender;
    // Whose window the mark is about: a third node names the new owner ("n").
    const std::string owner = a.contains("of") ? sender : a.contains("n") ? str(a, "n") : sender;
    Tracked* t = find(c);
    if (!t) return;
    if (t->leaving && t->leaving->to == owner && (t->leaving->frozen || t->leaving->epoch == e)) {
      Leaving& l = *t->leaving;
      if (l.routed) {
        l.awaited.erase(from);
        maybe_end_relay(c, *t);
      } else {
        l.early.insert({e, from});
      }
    }
    t = find(c);
    if (t && t->arriving && t->arriving->epoch == e) {
      // Also after its mark came: a node that lost its link to the old owner later says so again.
      if (flag(a, "unreached") && env.is_running(t->arriving->from))
        window(t->arriving->from, kMark, Json{{"c", c}, {"e", e}, {"of", from}});
      if (t->arriving->marks.contains(from)) gate_event(c, *t, WindowEvent::mark, from);
    }
  }

  void maybe_end_relay(const core::ClientId& c, Tracked& t) {
    Leaving& l = *t.leaving;
    if (!l.routed || !l.awaited.empty() || l.ending) return;
    l.ending = true;
    // Publishes here that matched before the new owner's routes arrived relay through the old
    // copy: they must have finished before it stops.
    after_data_threads([this, c, epoch = l.epoch] {
      Tracked* t = find(c);
      if (!t || !t->leaving || t->leaving->epoch != epoch || !t->leaving->ending) return;
      Leaving& l = *t->leaving;
      const std::string to = l.to;
      sessions.end_relay(l.old);
      // Every relayed delivery of this copy is on the link already: the end marker follows them.
      if (env.is_running(to)) window(to, kEnd, Json{{"c", c}, {"e", epoch}});
      tell_ended(c, epoch, to, l.others);
      ++stats.relays_ended;
      t->leaving.reset();
      settle(c);
    });
  }

  // The relay stopped (or its new node went down): the third nodes flush to the new node.
  void tell_ended(const core::ClientId& c, Epoch epoch, const std::string& new_owner, const std::set<std::string>& others) {
    for (const auto& n : others)
      if (env.is_running(n)) window(n, kEnded, Json{{"c", c}, {"e", epoch}, {"n", new_owner}});
  }

  void on_end(const std::string& from, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    Tracked* t = find(c);
    if (!t || !t->arriving || t->arriving->epoch != e || t->arriving->from != from || t->arriving->ended) return;
    // The third nodes may not hear it from the old owner (no link to it): tell them too.
    for (const auto& x : t->arriving->flushes)
      if (env.is_running(x)) window(x, kEnded, Json{{"c", c}, {"e", e}, {"n", self()}});
    gate_event(c, *t, WindowEvent::end, from);
  }

  void on_flushed(const std::string& from, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    Tracked* t = find(c);
    if (!t || !t->arriving || t->arriving->epoch != e || !t->arriving->flushes.contains(from)) return;
    gate_event(c, *t, WindowEvent::flushed, from);
  }

  // A third node: the new owner's routes are here (they came before the barrier).
  void on_barrier(const std::string& from, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    const std::string old = str(a, "old");
    const bool ended = flag(a, "ended");
    if (!ended) barriers[BarrierKey{c, e, from}] = old;
    // Publishes in progress here may still use the route table from before the new owner's
    // routes: the marks follow them. Without a link to the old owner, the new owner passes the
    // mark on for this node.
    after_data_threads([this, c, e, old, ended, to = from] {
      const bool reached = env.is_running(old);
      if (reached) window(old, kMark, Json{{"c", c}, {"e", e}, {"n", to}});
      if (!env.is_running(to)) return;
      window(to, kMark, Json{{"c", c}, {"e", e}, {"unreached", !reached}});
      if (ended) window(to, kFlushed, Json{{"c", c}, {"e", e}});
    });
  }

  // A third node: the old owner relays no more, so whatever this node sent it is relayed or
  // dropped; after the publishes in progress, tell the new owner that no direct copy of a relayed
  // message can still be on its way from here.
  void on_ended(const std::string& from, const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    auto it = barriers.find(BarrierKey{c, e, a.contains("n") ? str(a, "n") : from});
    // From the old owner, or from the new one when the old one went down.
    if (it == barriers.end() || (it->second != from && it->first.new_owner != from)) return;
    flush_to_new_owner(it);
  }

  void flush_to_new_owner(std::map<BarrierKey, std::string>::iterator it) {
    const core::ClientId c = it->first.c;
    const Epoch e = it->first.epoch;
    const std::string to = it->first.new_owner;
    barriers.erase(it);
    after_data_threads([this, c, e, to] {
      if (env.is_running(to)) window(to, kFlushed, Json{{"c", c}, {"e", e}});
    });
  }

  // ---- migration: source side --------------------------------------------------------------

  void migrate(std::vector<core::ClientId> cids, const std::string& to, MigrationDone done) {
    const std::uint64_t run_id = next_id++;
    Run& run = runs[run_id];
    run.done = std::move(done);
    run.remaining = cids.size() + 1;  // +1 until every request is out
    Outgoing out{to};
    for (auto& c : cids) migrate_one(run_id, c, out);
    send_import(out);
    finish_run_item(run_id);
  }

  // An import request being put together.
  struct Outgoing {
    std::string to;
    std::vector<core::ClientId> cids;
    Json items = Json::array();
    std::size_t bytes = 0;
  };

  void send_import(Outgoing& out) {
    if (out.cids.empty()) return;
    const std::uint64_t r = next_id++;
    for (const auto& c : out.cids)
      if (Tracked* t = find(c); t && t->leaving && t->leaving->frozen) t->leaving->request = r;
    imports_sent[r] = ImportSent{out.to, std::move(out.cids), env.now() + s.rpc_timeout, false};
    env.send(out.to, kImport, Json{{"r", r}, {"items", std::move(out.items)}});
    out = Outgoing{out.to};
  }

  void fail_item(std::uint64_t run_id, const core::ClientId& c, std::string why) {
    ++stats.migrations_failed;
    if (auto it = runs.find(run_id); it != runs.end()) it->second.failed.emplace_back(c, std::move(why));
    finish_run_item(run_id);
  }

  // Freezes one session into `out` (sent when it is full), or reports why not.
  void migrate_one(std::uint64_t run_id, const core::ClientId& c, Outgoing& out) {
    if (out.to == self()) return fail_item(run_id, c, "the session is already on " + out.to);
    if (!env.is_running(out.to)) return fail_item(run_id, c, "node " + out.to + " is not running");
    if (Tracked* t = find(c); t && !t->idle()) {
      // Something is under way for it (an earlier migration, a connect): try once it settled.
      t->deferred.push_back([this, run_id, c, to = out.to] {
        if (!sessions.epoch_of(c)) return finish_run_item(run_id);  // it left meanwhile: moved, not by us
        Outgoing later{to};
        migrate_one(run_id, c, later);
        send_import(later);
      });
      return;
    }
    const auto epoch = sessions.epoch_of(c);
    auto x = sessions.freeze(c);
    if (!x.snapshot) return fail_item(run_id, c, x.error.empty() ? "nothing to migrate" : x.error);
    Leaving l;
    l.to = out.to;
    l.old = x.old;
    l.frozen = true;
    l.from_epoch = epoch.value_or(0);
    l.run = run_id;
    out.bytes += snapshot_bytes(*x.snapshot);
    out.items.push_back(Json{{"s", *x.snapshot}, {"e", l.from_epoch}});
    l.frozen_snapshot = std::move(*x.snapshot);
    track(c).leaving = std::move(l);
    out.cids.push_back(c);
    if (out.bytes >= s.migration_request_bytes) send_import(out);
  }

  void finish_run_item(std::uint64_t run_id) {
    auto it = runs.find(run_id);
    if (it == runs.end()) return;
    if (--it->second.remaining > 0) return;
    Run run = std::move(it->second);
    runs.erase(it);
    run.done(std::move(run.failed));
  }

  void fail_migration_item(const core::ClientId& c, Tracked& t, const std::string& why) {
    if (!t.leaving || !t.leaving->frozen) return;
    fail_item(t.leaving->run, c, why);
  }

  // A frozen copy whose migration can no longer commit (a local connect located it).
  void supersede_frozen(const core::ClientId& c, Tracked& t, const std::string& why) {
    Leaving& l = *t.leaving;
    sessions.thaw(l.old, std::move(l.frozen_snapshot), l.from_epoch);
    fail_migration_item(c, t, why);
    ++stats.migrations_superseded;
    t.leaving.reset();
  }

  void on_imported(const std::string& from, const Json& a) {
    auto it = imports_sent.find(u64(a, "r"));
    if (it == imports_sent.end() || it->second.to != from) {
      // An answer to a request this node gave up on (its link to the target went down and came
      // back): whatever the target committed waits for an end marker; nothing will be relayed.
      if (a.contains("results") && a["results"].is_array())
        for (const auto& r : a["results"])
          if (r.is_object() && r.contains("c") && r["c"].is_string() && r.contains("e") && r["e"].is_number_unsigned())
            window(from, kEnd, Json{{"c", r["c"]}, {"e", r["e"]}});
      return;
    }
    const std::uint64_t request = it->first;
    ImportSent req = std::move(it->second);
    imports_sent.erase(it);
    const Json* results = a.contains("results") && a["results"].is_array() ? &a["results"] : nullptr;
    for (std::size_t i = 0; i < req.cids.size(); ++i) {
      const core::ClientId& c = req.cids[i];
      Tracked* t = find(c);
      const Json* r = results && i < results->size() ? &(*results)[i] : nullptr;
      if (!t || !t->leaving || !t->leaving->frozen || t->leaving->to != from || t->leaving->request != request) {
        // Resolved already (the copy went to a connect instead, or was fenced): if the target
        // committed all the same, its window waits for this node's end marker. Nothing follows.
        if (r && r->is_object() && r->contains("e") && (*r)["e"].is_number_unsigned())
          window(from, kEnd, Json{{"c", c}, {"e", (*r)["e"].get<Epoch>()}});
        continue;
      }
      if (r && r->is_object() && r->contains("e") && (*r)["e"].is_number_unsigned()) {
        commit_migration(c, *t, (*r)["e"].get<Epoch>(), r->value("queued", std::size_t{0}) + r->value("inflight", std::size_t{0}));
      } else if (t->leaving->fencing) {
        // A fence is under way: its answer decides the epoch this copy goes on with.
        t->leaving->refused = true;
      } else {
        const std::string why = r && r->is_object() ? r->value("error", std::string("import failed")) : "malformed import reply";
        Leaving& l = *t->leaving;
        const Epoch epoch = l.from_epoch;
        sessions.thaw(l.old, std::move(l.frozen_snapshot), epoch);
        fail_migration_item(c, *t, why);
        t->leaving.reset();
        reregister(c, epoch);  // if the session moved on meanwhile, the home answers that this copy is stale
      }
      settle(c);
    }
  }

  void commit_migration(const core::ClientId& c, Tracked& t, Epoch epoch, std::size_t held_after) {
    Leaving& l = *t.leaving;
    const std::size_t held_before = held_messages(l.frozen_snapshot);
    sessions.relay_frozen(l.old, env.relay_to(l.to, c));
    if (audit) audit(c, l.to, held_before, held_after);
    ++stats.migrations_out;
    const std::uint64_t run = l.run;
    const std::string to = l.to;
    core::SessionPtr old = l.old;
    auto early = std::move(l.early);
    forwarding[c] = Forward{to, epoch, env.now() + kForwardingLife};
    t.leaving.reset();
    begin_relay(t, to, epoch, std::move(old));
    t.leaving->early = std::move(early);
    finish_run_item(run);
  }

  // No answer in time: ask the home to fence the pending commit, keeping the session here.
  void resolve_overdue(ImportSent& req) {
    req.resolving = true;
    for (const auto& c : req.cids) {
      Tracked* t = find(c);
      if (!t || !t->leaving || !t->leaving->frozen || t->leaving->fencing) continue;
      ask_fence(c, *t);
    }
  }

  void ask_fence(const core::ClientId& c, Tracked& t) {
    t.leaving->fencing = true;
    const std::uint64_t r = next_id++;
    t.leaving->fence = r;
    const std::string h = home(c);
    fences_sent[r] = FenceSent{c, h, t.leaving->from_epoch};
    env.send(h, kFence, Json{{"c", c}, {"n", self()}, {"e", t.leaving->from_epoch}, {"r", r}});
  }

  void on_fenced(const Json& a) {
    auto it = fences_sent.find(u64(a, "r"));
    if (it == fences_sent.end()) return;
    const std::uint64_t it_id = it->first;
    FenceSent f = std::move(it->second);
    fences_sent.erase(it);
    Tracked* t = find(f.c);
    if (!t || !t->leaving || !t->leaving->frozen || t->leaving->fence != it_id) return;  // another attempt's
    Leaving& l = *t->leaving;
    l.fencing = false;
    if (flag(a, "not_home")) {
      retry_next_tick.push_back([this, c = f.c] {
        if (Tracked* t = find(c); t && t->leaving && t->leaving->frozen && !t->leaving->fencing) ask_fence(c, *t);
      });
      return;
    }
    const Epoch granted = u64(a, "e");
    if (granted == 0) {
      // The session moved on (the target committed, or a connect took it). With the link to the
      // target intact, its answer (or a takeover request) will settle it; if the link went down
      // since, that answer may be lost: the copy becomes the session again and the home decides
      // (a newer holder makes it stale).
      if (l.refused)
        keep_frozen(f.c, *t, "node " + l.to + " refused it");
      else if (!env.is_running(l.to) || l.target_lost)
        keep_frozen(f.c, *t, "node " + l.to + " went down before the migration was confirmed");
      return;
    }
    sessions.thaw(l.old, std::move(l.frozen_snapshot), granted);
    env.note(fmt::format("migration of {} to {}: no answer in time, fenced at the home; it stays here", f.c, l.to));
    fail_migration_item(f.c, *t, "node " + l.to + " did not answer in time; the session stays here");
    ++stats.migrations_fenced;
    t->leaving.reset();
    // The home that fenced may have handed its entries over since (a node came back) while this
    // copy, frozen, was left out of this node's own announcement: tell the home now.
    reregister(f.c, granted);
    settle(f.c);
  }

  // The migration cannot be confirmed and the home would not fence it (a connect located the
  // session meanwhile, or the target had committed and went down, or refused it after the
  // timeout): this copy is the best that is left. It becomes the session again and re-registers,
  // and the epochs sort out any copy that comes back.
  void keep_frozen(const core::ClientId& c, Tracked& t, const std::string& why) {
    Leaving& l = *t.leaving;
    const Epoch epoch = l.from_epoch;
    sessions.thaw(l.old, std::move(l.frozen_snapshot), epoch);
    fail_migration_item(c, t, why);
    t.leaving.reset();
    reregister(c, epoch);
    settle(c);
  }

  // ---- migration: target side ----------------------------------------------------------------

  void on_import(const std::string& from, const Json& a) {
    const std::uint64_t r = u64(a, "r");
    const Json& items = list(a, "items");
    const std::uint64_t id = next_id++;
    ImportReceived& in = imports_received[id];
    in.from = from;
    in.request = r;
    in.rehomes_at = rehomes;
    in.snaps.resize(items.size());
    in.from_epochs.resize(items.size(), 0);
    in.errors.resize(items.size());
    in.granted.resize(items.size(), 0);
    std::map<std::string, Json> by_home;
    std::map<std::string, std::vector<std::size_t>> index_by_home;
    for (std::size_t i = 0; i < items.size(); ++i) {
      try {
        auto snap = items[i].at("s").get<core::SessionSnapshot>();
        const Epoch e = items[i].at("e").get<Epoch>();
        Tracked* t = find(snap.client_id);
        if (t && !t->idle()) {
          in.errors[i] = "the session is moving here already";
          continue;
        }
        const std::string h = home(snap.client_id);
        ++track(snap.client_id).importing;
        by_home[h].push_back(Json::array({snap.client_id, from, e}));
        index_by_home[h].push_back(i);
        in.from_epochs[i] = e;
        in.snaps[i] = std::move(snap);
      } catch (const std::exception& ex) {
        ++stats.bad_messages;
        in.errors[i] = std::string("bad snapshot: ") + ex.what();
      }
    }
    for (auto& [h, list_items] : by_home) {
      const std::uint64_t cr = next_id++;
      commits_sent[cr] = CommitSent{id, h, std::move(index_by_home[h])};
      ++in.awaiting;
      env.send(h, kCommit, Json{{"n", self()}, {"r", cr}, {"items", std::move(list_items)}});
    }
    if (in.awaiting == 0) finish_import(id);
  }

  void on_committed(const Json& a) {
    auto it = commits_sent.find(u64(a, "r"));
    if (it == commits_sent.end()) return;
    CommitSent cs = std::move(it->second);
    commits_sent.erase(it);
    const Json& epochs = list(a, "epochs");
    auto in_it = imports_received.find(cs.import);
    if (in_it == imports_received.end()) return;
    ImportReceived& in = in_it->second;
    for (std::size_t k = 0; k < cs.items.size(); ++k) {
      const std::size_t i = cs.items[k];
      const Epoch e = k < epochs.size() && epochs[k].is_number_unsigned() ? epochs[k].get<Epoch>() : 0;
      if (e == 0)
        in.errors[i] = "the session moved on before the migration committed";
      else
        in.granted[i] = e;
    }
    if (--in.awaiting == 0) finish_import(cs.import);
  }

  void commit_failed(std::uint64_t commit_id, const std::string& why) {
    auto it = commits_sent.find(commit_id);
    if (it == commits_sent.end()) return;
    CommitSent cs = std::move(it->second);
    commits_sent.erase(it);
    auto in_it = imports_received.find(cs.import);
    if (in_it == imports_received.end()) return;
    for (std::size_t i : cs.items) in_it->second.errors[i] = why;
    if (--in_it->second.awaiting == 0) finish_import(cs.import);
  }

  void finish_import(std::uint64_t id) {
    auto it = imports_received.find(id);
    if (it == imports_received.end()) return;
    ImportReceived in = std::move(it->second);
    imports_received.erase(it);
    Json results = Json::array();
    for (std::size_t i = 0; i < in.snaps.size(); ++i) {
      if (in.snaps[i]) {
        Tracked& t = track(in.snaps[i]->client_id);
        if (t.importing > 0) --t.importing;
      }
      if (in.granted[i] == 0 || !in.snaps[i]) {
        if (in.snaps[i]) settle(in.snaps[i]->client_id);
        results.push_back(Json{{"error", in.errors[i].empty() ? std::string("import refused") : in.errors[i]}});
        continue;
      }
      const core::ClientId c = in.snaps[i]->client_id;
      Tracked& t = track(c);
      if (auto e = sessions.epoch_of(c); e && !t.arriving) discard_stale(c, *e);  // the committed copy wins
      if (!arrive(c, t, std::move(*in.snaps[i]), in.from, in.granted[i])) {
        // Committed but not importable: the home names this node, so it has the session, empty.
        results.push_back(Json{{"error", "import failed after commit"}});
        settle(c);
        continue;
      }
      ++stats.migrations_in;
      // The membership changed between the commit request and its answer: the home that granted
      // it may not be the home now, and the one that is may hold a newer ownership (granted while
      // cut off from the others) whose stale notice could not reach this node then. Re-register,
      // as rehome() does for the imports that had their answer already.
      if (in.rehomes_at != rehomes) reregister(c, in.granted[i]);
      auto info = sessions.info(c);
      results.push_back(Json{{"c", c}, {"e", in.granted[i]}, {"queued", info ? info->queued : 0}, {"inflight", info ? info->inflight : 0}});
      if (in.source_lost) {
        // The source has given the request up: it relays nothing, and ends nothing. The window
        // only waits for the other nodes.
        Tracked& tt = track(c);
        if (tt.arriving && !tt.arriving->ended) gate_event(c, tt, WindowEvent::end, in.from);
      }
    }
    if (env.is_running(in.from)) env.send(in.from, kImported, Json{{"r", in.request}, {"results", std::move(results)}});
  }

  // ---- the home side ---------------------------------------------------------------------------

  // While members disagree on who is running, a request can reach a node that is not the client
  // id's home in its own view: it must not answer from a table that is not (or no longer) the
  // authority. The requester tries again on its next tick, with its view updated by then.
  bool home_here(const core::ClientId& c) const { return home(c) == self(); }

  void on_locate(const std::string& from, const Json& a) {
    const std::string c = str(a, "c");
    if (!home_here(c)) return env.send(from, kLocated, Json{{"c", c}, {"r", u64(a, "r")}, {"not_home", true}});
    const std::uint64_t at = a.contains("at") && a["at"].is_number_unsigned() ? a["at"].get<std::uint64_t>() : 0;
    const auto l = table.locate(c, str(a, "n"), at);
    env.send(from, kLocated, Json{{"c", c}, {"r", u64(a, "r")}, {"holder", ownership_json(l.holder)}, {"t", l.ticket}});
  }

  void on_owned(const Json& a) {
    const std::string c = str(a, "c");
    const std::string n = str(a, "n");
    const Epoch e = u64(a, "e");
    if (!home_here(c)) return pass_to_home(kOwned, c, a);
    // Whichever ownership lost (this commit, or the holder it replaces) names a stale copy, if
    // that copy still exists.
    if (auto loser = table.commit_connect(c, n, e); loser && env.is_running(loser->node))
      env.send(loser->node, kStale, Json{{"c", c}, {"e", loser->epoch}});
  }

  void on_commit(const std::string& from, const Json& a) {
    const std::string n = str(a, "n");
    Json epochs = Json::array();
    for (const auto& item : list(a, "items")) {
      Epoch granted = 0;
      if (item.is_array() && item.size() == 3 && item[0].is_string() && item[1].is_string() && item[2].is_number_unsigned() &&
          home_here(item[0].get<std::string>()))
        granted = table.commit_migration(item[0].get<std::string>(), n, Ownership{item[1].get<std::string>(), item[2].get<Epoch>()})
                      .value_or(0);
      epochs.push_back(granted);
    }
    env.send(from, kCommitted, Json{{"r", u64(a, "r")}, {"epochs", std::move(epochs)}});
  }

  void on_fence(const std::string& from, const Json& a) {
    const std::string c = str(a, "c");
    if (!home_here(c)) return env.send(from, kFenced, Json{{"r", u64(a, "r")}, {"e", 0}, {"not_home", true}});
    const auto granted = table.fence(c, str(a, "n"), u64(a, "e"));
    env.send(from, kFenced, Json{{"r", u64(a, "r")}, {"e", granted.value_or(0)}});
  }

  // A registration that reached a node that is not the home in its own view is passed on once.
  void pass_to_home(const char* method, const core::ClientId& c, const Json& a) {
    if (flag(a, "passed")) return;
    Json copy = a;
    copy["passed"] = true;
    env.send(home(c), method, std::move(copy));
  }

  void on_adopt(const Json& a) {
    for (const auto& e : list(a, "entries")) {
      if (!e.is_array() || e.size() != 3 || !e[0].is_string() || !e[1].is_string() || !e[2].is_number_unsigned()) {
        ++stats.bad_messages;
        continue;
      }
      const std::string c = e[0].get<std::string>();
      if (!home_here(c)) {
        if (!flag(a, "passed")) pass_to_home(kAdopt, c, Json{{"entries", Json::array({e})}});
        continue;
      }
      if (auto loser = table.adopt(c, Ownership{e[1].get<std::string>(), e[2].get<Epoch>()}))
        if (env.is_running(loser->node)) env.send(loser->node, kStale, Json{{"c", c}, {"e", loser->epoch}});
    }
  }

  void on_stale(const Json& a) {
    const core::ClientId c = str(a, "c");
    const Epoch e = u64(a, "e");
    stale(c, e);
  }

  void stale(const core::ClientId& c, Epoch e) {
    Tracked* t = find(c);
    if (t && !t->idle()) {
      t->deferred.push_back([this, c, e] { stale(c, e); });
      return;
    }
    discard_stale(c, e);
  }

  // Tells the home that this node holds `c` at `epoch` (as after a membership change): the home
  // keeps the newer of its entry and this, and says so to the holder of the older.
  void reregister(const core::ClientId& c, Epoch epoch) {
    env.send(home(c), kAdopt, Json{{"entries", Json::array({Json::array({c, self(), epoch})})}});
  }

  void discard_stale(const core::ClientId& c, Epoch e) {
    if (!sessions.discard_stale(c, e)) return;
    ++stats.stale_copies_discarded;
    env.note(fmt::format("the copy of {} here (epoch {}) is stale: discarded", c, e));
  }

  // ---- membership ------------------------------------------------------------------------------

  void rehome() {
    ++rehomes;
    const auto members = env.running();
    std::map<std::string, Json> to_send;
    for (auto& [c, o] : table.take_not_homed_at(self(), members))
      to_send[home_of(c, members)].push_back(Json::array({c, o.node, o.epoch}));
    for (const auto& [c, epoch] : sessions.owned_sessions())
      to_send[home_of(c, members)].push_back(Json::array({c, self(), epoch}));
    // Migrated here and committed, but waiting for the rest of their request: the home that
    // granted them may be gone, and the new one must hear of them before it grants them afresh.
    for (const auto& [id, in] : imports_received)
      for (std::size_t i = 0; i < in.snaps.size(); ++i)
        if (in.snaps[i] && in.granted[i] != 0)
          to_send[home_of(in.snaps[i]->client_id, members)].push_back(Json::array({in.snaps[i]->client_id, self(), in.granted[i]}));
    for (auto& [h, entries] : to_send) env.send(h, kAdopt, Json{{"entries", std::move(entries)}});
  }

  void node_down(const std::string& node) {
    table.drop_node(node);
    // Local connects waiting on it.
    std::vector<std::uint64_t> refuse, proceed;
    for (auto& [id, k] : connects) {
      if (k.epoch == 0 && k.home == node) refuse.push_back(id);              // the locate is lost with it
      else if (k.epoch != 0 && k.source == node) proceed.push_back(id);      // its sessions died with it
    }
    for (auto id : refuse) this->refuse(id, "its home node " + node + " went down");
    for (auto id : proceed) relocate(id);  // the home decides whether the session died with it
    std::erase_if(forwarding, [&](const auto& f) { return f.second.node == node; });
    // Commits waiting on it (as home).
    std::vector<std::uint64_t> lost_commits;
    for (auto& [id, cs] : commits_sent)
      if (cs.home == node) lost_commits.push_back(id);
    for (auto id : lost_commits) commit_failed(id, "home node " + node + " went down");
    // Fences waiting on it: ask the new home.
    std::vector<core::ClientId> refence;
    for (auto it = fences_sent.begin(); it != fences_sent.end();) {
      if (it->second.home == node) {
        refence.push_back(it->second.c);
        it = fences_sent.erase(it);
      } else {
        ++it;
      }
    }
    // Barriers: an old owner that went down relays no more; a new owner that did needs nothing.
    for (auto it = barriers.begin(); it != barriers.end();) {
      if (it->second == node) {
        // The old owner may only have lost its link to here, and our mark to it with the link:
        // the new owner tells it not to wait for this node (it routes to the new owner already).
        if (env.is_running(it->first.new_owner))
          window(it->first.new_owner, kMark, Json{{"c", it->first.c}, {"e", it->first.epoch}, {"unreached", true}});
        auto next = std::next(it);
        flush_to_new_owner(it);
        it = next;
      } else if (it->first.new_owner == node) {
        it = barriers.erase(it);
      } else {
        ++it;
      }
    }
    // Imports from it still committing here: its end marker will never come.
    for (auto& [id, in] : imports_received)
      if (in.from == node) in.source_lost = true;
    // Imports sent to it: forget the requests (each frozen copy is handled below).
    std::erase_if(imports_sent, [&](const auto& e) { return e.second.to == node; });
    std::vector<core::ClientId> ids;
    ids.reserve(tracked.size());
    for (auto& [c, _] : tracked) ids.push_back(c);
    for (const auto& c : ids) {
      Tracked* t = find(c);
      if (!t) continue;
      if (t->arriving && t->arriving->from == node && !t->arriving->ended) {
        // The old owner relays no more. The third nodes would wait for its `ended` (a restarted
        // node of the same name would never send one): this node tells them instead.
        const Epoch e = t->arriving->epoch;
        for (const auto& x : t->arriving->flushes)
          if (env.is_running(x)) window(x, kEnded, Json{{"c", c}, {"e", e}, {"n", self()}});
        gate_event(c, *t, WindowEvent::end, node);
      }
      t = find(c);
      if (t && t->arriving && t->arriving->barrier_to.contains(node)) {
        // The old owner waits for this node's mark too, which may have been lost with the node
        // even if its mark to here came: tell it not to wait.
        const std::string from = t->arriving->from;
        const Epoch e = t->arriving->epoch;
        if (env.is_running(from)) window(from, kMark, Json{{"c", c}, {"e", e}, {"of", node}});
        if (t->arriving->marks.contains(node)) gate_event(c, *t, WindowEvent::mark, node);
      }
      t = find(c);
      if (t && t->arriving && t->arriving->flushes.contains(node)) gate_event(c, *t, WindowEvent::flushed, node);
      t = find(c);
      if (t && t->leaving) {
        Leaving& l = *t->leaving;
        if (l.to == node) {
          if (l.frozen) {
            l.target_lost = true;
            if (!l.fencing) ask_fence(c, *t);  // it may have committed before it went down
          } else {
            sessions.end_relay(l.old);
            tell_ended(c, l.epoch, l.to, l.others);
            ++stats.relays_dropped;
            t->leaving.reset();
          }
        } else if (!l.frozen) {
          l.awaited.erase(node);
          if (t->leaving) maybe_end_relay(c, *t);
        }
      }
      t = find(c);
      if (t && t->leaving && t->leaving->frozen && t->leaving->fencing &&
          std::find(refence.begin(), refence.end(), c) != refence.end())
        ask_fence(c, *t);
      settle(c);
    }
  }

  void tick() {
    const auto now = env.now();
    for (auto& retry : std::exchange(retry_next_tick, {})) retry();
    std::vector<std::uint64_t> late;
    for (auto& [id, k] : connects)
      if (!k.answered && k.deadline <= now) late.push_back(id);
    for (auto id : late) {
      // Answer the connection (it may retry), but let the transfer finish: the session will be
      // here when it does.
      Connect& k = connects.at(id);
      k.answered = true;
      ++stats.connects_refused;
      env.note(fmt::format("CONNECT of {} refused (0x88): no answer from {} in time (the transfer goes on)", k.c,
                           k.source.empty() ? k.home : k.source));
      core::LocateResult res;
      res.refuse = mqtt::rc::server_unavailable;
      auto done = std::move(k.done);
      done(std::move(res));
    }
    for (auto& [id, req] : imports_sent)
      if (!req.resolving && req.deadline <= now) resolve_overdue(req);
    std::erase_if(forwarding, [&](const auto& f) { return f.second.until <= now; });
  }

  void dispatch(const std::string& from, const std::string& method, const Json& a) {
    if (is_window_message(method)) {
      for (const auto& item : list(a, "items")) {
        try {
          if (!item.is_object()) throw BadArgs("an item is not an object");
          dispatch_window(from, method, item);
        } catch (const std::exception&) {
          ++stats.bad_messages;  // one bad item spoils no other
        }
      }
      return;
    }
    dispatch_other(from, method, a);
  }

  void dispatch_window(const std::string& from, const std::string& method, const Json& a) {
    if (method == kRouted) return on_routed(from, a);
    if (method == kBarrier) return on_barrier(from, a);
    if (method == kMark) return on_mark(from, a);
    if (method == kEnd) return on_end(from, a);
    if (method == kEnded) return on_ended(from, a);
    if (method == kFlushed) return on_flushed(from, a);
  }

  void dispatch_other(const std::string& from, const std::string& method, const Json& a) {
    if (method == kLocate) return on_locate(from, a);
    if (method == kLocated) return on_located(a);
    if (method == kOwned) return on_owned(a);
    if (method == kTakeover) return on_takeover(from, a);
    if (method == kTaken) return on_taken(from, a);
    if (method == kImport) return on_import(from, a);
    if (method == kImported) return on_imported(from, a);
    if (method == kCommit) return on_commit(from, a);
    if (method == kCommitted) return on_committed(a);
    if (method == kFence) return on_fence(from, a);
    if (method == kFenced) return on_fenced(a);
    if (method == kRelease) {
      if (!home_here(str(a, "c"))) return pass_to_home(kRelease, str(a, "c"), a);
      return table.release(str(a, "c"), str(a, "n"), u64(a, "e"));
    }
    if (method == kAdopt) return on_adopt(a);
    if (method == kStale) return on_stale(a);
    ++stats.bad_messages;
  }
};

SessionHandoff::SessionHandoff(HandoffEnv& env, core::Broker& broker, HandoffSettings settings)
    : impl_(std::make_unique<Impl>(env, broker, settings)) {}
SessionHandoff::~SessionHandoff() = default;

void SessionHandoff::set_audit_sink(MigrationAuditSink sink) { impl_->audit = std::move(sink); }

void SessionHandoff::connect(const core::ClientId& c, bool clean, std::function<void(core::LocateResult)> done) {
  impl_->connect(c, clean, std::move(done));
  impl_->flush_window();
}

void SessionHandoff::migrate(std::vector<core::ClientId> cids, const std::string& node, MigrationDone done) {
  impl_->migrate(std::move(cids), node, std::move(done));
  impl_->flush_window();
}

bool SessionHandoff::handles(const std::string& method) { return method.rfind("handoff.", 0) == 0; }

std::string SessionHandoff::on_message(const std::string& from, const std::string& method, const Json& args) {
  std::string error;
  try {
    if (!args.is_object()) throw BadArgs("arguments are not an object");
    impl_->dispatch(from, method, args);
  } catch (const std::exception& e) {
    ++impl_->stats.bad_messages;  // a malformed message changes nothing
    error = std::string("invalid arguments for ") + method + ": " + e.what();
  }
  impl_->flush_window();
  return error;
}

void SessionHandoff::node_down(const std::string& node) {
  impl_->node_down(node);
  impl_->flush_window();
}
void SessionHandoff::rehome() { impl_->rehome(); }
void SessionHandoff::tick() {
  impl_->tick();
  impl_->flush_window();
}

void SessionHandoff::session_ended(const core::ClientId& c, Epoch epoch) {
  const std::string h = impl_->home(c);
  impl_->env.send(h, kRelease, Json{{"c", c}, {"n", impl_->self()}, {"e", epoch}});
}

const ClientRegistry& SessionHandoff::registry() const { return impl_->table; }
const HandoffStats& SessionHandoff::stats() const { return impl_->stats; }
std::size_t SessionHandoff::in_motion() const { return impl_->tracked.size() + impl_->barriers.size(); }

std::string SessionHandoff::describe_motion() const {
  std::string out;
  for (const auto& [c, t] : impl_->tracked) out += c + ": " + Impl::describe(t) + "\n";
  for (const auto& [key, old] : impl_->barriers)
    out += fmt::format("{}: barrier e={} old={} new={}\n", key.c, key.epoch, old, key.new_owner);
  return out;
}

}  // namespace tidemq::cluster
