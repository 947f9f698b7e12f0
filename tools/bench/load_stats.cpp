// Summing the workers' counters into Totals.
#include "load_stats.hpp"

#include <algorithm>

namespace tidemq::bench {

void Totals::add(const Stats& s, bool histograms) {
  started += s.started.get();
  connected += s.connected.get();
  conn_failed += s.conn_failed.get();
  subscribed += s.subscribed.get();
  sub_failed += s.sub_failed.get();
  settled += s.settled.get();
  closed += s.closed.get();
  dropped += s.dropped.get();
  sock_open += s.sock_open.get();
  sock_closed += s.sock_closed.get();
  pub_sent += s.pub_sent.get();
  pub_acked += s.pub_acked.get();
  pub_errors += s.pub_errors.get();
  pubs_done += s.pubs_done.get();
  recv += s.recv.get();
  recv_bytes += s.recv_bytes.get();
  unique += s.unique.get();
  dup += s.dup.get();
  ooo += s.ooo.get();
  too_old += s.too_old.get();
  unstamped += s.unstamped.get();
  last_connack = std::max(last_connack, s.last_connack.load(std::memory_order_relaxed));
  std::uint64_t fr = s.first_recv.load(std::memory_order_relaxed);
  if (fr && (!first_recv || fr < first_recv)) first_recv = fr;
  last_recv = std::max(last_recv, s.last_recv.load(std::memory_order_relaxed));
  if (!histograms) return;
  connack.merge(s.connack.snapshot());
  latency.merge(s.latency.snapshot());
  ack.merge(s.ack.snapshot());
}

}  // namespace tidemq::bench
