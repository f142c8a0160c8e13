#pragma once
// What a SystemProbe reads from /proc and /sys: CPU, memory (with the cgroup limit), thermal zones, throttling and
// power supplies. Every field a device may lack is a std::optional (or an empty vector): a missing or malformed
// source is "unavailable", never an error.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace edge_rt::resource_monitor {

/// Copyable value. One logical CPU's frequencies from /sys/devices/system/cpu/cpuN/cpufreq/, in kHz.
struct CpuFrequency {
  int cpu = 0;                                   ///< N in cpuN.
  std::optional<std::uint64_t> cur_khz;          ///< scaling_cur_freq.
  std::optional<std::uint64_t> max_khz;          ///< cpuinfo_max_freq: what the silicon can do.
  std::optional<std::uint64_t> scaling_max_khz;  ///< scaling_max_freq: the current policy cap.

  /// True when the policy caps the CPU below its hardware maximum (scaling_max_khz < max_khz).
  bool capped() const noexcept { return max_khz && scaling_max_khz && *scaling_max_khz < *max_khz; }
};

/// Copyable value. The 1, 5 and 15 minute load averages from /proc/loadavg (runnable tasks, not a percentage).
struct LoadAverage {
  double one_min = 0.0;
  double five_min = 0.0;
  double fifteen_min = 0.0;
};

/// Copyable value.
struct CpuInfo {
  /// /proc/cpuinfo's "model name" (x86, 32-bit Arm), else "Model" (Raspberry Pi), else "Hardware" (Android SoCs).
  std::optional<std::string> model_name;
  /// /proc/cpuinfo's "Hardware" line (Arm SoC name), when present.
  std::optional<std::string> hardware;
  /// /sys/devices/system/cpu/online verbatim ("0-3", "0,2-5").
  std::optional<std::string> online_list;
  /// Number of CPUs in online_list.
  std::optional<std::uint32_t> cores_online;
  /// One entry per cpuN folder with a cpufreq/ subfolder, ordered by N.
  std::vector<CpuFrequency> frequencies;
  std::optional<LoadAverage> load;
};

/// Copyable value. The memory cgroup limit of this process (cgroup v2 memory.max or v1 memory.limit_in_bytes).
struct CgroupMemoryLimit {
  int version = 2;   ///< 1 or 2.
  std::string file;  ///< The file read, relative to the probe's root ("sys/fs/cgroup/memory.max").
  /// The limit in bytes; unset when the file says there is none ("max" in v2, >= 2^60 in v1).
  std::optional<std::uint64_t> limit_bytes;
};

/// Copyable value. /proc/meminfo (kB converted to bytes) and the cgroup limit.
struct MemoryInfo {
  std::optional<std::uint64_t> total_bytes;       ///< MemTotal.
  std::optional<std::uint64_t> available_bytes;   ///< MemAvailable.
  std::optional<std::uint64_t> swap_total_bytes;  ///< SwapTotal.
  std::optional<std::uint64_t> swap_free_bytes;   ///< SwapFree.
  /// Unset when no cgroup memory file exists under the root, or it is malformed.
  std::optional<CgroupMemoryLimit> cgroup;
};

/// Copyable value. trip_point_N_temp and trip_point_N_type of a thermal zone.
struct TripPoint {
  int index = 0;                    ///< N.
  std::optional<double> temp_c;     ///< Degrees Celsius (the file holds millidegrees).
  std::optional<std::string> type;  ///< "passive", "active", "hot" or "critical".
};

/// Copyable value. One /sys/class/thermal/thermal_zoneN/.
struct ThermalZone {
  std::string name;                 ///< "thermal_zone0".
  std::optional<std::string> type;  ///< "cpu-thermal", "tj-thermal", ...
  std::optional<double> temp_c;     ///< Degrees Celsius (the file holds millidegrees).
  std::vector<TripPoint> trips;     ///< Ordered by index.
};

/// Copyable value. The Raspberry Pi firmware's get_throttled word, decoded. Source: the Raspberry Pi documentation
/// of `vcgencmd get_throttled` (bits 0-3 now, bits 16-19 since boot).
struct RpiThrottleFlags {
  std::uint32_t raw = 0;
  bool under_voltage = false;             ///< Bit 0.
  bool arm_freq_capped = false;           ///< Bit 1.
  bool throttled = false;                 ///< Bit 2: currently throttled.
  bool soft_temp_limit = false;           ///< Bit 3.
  bool under_voltage_occurred = false;    ///< Bit 16.
  bool arm_freq_capped_occurred = false;  ///< Bit 17.
  bool throttled_occurred = false;        ///< Bit 18.
  bool soft_temp_limit_occurred = false;  ///< Bit 19.

  /// Decodes a raw word.
  static RpiThrottleFlags decode(std::uint32_t raw) noexcept;
};

/// Copyable value.
struct Throttling {
  /// /sys/devices/platform/soc/soc:firmware/get_throttled (hex); unset off a Raspberry Pi or when malformed.
  std::optional<RpiThrottleFlags> rpi;
  /// CPUs whose scaling_max_freq is below cpuinfo_max_freq, ascending.
  std::vector<int> capped_cpus;
};

/// Copyable value. One /sys/class/power_supply/NAME/.
struct PowerSupply {
  std::string name;                     ///< "battery", "usb", "ac".
  std::optional<std::string> type;      ///< "Battery", "USB", "Mains".
  std::optional<std::string> status;    ///< "Charging", "Discharging", "Full", ...
  std::optional<int> capacity_percent;  ///< 0..100.
  std::optional<bool> online;           ///< Whether external power is connected.
};

/// Copyable value. Everything one SystemProbe::read() saw.
struct SystemSnapshot {
  CpuInfo cpu;
  MemoryInfo memory;
  std::vector<ThermalZone> thermal_zones;  ///< Ordered by zone number; empty when there are none.
  Throttling throttling;
  std::vector<PowerSupply> power_supplies;  ///< Ordered by name; empty when there are none.
};

}  // namespace edge_rt::resource_monitor
