#include "core/session.hpp"

namespace tidemq::core {

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
  std::shared_ptr<SessionOwner> wake;
  bool overflow = false;
  {
    std::lock_guard lk(mu_);
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
  if (wake) wake->notify();
  return !overflow;
}

}  // namespace tidemq::core
