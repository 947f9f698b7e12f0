#include "core/session.hpp"

#include <random>

namespace tidemq::core {

std::uint64_t new_message_uid() {
  // A random base per thread keeps ids unique across threads and nodes without a shared counter.
  thread_local std::uint64_t next = [] {
    std::random_device rd;
    return (static_cast<std::uint64_t>(rd()) << 32 | rd()) | 1;
  }();
  std::uint64_t id = next++;
  return id == 0 ? next++ : id;
}

std::uint16_t SessionState::allocate_packet_id() {
  // Skip 0 and ids still in flight; the inflight window is far below 65535 in practice.
  for (int tries = 0; tries < 65536; ++tries) {
    std::uint16_t id = next_packet_id++;
    if (next_packet_id == 0) next_packet_id = 1;
    if (id != 0 && !inflight.contains(id)) return id;
  }
  return 0;
}

bool Session::deliver(Delivery d) {
  constexpr std::size_t kMaxSeen = 1'000'000;  // beyond this, stop de-duplicating rather than grow
  std::shared_ptr<SessionOwner> wake;
  std::shared_ptr<const DeliveryForwarder> forward;
  bool overflow = false;
  {
    std::lock_guard lk(mu_);
    if (auto* h = state_.handoff.get()) [[unlikely]] {
      if (h->forward) {
        forward = h->forward;
      } else if (d.msg->uid != 0 && h->seen.size() < kMaxSeen && !h->seen.insert(d.msg->uid).second) {
        return true;  // already delivered through the other path
      }
    }
    if (!forward) {
      if (state_.discarded) return true;
      if (state_.queue.size() >= max_queue_) {
        state_.queue.pop_front();
        ++state_.dropped;
        overflow = true;
      }
      state_.queue.push_back(std::move(d));
      if (!state_.notify_pending && state_.owner_token) {
        wake = state_.owner.lock();
        if (wake) state_.notify_pending = true;
      }
    }
  }
  if (forward) {
    (*forward)(d);
    return true;
  }
  if (wake) wake->notify();
  return !overflow;
}

}  // namespace tidemq::core
