// Node-wide counters. Relaxed atomics: read for reporting, never for control decisions.
#pragma once

#include <atomic>
#include <cstdint>

namespace tidemq::core {

struct Stats {
  using Counter = std::atomic<std::uint64_t>;
  Counter messages_received[3] = {};   // by QoS
  Counter messages_sent[3] = {};       // by QoS
  Counter messages_dropped_queue_full{0};   // offline/pending queue overflow (oldest dropped)
  Counter messages_dropped_too_large{0};    // larger than the client's Maximum Packet Size
  Counter messages_dropped_no_subscribers{0};
  Counter messages_expired{0};
  Counter bytes_received{0};
  Counter bytes_sent{0};
  Counter connections_refused{0};
  Counter protocol_errors{0};
  Counter auth_failures{0};
  Counter messages_denied{0};                // publishes refused by authorization

  // High-water marks, sampled by the housekeeping sweep.
  Counter connections_max{0};
  Counter sessions_max{0};
  Counter subscriptions_max{0};
  Counter topics_max{0};
  Counter retained_max{0};

  static void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
  static void raise(Counter& c, std::uint64_t v) {
    auto cur = c.load(std::memory_order_relaxed);
    while (v > cur && !c.compare_exchange_weak(cur, v, std::memory_order_relaxed)) {
    }
  }
};

}  // namespace tidemq::core
