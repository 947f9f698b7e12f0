// Counters of a load run: Stats per worker (written by its thread only, read by the control
// thread) and Totals, their sum at one moment.
#pragma once

#include <atomic>
#include <cstdint>

#include "histogram.hpp"

namespace tidemq::bench {

struct alignas(64) Stats {
  Counter started;     // TCP connects begun
  Counter connected;   // CONNACK success
  Counter conn_failed; // never got a successful CONNACK
  Counter subscribed;
  Counter sub_failed;
  Counter settled;     // reached ready, or failed, during setup
  Counter closed;      // connections with a CONNACK that are closed again (any reason)
  Counter dropped;     // of those: closed by the peer or an error while the run was going on
  Counter sock_open, sock_closed;
  Counter pub_sent, pub_acked, pub_errors, pubs_done;
  Counter recv, recv_bytes, unique, dup, ooo, too_old, unstamped;
  std::atomic<std::uint64_t> last_connack{0};
  std::atomic<std::uint64_t> first_recv{0}, last_recv{0};
  AtomicHistogram connack;  // TCP connect start → CONNACK
  AtomicHistogram latency;  // publish → receive (payload timestamp)
  AtomicHistogram ack;      // publish → PUBACK / PUBCOMP
};

struct Totals {
  std::uint64_t started = 0, connected = 0, conn_failed = 0, subscribed = 0, sub_failed = 0, settled = 0,
                closed = 0, dropped = 0, sock_open = 0, sock_closed = 0, pub_sent = 0, pub_acked = 0,
                pub_errors = 0, pubs_done = 0, recv = 0, recv_bytes = 0, unique = 0, dup = 0, ooo = 0,
                too_old = 0, unstamped = 0, last_connack = 0, first_recv = 0, last_recv = 0;
  Histogram connack, latency, ack;
  std::uint64_t open() const { return connected - closed; }

  // Adds one worker's counters (and, unless `histograms` is false, its histograms: the costly part).
  void add(const Stats& s, bool histograms);
};

}  // namespace tidemq::bench
