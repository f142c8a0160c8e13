#include <edge_rt/resource_monitor/adapt.hpp>

#include "text.hpp"

#include <algorithm>

namespace edge_rt::resource_monitor {

namespace {

using detail::celsius;
using detail::is_throttling_trip;

std::string zone_text(const ThermalZone& zone, const TripPoint& trip) {
  return zone.name + " (" + zone.type.value_or("?") + ") at " + celsius(*zone.temp_c) + ", " + *trip.type +
         " trip point " + celsius(*trip.temp_c);
}

}  // namespace

Adaptation adapt(const SystemSnapshot& snapshot, const AdaptPolicy& policy, std::uint32_t configured_threads) {
  const std::uint32_t configured = std::max<std::uint32_t>(1, configured_threads);
  const std::uint32_t half = std::max<std::uint32_t>(1, configured / 2);
  std::string warm;  // the first reason to slow down a little
  for (const ThermalZone& zone : snapshot.thermal_zones) {
    if (!zone.temp_c) continue;
    for (const TripPoint& trip : zone.trips) {
      if (!trip.temp_c || !is_throttling_trip(trip.type)) continue;
      if (*zone.temp_c >= *trip.temp_c) {
        return {1, 2 * policy.pace_ms, "thermal: " + zone_text(zone, trip) + " reached"};
      }
      if (warm.empty() && *zone.temp_c >= *trip.temp_c - policy.thermal_margin_c) {
        warm = "thermal: " + zone_text(zone, trip) + " is within " + celsius(policy.thermal_margin_c);
      }
    }
  }
  if (warm.empty() && snapshot.throttling.rpi && snapshot.throttling.rpi->throttled) {
    warm = "thermal: the Raspberry Pi firmware reports throttling";
  }
  if (warm.empty() && policy.battery_low_percent > 0) {
    for (const PowerSupply& s : snapshot.power_supplies) {
      if (s.type == "Battery" && s.status == "Discharging" && s.capacity_percent &&
          *s.capacity_percent <= policy.battery_low_percent) {
        warm = "battery: " + s.name + " at " + std::to_string(*s.capacity_percent) +
               "% and discharging (low: <= " + std::to_string(policy.battery_low_percent) + "%)";
        break;
      }
    }
  }
  if (warm.empty()) return {0, 0, "normal"};
  return {half, policy.pace_ms, warm};
}

Monitor::Monitor(SystemProbe probe, AdaptPolicy policy, std::uint32_t configured_threads, OnChange on_change)
    : probe_(std::move(probe)),
      policy_(policy),
      configured_threads_(configured_threads),
      on_change_(std::move(on_change)) {
  last_.reason = "normal";
}

Monitor::~Monitor() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Monitor::start() {
  if (thread_.joinable()) return;
  thread_ = std::thread([this] {
    std::unique_lock lock(mutex_);
    while (!wake_.wait_for(lock, policy_.interval, [this] { return stop_; })) {
      lock.unlock();
      poll_once();
      lock.lock();
    }
  });
}

void Monitor::poll_once() {
  Adaptation now = adapt(probe_.read(), policy_, configured_threads_);
  if (now == last_) return;
  last_ = now;
  if (on_change_) on_change_(now);
}

}  // namespace edge_rt::resource_monitor
