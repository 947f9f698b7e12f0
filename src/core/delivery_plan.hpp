// Turns the route targets of one message into the copies each local session gets.
//
// MQTT 3.1.1 and MQTT 5 clients get ONE copy however many of their subscriptions match, at the
// highest QoS granted among them (capped by the message's QoS). For MQTT 5 that copy carries the
// Subscription Identifiers of all of them (MQTT-3.3.4-3/4). A No Local subscription does not match
// its own client's publish: it adds neither a copy nor its identifier. Shared subscriptions of an
// MQTT 5 client are not merged: each picked member gets its own copy, as the specification has it.
// A 3.1.1 client's shared and plain subscriptions fold together (3.1.1 has no shared subscriptions;
// one copy is what such a client expects).
#pragma once

#include <cstdint>
#include <vector>

#include "core/delivery.hpp"
#include "core/router.hpp"

namespace tidemq::core {

struct PlannedCopy {
  Session* session;  // valid while the caller holds the targets
  std::uint8_t qos;
  bool retain;
  SubscriptionIds sub_ids;
};

// Fills `out` (cleared first) with one entry per copy, in the order of each copy's first target,
// so that a fan-out's order does not depend on where sessions sit in memory. Remote targets are
// skipped (the caller forwards those).
void plan_copies(const Message& m, const std::vector<RouteTarget>& targets, std::vector<PlannedCopy>& out);

}  // namespace tidemq::core
