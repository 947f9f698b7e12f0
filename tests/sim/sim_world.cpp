#include "sim_world.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace tidemq::sim {

// ---- Rng -------------------------------------------------------------------------------------

namespace {
std::uint64_t splitmix(std::uint64_t& x) {
  std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}
std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

Rng::Rng(std::uint64_t seed) {
  for (auto& v : s_) v = splitmix(seed);
}

std::uint64_t Rng::next() {
  const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const std::uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

// ---- Scheduler -------------------------------------------------------------------------------

void Scheduler::at(TimePoint when, std::function<void()> fn) {
  q_.push(Event{std::max(when, clock_.t), seq_++, std::move(fn)});
}

bool Scheduler::run_until(TimePoint until, std::uint64_t budget) {
  while (!q_.empty() && q_.top().at <= until) {
    if (budget-- == 0) return false;
    Event e = std::move(const_cast<Event&>(q_.top()));
    q_.pop();
    clock_.t = e.at;
    ++executed_;
    e.fn();
  }
  clock_.t = std::max(clock_.t, until);
  return true;
}

// ---- World -----------------------------------------------------------------------------------

World::World(std::uint64_t seed, SimConfig c) : rng(seed), sched(clock), cfg(c) {}
World::~World() = default;

SimNode* World::node(const std::string& name) {
  for (auto& n : nodes)
    if (n->name() == name) return n.get();
  return nullptr;
}

void World::trace(const std::string& line) {
  const auto ms = std::chrono::duration_cast<std::chrono::microseconds>(clock.t.time_since_epoch()).count() % 100'000'000;
  std::string l = fmt::format("{:>10.3f} {}", static_cast<double>(ms) / 1000.0, line);
  if (verbose) fmt::print("{}\n", l);
  log_tail.push_back(std::move(l));
  if (log_tail.size() > 400) log_tail.erase(log_tail.begin(), log_tail.begin() + 100);
}

std::uint64_t World::link_of(const std::string& a, const std::string& b) const {
  auto it = links_.find(std::minmax(a, b));
  return it == links_.end() ? 0 : it->second;
}

void World::transmit(SimNode& from, const std::string& to, std::uint64_t link, Frame f) {
  Pipe& p = pipes_[{from.name(), to}];
  Duration d = rng.between(cfg.link_delay_min, cfg.link_delay_max);
  if (rng.chance(cfg.spike_chance)) d += rng.between(1ms, cfg.spike_max);
  const TimePoint arrival = std::max(clock.t + d, p.last_arrival + 1ns);
  p.last_arrival = arrival;
  sched.at(arrival, [this, from = from.name(), to, link, f = std::move(f)] {
    if (SimNode* n = node(to)) n->run([n, from, link, f] { n->receive(from, link, f); });
  });
}

void World::dial(SimNode& from, const std::string& to) {
  const Duration rtt = rng.between(cfg.link_delay_min, cfg.link_delay_max) * 2;
  sched.after(rtt, [this, a = from.name(), ainc = from.incarnation(), to] {
    SimNode* na = node(a);
    SimNode* nb = node(to);
    if (!na || !nb || !na->alive() || na->incarnation() != ainc || na->paused() || !nb->alive() || nb->paused()) return;
    if (na->link_up(to) && nb->link_up(a) && link_of(a, to) != 0) return;  // up already
    const std::uint64_t link = next_link_++;
    links_[std::minmax(a, to)] = link;
    trace(fmt::format("link {}<->{} up (#{})", a, to, link));
    na->run([na, to, link] { na->link_established(to, link); });
    nb->run([nb, a, link] { nb->link_established(a, link); });
  });
}

void World::close_link(SimNode& by, const std::string& to, std::uint64_t link) {
  auto key = std::minmax(by.name(), to);
  if (links_[key] == link) links_[key] = 0;
  Pipe& p = pipes_[{by.name(), to}];
  const TimePoint arrival = std::max(clock.t + rng.between(cfg.link_delay_min, cfg.link_delay_max), p.last_arrival + 1ns);
  p.last_arrival = arrival;
  sched.at(arrival, [this, from = by.name(), to, link] {
    if (SimNode* n = node(to)) n->run([n, from, link] { n->link_closed(from, link); });
  });
}

// ---- SimNode ---------------------------------------------------------------------------------

SimNode::SimNode(World& w, int id, std::string name) : w_(w), id_(id), name_(std::move(name)) {}
SimNode::~SimNode() {
  if (broker_) {
    broker_->registry().set_removal_listener(nullptr);
    broker_->router().set_route_listener(nullptr);
  }
}

void SimNode::boot() {
  alive_ = true;
  paused_ = false;
  held_.clear();
  ++incarnation_;
  peers_.clear();
  next_index_ = 1;
  route_ops_.clear();
  route_flush_posted_ = false;
  // The old process's objects stay alive until the world ends: connections may still point at them.
  if (handoff_) w_.graveyard.push_back(std::shared_ptr<cluster::SessionHandoff>(std::move(handoff_)));
  if (broker_) {
    broker_->registry().set_removal_listener(nullptr);
    broker_->router().set_route_listener(nullptr);
    w_.graveyard.push_back(std::shared_ptr<core::Broker>(std::move(broker_)));
  }
  core::BrokerSettings bs;
  bs.node_name = name_;
  bs.max_mqueue_len = 100000;
  broker_ = std::make_unique<core::Broker>(bs, w_.clock);
  cluster::HandoffSettings hs;
  hs.rpc_timeout = std::chrono::duration_cast<std::chrono::milliseconds>(w_.cfg.rpc_timeout);
  handoff_ = std::make_unique<cluster::SessionHandoff>(*this, *broker_, hs);
  broker_->set_cluster(this, this);
  broker_->router().set_route_listener([this](std::string_view filter, bool added) {
    route_ops_.emplace_back(std::string(filter), added);
    if (!route_flush_posted_) {
      route_flush_posted_ = true;
      post([this] { flush_routes(); });
    }
  });
  broker_->registry().set_removal_listener([this](const core::ClientId& c, std::uint64_t epoch) {
    post([this, c, epoch] { handoff_->session_ended(c, epoch); });
  });
  w_.trace(fmt::format("{} boots (incarnation {})", name_, incarnation_));
  for (auto& n : w_.nodes)
    if (n.get() != this && n->name() > name_) w_.dial(*this, n->name());
  run_after(w_.cfg.heartbeat, [this] { tick(); });
}

void SimNode::crash() {
  if (!alive_) return;
  w_.trace(fmt::format("{} CRASHES", name_));
  for (auto& [name, p] : peers_)
    if (p.link) w_.close_link(*this, name, p.link);
  alive_ = false;
  paused_ = false;
  held_.clear();
}

void SimNode::set_paused(bool p) {
  if (!alive_ || paused_ == p) return;
  paused_ = p;
  w_.trace(fmt::format("{} {}", name_, p ? "PAUSED" : "resumed"));
  if (!p) {
    auto held = std::move(held_);
    held_.clear();
    for (auto& fn : held) {
      if (!alive_) return;
      if (paused_) {
        held_.push_back(std::move(fn));
        continue;
      }
      fn();
    }
  }
}

void SimNode::run(std::function<void()> fn) {
  if (!alive_) return;
  if (paused_) return held_.push_back(std::move(fn));
  fn();
}

void SimNode::run_after(Duration d, std::function<void()> fn) {
  w_.sched.after(d, [this, inc = incarnation_, fn = std::move(fn)]() mutable {
    if (alive_ && incarnation_ == inc) run(std::move(fn));
  });
}

bool SimNode::link_up(const std::string& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.link != 0;
}

bool SimNode::routes_from(const std::string& peer) const {
  auto it = peers_.find(peer);
  return it != peers_.end() && it->second.link != 0 && it->second.synced;
}

SimNode::Peer& SimNode::peer(const std::string& name) {
  auto [it, inserted] = peers_.try_emplace(name);
  if (inserted) it->second.index = next_index_++;
  return it->second;
}

void SimNode::tick() {
  const auto now = w_.clock.t;
  std::vector<std::string> silent, redial;
  for (auto& [name, p] : peers_) {
    if (p.link) {
      send_frame(name, Frame{Frame::Kind::heartbeat, {}, {}, {}, false, {}, {}, {}});
      if (now - p.last_rx > w_.cfg.heartbeat * w_.cfg.down_after) silent.push_back(name);
    }
  }
  for (auto& n : w_.nodes)
    if (n.get() != this && n->name() > name_ && !link_up(n->name())) redial.push_back(n->name());
  for (const auto& name : silent) {
    w_.trace(fmt::format("{}: {} is silent, declared down", name_, name));
    const std::uint64_t link = peers_[name].link;
    peer_down(name);
    w_.close_link(*this, name, link);
  }
  for (const auto& name : redial) w_.dial(*this, name);
  broker_->sweep();
  handoff_->tick();
  run_after(w_.cfg.heartbeat, [this] { tick(); });
}

void SimNode::link_established(const std::string& peer_name, std::uint64_t link) {
  Peer& p = peer(peer_name);
  if (p.link == link) return;
  if (p.link) {
    w_.trace(fmt::format("{}: link to {} replaced", name_, peer_name));
    peer_down(peer_name);  // what the old link carried is gone: the same as a down and up
  }
  peer_up(peer_name, link);
}

void SimNode::link_closed(const std::string& peer_name, std::uint64_t link) {
  auto it = peers_.find(peer_name);
  if (it == peers_.end() || it->second.link != link) return;
  w_.trace(fmt::format("{}: link to {} closed by the peer", name_, peer_name));
  peer_down(peer_name);
}

void SimNode::peer_up(const std::string& peer_name, std::uint64_t link) {
  Peer& p = peer(peer_name);
  p.link = link;
  p.synced = false;
  p.last_rx = w_.clock.t;
  Frame sync{Frame::Kind::routes, {}, Json{{"sync", broker_->router().local_filters()}}, {}, false, {}, {}, {}};
  send_frame(peer_name, std::move(sync));
  handoff_->rehome();
}

void SimNode::peer_down(const std::string& peer_name) {
  Peer& p = peer(peer_name);
  if (!p.link) return;
  p.link = 0;
  broker_->router().remove_node(p.index);
  handoff_->node_down(peer_name);
  handoff_->rehome();
}

void SimNode::receive(const std::string& from, std::uint64_t link, const Frame& f) {
  auto it = peers_.find(from);
  if (it == peers_.end() || it->second.link != link) return;  // a frame of a link that is gone
  it->second.last_rx = w_.clock.t;
  switch (f.kind) {
    case Frame::Kind::heartbeat: return;
    case Frame::Kind::control:
      if (w_.verbose) w_.trace(fmt::format("{} <- {}: {} {}", name_, from, f.method, f.args.dump().substr(0, 160)));
      handoff_->on_message(from, f.method, f.args);
      return;
    case Frame::Kind::forward:
      broker_->deliver_forwarded(f.msg, f.match_local, f.shared, it->second.index);
      return;
    case Frame::Kind::relay:
      if (w_.verbose) w_.trace(fmt::format("{} <- {}: relay for {}: {}", name_, from, f.client, f.msg->payload));
      if (auto s = broker_->registry().find(f.client); s && s->deliver_relayed(f.delivery, it->second.index)) {
      } else {
        ++relays_without_session;
        w_.trace(fmt::format("{}: relay for {} from {} found no session", name_, f.client, from));
      }
      return;
    case Frame::Kind::routes: return on_routes(from, f.args);
  }
}

void SimNode::on_routes(const std::string& from, const Json& args) {
  const core::NodeIndex index = peer(from).index;
  auto& router = broker_->router();
  if (args.contains("sync")) {
    peer(from).synced = true;
    router.remove_node(index);
    for (const auto& f : args["sync"]) router.add_remote(index, f.get<std::string>());
  }
  if (args.contains("ops"))
    for (const auto& op : args["ops"]) {
      if (op[0].get<std::string>() == "+")
        router.add_remote(index, op[1].get<std::string>());
      else
        router.remove_remote(index, op[1].get<std::string>());
    }
}

void SimNode::send_frame(const std::string& to, Frame f) {
  auto it = peers_.find(to);
  if (it == peers_.end() || !it->second.link) return;
  w_.transmit(*this, to, it->second.link, std::move(f));
}

// ---- HandoffEnv --------------------------------------------------------------------------------

std::vector<std::string> SimNode::running() const {
  std::vector<std::string> out{name_};
  for (const auto& [name, p] : peers_)
    if (p.link) out.push_back(name);
  std::sort(out.begin(), out.end());
  return out;
}

bool SimNode::is_running(const std::string& node) const { return node == name_ || link_up(node); }

core::NodeIndex SimNode::index_of(const std::string& node) const {
  auto it = peers_.find(node);
  return it == peers_.end() ? 0 : it->second.index;
}

void SimNode::send(const std::string& node, const std::string& method, Json args) {
  if (node == name_) {
    post([this, method, args = std::move(args)] {
      if (w_.verbose) w_.trace(fmt::format("{} <- self: {} {}", name_, method, args.dump().substr(0, 160)));
      handoff_->on_message(name_, method, args);
    });
    return;
  }
  send_frame(node, Frame{Frame::Kind::control, method, std::move(args), {}, false, {}, {}, {}});
}

core::DeliveryForwarder SimNode::relay_to(const std::string& node, const core::ClientId& client_id) {
  const std::uint64_t link = link_up(node) ? peers_.at(node).link : 0;
  return [this, inc = incarnation_, node, link, client_id](const core::Delivery& d) {
    if (!alive_ || incarnation_ != inc || link == 0) return;
    auto it = peers_.find(node);
    if (it == peers_.end() || it->second.link != link) return;
    Frame f{Frame::Kind::relay, {}, {}, d.msg, false, {}, client_id, d};
    w_.transmit(*this, node, link, std::move(f));
  };
}

void SimNode::quiesce(std::function<void()> then) { run_after(w_.rng.between(0ns, w_.cfg.quiesce_max), std::move(then)); }

void SimNode::flush_routes() {
  route_flush_posted_ = false;
  if (route_ops_.empty()) return;
  Json ops = Json::array();
  for (auto& [filter, added] : route_ops_) ops.push_back(Json::array({added ? "+" : "-", filter}));
  route_ops_.clear();
  for (auto& [name, p] : peers_)
    if (p.link) send_frame(name, Frame{Frame::Kind::routes, {}, Json{{"ops", ops}}, {}, false, {}, {}, {}});
}

void SimNode::note(const std::string& what) {
  if (w_.verbose) w_.trace(name_ + ": " + what);
}

void SimNode::post(std::function<void()> task) { run_after(0ns, std::move(task)); }

TimePoint SimNode::now() const { return w_.clock.t; }

std::uint64_t SimNode::wall_ms() const {
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(w_.clock.t.time_since_epoch()).count();
  auto it = w_.skew_ms.find(id_);
  return static_cast<std::uint64_t>(1'800'000'000'000LL + ms + (it == w_.skew_ms.end() ? 0 : it->second));
}

bool SimNode::forward(const core::MessagePtr& m, const std::vector<core::RemoteDelivery>& to, bool /*may_refuse*/) {
  for (const auto& d : to) {
    for (auto& [name, p] : peers_) {
      if (p.index != d.node || !p.link) continue;
      send_frame(name, Frame{Frame::Kind::forward, {}, {}, m, d.match_local, d.shared, {}, {}});
    }
  }
  return true;
}

void SimNode::locate(const core::ClientId& id, bool clean_start, std::function<void(core::LocateResult)> done) {
  post([this, id, clean_start, done = std::move(done)]() mutable { handoff_->connect(id, clean_start, std::move(done)); });
}

}  // namespace tidemq::sim
