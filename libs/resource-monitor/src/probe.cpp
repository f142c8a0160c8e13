#include <edge_rt/resource_monitor/probe.hpp>

#include "text.hpp"

#include <algorithm>
#include <limits>
#include <sstream>
#include <string_view>
#include <system_error>
#include <utility>

namespace edge_rt::resource_monitor {

namespace fs = std::filesystem;
using detail::parse_i64;
using detail::parse_u64;
using detail::read_line;
using detail::read_text;
using detail::suffix_number;
using detail::trim;

namespace {

// Names of the entries of a folder that are folders themselves (following symlinks, as sysfs class folders are),
// paired with the number after `prefix`; sorted by that number. Empty when the folder is missing.
std::vector<std::pair<int, fs::path>> numbered_entries(const fs::path& dir, std::string_view prefix) {
  std::vector<std::pair<int, fs::path>> out;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    const auto n = suffix_number(it->path().filename().string(), prefix);
    if (n) out.emplace_back(*n, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

// "key : value" lines (/proc/cpuinfo, /proc/meminfo): calls f(key, value) with both trimmed.
template <class F>
void for_each_key_value(std::string_view text, F&& f) {
  while (!text.empty()) {
    const auto newline = text.find('\n');
    const std::string_view line = text.substr(0, newline);
    text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
    const auto colon = line.find(':');
    if (colon != std::string_view::npos) f(trim(line.substr(0, colon)), trim(line.substr(colon + 1)));
  }
}

std::optional<double> millidegrees(const fs::path& path) {
  const auto line = read_line(path);
  if (!line) return std::nullopt;
  const auto milli = parse_i64(*line);
  if (!milli) return std::nullopt;
  return static_cast<double>(*milli) / 1000.0;
}

CpuInfo read_cpu(const fs::path& root) {
  CpuInfo cpu;
  if (const auto text = read_text(root / "proc/cpuinfo")) {
    std::optional<std::string> model_name, model;
    for_each_key_value(*text, [&](std::string_view key, std::string_view value) {
      if (value.empty()) return;
      if (key == "model name" && !model_name) model_name = std::string(value);
      if (key == "Model" && !model) model = std::string(value);
      if (key == "Hardware" && !cpu.hardware) cpu.hardware = std::string(value);
    });
    cpu.model_name = model_name ? model_name : model ? model : cpu.hardware;
  }
  const fs::path cpus = root / "sys/devices/system/cpu";
  if (const auto online = read_line(cpus / "online")) {
    cpu.cores_online = detail::count_cpu_list(*online);
    if (cpu.cores_online) cpu.online_list = *online;
  }
  for (const auto& [n, dir] : numbered_entries(cpus, "cpu")) {
    std::error_code ec;
    if (!fs::is_directory(dir / "cpufreq", ec)) continue;
    const fs::path freq = dir / "cpufreq";  // a lambda may not capture a structured binding before C++20 in clang 14
    const auto khz = [&freq](const char* name) -> std::optional<std::uint64_t> {
      const auto line = read_line(freq / name);
      return line ? parse_u64(*line) : std::nullopt;
    };
    cpu.frequencies.push_back(CpuFrequency{.cpu = n,
                                           .cur_khz = khz("scaling_cur_freq"),
                                           .max_khz = khz("cpuinfo_max_freq"),
                                           .scaling_max_khz = khz("scaling_max_freq")});
  }
  if (const auto line = read_line(root / "proc/loadavg")) {
    std::istringstream words(*line);
    std::string w1, w5, w15;
    words >> w1 >> w5 >> w15;
    const auto l1 = detail::parse_double(w1), l5 = detail::parse_double(w5), l15 = detail::parse_double(w15);
    if (l1 && l5 && l15 && *l1 >= 0 && *l5 >= 0 && *l15 >= 0) cpu.load = LoadAverage{*l1, *l5, *l15};
  }
  return cpu;
}

// One cgroup memory file: v2 "max" or bytes; v1 bytes, where >= 2^60 means no limit. nullopt when malformed.
std::optional<CgroupMemoryLimit> parse_cgroup_file(const fs::path& root, const fs::path& relative, int version) {
  const auto line = read_line(root / relative);
  if (!line) return std::nullopt;
  CgroupMemoryLimit limit{.version = version, .file = relative.generic_string(), .limit_bytes = std::nullopt};
  if (version == 2 && *line == "max") return limit;
  const auto bytes = parse_u64(*line);
  if (!bytes) return std::nullopt;
  if (version == 2 || *bytes < (std::uint64_t{1} << 60)) limit.limit_bytes = *bytes;
  return limit;
}

std::optional<CgroupMemoryLimit> read_cgroup(const fs::path& root) {
  // /proc/self/cgroup lines are "id:controllers:path": "0::/path" for v2, "9:memory:/path" for v1's memory.
  std::vector<std::pair<fs::path, int>> candidates;
  if (const auto text = read_text(root / "proc/self/cgroup")) {
    std::istringstream lines(*text);
    for (std::string line; std::getline(lines, line);) {
      const auto c1 = line.find(':');
      const auto c2 = c1 == std::string::npos ? std::string::npos : line.find(':', c1 + 1);
      if (c2 == std::string::npos) continue;
      const std::string_view id = std::string_view(line).substr(0, c1);
      const std::string_view controllers = std::string_view(line).substr(c1 + 1, c2 - c1 - 1);
      std::string path(trim(std::string_view(line).substr(c2 + 1)));
      while (path.starts_with('/')) path.erase(0, 1);
      if (path.find("..") != std::string::npos) continue;
      if (id == "0" && controllers.empty()) {
        candidates.emplace_back(fs::path("sys/fs/cgroup") / path / "memory.max", 2);
      } else if (("," + std::string(controllers) + ",").find(",memory,") != std::string::npos) {
        candidates.insert(candidates.begin(), {fs::path("sys/fs/cgroup/memory") / path / "memory.limit_in_bytes", 1});
      }
    }
  }
  candidates.emplace_back("sys/fs/cgroup/memory.max", 2);
  candidates.emplace_back("sys/fs/cgroup/memory/memory.limit_in_bytes", 1);
  for (const auto& [relative, version] : candidates) {
    std::error_code ec;
    if (fs::exists(root / relative, ec)) return parse_cgroup_file(root, relative.lexically_normal(), version);
  }
  return std::nullopt;
}

MemoryInfo read_memory(const fs::path& root) {
  MemoryInfo memory;
  if (const auto text = read_text(root / "proc/meminfo")) {
    for_each_key_value(*text, [&](std::string_view key, std::string_view value) {
      std::optional<std::uint64_t>* field = key == "MemTotal"       ? &memory.total_bytes
                                            : key == "MemAvailable" ? &memory.available_bytes
                                            : key == "SwapTotal"    ? &memory.swap_total_bytes
                                            : key == "SwapFree"     ? &memory.swap_free_bytes
                                                                    : nullptr;
      if (field == nullptr || field->has_value()) return;
      if (!value.ends_with("kB")) return;
      const auto kib = parse_u64(value.substr(0, value.size() - 2));
      if (kib && *kib <= std::numeric_limits<std::uint64_t>::max() / 1024) *field = *kib * 1024;
    });
  }
  memory.cgroup = read_cgroup(root);
  return memory;
}

std::vector<ThermalZone> read_thermal(const fs::path& root) {
  std::vector<ThermalZone> zones;
  for (const auto& [n, dir] : numbered_entries(root / "sys/class/thermal", "thermal_zone")) {
    ThermalZone zone{.name = dir.filename().string(),
                     .type = read_line(dir / "type"),
                     .temp_c = millidegrees(dir / "temp"),
                     .trips = {}};
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      std::string name = it->path().filename().string();
      if (!name.ends_with("_temp")) continue;
      name.resize(name.size() - 5);
      const auto index = suffix_number(name, "trip_point_");
      if (!index) continue;
      zone.trips.push_back(TripPoint{.index = *index,
                                     .temp_c = millidegrees(it->path()),
                                     .type = read_line(dir / ("trip_point_" + std::to_string(*index) + "_type"))});
    }
    std::sort(zone.trips.begin(), zone.trips.end(),
              [](const TripPoint& a, const TripPoint& b) { return a.index < b.index; });
    zones.push_back(std::move(zone));
  }
  return zones;
}

std::vector<PowerSupply> read_power(const fs::path& root) {
  std::vector<PowerSupply> supplies;
  std::error_code ec;
  for (fs::directory_iterator it(root / "sys/class/power_supply", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code dir_ec;
    if (!fs::is_directory(it->path(), dir_ec)) continue;
    const fs::path& dir = it->path();
    PowerSupply supply{.name = dir.filename().string(),
                       .type = read_line(dir / "type"),
                       .status = read_line(dir / "status"),
                       .capacity_percent = std::nullopt,
                       .online = std::nullopt};
    if (const auto line = read_line(dir / "capacity")) {
      const auto percent = parse_i64(*line);
      if (percent && *percent >= 0 && *percent <= 100) supply.capacity_percent = static_cast<int>(*percent);
    }
    if (const auto line = read_line(dir / "online")) {
      if (*line == "0" || *line == "1") supply.online = *line == "1";
    }
    supplies.push_back(std::move(supply));
  }
  std::sort(supplies.begin(), supplies.end(),
            [](const PowerSupply& a, const PowerSupply& b) { return a.name < b.name; });
  return supplies;
}

}  // namespace

RpiThrottleFlags RpiThrottleFlags::decode(std::uint32_t raw) noexcept {
  const auto bit = [raw](int n) { return (raw >> n & 1U) != 0; };
  return RpiThrottleFlags{.raw = raw,
                          .under_voltage = bit(0),
                          .arm_freq_capped = bit(1),
                          .throttled = bit(2),
                          .soft_temp_limit = bit(3),
                          .under_voltage_occurred = bit(16),
                          .arm_freq_capped_occurred = bit(17),
                          .throttled_occurred = bit(18),
                          .soft_temp_limit_occurred = bit(19)};
}

Result<SystemProbe> SystemProbe::at(const fs::path& root) {
  std::error_code ec;
  if (!fs::is_directory(root, ec)) {
    return fail(ErrorCode::kIoError, "[resource-monitor] " + root.string() + ": root is not a directory");
  }
  return SystemProbe(root);
}

SystemSnapshot SystemProbe::read() const {
  SystemSnapshot snapshot;
  snapshot.cpu = read_cpu(root_);
  snapshot.memory = read_memory(root_);
  snapshot.thermal_zones = read_thermal(root_);
  if (const auto line = read_line(root_ / "sys/devices/platform/soc/soc:firmware/get_throttled")) {
    const auto raw = parse_u64(*line, 16);
    if (raw && *raw <= 0xFFFFFFFFU)
      snapshot.throttling.rpi = RpiThrottleFlags::decode(static_cast<std::uint32_t>(*raw));
  }
  for (const CpuFrequency& f : snapshot.cpu.frequencies) {
    if (f.capped()) snapshot.throttling.capped_cpus.push_back(f.cpu);
  }
  snapshot.power_supplies = read_power(root_);
  return snapshot;
}

}  // namespace edge_rt::resource_monitor
