// Keep-alive bookkeeping (MQTT: the server closes a connection that sends nothing for 1.5 × the
// keep-alive). Pure: the connection feeds it activity and asks it for the next deadline.
#pragma once

#include <chrono>
#include <cstdint>

#include "tidemq/util/clock.hpp"

namespace tidemq::core {

class KeepAliveWatch {
 public:
  // keep_alive_seconds == 0 disables the check.
  void start(std::uint16_t keep_alive_seconds, util::TimePoint now) {
    start_with_timeout(std::chrono::milliseconds(std::uint64_t{keep_alive_seconds} * 1500), now);
  }
  // A plain deadline, e.g. the time a new connection has to send CONNECT.
  void start_with_timeout(std::chrono::milliseconds timeout, util::TimePoint now) {
    timeout_ = timeout;
    last_activity_ = now;
  }
  void on_activity(util::TimePoint now) { last_activity_ = now; }
  bool enabled() const { return timeout_.count() > 0; }
  bool expired(util::TimePoint now) const { return enabled() && now - last_activity_ >= timeout_; }
  util::TimePoint deadline() const { return last_activity_ + timeout_; }
  std::chrono::milliseconds timeout() const { return timeout_; }

 private:
  std::chrono::milliseconds timeout_{0};
  util::TimePoint last_activity_{};
};

}  // namespace tidemq::core
