#include "net/admission.hpp"

#include <fmt/format.h>

#include "tidemq/util/prometheus.hpp"

namespace tidemq::net {

Admission::Admission(std::string label, ListenerLimits limits, const util::Clock& clock)
    : limits_(limits), clock_(clock), load_(std::make_shared<ListenerLoad>(std::move(label))) {
  if (limits_.max_conn_rate > 0) rate_.emplace(clock_, limits_.max_conn_rate);
}

util::Duration Admission::accept_delay() {
  if (!rate_ || rate_->obtain_up_to(1) == 1) return util::Duration::zero();
  load_->paused.fetch_add(1, std::memory_order_relaxed);
  return std::max(rate_->time_until_available(), util::Duration(std::chrono::milliseconds(1)));
}

std::optional<ListenerSlot> Admission::admit() {
  // Only the control thread adds, so a load-then-add cannot overshoot the limit.
  if (limits_.max_connections != 0 && load_->open.load(std::memory_order_relaxed) >= limits_.max_connections) {
    load_->refused.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
  }
  load_->open.fetch_add(1, std::memory_order_relaxed);
  load_->accepted.fetch_add(1, std::memory_order_relaxed);
  return ListenerSlot(load_);
}

bool Admission::should_log_refusal() {
  const auto now = clock_.now();
  if (last_refusal_log_ && now - *last_refusal_log_ < std::chrono::seconds(10)) return false;
  last_refusal_log_ = now;
  return true;
}

std::string render_listener_metrics(const std::vector<std::shared_ptr<ListenerLoad>>& loads) {
  util::PrometheusText w;
  auto per_listener = [&](const char* name, const char* type, const char* help, auto value) {
    w.family(name, type, help);
    for (const auto& l : loads)
      w.sample(name, value(*l).load(std::memory_order_relaxed), fmt::format("listener=\"{}\"", l->label));
  };
  per_listener("tidemq_listener_connections", "gauge", "Open sockets per MQTT listener, including those before CONNECT.",
               [](const ListenerLoad& l) -> auto& { return l.open; });
  per_listener("tidemq_listener_accepted_total", "counter", "Sockets accepted per MQTT listener.",
               [](const ListenerLoad& l) -> auto& { return l.accepted; });
  per_listener("tidemq_listener_refused_total", "counter",
               "Sockets closed at once because the listener was at its max_connections.",
               [](const ListenerLoad& l) -> auto& { return l.refused; });
  per_listener("tidemq_listener_accept_paused_total", "counter",
               "Times a listener paused accepting to keep to its max_conn_rate.",
               [](const ListenerLoad& l) -> auto& { return l.paused; });
  return w.take();
}

}  // namespace tidemq::net
