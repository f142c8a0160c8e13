#pragma once
// Run-time adaptation: during a long generation, a Monitor thread re-reads the system every interval and lowers the
// kernel thread count or paces decoding while a thermal zone nears a trip point or the battery runs low.

#include <edge_rt/resource_monitor/probe.hpp>
#include <edge_rt/resource_monitor/snapshot.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

namespace edge_rt::resource_monitor {

/// Thresholds, set per device preset. Copyable value.
struct AdaptPolicy {
  /// A zone within this many degrees Celsius of a passive, hot or critical trip point is hot.
  double thermal_margin_c = 5.0;
  /// A discharging battery at or below this capacity (percent) is low; 0 disables the check.
  int battery_low_percent = 15;
  /// Sleep before each decode pass while hot or low, in ms; doubled at or above a trip point.
  std::uint32_t pace_ms = 50;
  /// How often the monitor re-reads the system.
  std::chrono::milliseconds interval{1000};
};

/// What generation should do now. Copyable value. max_threads == 0 and pace_ms == 0 mean "as configured".
struct Adaptation {
  std::uint32_t max_threads = 0;  ///< Kernel threads cap (>= 1 when set).
  std::uint32_t pace_ms = 0;      ///< Sleep before each decode pass.
  std::string reason;             ///< One line for the log; "normal" when nothing applies.
  /// Same decision; the reason's text does not count (a zone warming by a degree is not a change to log).
  bool operator==(const Adaptation& o) const noexcept { return max_threads == o.max_threads && pace_ms == o.pace_ms; }
};

/// Pure function of its arguments. With `configured_threads` kernel threads (>= 1):
/// - a zone at or above a passive/hot/critical trip point: 1 thread, 2 x policy.pace_ms;
/// - a zone within thermal_margin_c of one, the Raspberry Pi firmware's "currently throttled" flag, or a
///   discharging battery at or below battery_low_percent: configured_threads / 2 (at least 1), policy.pace_ms;
/// - otherwise {0, 0, "normal"}.
Adaptation adapt(const SystemSnapshot& snapshot, const AdaptPolicy& policy, std::uint32_t configured_threads);

/// Neither copy nor move (its thread points at it). Polls `probe` every policy.interval on its own thread and calls
/// `on_change` (on that thread) whenever adapt() gives a different answer than last time, the first reading
/// included when it is not "normal". Destruction stops and joins the thread.
class Monitor final {
 public:
  using OnChange = std::function<void(const Adaptation&)>;
  Monitor(SystemProbe probe, AdaptPolicy policy, std::uint32_t configured_threads, OnChange on_change);
  Monitor(const Monitor&) = delete;
  Monitor& operator=(const Monitor&) = delete;
  ~Monitor();

  /// Starts the polling thread (once; later calls do nothing). Its first poll comes one interval later: call
  /// poll_once() first for the state at the start.
  void start();
  /// One poll on the calling thread: reads, decides, calls on_change when the decision changed. For tests and for
  /// callers with their own loop. Not concurrent with a started thread's polls.
  void poll_once();

 private:
  SystemProbe probe_;
  AdaptPolicy policy_;
  std::uint32_t configured_threads_;
  OnChange on_change_;
  Adaptation last_{};
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::thread thread_;  // last: started after every member it reads
};

}  // namespace edge_rt::resource_monitor
