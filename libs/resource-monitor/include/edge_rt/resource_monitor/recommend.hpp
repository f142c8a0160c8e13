#pragma once
// Turns a SystemSnapshot into run settings: a partition strategy, a thread count and a memory budget.

#include <edge_rt/resource_monitor/snapshot.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace edge_rt::resource_monitor {

/// Copyable value. Each setting comes with a one-line reason for people.
struct Recommendation {
  std::string strategy;  ///< "greedy-grouping", "speculative-prefetch" or "sequential".
  std::string strategy_reason;
  std::uint32_t threads = 1;  ///< >= 1.
  std::string threads_reason;
  std::uint64_t budget_bytes = 0;  ///< >= kMinBudgetBytes.
  std::string budget_reason;
};

/// The smallest budget recommend() gives: 64 MiB.
inline constexpr std::uint64_t kMinBudgetBytes = std::uint64_t{64} << 20;
/// The margin kept free is max(kMinMarginBytes, 10% of the usable memory).
inline constexpr std::uint64_t kMinMarginBytes = std::uint64_t{128} << 20;
/// A thermal zone this close to a passive, hot or critical trip point counts as hot, in degrees Celsius.
inline constexpr double kHotWithinC = 5.0;

/// Recommends run settings for this system.
/// - usable = min(MemAvailable, cgroup limit) (MemTotal when MemAvailable is unavailable); margin =
///   max(128 MiB, usable / 10); budget_bytes = max(usable - margin, 64 MiB) (64 MiB when memory is unknown).
/// - strategy: "greedy-grouping" when `model_weight_bytes` (bytes) fits in usable - margin; otherwise (or with no
///   model) "speculative-prefetch" with >= 2 cores online, else "sequential".
/// - threads: cores online (1 when unknown), minus 1 when the 1-minute load average > cores - 0.5, at least 1;
///   then halved (at least 1) when a thermal zone is within 5 degrees C of a passive/hot/critical trip point or the
///   Raspberry Pi firmware reports currently throttled.
/// Pure function of its arguments; thread-safe.
Recommendation recommend(const SystemSnapshot& snapshot, std::optional<std::uint64_t> model_weight_bytes);

/// The first thermal zone within kHotWithinC of a passive, hot or critical trip point, or nullptr. The pointer
/// points into `snapshot`, which must outlive it.
const ThermalZone* hot_zone(const SystemSnapshot& snapshot) noexcept;

}  // namespace edge_rt::resource_monitor
