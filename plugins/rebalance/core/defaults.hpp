// Every default and fixed constant of node evacuation and cluster rebalance, in one place
// (spec §1.3, §5, §5.4 and decisions D3, D10, D13, D14, D20).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace tidemq::rebalance {

// ---- option defaults (spec §5) ----
inline constexpr std::uint32_t kDefaultConnEvictRate = 500;
inline constexpr std::uint32_t kDefaultSessEvictRate = 500;
inline constexpr std::uint32_t kDefaultAbsConnThreshold = 1000;
inline constexpr std::uint32_t kDefaultAbsSessThreshold = 1000;
inline constexpr double kDefaultRelConnThreshold = 1.1;
inline constexpr double kDefaultRelSessThreshold = 1.1;
inline constexpr std::chrono::seconds kDefaultRebalanceWaitHealthCheck{60};   // D3
inline constexpr std::chrono::seconds kDefaultEvacuationWaitHealthCheck{0};   // D3
inline constexpr std::chrono::seconds kDefaultWaitTakeover{60};
inline constexpr std::chrono::milliseconds kDefaultEvictRpcTimeout{15000};
// Start bodies nest two levels at most ({"nodes":[...]}); deeper ones are refused unread.
inline constexpr std::size_t kMaxBodyNesting = 32;

// ---- ranges (D20) ----
inline constexpr std::uint64_t kMaxInteger = 2147483647;        // rates and thresholds: 1 … 2^31−1
inline constexpr std::uint64_t kMaxDurationSeconds = 4294967;   // waits: 0 … 4 294 967 s
inline constexpr std::uint64_t kMaxRpcTimeoutMs = 4294967295;   // rpc timeouts (JSON, ms): 1 … 2^32−1

// ---- fixed constants (spec §5.4) ----
inline constexpr std::chrono::milliseconds kEvictInterval{1000};      // tick of both state machines
inline constexpr std::chrono::milliseconds kNoTargetRetry{30000};     // evacuation without recipients (D16)
inline constexpr std::chrono::milliseconds kRpcTimeout{15000};        // counts, availability, enable/disable
inline constexpr std::chrono::milliseconds kSessionMigrationTimeout{5000};  // one session (D10)
inline constexpr int kMaxSessionMigrationAttempts = 3;                // then reported, not retried (D10)
inline constexpr std::chrono::milliseconds kDonorLease{5000};         // donors released within 5 s (D13)
inline constexpr std::chrono::milliseconds kStatusNodeTimeout{2000};  // global_status per node (D14)
inline constexpr std::uint64_t kInfiniteSessionExpiryMs = 4294967295000;
inline constexpr int kAdmissionHookPriority = 110;
inline constexpr std::size_t kStatusSeparatorWidth = 68;

// ---- evacuation persistence (spec §3.8, D15) ----
inline constexpr std::string_view kEvacuationFileName = ".evacuation";
inline constexpr std::string_view kRestoreBanner = "Node evacuation is enabled. The node will not receive connections.";

}  // namespace tidemq::rebalance
