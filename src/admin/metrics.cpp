// Prometheus text exposition (format 0.0.4).
#include <dirent.h>
#include <unistd.h>

#include <fstream>

#include <fmt/format.h>

#include "admin/broker_api.hpp"
#include "tidemq/util/prometheus.hpp"

namespace tidemq::admin {

namespace {


double resident_bytes() {
  std::ifstream in("/proc/self/statm");
  long pages_total = 0, pages_resident = 0;
  in >> pages_total >> pages_resident;
  return static_cast<double>(pages_resident) * static_cast<double>(sysconf(_SC_PAGESIZE));
}

double open_fds() {
  double n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') ++n;
    closedir(d);
    n -= 1;  // the directory handle itself
  }
  return n;
}

}  // namespace

std::string render_metrics(core::Broker& broker, const NodeInfo& node) {
  auto& s = broker.stats();
  auto& reg = broker.registry();
  util::PrometheusText w;
  auto val = [](const core::Stats::Counter& c) { return static_cast<double>(c.load(std::memory_order_relaxed)); };
  w.family("tidemq_connections", "gauge", "Connected MQTT clients.");
  w.sample("tidemq_connections", static_cast<double>(reg.connection_count()));
  w.family("tidemq_sessions", "gauge", "Sessions on this node by state.");
  w.sample("tidemq_sessions", static_cast<double>(reg.connection_count()), "state=\"connected\"");
  w.sample("tidemq_sessions", static_cast<double>(reg.offline_session_count()), "state=\"disconnected\"");
  w.family("tidemq_subscriptions", "gauge", "Subscriptions.");
  w.sample("tidemq_subscriptions", static_cast<double>(broker.router().subscription_count()));
  w.family("tidemq_topics", "gauge", "Distinct subscribed topic filters.");
  w.sample("tidemq_topics", static_cast<double>(broker.router().filter_count()));
  w.family("tidemq_retained_messages", "gauge", "Retained messages.");
  w.sample("tidemq_retained_messages", static_cast<double>(broker.retained().size()));
  w.family("tidemq_messages_received_total", "counter", "PUBLISH packets received from clients, by QoS.");
  for (int q = 0; q < 3; ++q) w.sample("tidemq_messages_received_total", val(s.messages_received[q]), fmt::format("qos=\"{}\"", q));
  w.family("tidemq_messages_sent_total", "counter", "PUBLISH packets sent to clients, by QoS.");
  for (int q = 0; q < 3; ++q) w.sample("tidemq_messages_sent_total", val(s.messages_sent[q]), fmt::format("qos=\"{}\"", q));
  w.family("tidemq_messages_dropped_total", "counter", "Messages dropped, by reason.");
  w.sample("tidemq_messages_dropped_total", val(s.messages_dropped_queue_full), "reason=\"queue_full\"");
  w.sample("tidemq_messages_dropped_total", val(s.messages_dropped_too_large), "reason=\"too_large\"");
  w.sample("tidemq_messages_dropped_total", val(s.messages_dropped_no_subscribers), "reason=\"no_subscribers\"");
  w.sample("tidemq_messages_dropped_total", val(s.messages_expired), "reason=\"expired\"");
  w.sample("tidemq_messages_dropped_total", val(s.messages_denied), "reason=\"not_authorized\"");
  w.family("tidemq_bytes_received_total", "counter", "MQTT bytes received.");
  w.sample("tidemq_bytes_received_total", val(s.bytes_received));
  w.family("tidemq_bytes_sent_total", "counter", "PUBLISH bytes sent.");
  w.sample("tidemq_bytes_sent_total", val(s.bytes_sent));
  w.family("tidemq_connections_refused_total", "counter", "CONNECTs answered with a failure CONNACK.");
  w.sample("tidemq_connections_refused_total", val(s.connections_refused));
  w.family("tidemq_auth_failures_total", "counter", "CONNECTs refused by authentication.");
  w.sample("tidemq_auth_failures_total", val(s.auth_failures));
  w.family("tidemq_protocol_errors_total", "counter", "Connections closed for malformed packets or protocol errors.");
  w.sample("tidemq_protocol_errors_total", val(s.protocol_errors));
  w.family("tidemq_uptime_seconds", "gauge", "Seconds since the node started.");
  w.sample("tidemq_uptime_seconds",
           std::chrono::duration<double>(broker.clock().now() - node.started_at).count());
  w.family("tidemq_process_resident_memory_bytes", "gauge", "Resident set size of the node process.");
  w.sample("tidemq_process_resident_memory_bytes", resident_bytes());
  w.family("tidemq_process_open_fds", "gauge", "Open file descriptors of the node process.");
  w.sample("tidemq_process_open_fds", open_fds());
  return w.take();
}

}  // namespace tidemq::admin
