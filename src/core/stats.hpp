// Node-wide counters. Relaxed atomics: read for reporting, never for control decisions.
#pragma once

#include <atomic>
#include <cstdint>

namespace tidemq::core {

struct Stats {
  using Counter = std::atomic<std::uint64_t>;
  Counter messages_received{0};
  Counter messages_sent{0};
  Counter messages_dropped_queue_full{0};   // offline/pending queue overflow (oldest dropped)
  Counter messages_dropped_too_large{0};    // larger than the client's Maximum Packet Size
  Counter messages_dropped_no_subscribers{0};
  Counter messages_expired{0};
  Counter bytes_received{0};
  Counter bytes_sent{0};
  Counter connections_refused{0};
  Counter protocol_errors{0};

  static void add(Counter& c, std::uint64_t n = 1) { c.fetch_add(n, std::memory_order_relaxed); }
};

}  // namespace tidemq::core
