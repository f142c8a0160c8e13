#include <edge_rt/core/format.hpp>
#include <edge_rt/resource_monitor/recommend.hpp>

#include "text.hpp"

#include <algorithm>
#include <cstdio>

namespace edge_rt::resource_monitor {

namespace {

using ::edge_rt::format_bytes;

using detail::celsius;
using detail::is_throttling_trip;

}  // namespace

const ThermalZone* hot_zone(const SystemSnapshot& snapshot) noexcept {
  for (const ThermalZone& zone : snapshot.thermal_zones) {
    if (!zone.temp_c) continue;
    for (const TripPoint& trip : zone.trips) {
      if (trip.temp_c && is_throttling_trip(trip.type) && *zone.temp_c >= *trip.temp_c - kHotWithinC) return &zone;
    }
  }
  return nullptr;
}

Recommendation recommend(const SystemSnapshot& snapshot, std::optional<std::uint64_t> model_weight_bytes) {
  Recommendation r;
  const MemoryInfo& memory = snapshot.memory;

  // Memory: the smaller of what the kernel says is available and the cgroup limit, less a margin.
  std::optional<std::uint64_t> usable = memory.available_bytes ? memory.available_bytes : memory.total_bytes;
  std::string usable_what = memory.available_bytes ? "MemAvailable" : "MemTotal";
  if (memory.cgroup && memory.cgroup->limit_bytes && (!usable || *memory.cgroup->limit_bytes < *usable)) {
    usable = memory.cgroup->limit_bytes;
    usable_what = "the cgroup v" + std::to_string(memory.cgroup->version) + " limit";
  }
  std::uint64_t fits_bytes = 0;  // usable - margin, 0 when the margin takes it all
  if (!usable) {
    r.budget_bytes = kMinBudgetBytes;
    r.budget_reason = "memory is unavailable (no MemAvailable, MemTotal or cgroup limit): the minimum " +
                      format_bytes(kMinBudgetBytes);
  } else {
    const std::uint64_t margin = std::max(kMinMarginBytes, *usable / 10);
    fits_bytes = *usable > margin ? *usable - margin : 0;
    r.budget_bytes = std::max(fits_bytes, kMinBudgetBytes);
    r.budget_reason = usable_what + " " + format_bytes(*usable) + " minus a margin of " + format_bytes(margin) +
                      " (max of 128 MiB and 10%)" +
                      (fits_bytes < kMinBudgetBytes ? ", raised to the minimum " + format_bytes(kMinBudgetBytes) : "");
  }

  // Threads: one per online core, one fewer when the machine is already busy, halved when hot or throttled.
  const std::uint32_t cores = snapshot.cpu.cores_online.value_or(1);
  r.threads = cores;
  r.threads_reason = snapshot.cpu.cores_online ? std::to_string(cores) + " cores online" : "cores online unavailable";
  if (snapshot.cpu.load && snapshot.cpu.load->one_min > static_cast<double>(cores) - 0.5) {
    r.threads = std::max<std::uint32_t>(1, r.threads - 1);
    char buffer[96];
    std::snprintf(buffer, sizeof buffer, ", minus 1 for the 1-minute load average %.2f", snapshot.cpu.load->one_min);
    r.threads_reason += buffer;
  }
  const ThermalZone* hot = hot_zone(snapshot);
  const bool throttled = snapshot.throttling.rpi && snapshot.throttling.rpi->throttled;
  if (hot != nullptr || throttled) {
    r.threads = std::max<std::uint32_t>(1, r.threads / 2);
    r.threads_reason += ", halved because ";
    if (hot != nullptr) {
      r.threads_reason += hot->type.value_or(hot->name) + " at " + celsius(*hot->temp_c) + " is within " +
                          celsius(kHotWithinC) + " of a passive/hot/critical trip point";
    }
    if (throttled) r.threads_reason += std::string(hot != nullptr ? " and " : "") + "the Raspberry Pi is throttled";
  }

  // Strategy: keep the model resident when it fits; otherwise overlap streaming with compute when there are cores.
  if (model_weight_bytes && usable && *model_weight_bytes <= fits_bytes) {
    r.strategy = "greedy-grouping";
    r.strategy_reason = "the model's " + format_bytes(*model_weight_bytes) + " of weights fit in " +
                        format_bytes(fits_bytes) + " (usable memory minus the margin), so it stays resident";
    return r;
  }
  const std::string why = !model_weight_bytes ? std::string("no model given")
                          : !usable           ? std::string("memory is unavailable")
                                              : "the model's " + format_bytes(*model_weight_bytes) +
                                          " of weights do not fit in " + format_bytes(fits_bytes);
  if (cores >= 2) {
    r.strategy = "speculative-prefetch";
    r.strategy_reason = why + "; with " + std::to_string(cores) +
                        " cores a background thread reads the next groups while the current one computes";
  } else {
    r.strategy = "sequential";
    r.strategy_reason = why + "; with one core there is no spare thread to prefetch on";
  }
  return r;
}

}  // namespace edge_rt::resource_monitor
