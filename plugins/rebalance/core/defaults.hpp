// Every default and fixed constant of node evacuation and cluster rebalance, in one place
// (docs/rebalance.md, "Evacuation options", "Rebalance options", "Value ranges", "Constants").
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tidemq::rebalance {

// ---- option defaults ----
inline constexpr std::uint32_t kDefaultConnEvictRate = 500;
inline constexpr std::uint32_t kDefaultSessEvictRate = 500;
inline constexpr std::uint32_t kDefaultAbsConnThreshold = 1000;
inline constexpr std::uint32_t kDefaultAbsSessThreshold = 1000;
inline constexpr double kDefaultRelConnThreshold = 1.1;
inline constexpr double kDefaultRelSessThreshold = 1.1;
inline constexpr std::chrono::seconds kDefaultRebalanceWaitHealthCheck{60};
inline constexpr std::chrono::seconds kDefaultEvacuationWaitHealthCheck{0};   // refuse at once
inline constexpr std::chrono::seconds kDefaultWaitTakeover{60};
inline constexpr std::chrono::milliseconds kDefaultEvictRpcTimeout{15000};
// Start bodies nest two levels at most ({"nodes":[...]}); deeper ones are refused unread.
inline constexpr std::size_t kMaxBodyNesting = 32;

// ---- ranges (docs/rebalance.md, "Value ranges") ----
inline constexpr std::uint64_t kMaxInteger = 2147483647;        // rates and thresholds: 1 … 2^31−1
inline constexpr std::uint64_t kMaxDurationSeconds = 4294967;   // waits: 0 … 4 294 967 s
inline constexpr std::uint64_t kMaxRpcTimeoutMs = 4294967295;   // rpc timeouts (JSON, ms): 1 … 2^32−1

// ---- fixed constants ----
inline constexpr std::chrono::milliseconds kEvictInterval{1000};      // tick of both state machines
inline constexpr std::chrono::milliseconds kNoTargetRetry{30000};     // evacuation without recipients
inline constexpr std::chrono::milliseconds kRpcTimeout{15000};        // counts, availability, enable/disable
inline constexpr std::chrono::milliseconds kSessionMigrationTimeout{5000};  // one session
inline constexpr int kMaxSessionMigrationAttempts = 3;                // then reported, not retried
inline constexpr std::chrono::milliseconds kDonorLease{5000};         // donors released within 5 s
inline constexpr std::chrono::milliseconds kStatusNodeTimeout{2000};  // global_status per node
inline constexpr std::uint64_t kInfiniteSessionExpiryMs = 4294967295000;
inline constexpr int kAdmissionHookPriority = 110;
inline constexpr std::size_t kStatusSeparatorWidth = 68;

// ---- evacuation persistence (docs/rebalance.md, "Evacuation file") ----
inline constexpr std::string_view kEvacuationFileName = ".evacuation";
inline constexpr std::string_view kRestoreBanner = "Node evacuation is enabled. The node will not receive connections.";

}  // namespace tidemq::rebalance
