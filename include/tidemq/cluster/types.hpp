// Value types of the cluster that the broker's cluster layer and plugins share: a member as others
// see it, the completion of a cluster call, and what a session migration reports.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "tidemq/core/types.hpp"

namespace tidemq::cluster {

using Json = nlohmann::json;

struct Member {
  std::string name;
  bool running = false;
  bool self = false;
  std::vector<std::string> mqtt_endpoints;  // "host:port" of its MQTT listeners
};

// The result of a cluster call: a value, or an error message.
using Done = std::function<void(std::optional<Json> result, std::string error)>;

// The sessions of a migration that did not move, each with why; empty when all moved.
using MigrationFailures = std::vector<std::pair<core::ClientId, std::string>>;
using MigrationDone = std::function<void(MigrationFailures failed)>;

// Migrations sent from a node: sessions sent, sessions whose message count dropped between export
// and import, messages lost that way.
struct MigrationAudit {
  std::uint64_t sessions = 0;
  std::uint64_t mismatches = 0;
  std::uint64_t messages_lost = 0;
};

}  // namespace tidemq::cluster
