// The deterministic simulation's world: virtual time, one seeded random stream, an event queue,
// and a network of FIFO links with random delays between simulated nodes. Each node runs the real
// broker core (core::Broker: registry, router, sessions, channels) and the real handoff protocol
// (cluster::SessionHandoff); only the cluster's I/O glue is replaced by this file. Everything is
// single-threaded, so a seed replays the same run.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <queue>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cluster/session_handoff.hpp"
#include "core/broker.hpp"

namespace tidemq::sim {

using Json = nlohmann::json;
using util::Duration;
using util::TimePoint;
using namespace std::chrono_literals;

// xoshiro256** seeded through splitmix64: fast, and the same on every platform.
class Rng {
 public:
  explicit Rng(std::uint64_t seed);
  std::uint64_t next();
  std::uint64_t below(std::uint64_t n) { return n ? next() % n : 0; }
  bool chance(double p) { return static_cast<double>(next() >> 11) * (1.0 / 9007199254740992.0) < p; }
  Duration between(Duration lo, Duration hi) {
    return lo + Duration(static_cast<Duration::rep>(below(static_cast<std::uint64_t>((hi - lo).count()) + 1)));
  }

 private:
  std::uint64_t s_[4];
};

class VirtualClock final : public util::Clock {
 public:
  TimePoint now() const override { return t; }
  TimePoint t{std::chrono::hours(1000)};
};

// Events run in time order, ties in scheduling order.
class Scheduler {
 public:
  explicit Scheduler(VirtualClock& clock) : clock_(clock) {}
  void at(TimePoint when, std::function<void()> fn);
  void after(Duration d, std::function<void()> fn) { at(clock_.t + d, std::move(fn)); }
  // Runs events until none is left before `until`; false when the event budget ran out.
  bool run_until(TimePoint until, std::uint64_t budget);
  TimePoint now() const { return clock_.t; }
  std::uint64_t executed() const { return executed_; }

 private:
  struct Event {
    TimePoint at;
    std::uint64_t seq;
    std::function<void()> fn;
    bool operator>(const Event& o) const { return at != o.at ? at > o.at : seq > o.seq; }
  };
  VirtualClock& clock_;
  std::priority_queue<Event, std::vector<Event>, std::greater<>> q_;
  std::uint64_t seq_ = 0;
  std::uint64_t executed_ = 0;
};

class World;
class SimNode;

// Knobs of one run.
struct SimConfig {
  int nodes = 3;
  Duration link_delay_min = 50us, link_delay_max = 2ms;
  double spike_chance = 0.02;              // a frame is held up much longer (still in order)
  Duration spike_max = 300ms;
  Duration heartbeat = 50ms;
  int down_after = 20;                     // heartbeats: a silent peer is down after 1 s
  Duration redial = 100ms;
  Duration rpc_timeout = 250ms;
  Duration quiesce_max = 2ms;              // how long data threads take to drain
};

// A frame on a link between two nodes.
struct Frame {
  enum class Kind { control, forward, relay, routes, heartbeat } kind;
  std::string method;  // control
  Json args;           // control; routes: {"ops": [["+"|"-", filter]...]} or {"sync": [filters]}
  core::MessagePtr msg;  // forward, relay
  bool match_local = false;
  std::vector<std::string> shared;
  core::ClientId client;  // relay
  core::Delivery delivery;
};

// One broker node process. Its methods run as events of the scheduler.
class SimNode final : public cluster::HandoffEnv, public core::RemoteForwarder, public core::SessionLocator {
 public:
  SimNode(World& w, int id, std::string name);
  ~SimNode() override;

  // ---- process lifecycle ----
  void boot();        // a fresh process (first start or restart after a crash)
  void crash();       // kill -9: state gone, links die
  bool alive() const { return alive_; }
  bool paused() const { return paused_; }
  void set_paused(bool p);
  // Runs `fn` on this node: now if it can run, else when it resumes; dropped if it crashed meanwhile.
  void run(std::function<void()> fn);
  void run_after(Duration d, std::function<void()> fn);
  std::uint64_t incarnation() const { return incarnation_; }

  core::Broker& broker() { return *broker_; }
  cluster::SessionHandoff& handoff() { return *handoff_; }
  const std::string& name() const { return name_; }
  int id() const { return id_; }
  bool link_up(const std::string& peer) const;
  // The link is up and this node has the peer's routes from it (until then its publishes miss
  // the peer's subscribers, as in tidemq: routes are exchanged when a link comes up).
  bool routes_from(const std::string& peer) const;
  std::uint64_t relays_without_session = 0;

  // ---- network (called by World) ----
  void receive(const std::string& from, std::uint64_t link, const Frame& f);
  void link_established(const std::string& peer, std::uint64_t link);
  void link_closed(const std::string& peer, std::uint64_t link);

  // ---- HandoffEnv ----
  const std::string& self() const override { return name_; }
  std::vector<std::string> running() const override;
  bool is_running(const std::string& node) const override;
  core::NodeIndex index_of(const std::string& node) const override;
  void send(const std::string& node, const std::string& method, Json args) override;
  core::DeliveryForwarder relay_to(const std::string& node, const core::ClientId& client_id) override;
  void quiesce(std::function<void()> then) override;
  void flush_routes() override;
  void post(std::function<void()> task) override;
  TimePoint now() const override;
  std::uint64_t wall_ms() const override;
  void note(const std::string& what) override;

  // ---- RemoteForwarder / SessionLocator ----
  bool forward(const core::MessagePtr& m, const std::vector<core::RemoteDelivery>& to, bool may_refuse) override;
  void locate(const core::ClientId& id, bool clean_start, std::function<void(core::LocateResult)> done) override;

 private:
  struct Peer {
    core::NodeIndex index = 0;
    std::uint64_t link = 0;  // adopted link incarnation; 0 = down
    bool synced = false;     // the peer's route sync over this link came
    TimePoint last_rx{};
  };
  void tick();
  void peer_up(const std::string& peer, std::uint64_t link);
  void peer_down(const std::string& peer);
  Peer& peer(const std::string& name);
  void send_frame(const std::string& to, Frame f);
  void on_routes(const std::string& from, const Json& args);

  World& w_;
  int id_;
  std::string name_;
  bool alive_ = false;
  bool paused_ = false;
  std::uint64_t incarnation_ = 0;
  std::vector<std::function<void()>> held_;  // events that came while paused
  std::unique_ptr<core::Broker> broker_;
  std::unique_ptr<cluster::SessionHandoff> handoff_;
  std::map<std::string, Peer> peers_;
  core::NodeIndex next_index_ = 1;
  std::vector<std::pair<std::string, bool>> route_ops_;
  bool route_flush_posted_ = false;
};

class World {
 public:
  World(std::uint64_t seed, SimConfig cfg);
  ~World();

  Rng rng;
  VirtualClock clock;
  Scheduler sched;
  SimConfig cfg;
  std::vector<std::unique_ptr<SimNode>> nodes;
  std::map<std::int64_t, std::int64_t> skew_ms;  // node id → wall clock skew

  SimNode* node(const std::string& name);
  // A frame from `from` to `to` on link incarnation `link`, delivered in order after a random delay.
  void transmit(SimNode& from, const std::string& to, std::uint64_t link, Frame f);
  // The link between two nodes (either direction), its incarnation (0: down).
  std::uint64_t link_of(const std::string& a, const std::string& b) const;
  // Dials: establishes a new link incarnation when both ends can answer.
  void dial(SimNode& from, const std::string& to);
  // Closes the link `link` (as seen from `by`): the other end learns after the frames in flight.
  void close_link(SimNode& by, const std::string& to, std::uint64_t link);
  void trace(const std::string& line);
  bool verbose = false;
  std::vector<std::string> log_tail;  // the last lines, for failure reports
  std::vector<std::shared_ptr<void>> graveyard;  // crashed processes' objects (destroyed last)

 private:
  struct Pipe {  // one direction of a link
    TimePoint last_arrival{};
  };
  std::map<std::pair<std::string, std::string>, std::uint64_t> links_;  // sorted pair → incarnation
  std::map<std::pair<std::string, std::string>, Pipe> pipes_;           // directed
  std::uint64_t next_link_ = 1;
};

}  // namespace tidemq::sim
