#include "core/session.hpp"

#include <random>

namespace tidemq::core {

namespace {
thread_local std::uint64_t next_uid = 0;  // 0: not drawn yet
}

std::uint64_t new_message_uid() {
  // A random base per thread keeps ids unique across threads and nodes without a shared counter.
  if (next_uid == 0) {
    std::random_device rd;
    next_uid = (static_cast<std::uint64_t>(rd()) << 32 | rd()) | 1;
  }
  std::uint64_t id = next_uid++;
  return id == 0 ? next_uid++ : id;
}

void set_message_uid_base(std::uint64_t base) { next_uid = base == 0 ? 1 : base; }

std::uint16_t SessionState::allocate_packet_id() {
  // Skip 0 and ids still in flight; the inflight window is far below 65535 in practice.
  for (int tries = 0; tries < 65536; ++tries) {
    std::uint16_t id = next_packet_id++;
    if (next_packet_id == 0) next_packet_id = 1;
    if (id != 0 && !inflight.contains(id)) return id;
  }
  return 0;
}

std::shared_ptr<SessionOwner> Session::enqueue_locked(Delivery d, bool& overflow) {
  if (state_.discarded) return nullptr;
  if (state_.queue.size() >= max_queue_) {
    state_.queue.pop_front();
    ++state_.dropped;
    overflow = true;
  }
  state_.queue.push_back(std::move(d));
  if (state_.notify_pending || !state_.owner_token) return nullptr;
  auto wake = state_.owner.lock();
  if (wake) state_.notify_pending = true;
  return wake;
}

bool Session::deliver(Delivery d, NodeIndex origin) {
  std::shared_ptr<SessionOwner> wake;
  bool overflow = false;
  {
    std::lock_guard lk(mu_);
    if (auto* h = state_.handoff.get()) [[unlikely]] {
      if (h->relay) {
        if (h->relay_held)
          h->waiting.push_back(std::move(d));  // until the snapshot is sent
        else
          h->relay(d);  // the old copy of a session that moved: pass it on, in order
        return true;
      }
      if (h->gate && origin != kBypassGate) {
        switch (h->gate->on_direct(origin, d.msg->uid)) {
          case HandoffGate::Verdict::drop: return true;
          case HandoffGate::Verdict::hold:
            if (!h->gate->hold(std::move(d), max_queue_)) ++state_.dropped;
            return true;
          case HandoffGate::Verdict::deliver: break;
        }
      }
    }
    wake = enqueue_locked(std::move(d), overflow);
  }
  if (wake) wake->notify();
  return !overflow;
}

bool Session::deliver_relayed(Delivery d, NodeIndex from) {
  std::shared_ptr<SessionOwner> wake;
  bool overflow = false;
  {
    std::lock_guard lk(mu_);
    auto* h = state_.handoff.get();
    if (!h || !h->gate || h->gate->from() != from || h->gate->ended()) return false;
    h->gate->on_relayed(d.msg->uid);
    wake = enqueue_locked(std::move(d), overflow);
  }
  if (wake) wake->notify();
  return true;
}

void Session::open_relay() {
  std::lock_guard lk(mu_);
  auto* h = state_.handoff.get();
  if (!h || !h->relay || !h->relay_held) return;
  for (const auto& d : h->waiting) h->relay(d);
  h->waiting.clear();
  h->relay_held = false;
}

template <class Event>
HandoffGate::Outcome Session::window_event(Event&& event) {
  std::lock_guard lk(mu_);
  auto* h = state_.handoff.get();
  if (!h || !h->gate) return {};
  event(*h->gate);
  auto out = h->gate->outcome();
  if (out.closed) state_.handoff.reset();
  return out;
}

HandoffGate::Outcome Session::handoff_mark(NodeIndex origin) {
  return window_event([origin](HandoffGate& g) { g.on_mark(origin); });
}

HandoffGate::Outcome Session::handoff_flushed(NodeIndex origin) {
  return window_event([origin](HandoffGate& g) { g.on_flushed(origin); });
}

HandoffGate::Outcome Session::handoff_end() {
  std::shared_ptr<SessionOwner> wake;
  HandoffGate::Outcome out;
  {
    std::lock_guard lk(mu_);
    auto* h = state_.handoff.get();
    if (!h || !h->gate) return {};
    bool overflow = false;
    for (auto& d : h->gate->on_end())
      if (auto w = enqueue_locked(std::move(d), overflow)) wake = std::move(w);
    out = h->gate->outcome();
    if (out.closed) state_.handoff.reset();
  }
  if (wake) wake->notify();
  return out;
}

}  // namespace tidemq::core
