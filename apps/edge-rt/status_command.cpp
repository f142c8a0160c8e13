#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/backend/vulkan.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/resource_monitor/probe.hpp>
#include <edge_rt/resource_monitor/recommend.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

namespace edge_rt::cli {

namespace {

namespace fs = std::filesystem;
namespace rm = resource_monitor;
using memory_manager::format_bytes;

struct StatusArgs {
  std::string root = "/";
  std::string model;
  bool json = false;
  std::string preset;
};

template <class T>
boost::json::value opt(const std::optional<T>& v) {
  return v ? boost::json::value_from(*v) : boost::json::value(nullptr);
}

std::string hex(std::uint32_t raw) {
  char buffer[16];
  std::snprintf(buffer, sizeof buffer, "0x%x", raw);
  return buffer;
}

boost::json::object to_json(const rm::SystemSnapshot& s, const std::string& root,
                            std::optional<std::uint64_t> weight_bytes, const rm::Recommendation& r) {
  boost::json::array freqs;
  for (const rm::CpuFrequency& f : s.cpu.frequencies) {
    freqs.push_back(boost::json::object{{"cpu", f.cpu},
                                        {"cur_khz", opt(f.cur_khz)},
                                        {"max_khz", opt(f.max_khz)},
                                        {"scaling_max_khz", opt(f.scaling_max_khz)}});
  }
  boost::json::value load = nullptr;
  if (s.cpu.load) load = boost::json::array{s.cpu.load->one_min, s.cpu.load->five_min, s.cpu.load->fifteen_min};
  boost::json::value cgroup = nullptr;
  if (s.memory.cgroup) {
    cgroup = boost::json::object{{"version", s.memory.cgroup->version},
                                 {"file", s.memory.cgroup->file},
                                 {"limit_bytes", opt(s.memory.cgroup->limit_bytes)}};
  }
  boost::json::array zones;
  for (const rm::ThermalZone& z : s.thermal_zones) {
    boost::json::array trips;
    for (const rm::TripPoint& t : z.trips) {
      trips.push_back(boost::json::object{{"index", t.index}, {"temp_c", opt(t.temp_c)}, {"type", opt(t.type)}});
    }
    zones.push_back(boost::json::object{
        {"name", z.name}, {"type", opt(z.type)}, {"temp_c", opt(z.temp_c)}, {"trip_points", std::move(trips)}});
  }
  boost::json::value rpi = nullptr;
  if (s.throttling.rpi) {
    const rm::RpiThrottleFlags& t = *s.throttling.rpi;
    rpi = boost::json::object{{"raw", hex(t.raw)},
                              {"under_voltage", t.under_voltage},
                              {"arm_freq_capped", t.arm_freq_capped},
                              {"throttled", t.throttled},
                              {"soft_temp_limit", t.soft_temp_limit},
                              {"under_voltage_occurred", t.under_voltage_occurred},
                              {"arm_freq_capped_occurred", t.arm_freq_capped_occurred},
                              {"throttled_occurred", t.throttled_occurred},
                              {"soft_temp_limit_occurred", t.soft_temp_limit_occurred}};
  }
  boost::json::array capped;
  for (int cpu : s.throttling.capped_cpus) capped.push_back(cpu);
  boost::json::array supplies;
  for (const rm::PowerSupply& p : s.power_supplies) {
    supplies.push_back(boost::json::object{{"name", p.name},
                                           {"type", opt(p.type)},
                                           {"status", opt(p.status)},
                                           {"capacity_percent", opt(p.capacity_percent)},
                                           {"online", opt(p.online)}});
  }
  return boost::json::object{
      {"root", root},
      {"cpu", boost::json::object{{"model_name", opt(s.cpu.model_name)},
                                  {"hardware", opt(s.cpu.hardware)},
                                  {"online", opt(s.cpu.online_list)},
                                  {"cores_online", opt(s.cpu.cores_online)},
                                  {"load_average", std::move(load)},
                                  {"frequencies", std::move(freqs)}}},
      {"memory", boost::json::object{{"total_bytes", opt(s.memory.total_bytes)},
                                     {"available_bytes", opt(s.memory.available_bytes)},
                                     {"swap_total_bytes", opt(s.memory.swap_total_bytes)},
                                     {"swap_free_bytes", opt(s.memory.swap_free_bytes)},
                                     {"cgroup", std::move(cgroup)}}},
      {"thermal_zones", std::move(zones)},
      {"throttling", boost::json::object{{"rpi", std::move(rpi)}, {"capped_cpus", std::move(capped)}}},
      {"power_supplies", std::move(supplies)},
      {"model_weight_bytes", opt(weight_bytes)},
      {"recommendation", boost::json::object{{"strategy", r.strategy},
                                             {"strategy_reason", r.strategy_reason},
                                             {"threads", r.threads},
                                             {"threads_reason", r.threads_reason},
                                             {"budget_bytes", r.budget_bytes},
                                             {"budget_reason", r.budget_reason}}},
  };
}

// The GPU devices a run could use (live, whatever --root says): Vulkan's, or why there are none.
using VulkanList = Result<std::vector<backend::VulkanDeviceReport>>;

boost::json::object vulkan_json(const VulkanList& list) {
  boost::json::array devices;
  if (list) {
    for (const backend::VulkanDeviceReport& d : list.value()) {
      boost::json::array heaps;
      for (const auto& h : d.heaps) {
        heaps.push_back(boost::json::object{
            {"bytes", h.bytes},
            {"device_local", h.device_local},
            {"budget_bytes", h.budget_bytes ? boost::json::value(h.budget_bytes) : boost::json::value(nullptr)}});
      }
      devices.push_back(
          boost::json::object{{"device", "vulkan:" + std::to_string(d.index)},
                              {"name", d.name},
                              {"type", d.type},
                              {"api_version", d.api_version},
                              {"heaps", std::move(heaps)},
                              {"storage_16bit", d.storage_16bit},
                              {"storage_8bit", d.storage_8bit},
                              {"shader_float16", d.shader_float16},
                              {"shader_int8", d.shader_int8},
                              {"subgroup_size", d.subgroup_size},
                              {"subgroup_arithmetic", d.subgroup_arithmetic},
                              {"cooperative_matrix", d.cooperative_matrix},
                              {"memory_budget_extension", d.memory_budget},
                              {"max_storage_buffer_range", d.max_storage_buffer_range},
                              {"max_allocation_bytes", d.max_allocation_bytes},
                              {"usable", d.usable},
                              {"why_not", d.usable ? boost::json::value(nullptr) : boost::json::value(d.why_not)}});
    }
  }
  return boost::json::object{{"built", backend::vulkan_built()},
                             {"error", list ? boost::json::value(nullptr) : boost::json::value(list.error().message)},
                             {"devices", std::move(devices)}};
}

void print_vulkan(const VulkanList& list) {
  if (!list) {
    std::printf("Vulkan      none: %s\n", list.error().message.c_str());
    return;
  }
  std::printf("Vulkan      %zu device(s)\n", list.value().size());
  for (const backend::VulkanDeviceReport& d : list.value()) {
    std::printf("  vulkan:%zu %s (%s, Vulkan %s)%s%s\n", d.index, d.name.c_str(), d.type.c_str(), d.api_version.c_str(),
                d.usable ? "" : ": not usable, ", d.why_not.c_str());
    for (const auto& h : d.heaps) {
      std::printf("    heap %s%s", format_bytes(h.bytes).c_str(), h.device_local ? " device-local" : "");
      if (h.budget_bytes) std::printf(", budget %s", format_bytes(h.budget_bytes).c_str());
      std::printf("\n");
    }
    std::printf(
        "    16-bit storage %s, 8-bit storage %s, float16 %s, int8 %s, subgroup %u (arithmetic %s), "
        "cooperative matrix %s\n",
        d.storage_16bit ? "yes" : "no", d.storage_8bit ? "yes" : "no", d.shader_float16 ? "yes" : "no",
        d.shader_int8 ? "yes" : "no", d.subgroup_size, d.subgroup_arithmetic ? "yes" : "no",
        d.cooperative_matrix ? "yes" : "no");
    std::printf("    binding range %s, largest allocation %s\n", format_bytes(d.max_storage_buffer_range).c_str(),
                format_bytes(d.max_allocation_bytes).c_str());
  }
}

std::string or_unavailable(const std::optional<std::uint64_t>& bytes) {
  return bytes ? format_bytes(*bytes) : std::string("unavailable");
}

std::string khz(const std::optional<std::uint64_t>& v) {
  return v ? std::to_string(*v / 1000) + " MHz" : std::string("unavailable");
}

std::string celsius(const std::optional<double>& c) {
  if (!c) return "unavailable";
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f C", *c);
  return buffer;
}

void print_text(const rm::SystemSnapshot& s, const std::string& root, std::optional<std::uint64_t> weight_bytes,
                const rm::Recommendation& r) {
  std::printf("root %s\n\n", root.c_str());
  const rm::CpuInfo& cpu = s.cpu;
  std::printf("CPU         %s", cpu.model_name.value_or("model unavailable").c_str());
  if (cpu.hardware && cpu.hardware != cpu.model_name) std::printf(" (%s)", cpu.hardware->c_str());
  if (cpu.cores_online) {
    std::printf(", %u cores online (%s)", *cpu.cores_online, cpu.online_list->c_str());
  } else {
    std::printf(", cores online unavailable");
  }
  if (cpu.load) {
    std::printf(", load average %.2f %.2f %.2f\n", cpu.load->one_min, cpu.load->five_min, cpu.load->fifteen_min);
  } else {
    std::printf(", load average unavailable\n");
  }
  if (cpu.frequencies.empty()) std::printf("  frequencies unavailable\n");
  for (const rm::CpuFrequency& f : cpu.frequencies) {
    std::printf("  cpu%-3d %s now, max %s, policy max %s\n", f.cpu, khz(f.cur_khz).c_str(), khz(f.max_khz).c_str(),
                khz(f.scaling_max_khz).c_str());
  }

  const rm::MemoryInfo& m = s.memory;
  std::printf("Memory      total %s, available %s, swap %s free of %s\n", or_unavailable(m.total_bytes).c_str(),
              or_unavailable(m.available_bytes).c_str(), or_unavailable(m.swap_free_bytes).c_str(),
              or_unavailable(m.swap_total_bytes).c_str());
  if (m.cgroup) {
    std::printf("  cgroup v%d limit %s (%s)\n", m.cgroup->version,
                m.cgroup->limit_bytes ? format_bytes(*m.cgroup->limit_bytes).c_str() : "none", m.cgroup->file.c_str());
  } else {
    std::printf("  cgroup limit unavailable\n");
  }

  std::printf("Thermal%s\n", s.thermal_zones.empty() ? "     unavailable" : "");
  for (const rm::ThermalZone& z : s.thermal_zones) {
    std::printf("  %-16s %-15s %s", z.type.value_or("type unavailable").c_str(), z.name.c_str(),
                celsius(z.temp_c).c_str());
    for (const rm::TripPoint& t : z.trips) {
      std::printf("%s %s %s", &t == &z.trips.front() ? "; trips:" : ",", t.type.value_or("?").c_str(),
                  celsius(t.temp_c).c_str());
    }
    std::printf("\n");
  }

  std::printf("Throttling\n");
  if (const auto& t = s.throttling.rpi) {
    std::string now, since;
    const auto add = [](std::string& list, bool on, const char* what) {
      if (on) list += (list.empty() ? "" : ", ") + std::string(what);
    };
    add(now, t->under_voltage, "under-voltage");
    add(now, t->arm_freq_capped, "arm frequency capped");
    add(now, t->throttled, "throttled");
    add(now, t->soft_temp_limit, "soft temperature limit");
    add(since, t->under_voltage_occurred, "under-voltage");
    add(since, t->arm_freq_capped_occurred, "arm frequency capped");
    add(since, t->throttled_occurred, "throttled");
    add(since, t->soft_temp_limit_occurred, "soft temperature limit");
    std::printf("  Raspberry Pi firmware %s: now %s; since boot %s\n", hex(t->raw).c_str(),
                now.empty() ? "none" : now.c_str(), since.empty() ? "none" : since.c_str());
  } else {
    std::printf("  Raspberry Pi firmware flags unavailable\n");
  }
  if (cpu.frequencies.empty()) {
    std::printf("  cpufreq caps unavailable\n");
  } else if (s.throttling.capped_cpus.empty()) {
    std::printf("  cpufreq caps: none\n");
  }
  for (const rm::CpuFrequency& f : cpu.frequencies) {
    if (f.capped())
      std::printf("  cpu%d capped at %s of %s\n", f.cpu, khz(f.scaling_max_khz).c_str(), khz(f.max_khz).c_str());
  }

  std::printf("Power%s\n", s.power_supplies.empty() ? "       unavailable" : "");
  for (const rm::PowerSupply& p : s.power_supplies) {
    std::printf("  %-16s %-10s", p.name.c_str(), p.type.value_or("?").c_str());
    if (p.status) std::printf(" %s", p.status->c_str());
    if (p.capacity_percent) std::printf(" %d%%", *p.capacity_percent);
    if (p.online) std::printf(" %s", *p.online ? "online" : "offline");
    std::printf("\n");
  }

  std::printf("\nRecommended");
  if (weight_bytes) std::printf(" for %s of weights", format_bytes(*weight_bytes).c_str());
  std::printf("\n  --strategy %-22s %s\n", r.strategy.c_str(), r.strategy_reason.c_str());
  std::printf("  threads %-25u %s\n", r.threads, r.threads_reason.c_str());
  std::printf("  --memory-budget %-17s %s\n", format_bytes(r.budget_bytes).c_str(), r.budget_reason.c_str());
}

Result<int> status(const StatusArgs& a) {
  EDGE_RT_TRY(auto probe, rm::SystemProbe::at(a.root));
  std::optional<std::uint64_t> weight_bytes;
  if (!a.model.empty()) {
    EDGE_RT_TRY(weight_bytes, model_weight_bytes(a.model));
  }
  const rm::SystemSnapshot snapshot = probe.read();
  const rm::Recommendation r = rm::recommend(snapshot, weight_bytes);
  const VulkanList vulkan = backend::list_vulkan_devices();
  if (a.json) {
    boost::json::object out = to_json(snapshot, a.root, weight_bytes, r);
    out["vulkan"] = vulkan_json(vulkan);
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    print_text(snapshot, a.root, weight_bytes, r);
    std::printf("\n");
    print_vulkan(vulkan);
  }
  return 0;
}

}  // namespace

std::function<int()> add_status_command(CLI::App& app) {
  auto args = std::make_shared<StatusArgs>();
  CLI::App* cmd = app.add_subcommand(
      "status", "Show CPU, memory, thermal, throttling and power state, and recommended run settings");
  cmd->add_option("--root", args->root, "Read /proc and /sys under this folder (default: /; for recorded trees)");
  cmd->add_option("-m,--model", args->model, "Model folder whose *.safetensors size decides the strategy");
  cmd->add_flag("--json", args->json, "One JSON object instead of text");
  cmd->add_option("-c,--config", args->preset, "Preset TOML (its model); flags override it");
  return [args, cmd]() -> int {
    return with_preset(args->preset, [&](const Preset& p) {
      StatusArgs a = *args;
      apply(p.model, *cmd, "--model", a.model);
      return status(a);
    });
  };
}

}  // namespace edge_rt::cli
