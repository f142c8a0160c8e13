#include <edge_rt/resource_monitor/probe.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace edge_rt::resource_monitor {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = EDGE_RT_SOURCE_DIR "/tests/resource_monitor/fixtures";

SystemSnapshot read_fixture(const char* name) {
  auto probe = SystemProbe::at(kFixtures / name);
  EXPECT_TRUE(probe) << name;
  return probe.value().read();
}

void write(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

TEST(SystemProbe, RaspberryPi4) {
  const SystemSnapshot s = read_fixture("rpi4-4gb");
  EXPECT_EQ(s.cpu.model_name, "Raspberry Pi 4 Model B Rev 1.4");
  EXPECT_EQ(s.cpu.hardware, "BCM2835");
  EXPECT_EQ(s.cpu.online_list, "0-3");
  EXPECT_EQ(s.cpu.cores_online, 4U);
  ASSERT_EQ(s.cpu.frequencies.size(), 4U);
  for (int i = 0; i < 4; ++i) {
    const CpuFrequency& f = s.cpu.frequencies[static_cast<std::size_t>(i)];
    EXPECT_EQ(f.cpu, i);
    EXPECT_EQ(f.cur_khz, 600000U);
    EXPECT_EQ(f.max_khz, 1500000U);
    EXPECT_EQ(f.scaling_max_khz, 1500000U);
    EXPECT_FALSE(f.capped());
  }
  ASSERT_TRUE(s.cpu.load);
  EXPECT_DOUBLE_EQ(s.cpu.load->one_min, 0.52);
  EXPECT_DOUBLE_EQ(s.cpu.load->five_min, 0.41);
  EXPECT_DOUBLE_EQ(s.cpu.load->fifteen_min, 0.30);

  EXPECT_EQ(s.memory.total_bytes, 3884328ULL * 1024);
  EXPECT_EQ(s.memory.available_bytes, 3215480ULL * 1024);
  EXPECT_EQ(s.memory.swap_total_bytes, 102396ULL * 1024);
  EXPECT_EQ(s.memory.swap_free_bytes, 102396ULL * 1024);
  ASSERT_TRUE(s.memory.cgroup);
  EXPECT_EQ(s.memory.cgroup->version, 2);
  EXPECT_EQ(s.memory.cgroup->file, "sys/fs/cgroup/user.slice/user-1000.slice/session-3.scope/memory.max");
  EXPECT_FALSE(s.memory.cgroup->limit_bytes);  // "max"

  ASSERT_EQ(s.thermal_zones.size(), 1U);
  const ThermalZone& z = s.thermal_zones[0];
  EXPECT_EQ(z.name, "thermal_zone0");
  EXPECT_EQ(z.type, "cpu-thermal");
  EXPECT_DOUBLE_EQ(z.temp_c.value(), 82.251);
  ASSERT_EQ(z.trips.size(), 1U);
  EXPECT_EQ(z.trips[0].index, 0);
  EXPECT_DOUBLE_EQ(z.trips[0].temp_c.value(), 110.0);
  EXPECT_EQ(z.trips[0].type, "critical");

  ASSERT_TRUE(s.throttling.rpi);
  const RpiThrottleFlags& t = *s.throttling.rpi;
  EXPECT_EQ(t.raw, 0x50005U);
  EXPECT_TRUE(t.under_voltage);
  EXPECT_FALSE(t.arm_freq_capped);
  EXPECT_TRUE(t.throttled);
  EXPECT_FALSE(t.soft_temp_limit);
  EXPECT_TRUE(t.under_voltage_occurred);
  EXPECT_FALSE(t.arm_freq_capped_occurred);
  EXPECT_TRUE(t.throttled_occurred);
  EXPECT_FALSE(t.soft_temp_limit_occurred);
  EXPECT_TRUE(s.throttling.capped_cpus.empty());
  EXPECT_TRUE(s.power_supplies.empty());
}

TEST(SystemProbe, JetsonOrinNano) {
  const SystemSnapshot s = read_fixture("jetson-orin-nano");
  EXPECT_EQ(s.cpu.model_name, "ARMv8 Processor rev 1 (v8l)");
  EXPECT_FALSE(s.cpu.hardware);
  EXPECT_EQ(s.cpu.cores_online, 6U);
  ASSERT_EQ(s.cpu.frequencies.size(), 6U);
  for (const CpuFrequency& f : s.cpu.frequencies) {
    EXPECT_EQ(f.cur_khz, 1510400U);
    EXPECT_EQ(f.max_khz, 1510400U);
    EXPECT_EQ(f.scaling_max_khz, 1510400U);
  }
  EXPECT_EQ(s.cpu.frequencies.back().cpu, 5);
  ASSERT_TRUE(s.cpu.load);
  EXPECT_DOUBLE_EQ(s.cpu.load->one_min, 1.12);
  EXPECT_DOUBLE_EQ(s.cpu.load->five_min, 0.98);
  EXPECT_DOUBLE_EQ(s.cpu.load->fifteen_min, 0.75);

  EXPECT_EQ(s.memory.total_bytes, 7620184ULL * 1024);
  EXPECT_EQ(s.memory.available_bytes, 5892144ULL * 1024);
  EXPECT_EQ(s.memory.swap_total_bytes, 3810080ULL * 1024);
  EXPECT_EQ(s.memory.swap_free_bytes, 3810080ULL * 1024);
  ASSERT_TRUE(s.memory.cgroup);  // the container's own cgroup, not the root's unlimited one
  EXPECT_EQ(s.memory.cgroup->version, 1);
  EXPECT_EQ(s.memory.cgroup->file, "sys/fs/cgroup/memory/docker/4f1c2a/memory.limit_in_bytes");
  EXPECT_EQ(s.memory.cgroup->limit_bytes, 4ULL << 30);

  ASSERT_EQ(s.thermal_zones.size(), 4U);
  const char* names[] = {"thermal_zone0", "thermal_zone1", "thermal_zone5", "thermal_zone8"};
  const char* types[] = {"cpu-thermal", "gpu-thermal", "soc0-thermal", "tj-thermal"};
  const double temps[] = {95.5, 71.25, 70.812, 96.031};
  for (std::size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(s.thermal_zones[i].name, names[i]);
    EXPECT_EQ(s.thermal_zones[i].type, types[i]);
    EXPECT_DOUBLE_EQ(s.thermal_zones[i].temp_c.value(), temps[i]);
  }
  const auto& cpu_trips = s.thermal_zones[0].trips;
  ASSERT_EQ(cpu_trips.size(), 2U);
  EXPECT_DOUBLE_EQ(cpu_trips[0].temp_c.value(), 99.0);
  EXPECT_EQ(cpu_trips[0].type, "passive");
  EXPECT_DOUBLE_EQ(cpu_trips[1].temp_c.value(), 104.5);
  EXPECT_EQ(cpu_trips[1].type, "critical");
  const auto& tj_trips = s.thermal_zones[3].trips;
  ASSERT_EQ(tj_trips.size(), 3U);
  EXPECT_EQ(tj_trips[0].type, "active");
  EXPECT_DOUBLE_EQ(tj_trips[1].temp_c.value(), 62.0);
  EXPECT_EQ(tj_trips[2].index, 2);
  EXPECT_DOUBLE_EQ(tj_trips[2].temp_c.value(), 105.0);
  EXPECT_EQ(tj_trips[2].type, "critical");

  EXPECT_FALSE(s.throttling.rpi);
  EXPECT_TRUE(s.throttling.capped_cpus.empty());
  EXPECT_TRUE(s.power_supplies.empty());
}

TEST(SystemProbe, AndroidPhone) {
  const SystemSnapshot s = read_fixture("android-phone");
  EXPECT_EQ(s.cpu.model_name, "Qualcomm Technologies, Inc SM8450");
  EXPECT_EQ(s.cpu.hardware, "Qualcomm Technologies, Inc SM8450");
  EXPECT_EQ(s.cpu.cores_online, 8U);
  ASSERT_EQ(s.cpu.frequencies.size(), 8U);
  for (std::size_t i = 0; i < 8; ++i) {
    const CpuFrequency& f = s.cpu.frequencies[i];
    EXPECT_EQ(f.cpu, static_cast<int>(i));
    EXPECT_EQ(f.max_khz, i < 4 ? 1785600U : i < 7 ? 2496000U : 2995200U);
    EXPECT_EQ(f.cur_khz, i < 4 ? 1075200U : i < 7 ? 1766400U : 2400000U);
    EXPECT_EQ(f.scaling_max_khz, i < 7 ? f.max_khz : 2400000U);
  }
  ASSERT_TRUE(s.cpu.load);
  EXPECT_DOUBLE_EQ(s.cpu.load->one_min, 8.42);

  EXPECT_EQ(s.memory.total_bytes, 11262904ULL * 1024);
  EXPECT_EQ(s.memory.available_bytes, 4412020ULL * 1024);
  EXPECT_EQ(s.memory.swap_total_bytes, 4194300ULL * 1024);
  EXPECT_EQ(s.memory.swap_free_bytes, 2150012ULL * 1024);
  EXPECT_FALSE(s.memory.cgroup);

  ASSERT_EQ(s.thermal_zones.size(), 4U);
  EXPECT_EQ(s.thermal_zones[0].type, "cpu-1-0");
  EXPECT_DOUBLE_EQ(s.thermal_zones[0].temp_c.value(), 52.1);
  ASSERT_EQ(s.thermal_zones[0].trips.size(), 2U);
  EXPECT_DOUBLE_EQ(s.thermal_zones[0].trips[0].temp_c.value(), 95.0);
  EXPECT_EQ(s.thermal_zones[0].trips[0].type, "passive");
  EXPECT_DOUBLE_EQ(s.thermal_zones[0].trips[1].temp_c.value(), 115.0);
  EXPECT_EQ(s.thermal_zones[1].type, "gpuss-0");
  EXPECT_DOUBLE_EQ(s.thermal_zones[1].temp_c.value(), 49.8);
  EXPECT_EQ(s.thermal_zones[2].type, "battery");
  EXPECT_DOUBLE_EQ(s.thermal_zones[2].temp_c.value(), 31.5);
  EXPECT_TRUE(s.thermal_zones[2].trips.empty());
  EXPECT_EQ(s.thermal_zones[3].type, "skin-msm-therm");
  EXPECT_DOUBLE_EQ(s.thermal_zones[3].temp_c.value(), 37.9);
  ASSERT_EQ(s.thermal_zones[3].trips.size(), 1U);
  EXPECT_DOUBLE_EQ(s.thermal_zones[3].trips[0].temp_c.value(), 44.0);

  EXPECT_FALSE(s.throttling.rpi);
  EXPECT_EQ(s.throttling.capped_cpus, std::vector<int>{7});

  ASSERT_EQ(s.power_supplies.size(), 2U);
  const PowerSupply& battery = s.power_supplies[0];
  EXPECT_EQ(battery.name, "battery");
  EXPECT_EQ(battery.type, "Battery");
  EXPECT_EQ(battery.status, "Discharging");
  EXPECT_EQ(battery.capacity_percent, 76);
  EXPECT_FALSE(battery.online);
  const PowerSupply& usb = s.power_supplies[1];
  EXPECT_EQ(usb.name, "usb");
  EXPECT_EQ(usb.type, "USB");
  EXPECT_FALSE(usb.status);
  EXPECT_FALSE(usb.capacity_percent);
  EXPECT_EQ(usb.online, false);
}

TEST(SystemProbe, BareTreeReportsEverythingElseUnavailable) {
  const SystemSnapshot s = read_fixture("bare");
  EXPECT_EQ(s.memory.total_bytes, 1015952ULL * 1024);
  EXPECT_EQ(s.memory.available_bytes, 803220ULL * 1024);
  EXPECT_EQ(s.memory.swap_total_bytes, 0U);
  EXPECT_EQ(s.memory.swap_free_bytes, 0U);
  EXPECT_FALSE(s.memory.cgroup);
  EXPECT_FALSE(s.cpu.model_name);
  EXPECT_FALSE(s.cpu.hardware);
  EXPECT_FALSE(s.cpu.online_list);
  EXPECT_FALSE(s.cpu.cores_online);
  EXPECT_TRUE(s.cpu.frequencies.empty());
  EXPECT_FALSE(s.cpu.load);
  EXPECT_TRUE(s.thermal_zones.empty());
  EXPECT_FALSE(s.throttling.rpi);
  EXPECT_TRUE(s.throttling.capped_cpus.empty());
  EXPECT_TRUE(s.power_supplies.empty());
}

TEST(SystemProbe, EmptyTreeReportsEverythingUnavailable) {
  const fs::path root = fs::path(testing::TempDir()) / "edge_rt_resource_monitor_empty";
  fs::remove_all(root);
  fs::create_directories(root);
  const SystemSnapshot s = SystemProbe::at(root).value().read();
  EXPECT_FALSE(s.memory.total_bytes);
  EXPECT_FALSE(s.memory.available_bytes);
  EXPECT_FALSE(s.memory.swap_total_bytes);
  EXPECT_FALSE(s.memory.cgroup);
  EXPECT_FALSE(s.cpu.cores_online);
  EXPECT_TRUE(s.thermal_zones.empty());
  fs::remove_all(root);
}

TEST(SystemProbe, RootThatIsNotADirectoryIsAnIoError) {
  const auto missing = SystemProbe::at(kFixtures / "does-not-exist");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIoError);
  EXPECT_NE(missing.error().message.find("does-not-exist"), std::string::npos);
  const auto file = SystemProbe::at(kFixtures / "bare/proc/meminfo");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().code, ErrorCode::kIoError);
}

TEST(SystemProbe, MalformedValuesAreUnavailableNotErrors) {
  const fs::path root = fs::path(testing::TempDir()) / "edge_rt_resource_monitor_malformed";
  fs::remove_all(root);
  write(root / "proc/meminfo", "MemTotal: lots kB\nMemAvailable: 1024\nSwapTotal: -5 kB\nSwapFree: 8 kB\n");
  write(root / "proc/loadavg", "high 0.1 0.2 1/2 3\n");
  write(root / "proc/cpuinfo", "garbage without colons\nmodel name\t:\n");
  write(root / "proc/self/cgroup", "this is not a cgroup line\n0::/../../etc\n");
  write(root / "sys/fs/cgroup/memory.max", "unlimited\n");
  write(root / "sys/devices/system/cpu/online", "3-1\n");
  write(root / "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "fast\n");
  write(root / "sys/devices/system/cpu/cpu0/cpufreq/cpuinfo_max_freq", "\n");
  write(root / "sys/devices/system/cpu/cpux/cpufreq/scaling_cur_freq", "1000\n");
  write(root / "sys/class/thermal/thermal_zone0/type", "cpu-thermal\n");
  write(root / "sys/class/thermal/thermal_zone0/temp", "hot\n");
  write(root / "sys/class/thermal/thermal_zone0/trip_point_0_temp", "90.5e3x\n");
  write(root / "sys/class/thermal/thermal_zone0/trip_point_0_type", "passive\n");
  write(root / "sys/class/thermal/thermal_zoneX/temp", "40000\n");
  write(root / "sys/devices/platform/soc/soc:firmware/get_throttled", "0xzz\n");
  write(root / "sys/class/power_supply/battery/capacity", "140\n");
  write(root / "sys/class/power_supply/battery/online", "yes\n");
  const SystemSnapshot s = SystemProbe::at(root).value().read();
  EXPECT_FALSE(s.memory.total_bytes);
  EXPECT_FALSE(s.memory.available_bytes);  // no kB unit
  EXPECT_FALSE(s.memory.swap_total_bytes);
  EXPECT_EQ(s.memory.swap_free_bytes, 8U * 1024);
  EXPECT_FALSE(s.memory.cgroup);
  EXPECT_FALSE(s.cpu.load);
  EXPECT_FALSE(s.cpu.model_name);
  EXPECT_FALSE(s.cpu.cores_online);
  EXPECT_FALSE(s.cpu.online_list);
  ASSERT_EQ(s.cpu.frequencies.size(), 1U);
  EXPECT_FALSE(s.cpu.frequencies[0].cur_khz);
  EXPECT_FALSE(s.cpu.frequencies[0].max_khz);
  ASSERT_EQ(s.thermal_zones.size(), 1U);
  EXPECT_EQ(s.thermal_zones[0].type, "cpu-thermal");
  EXPECT_FALSE(s.thermal_zones[0].temp_c);
  ASSERT_EQ(s.thermal_zones[0].trips.size(), 1U);
  EXPECT_FALSE(s.thermal_zones[0].trips[0].temp_c);
  EXPECT_EQ(s.thermal_zones[0].trips[0].type, "passive");
  EXPECT_FALSE(s.throttling.rpi);
  ASSERT_EQ(s.power_supplies.size(), 1U);
  EXPECT_FALSE(s.power_supplies[0].capacity_percent);
  EXPECT_FALSE(s.power_supplies[0].online);
  EXPECT_FALSE(s.power_supplies[0].type);
  fs::remove_all(root);
}

TEST(SystemProbe, CgroupV1RootFileWithoutSelfEntryAndHugeValueMeansNoLimit) {
  const fs::path root = fs::path(testing::TempDir()) / "edge_rt_resource_monitor_cgroup_v1";
  fs::remove_all(root);
  write(root / "sys/fs/cgroup/memory/memory.limit_in_bytes", "9223372036854771712\n");
  auto s = SystemProbe::at(root).value().read();
  ASSERT_TRUE(s.memory.cgroup);
  EXPECT_EQ(s.memory.cgroup->version, 1);
  EXPECT_EQ(s.memory.cgroup->file, "sys/fs/cgroup/memory/memory.limit_in_bytes");
  EXPECT_FALSE(s.memory.cgroup->limit_bytes);
  write(root / "sys/fs/cgroup/memory/memory.limit_in_bytes", "268435456\n");
  s = SystemProbe::at(root).value().read();
  EXPECT_EQ(s.memory.cgroup->limit_bytes, 256U << 20);
  // A v2 root file wins over v1 when /proc/self/cgroup is absent.
  write(root / "sys/fs/cgroup/memory.max", "536870912\n");
  s = SystemProbe::at(root).value().read();
  EXPECT_EQ(s.memory.cgroup->version, 2);
  EXPECT_EQ(s.memory.cgroup->limit_bytes, 512U << 20);
  fs::remove_all(root);
}

TEST(SystemProbe, LiveHostReads) {
  const SystemSnapshot s = SystemProbe::live().read();
  ASSERT_TRUE(s.memory.total_bytes);
  EXPECT_GT(*s.memory.total_bytes, 0U);
  // Thermal zones, batteries and cgroups vary by host: only check that reading them did not fail or crash.
}

TEST(RpiThrottleFlags, DecodesEveryDocumentedBit) {
  const RpiThrottleFlags all = RpiThrottleFlags::decode(0xF000FU);
  EXPECT_TRUE(all.under_voltage && all.arm_freq_capped && all.throttled && all.soft_temp_limit);
  EXPECT_TRUE(all.under_voltage_occurred && all.arm_freq_capped_occurred && all.throttled_occurred &&
              all.soft_temp_limit_occurred);
  const RpiThrottleFlags none = RpiThrottleFlags::decode(0U);
  EXPECT_FALSE(none.under_voltage || none.arm_freq_capped || none.throttled || none.soft_temp_limit);
  const RpiThrottleFlags capped = RpiThrottleFlags::decode(0x20002U);
  EXPECT_TRUE(capped.arm_freq_capped && capped.arm_freq_capped_occurred);
  EXPECT_FALSE(capped.throttled || capped.under_voltage);
}

}  // namespace
}  // namespace edge_rt::resource_monitor
