#include "cluster/cluster.hpp"

#include <algorithm>
#include <atomic>
#include <fstream>
#include <map>
#include <shared_mutex>
#include <unordered_map>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/connect.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "cluster/link.hpp"
#include "cluster/session_handoff.hpp"
#include "tidemq/util/atomic_file.hpp"
#include "tidemq/util/prometheus.hpp"
#include "tidemq/mqtt/reason_codes.hpp"

namespace tidemq::cluster {

namespace asio = boost::asio;
using asio::ip::tcp;
using boost::system::error_code;
using Json = nlohmann::json;
using namespace std::chrono_literals;
constexpr auto use_tuple = asio::as_tuple(asio::use_awaitable);

namespace {

constexpr auto kTick = 50ms;                      // heartbeats, reconnects and RPC deadlines
constexpr auto kMaxBackoff = std::chrono::milliseconds(5000);
constexpr std::size_t kMaxPendingHandshakes = 64;  // incoming links not yet past the cookie check
constexpr const char* kMembersFile = "cluster_members";

std::shared_ptr<spdlog::logger> make_logger() {
  if (auto l = spdlog::get("cluster")) return l;
  auto l = spdlog::default_logger()->clone("cluster");
  spdlog::register_logger(l);
  return l;
}

// Completion of every coroutine the cluster spawns: an exception is a bug, logged, never silent.
auto log_failure(const char* what) {
  return [what](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      spdlog::get("cluster")->error("{} failed: {}", what, ex.what());
    }
  };
}

std::string encode_control(const Json& j) {
  auto bytes = Json::to_msgpack(j);
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

}  // namespace

struct Cluster::Impl : core::RemoteForwarder, core::SessionLocator, HandoffEnv, std::enable_shared_from_this<Cluster::Impl> {
  using Handler = std::function<void(const std::string& from, const Json& args, Done reply)>;

  struct Peer {
    NodeAddress addr;
    core::NodeIndex index = 0;
    std::shared_ptr<Link> link;             // set while up
    util::TimePoint last_rx{};
    util::TimePoint last_heartbeat{};
    bool connecting = false;
    util::TimePoint next_attempt{};
    std::chrono::milliseconds backoff{100};
    std::vector<std::string> mqtt_endpoints;
    std::vector<std::function<void(std::string)>> join_waiters;
    // A member has been part of this cluster (linked once, remembered, or named by a member); a
    // seed or join target that never answered is only a candidate and is not listed.
    bool member = false;
  };

  struct PendingCall {
    std::string node;
    Done done;
    util::TimePoint deadline;
  };

  ClusterSettings s;
  asio::io_context& ctx;
  core::Broker& broker;
  util::Clock& clock;
  std::shared_ptr<spdlog::logger> log = make_logger();
  HandshakeInfo me;
  tcp::acceptor acceptor;
  std::shared_ptr<asio::ssl::context> tls;  // set when links use TLS
  asio::steady_timer ticker;
  bool stopped = false;
  bool left = false;
  std::size_t pending_handshakes = 0;    // incoming links in their TLS or cookie handshake
  std::uint64_t refused_handshakes = 0;  // refused because kMaxPendingHandshakes were pending

  std::map<std::string, Peer> peers;  // every known member but this node
  core::NodeIndex next_index = 1;
  std::unordered_map<core::NodeIndex, std::string> index_names;

  // Read by data threads (forward, handoff forwarders): node index → link while up.
  mutable std::shared_mutex links_mu;
  std::vector<std::shared_ptr<Link>> links_by_index;

  std::uint64_t next_call = 1;
  std::unordered_map<std::uint64_t, PendingCall> calls;
  std::unordered_map<std::string, Handler> methods;

  std::mutex route_mu;  // route changes, from the router's listener (any thread)
  std::vector<std::pair<std::string, bool>> route_ops;
  bool route_flush_posted = false;

  // The handoff protocol (client registry, takeover, migration); this file only carries its messages.
  std::unique_ptr<SessionHandoff> handoff;
  std::function<void(std::function<void()>)> quiescer;  // see Cluster::set_quiescer

  std::vector<std::function<void(const std::string&, bool)>> node_listeners;

  Impl(ClusterSettings settings, asio::io_context& c, core::Broker& b)
      : s(std::move(settings)), ctx(c), broker(b), clock(b.clock()), acceptor(c), ticker(c) {
    me = HandshakeInfo{s.node_name, s.cookie, s.bind_host, s.bind_port};
    links_by_index.resize(1);
    handoff = std::make_unique<SessionHandoff>(*this, broker, HandoffSettings{s.rpc_timeout});
    handoff->set_audit_sink([this](const core::ClientId& c, const std::string& node, std::size_t before, std::size_t after) {
      audit_migration(c, node, before, after);
    });
  }

  // ---- startup and shutdown ----------------------------------------------------------------

  bool start() {
    if (!s.enabled) return true;  // a cluster of one: no listener, no peers, no handoff hooks
    if (s.tls) {
      try {
        tls = make_link_tls_context(LinkTlsFiles{s.tls_certfile, s.tls_keyfile, s.tls_cacertfile});
      } catch (const std::exception& e) {
        log->critical("{}", e.what());
        return false;
      }
    }
    error_code ec;
    auto address = asio::ip::make_address(s.bind_host, ec);
    if (ec) {
      tcp::resolver resolver(ctx);
      auto results = resolver.resolve(s.bind_host, std::to_string(s.bind_port), ec);
      if (ec || results.empty()) {
        log->critical("cluster.bind: cannot resolve '{}': {}", s.bind_host, ec.message());
        return false;
      }
      address = results.begin()->endpoint().address();
    }
    tcp::endpoint ep(address, s.bind_port);
    acceptor.open(ep.protocol(), ec);
    if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
    if (!ec) acceptor.bind(ep, ec);
    if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
    if (ec) {
      log->critical("cluster listener: cannot listen on {}:{}: {}", s.bind_host, s.bind_port, ec.message());
      return false;
    }
    me.cluster_port = acceptor.local_endpoint().port();
    log->info("cluster listener on {}:{} (node {}{})", s.bind_host, me.cluster_port, s.node_name, tls ? ", TLS" : "");
    install_hooks();
    register_builtin_methods();
    for (const auto& seed : s.seeds) add_peer(seed, false);
    for (const auto& remembered : load_members()) add_peer(remembered, true);
    asio::co_spawn(ctx, accept_loop(), log_failure("cluster accept loop"));
    schedule_tick();
    return true;
  }

  void stop() {
    if (stopped) return;
    stopped = true;
    error_code ec;
    acceptor.close(ec);
    ticker.cancel();
    broker.router().set_route_listener(nullptr);
    broker.registry().set_removal_listener(nullptr);
    for (auto& [_, p] : peers)
      if (auto l = std::exchange(p.link, nullptr)) l->close("node stopping");
    std::unique_lock lk(links_mu);
    for (auto& l : links_by_index) l.reset();
  }

  void install_hooks() {
    std::weak_ptr<Impl> weak = weak_from_this();
    broker.router().set_route_listener([this](std::string_view filter, bool added) {
      std::lock_guard lk(route_mu);
      route_ops.emplace_back(std::string(filter), added);
      if (!route_flush_posted) {
        route_flush_posted = true;
        asio::post(ctx, [weak = weak_from_this()] {
          if (auto self = weak.lock()) self->flush_route_changes();
        });
      }
    });
    broker.registry().set_removal_listener([weak, this](const core::ClientId& id, std::uint64_t epoch) {
      asio::post(ctx, [weak, id, epoch] {
        if (auto self = weak.lock(); self && !self->stopped) self->handoff->session_ended(id, epoch);
      });
    });
  }

  // ---- members ---------------------------------------------------------------------------

  Peer& add_peer(const NodeAddress& a, bool member) {
    auto [it, inserted] = peers.try_emplace(a.name);
    Peer& p = it->second;
    if (inserted) {
      p.addr = a;
      p.index = next_index++;
      index_names[p.index] = a.name;
      std::unique_lock lk(links_mu);
      links_by_index.resize(next_index);
      log->debug("peer {} at {}:{}", a.name, a.host, a.port);
    } else if (!p.link && (p.addr.host != a.host || p.addr.port != a.port)) {
      p.addr = a;  // a newer address for a member that is down
    }
    p.member = p.member || member;
    return p;
  }

  void forget_peer(const std::string& name) {
    auto it = peers.find(name);
    if (it == peers.end()) return;
    index_names.erase(it->second.index);
    peers.erase(it);
  }

  Peer* find_peer(const std::string& name) {
    auto it = peers.find(name);
    return it == peers.end() ? nullptr : &it->second;
  }

  std::vector<std::string> running_names() const {
    std::vector<std::string> out{s.node_name};
    for (const auto& [name, p] : peers)
      if (p.link) out.push_back(name);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::vector<NodeAddress> load_members() {
    std::vector<NodeAddress> out;
    std::ifstream in(members_path());
    if (!in) return out;
    try {
      for (const auto& v : Json::parse(in))
        if (auto a = parse_node_address(v.get<std::string>()); a && a->name != s.node_name) out.push_back(*a);
    } catch (const std::exception& e) {
      log->warn("ignoring {}: {}", members_path(), e.what());
    }
    return out;
  }

  std::string members_path() const { return s.data_dir + "/" + kMembersFile; }

  void save_members() {
    Json list = Json::array();
    for (const auto& [_, p] : peers)
      if (p.member) list.push_back(p.addr.to_string());
    std::string error;
    if (!util::write_file_atomically(members_path(), list.dump() + "\n", &error))
      log->warn("cannot save the member list: {}", error);
  }

  // ---- links -----------------------------------------------------------------------------

  asio::awaitable<void> accept_loop() {
    auto self = shared_from_this();
    while (!stopped) {
      auto [ec, socket] = co_await acceptor.async_accept(use_tuple);
      if (stopped) co_return;
      if (ec) {
        asio::steady_timer t(ctx, 100ms);
        co_await t.async_wait(use_tuple);
        continue;
      }
      // Unauthenticated handshakes are capped: each holds a socket (and, with TLS, its buffers)
      // for up to the handshake timeout, so a flood cannot pile them up.
      if (pending_handshakes >= kMaxPendingHandshakes) {
        if (++refused_handshakes % 100 == 1)
          log->warn("refused an incoming cluster connection: {} handshakes already in progress ({} refused so far)",
                    pending_handshakes, refused_handshakes);
        error_code ignored;
        socket.close(ignored);
        continue;
      }
      ++pending_handshakes;
      asio::co_spawn(ctx, accept_one(std::move(socket)), [self](std::exception_ptr e) {
        --self->pending_handshakes;
        log_failure("incoming cluster link")(e);
      });
    }
  }

  asio::awaitable<void> accept_one(tcp::socket socket) {
    auto self = shared_from_this();
    error_code ec;
    auto remote = socket.remote_endpoint(ec);
    std::string from = ec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    std::string error;
    // (no co_await inside ?: — GCC 12 miscompiles it)
    std::unique_ptr<LinkStream> stream;
    if (tls)
      stream = co_await tls_stream(std::move(socket), *tls, /*accepting=*/true, error);
    else
      stream = plain_stream(std::move(socket));
    if (!stream) {
      log->warn("refused cluster link from {}: {}", from, error);
      co_return;
    }
    auto link = co_await handshake_accept(stream, me, left ? "this node has left the cluster" : "", error);
    if (stopped) co_return;
    if (!link) {
      if (left)
        log->debug("refused cluster link from {}: {}", from, error);
      else
        log->warn("refused cluster link from {}: {}", from, error);
      co_return;
    }
    NodeAddress a;
    a.name = link->peer();
    a.host = link->announced_host.empty() ? remote.address().to_string() : link->announced_host;
    a.port = link->announced_port ? link->announced_port : kDefaultClusterPort;
    add_peer(a, true);
    adopt_link(link);
  }

  void connect(Peer& p) {
    if (p.connecting || p.link || stopped || left) return;
    p.connecting = true;
    asio::co_spawn(ctx, connect_one(p.addr), log_failure("outgoing cluster link"));
  }

  asio::awaitable<void> connect_one(NodeAddress a) {
    auto self = shared_from_this();
    std::string error;
    std::shared_ptr<Link> link;
    {
      tcp::resolver resolver(ctx);
      auto [rec, endpoints] = co_await resolver.async_resolve(a.host, std::to_string(a.port), use_tuple);
      if (rec) {
        error = "cannot resolve " + a.host + ": " + rec.message();
      } else {
        tcp::socket socket(ctx);
        auto [cec, ep] = co_await asio::async_connect(socket, endpoints, use_tuple);
        std::unique_ptr<LinkStream> stream;
        if (cec)
          error = cec.message();
        else if (tls)
          stream = co_await tls_stream(std::move(socket), *tls, /*accepting=*/false, error);
        else
          stream = plain_stream(std::move(socket));
        if (stream) link = co_await handshake_connect(stream, me, a.name, error);
      }
    }
    if (stopped) co_return;
    Peer* p = find_peer(a.name);
    if (!p) {  // forgotten meanwhile (it left)
      if (link) link->close("member forgotten");
      co_return;
    }
    p->connecting = false;
    if (!link) {
      // Cookie problems are worth a warning every time; an unreachable member only at debug.
      const bool notable = error.find("cookie") != std::string::npos || error.find("refused by") != std::string::npos ||
                           error.find("not '") != std::string::npos || error.find("TLS") != std::string::npos;
      if (notable)
        log->warn("cluster link to {} ({}:{}) failed: {}", a.name, a.host, a.port, error);
      else
        log->debug("cluster link to {} ({}:{}) failed: {}", a.name, a.host, a.port, error);
      p->next_attempt = clock.now() + p->backoff;
      p->backoff = std::min(p->backoff * 2, kMaxBackoff);
      auto waiters = std::exchange(p->join_waiters, {});
      if (!waiters.empty() && !p->member) forget_peer(a.name);  // a failed join leaves no trace
      for (auto& w : waiters) w(error);
      co_return;
    }
    adopt_link(link);
  }

  // A link that passed the handshake. With two links to one peer (both connected at once) the
  // one opened by the node with the smaller name stays; both ends decide the same way.
  void adopt_link(const std::shared_ptr<Link>& link) {
    Peer* p = find_peer(link->peer());
    if (!p) return;
    const std::string& opener = link->initiator() ? s.node_name : link->peer();
    const std::string& preferred = std::min(s.node_name, link->peer());
    if (p->link) {
      const std::string& current_opener = p->link->initiator() ? s.node_name : link->peer();
      if (current_opener == preferred || opener != preferred) {
        link->close("duplicate link");
        return;
      }
      // What was still on the old link is lost with it: for the handoff protocol (and every
      // pending call) that is the same as the node going down and coming back.
      peer_down(*p, "replaced by a newer link");
    }
    p->link = link;
    p->member = true;
    p->connecting = false;
    p->backoff = 100ms;
    p->last_rx = p->last_heartbeat = clock.now();
    {
      std::unique_lock lk(links_mu);
      links_by_index[p->index] = link;
    }
    std::weak_ptr<Impl> weak = weak_from_this();
    link->start(
        [weak](Link& l, FrameType t, std::string_view payload) {
          if (auto self = weak.lock()) self->on_frame(l, t, payload);
        },
        [weak](Link& l, const std::string& why) {
          if (auto self = weak.lock()) self->on_link_closed(l, why);
        });
    send_initial_sync(*p);
    log->info("node {} is up ({} link)", p->addr.name, link->initiator() ? "outgoing" : "incoming");
    save_members();
    for (auto& w : std::exchange(p->join_waiters, {})) w("");
    handoff->rehome();
    for (auto& l : node_listeners) l(p->addr.name, true);
  }

  void on_link_closed(Link& l, const std::string& why) {
    Peer* p = find_peer(l.peer());
    if (!p || !p->link || p->link->id() != l.id()) return;  // a replaced or duplicate link
    peer_down(*p, why);
  }

  // `graceful`: the link still gets out what is queued on it (this node is leaving).
  void peer_down(Peer& p, const std::string& why, bool graceful = false) {
    auto link = std::exchange(p.link, nullptr);
    if (link && graceful)
      link->close_when_sent(why);
    else if (link)
      link->close(why);
    {
      std::unique_lock lk(links_mu);
      links_by_index[p.index].reset();
    }
    log->warn("node {} is down: {}", p.addr.name, why);
    broker.router().remove_node(p.index);
    std::vector<Done> failed;
    for (auto it = calls.begin(); it != calls.end();) {
      if (it->second.node == p.addr.name) {
        failed.push_back(std::move(it->second.done));
        it = calls.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& d : failed) d(std::nullopt, "node " + p.addr.name + " is down");
    p.next_attempt = clock.now() + p.backoff;
    const std::string name = p.addr.name;
    handoff->node_down(name);
    handoff->rehome();
    for (auto& l : node_listeners) l(name, false);
  }

  void schedule_tick() {
    ticker.expires_after(kTick);
    ticker.async_wait([weak = weak_from_this()](const error_code& ec) {
      if (ec) return;
      if (auto self = weak.lock()) {
        self->tick();
        self->schedule_tick();
      }
    });
  }

  void tick() {
    const auto now = clock.now();
    const auto down_after = s.heartbeat_interval * s.down_after;
    std::vector<Peer*> silent;
    for (auto& [_, p] : peers) {
      if (p.link) {
        if (now - p.last_heartbeat >= s.heartbeat_interval) {
          p.link->send(FrameType::heartbeat, {});
          p.last_heartbeat = now;
        }
        if (now - p.last_rx > down_after) silent.push_back(&p);
      } else if (!p.connecting && !left && now >= p.next_attempt) {
        connect(p);
      }
    }
    for (Peer* p : silent)
      peer_down(*p, fmt::format("no heartbeat for {} ms", std::chrono::duration_cast<std::chrono::milliseconds>(down_after).count()));
    std::vector<Done> expired;
    for (auto it = calls.begin(); it != calls.end();) {
      if (it->second.deadline <= now) {
        expired.push_back(std::move(it->second.done));
        it = calls.erase(it);
      } else {
        ++it;
      }
    }
    for (auto& d : expired) d(std::nullopt, "no answer in time");
    handoff->tick();
  }

  // ---- frames ----------------------------------------------------------------------------

  void on_frame(Link& l, FrameType t, std::string_view payload) {
    Peer* p = find_peer(l.peer());
    if (!p || !p->link || p->link->id() != l.id()) return;
    p->last_rx = clock.now();
    switch (t) {
      case FrameType::heartbeat: return;
      case FrameType::forward: return on_forward(l, p->index, payload);
      case FrameType::deliver: return on_deliver(l, p->index, payload);
      case FrameType::control: return on_control(l, payload);
      default: l.close(fmt::format("unexpected frame type {}", static_cast<int>(t)));
    }
  }

  void on_forward(Link& l, core::NodeIndex origin, std::string_view payload) {
    thread_local std::vector<ForwardRecord> records;
    std::string error;
    if (!decode_forward(payload, clock.now(), records, &error)) {
      l.close("bad forward frame: " + error);
      return;
    }
    for (const auto& r : records) {
      if (r.store_retained) broker.retained().put(r.msg);
      if (r.match_local || !r.shared.empty()) broker.deliver_forwarded(r.msg, r.match_local, r.shared, origin);
    }
    records.clear();
  }

  void on_deliver(Link& l, core::NodeIndex origin, std::string_view payload) {
    DirectDelivery d;
    std::string error;
    if (!decode_deliver(payload, clock.now(), d, &error)) {
      l.close("bad deliver frame: " + error);
      return;
    }
    auto session = broker.registry().find(d.client_id);
    if (!session || !session->deliver_relayed(core::Delivery{d.msg, d.qos, d.retain, std::move(d.sub_ids)}, origin)) {
      relays_without_session.fetch_add(1, std::memory_order_relaxed);
      log->warn("relayed delivery for {} from {} dropped: no handoff from there is open here", d.client_id, l.peer());
    }
  }

  void on_control(Link& l, std::string_view payload) {
    Json msg = Json::from_msgpack(payload, true, false);
    if (msg.is_discarded() || !msg.is_object()) {
      l.close("bad control frame");
      return;
    }
    if (auto r = msg.find("r"); r != msg.end()) {  // a reply
      if (!r->is_number_unsigned()) return;  // no call of ours has such an id
      auto it = calls.find(r->get<std::uint64_t>());
      if (it == calls.end()) return;  // timed out already
      Done done = std::move(it->second.done);
      calls.erase(it);
      if (auto err = msg.find("err"); err != msg.end())
        done(std::nullopt, err->is_string() ? err->get<std::string>() : "remote error");
      else
        done(msg.value("ok", Json()), "");
      return;
    }
    // A peer passed the cookie check, but its messages are still checked: a wrong type gets an
    // error reply (when a reply is asked for), never silence or an exception.
    const auto m = msg.find("m");
    const auto i = msg.find("i");
    const std::string method = m != msg.end() && m->is_string() ? m->get<std::string>() : std::string();
    const std::uint64_t id = i != msg.end() && i->is_number_unsigned() ? i->get<std::uint64_t>() : 0;
    const Json args = msg.contains("a") ? msg["a"] : Json::object();
    std::weak_ptr<Link> reply_to = l.shared_from_this();
    Done reply = [reply_to, id](std::optional<Json> result, std::string error) {
      if (id == 0) return;
      auto link = reply_to.lock();
      if (!link) return;
      Json out{{"r", id}};
      if (result)
        out["ok"] = std::move(*result);
      else
        out["err"] = error;
      link->send(FrameType::control, encode_control(out));
    };
    if (method.empty()) return reply(std::nullopt, "a control message needs a method name (\"m\", a string)");
    if (SessionHandoff::handles(method)) {
      // One-way protocol messages: a reply only if one was asked for.
      const std::string error = handoff->on_message(l.peer(), method, args);
      if (!error.empty()) log->warn("{} from {} refused: {}", method, l.peer(), error);
      if (error.empty())
        reply(Json{{"accepted", true}}, "");
      else
        reply(std::nullopt, error);
      return;
    }
    dispatch(l.peer(), method, args, std::move(reply));
  }

  // Runs a method; one that throws (bad arguments) answers with an error, once.
  void dispatch(const std::string& from, const std::string& method, const Json& args, Done reply) {
    auto it = methods.find(method);
    if (it == methods.end()) return reply(std::nullopt, "unknown method " + method);
    auto answered = std::make_shared<bool>(false);
    Done once = [answered, reply = std::move(reply)](std::optional<Json> result, std::string error) {
      if (*answered) return;
      *answered = true;
      reply(std::move(result), std::move(error));
    };
    try {
      it->second(from, args, once);
    } catch (const std::exception& e) {
      log->warn("{} from {} failed: {}", method, from, e.what());
      once(std::nullopt, "invalid arguments for " + method + ": " + e.what());
    }
  }

  // Sends a notification (no reply) or a request.
  void notify(Peer& p, const std::string& method, Json args) {
    if (!p.link) return;
    p.link->send(FrameType::control, encode_control(Json{{"m", method}, {"i", 0}, {"a", std::move(args)}}));
  }

  void call(const std::string& node, const std::string& method, Json args, Done done) {
    if (node == s.node_name) {
      asio::post(ctx, [self = shared_from_this(), method, args = std::move(args), done = std::move(done)]() mutable {
        self->dispatch(self->s.node_name, method, args, std::move(done));
      });
      return;
    }
    Peer* p = find_peer(node);
    if (!p) return done(std::nullopt, "unknown node " + node);
    if (!p->link) return done(std::nullopt, "node " + node + " is not running");
    const std::uint64_t id = next_call++;
    calls.emplace(id, PendingCall{node, std::move(done), clock.now() + s.rpc_timeout});
    p->link->send(FrameType::control, encode_control(Json{{"m", method}, {"i", id}, {"a", std::move(args)}}));
  }

  void broadcast(const std::string& method, const Json& args) {
    for (auto& [_, p] : peers) notify(p, method, args);
  }

  // ---- what a newly connected peer needs ----------------------------------------------------

  void send_initial_sync(Peer& p) {
    Json members = Json::array({NodeAddress{s.node_name, s.bind_host, me.cluster_port}.to_string()});
    for (const auto& [_, other] : peers)
      if (other.link) members.push_back(other.addr.to_string());
    notify(p, "members.v1", Json{{"members", members}, {"mqtt", s.mqtt_endpoints}});
    notify(p, "routes.sync.v1", Json{{"filters", broker.router().local_filters()}});
    const auto now = clock.now();
    for (const auto& m : broker.retained().all()) {
      if (m->expires_at && *m->expires_at <= now) continue;
      p.link->send_forward(ForwardRecord{m, false, true, {}}, now);
    }
  }

  void flush_route_changes() {
    std::vector<std::pair<std::string, bool>> ops;
    {
      std::lock_guard lk(route_mu);
      ops.swap(route_ops);
      route_flush_posted = false;
    }
    if (ops.empty()) return;
    Json list = Json::array();
    for (auto& [filter, added] : ops) list.push_back(Json::array({added ? "+" : "-", std::move(filter)}));
    broadcast("routes.delta.v1", Json{{"ops", list}});
  }

  bool running(const std::string& node) {
    Peer* p = find_peer(node);
    return p && p->link;
  }

  // ---- HandoffEnv (control thread) ------------------------------------------------------

  const std::string& self() const override { return s.node_name; }
  std::vector<std::string> running() const override { return running_names(); }
  bool is_running(const std::string& node) const override {
    if (node == s.node_name) return true;
    auto it = peers.find(node);
    return it != peers.end() && it->second.link;
  }
  core::NodeIndex index_of(const std::string& node) const override {
    auto it = peers.find(node);
    return it == peers.end() ? 0 : it->second.index;
  }
  void send(const std::string& node, const std::string& method, Json args) override {
    if (node == s.node_name) {
      asio::post(ctx, [weak = weak_from_this(), method, args = std::move(args)] {
        if (auto self = weak.lock(); self && !self->stopped) self->handoff->on_message(self->s.node_name, method, args);
      });
      return;
    }
    if (Peer* p = find_peer(node)) notify(*p, method, std::move(args));
  }
  core::DeliveryForwarder relay_to(const std::string& node, const core::ClientId& client_id) override {
    Peer* p = find_peer(node);
    return forwarder_to(p ? p->index : 0, client_id);
  }
  void quiesce(std::function<void()> then) override {
    auto guarded = [weak = weak_from_this(), then = std::move(then)] {
      if (auto self = weak.lock(); self && !self->stopped) then();
    };
    if (quiescer)
      quiescer(std::move(guarded));
    else
      asio::post(ctx, std::move(guarded));
  }
  void flush_routes() override { flush_route_changes(); }
  void post(std::function<void()> task) override {
    asio::post(ctx, [weak = weak_from_this(), task = std::move(task)] {
      if (auto self = weak.lock(); self && !self->stopped) task();
    });
  }
  util::TimePoint now() const override { return clock.now(); }
  void note(const std::string& what) override { log->debug("handoff: {}", what); }
  std::uint64_t wall_ms() const override {
    return static_cast<std::uint64_t>(
        std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count());
  }

  // ---- SessionLocator (data threads) ----------------------------------------------------

  void locate(const core::ClientId& id, bool clean_start, std::function<void(core::LocateResult)> done) override {
    asio::post(ctx, [weak = weak_from_this(), id, clean_start, done = std::move(done)]() mutable {
      auto self = weak.lock();
      if (!self || self->stopped) return done(core::LocateResult{mqtt::rc::server_unavailable, 0, nullptr});
      self->handoff->connect(id, clean_start, std::move(done));
    });
  }

  // Relays a moving session's deliveries on the link to `index` as it is now: a later link to the
  // same node (after it went down and came back) belongs to another window and gets nothing.
  core::DeliveryForwarder forwarder_to(core::NodeIndex index, const std::string& cid) {
    std::weak_ptr<Link> link;
    {
      std::shared_lock lk(links_mu);
      if (index > 0 && index < links_by_index.size()) link = links_by_index[index];
    }
    return [weak = weak_from_this(), link, cid](const core::Delivery& d) {
      auto self = weak.lock();
      auto l = link.lock();
      if (!self || !l) return;
      l->send_deliver(DirectDelivery{cid, d.msg, d.qos, d.retain, d.sub_ids}, self->clock.now());
      self->relays_sent.fetch_add(1, std::memory_order_relaxed);
    };
  }

  // ---- RemoteForwarder (data threads) ----------------------------------------------------

  bool forward(const core::MessagePtr& m, const std::vector<core::RemoteDelivery>& to, bool may_refuse) override {
    const auto now = clock.now();
    std::shared_lock lk(links_mu);
    // The links the message goes over: every one when retained (each node keeps the retained
    // message; those with routes also deliver it), else those of `to`.
    auto for_each_target = [&](auto&& fn) {
      if (m->retain) {
        for (core::NodeIndex i = 1; i < links_by_index.size(); ++i) {
          if (!links_by_index[i]) continue;
          auto d = std::find_if(to.begin(), to.end(), [i](const core::RemoteDelivery& r) { return r.node == i; });
          fn(*links_by_index[i], d == to.end() ? nullptr : &*d);
        }
        return;
      }
      for (const auto& d : to)
        if (d.node < links_by_index.size() && links_by_index[d.node]) fn(*links_by_index[d.node], &d);
    };
    if (may_refuse && m->qos > 0) {
      // All or nothing: a publisher told 0x97 sends the message again, which must not reach
      // the nodes that did get it a second time.
      bool full = false;
      for_each_target([&](Link& link, const core::RemoteDelivery*) { full = full || link.full_for_reliable(); });
      if (full) {
        forwards_refused.fetch_add(1, std::memory_order_relaxed);
        return false;
      }
    }
    for_each_target([&](Link& link, const core::RemoteDelivery* d) {
      ForwardRecord r{m, d && d->match_local, m->retain, d ? d->shared : std::vector<std::string>{}};
      if (!link.send_forward(r, now)) forwards_dropped_qos0.fetch_add(1, std::memory_order_relaxed);
    });
    return true;
  }

  // ---- built-in methods ------------------------------------------------------------------

  void register_builtin_methods() {
    methods["members.v1"] = [this](const std::string& from, const Json& a, Done) {
      if (Peer* p = find_peer(from)) p->mqtt_endpoints = a.value("mqtt", std::vector<std::string>{});
      for (const auto& text : a.value("members", std::vector<std::string>{})) {
        auto addr = parse_node_address(text);
        if (!addr || addr->name == s.node_name) continue;
        if (!find_peer(addr->name) || !find_peer(addr->name)->member) {
          add_peer(*addr, true);
          save_members();
        }
      }
    };
    methods["routes.sync.v1"] = [this](const std::string& from, const Json& a, Done) {
      Peer* p = find_peer(from);
      if (!p) return;
      broker.router().remove_node(p->index);
      for (const auto& f : a.value("filters", std::vector<std::string>{})) broker.router().add_remote(p->index, f);
    };
    methods["routes.delta.v1"] = [this](const std::string& from, const Json& a, Done) {
      Peer* p = find_peer(from);
      if (!p) return;
      for (const auto& op : a.value("ops", Json::array())) {
        const std::string filter = op.at(1).get<std::string>();
        if (op.at(0).get<std::string>() == "+")
          broker.router().add_remote(p->index, filter);
        else
          broker.router().remove_remote(p->index, filter);
      }
    };
    methods["reg.lookup.v1"] = [this](const std::string&, const Json& a, Done reply) {
      auto owner = handoff->registry().owner(a.at("c").get<std::string>());
      reply(Json{{"owner", owner ? Json(owner->node) : Json()}}, "");
    };
    methods["cluster.leave.v1"] = [this](const std::string& from, const Json&, Done) {
      Peer* p = find_peer(from);
      if (!p) return;
      log->info("node {} left the cluster", from);
      peer_down(*p, "left the cluster");
      forget_peer(from);
      save_members();
    };
  }

  // Every migrated session: the messages it held before export against what it holds after the
  // import (more is fine: new deliveries may already have arrived).
  void audit_migration(const std::string& cid, const std::string& node, std::uint64_t held, std::uint64_t now_held) {
    audit.sessions.fetch_add(1, std::memory_order_relaxed);
    if (now_held >= held) return;
    audit.mismatches.fetch_add(1, std::memory_order_relaxed);
    audit.messages_lost.fetch_add(held - now_held, std::memory_order_relaxed);
    log->error("migration audit: session {} held {} message(s) before export, {} after import on {}", cid, held, now_held,
               node);
  }

  struct Audit {
    std::atomic<std::uint64_t> sessions{0}, mismatches{0}, messages_lost{0};
  } audit;
  std::atomic<std::uint64_t> relays_without_session{0};
  std::atomic<std::uint64_t> relays_sent{0};
  std::atomic<std::uint64_t> forwards_dropped_qos0{0};
  std::atomic<std::uint64_t> forwards_refused{0};

  // ---- membership operations -------------------------------------------------------------

  void join(const std::string& text, std::function<void(std::string)> done) {
    if (!s.enabled) return done(kClusteringOff);
    auto a = parse_node_address(text);
    if (!a) return done("bad node name '" + text + "': expected name@host[:port]");
    if (a->name == s.node_name) return done("cannot join this node itself");
    left = false;
    Peer& p = add_peer(*a, false);
    if (p.link) return done("");
    p.join_waiters.push_back(std::move(done));
    p.next_attempt = clock.now();
    connect(p);
  }

  void leave() {
    broadcast("cluster.leave.v1", Json::object());
    left = true;
    for (auto& [_, p] : peers)
      if (p.link) peer_down(p, "this node left the cluster", /*graceful=*/true);
    for (auto& [_, p] : peers) broker.router().remove_node(p.index);
    peers.clear();
    index_names.clear();
    save_members();
    log->info("left the cluster");
  }
};

Cluster::Cluster(ClusterSettings settings, asio::io_context& control, core::Broker& broker)
    : impl_(std::make_shared<Impl>(std::move(settings), control, broker)) {}
Cluster::~Cluster() { impl_->stop(); }

void Cluster::set_quiescer(std::function<void(std::function<void()>)> quiescer) { impl_->quiescer = std::move(quiescer); }
bool Cluster::start() { return impl_->start(); }
void Cluster::stop() { impl_->stop(); }
const std::string& Cluster::self() const { return impl_->s.node_name; }
const ClusterSettings& Cluster::settings() const { return impl_->s; }

std::vector<Member> Cluster::members() const {
  std::vector<Member> out{Member{impl_->s.node_name, true, true, impl_->s.mqtt_endpoints}};
  for (const auto& [name, p] : impl_->peers)
    if (p.member) out.push_back(Member{name, p.link != nullptr, false, p.mqtt_endpoints});
  std::sort(out.begin(), out.end(), [](const Member& a, const Member& b) { return a.name < b.name; });
  return out;
}

std::vector<std::string> Cluster::running_members() const { return impl_->running_names(); }

void Cluster::register_method(const std::string& method, SyncMethod handler) {
  impl_->methods[method] = [handler = std::move(handler)](const std::string&, const Json& args, Done reply) {
    std::optional<Json> result;
    std::string error;
    try {
      result = handler(args);
    } catch (const std::exception& e) {
      error = e.what();
    }
    reply(std::move(result), error);
  };
}

void Cluster::register_async_method(const std::string& method, AsyncMethod handler) {
  impl_->methods[method] = [handler = std::move(handler)](const std::string&, const Json& args, Done reply) {
    handler(args, std::move(reply));
  };
}

void Cluster::unregister_method(const std::string& method) { impl_->methods.erase(method); }

void Cluster::call(const std::string& node, const std::string& method, Json args, Done done) {
  impl_->call(node, method, std::move(args), std::move(done));
}

void Cluster::join(const std::string& address, std::function<void(std::string)> done) {
  impl_->join(address, std::move(done));
}
std::string Cluster::leave() {
  if (!impl_->s.enabled) return kClusteringOff;
  impl_->leave();
  return "";
}

void Cluster::add_node_listener(std::function<void(const std::string&, bool)> listener) {
  impl_->node_listeners.push_back(std::move(listener));
}

void Cluster::find_client(const std::string& cid, std::function<void(std::string, std::string)> done) {
  if (impl_->broker.registry().find(cid)) return done(impl_->s.node_name, "");
  const std::string home = home_of(cid, impl_->running_names());
  if (home == impl_->s.node_name) {
    auto owner = impl_->handoff->registry().owner(cid);
    return done(owner ? owner->node : "", "");
  }
  impl_->call(home, "reg.lookup.v1", Json{{"c", cid}}, [done = std::move(done)](std::optional<Json> r, std::string error) {
    if (!r) return done("", error);
    done(r->is_object() && (*r)["owner"].is_string() ? (*r)["owner"].get<std::string>() : "", "");
  });
}

void Cluster::migrate_sessions(std::vector<std::string> client_ids, const std::string& node, MigrationDone done) {
  if (!impl_->s.enabled) {
    MigrationFailures failed;
    for (auto& id : client_ids) failed.emplace_back(std::move(id), kClusteringOff);
    return done(std::move(failed));
  }
  impl_->handoff->migrate(std::move(client_ids), node, std::move(done));
}

std::vector<std::pair<std::string, std::string>> Cluster::routes() const {
  std::vector<std::pair<std::string, std::string>> out;
  for (auto& [filter, nodes] : impl_->broker.router().routes()) {
    for (core::NodeIndex n : nodes) {
      if (n == 0) {
        out.emplace_back(filter, impl_->s.node_name);
      } else if (auto it = impl_->index_names.find(n); it != impl_->index_names.end()) {
        out.emplace_back(filter, it->second);
      }
    }
  }
  return out;
}

std::string Cluster::render_metrics() const {
  if (!impl_->s.enabled) return "";  // a cluster of one hands nothing off
  const HandoffStats& h = impl_->handoff->stats();
  util::PrometheusText w;
  auto family = [&](const char* name, const char* help) { w.family(name, "counter", help); };
  auto sample = [&](const char* name, const char* labels, std::uint64_t v) { w.sample(name, v, labels); };
  family("tidemq_handoff_takeovers_total", "Sessions taken over across nodes at CONNECT, by direction.");
  sample("tidemq_handoff_takeovers_total", "direction=\"in\"", h.takeovers_in);
  sample("tidemq_handoff_takeovers_total", "direction=\"out\"", h.takeovers_out);
  family("tidemq_handoff_migrations_total", "Session migrations, by outcome.");
  sample("tidemq_handoff_migrations_total", "outcome=\"out\"", h.migrations_out);
  sample("tidemq_handoff_migrations_total", "outcome=\"in\"", h.migrations_in);
  sample("tidemq_handoff_migrations_total", "outcome=\"failed\"", h.migrations_failed);
  sample("tidemq_handoff_migrations_total", "outcome=\"fenced\"", h.migrations_fenced);
  sample("tidemq_handoff_migrations_total", "outcome=\"superseded\"", h.migrations_superseded);
  family("tidemq_handoff_epochs_fenced_total", "Stale session copies discarded because a newer ownership epoch exists.");
  sample("tidemq_handoff_epochs_fenced_total", "", h.stale_copies_discarded);
  family("tidemq_handoff_stale_requests_total", "Takeover requests refused as older than this node's claim.");
  sample("tidemq_handoff_stale_requests_total", "", h.stale_requests);
  family("tidemq_handoff_windows_total", "Handoff windows, by side and how they ended.");
  sample("tidemq_handoff_windows_total", "side=\"new\",end=\"closed\"", h.windows_closed);
  sample("tidemq_handoff_windows_total", "side=\"old\",end=\"ended\"", h.relays_ended);
  sample("tidemq_handoff_windows_total", "side=\"old\",end=\"node_down\"", h.relays_dropped);
  family("tidemq_handoff_forwards_total", "Deliveries relayed to a session's new node after it moved, by outcome.");
  sample("tidemq_handoff_forwards_total", "outcome=\"sent\"", impl_->relays_sent.load(std::memory_order_relaxed));
  sample("tidemq_handoff_forwards_total", "outcome=\"no_session\"", impl_->relays_without_session.load(std::memory_order_relaxed));
  family("tidemq_handoff_duplicates_dropped_total", "Deliveries dropped by a moved session's gate, by kind.");
  sample("tidemq_handoff_duplicates_dropped_total", "kind=\"relayed_twice\"", h.duplicates_dropped);
  sample("tidemq_handoff_duplicates_dropped_total", "kind=\"before_barrier\"", h.copies_dropped);
  family("tidemq_handoff_connects_refused_total", "CONNECTs answered 0x88 because the cluster could not locate the session in time.");
  sample("tidemq_handoff_connects_refused_total", "", h.connects_refused);
  family("tidemq_handoff_bad_messages_total", "Handoff protocol messages with bad arguments (ignored).");
  sample("tidemq_handoff_bad_messages_total", "", h.bad_messages);
  family("tidemq_cluster_forwards_dropped_total", "QoS 0 publishes not forwarded because a cluster link was full.");
  sample("tidemq_cluster_forwards_dropped_total", "", impl_->forwards_dropped_qos0.load(std::memory_order_relaxed));
  family("tidemq_cluster_forwards_refused_total", "QoS 1/2 publishes refused to their publisher (MQTT 0x97, HTTP 503) because a cluster link was full; nothing of them was delivered.");
  sample("tidemq_cluster_forwards_refused_total", "", impl_->forwards_refused.load(std::memory_order_relaxed));
  return w.take();
}

MigrationAudit Cluster::migration_audit() const {
  return MigrationAudit{impl_->audit.sessions.load(), impl_->audit.mismatches.load(), impl_->audit.messages_lost.load()};
}

core::RemoteForwarder& Cluster::forwarder() { return *impl_; }
core::SessionLocator& Cluster::locator() { return *impl_; }

}  // namespace tidemq::cluster
