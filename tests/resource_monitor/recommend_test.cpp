#include <edge_rt/resource_monitor/probe.hpp>
#include <edge_rt/resource_monitor/recommend.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

namespace edge_rt::resource_monitor {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = EDGE_RT_SOURCE_DIR "/tests/resource_monitor/fixtures";
constexpr std::uint64_t kMiB = std::uint64_t{1} << 20;

SystemSnapshot read_fixture(const char* name) {
  return SystemProbe::at(kFixtures / name).value().read();
}

void expect_reasons(const Recommendation& r) {
  EXPECT_FALSE(r.strategy_reason.empty());
  EXPECT_FALSE(r.threads_reason.empty());
  EXPECT_FALSE(r.budget_reason.empty());
  for (const std::string* reason : {&r.strategy_reason, &r.threads_reason, &r.budget_reason}) {
    EXPECT_EQ(reason->find('\n'), std::string::npos) << *reason;
  }
}

TEST(Recommend, RaspberryPi4IsThrottled) {
  const SystemSnapshot s = read_fixture("rpi4-4gb");
  // MemAvailable 3215480 kB = 3292651520 bytes; margin 10% = 329265152.
  const Recommendation r = recommend(s, /*model_weight_bytes=*/std::nullopt);
  EXPECT_EQ(r.budget_bytes, 3292651520ULL - 329265152ULL);
  EXPECT_EQ(r.threads, 2U);  // 4 cores, load 0.52, halved: currently throttled
  EXPECT_NE(r.threads_reason.find("throttled"), std::string::npos) << r.threads_reason;
  EXPECT_EQ(r.strategy, "speculative-prefetch");  // no model: prefetch with 4 cores
  expect_reasons(r);

  const Recommendation fits = recommend(s, /*model_weight_bytes=*/500 * kMiB);
  EXPECT_EQ(fits.strategy, "greedy-grouping");
  EXPECT_EQ(fits.budget_bytes, r.budget_bytes);
  expect_reasons(fits);
  // Exactly at usable - margin still fits; one byte more does not.
  EXPECT_EQ(recommend(s, 2963386368ULL).strategy, "greedy-grouping");
  EXPECT_EQ(recommend(s, 2963386369ULL).strategy, "speculative-prefetch");
}

TEST(Recommend, JetsonOrinNanoIsHotAndCgroupLimited) {
  const SystemSnapshot s = read_fixture("jetson-orin-nano");
  const ThermalZone* hot = hot_zone(s);
  ASSERT_NE(hot, nullptr);
  EXPECT_EQ(hot->type, "cpu-thermal");
  // The 4 GiB cgroup limit is below MemAvailable; margin 10% = 429496729.
  const Recommendation r = recommend(s, /*model_weight_bytes=*/6ULL << 30);
  EXPECT_EQ(r.budget_bytes, 4294967296ULL - 429496729ULL);
  EXPECT_NE(r.budget_reason.find("cgroup v1"), std::string::npos) << r.budget_reason;
  EXPECT_EQ(r.threads, 3U);  // 6 cores, load 1.12, halved: cpu-thermal within 5 C of its passive trip
  EXPECT_NE(r.threads_reason.find("cpu-thermal"), std::string::npos) << r.threads_reason;
  EXPECT_EQ(r.strategy, "speculative-prefetch");  // 6 GiB does not fit in the container
  expect_reasons(r);
}

TEST(Recommend, AndroidPhoneUnderLoad) {
  const SystemSnapshot s = read_fixture("android-phone");
  EXPECT_EQ(hot_zone(s), nullptr);  // skin at 37.9 C is 6.1 C below its 44 C passive trip
  // MemAvailable 4412020 kB = 4517908480 bytes; margin 10% = 451790848.
  const Recommendation r = recommend(s, /*model_weight_bytes=*/2ULL << 30);
  EXPECT_EQ(r.budget_bytes, 4517908480ULL - 451790848ULL);
  EXPECT_EQ(r.threads, 7U);  // 8 cores, load 8.42 > 7.5
  EXPECT_NE(r.threads_reason.find("load"), std::string::npos) << r.threads_reason;
  EXPECT_EQ(r.strategy, "greedy-grouping");
  expect_reasons(r);
}

TEST(Recommend, BareTreeFallsBackToOneThreadSequential) {
  const SystemSnapshot s = read_fixture("bare");
  // MemAvailable 803220 kB = 822497280 bytes; 10% is below 128 MiB, so the margin is 128 MiB.
  const Recommendation r = recommend(s, /*model_weight_bytes=*/1ULL << 30);
  EXPECT_EQ(r.budget_bytes, 822497280ULL - 128 * kMiB);
  EXPECT_EQ(r.threads, 1U);
  EXPECT_EQ(r.strategy, "sequential");
  expect_reasons(r);
  EXPECT_EQ(recommend(s, 100 * kMiB).strategy, "greedy-grouping");
}

TEST(Recommend, BudgetNeverBelowTheMinimum) {
  SystemSnapshot s;
  Recommendation r = recommend(s, std::nullopt);
  EXPECT_EQ(r.budget_bytes, kMinBudgetBytes);  // memory unknown
  EXPECT_EQ(r.threads, 1U);
  EXPECT_EQ(r.strategy, "sequential");
  expect_reasons(r);
  s.memory.available_bytes = 150 * kMiB;  // 150 - 128 = 22 MiB, raised to 64
  r = recommend(s, /*model_weight_bytes=*/30 * kMiB);
  EXPECT_EQ(r.budget_bytes, kMinBudgetBytes);
  EXPECT_EQ(r.strategy, "sequential");  // 30 MiB does not fit in 22 MiB
  s.memory.cgroup = CgroupMemoryLimit{.version = 2, .file = "sys/fs/cgroup/memory.max", .limit_bytes = 1 * kMiB};
  EXPECT_EQ(recommend(s, std::nullopt).budget_bytes, kMinBudgetBytes);
}

TEST(Recommend, LoadAndHeatNeverDropThreadsBelowOne) {
  SystemSnapshot s;
  s.cpu.cores_online = 1;
  s.cpu.load = LoadAverage{4.0, 4.0, 4.0};
  s.thermal_zones.push_back(ThermalZone{.name = "thermal_zone0",
                                        .type = "cpu-thermal",
                                        .temp_c = 100.0,
                                        .trips = {TripPoint{.index = 0, .temp_c = 100.0, .type = "hot"}}});
  EXPECT_EQ(recommend(s, std::nullopt).threads, 1U);
  // An "active" (fan) trip point does not count as hot.
  s.thermal_zones[0].trips[0].type = "active";
  EXPECT_EQ(hot_zone(s), nullptr);
}

// A device that heats up between two reads: the hot zone is seen and the recommended threads drop.
TEST(Recommend, TreeThatChangesOverTime) {
  const fs::path root = fs::path(testing::TempDir()) / "edge_rt_resource_monitor_heating";
  fs::remove_all(root);
  fs::copy(kFixtures / "android-phone", root, fs::copy_options::recursive);
  const SystemProbe probe = SystemProbe::at(root).value();

  const SystemSnapshot cool = probe.read();
  EXPECT_EQ(hot_zone(cool), nullptr);
  EXPECT_EQ(recommend(cool, std::nullopt).threads, 7U);

  std::ofstream(root / "sys/class/thermal/thermal_zone0/temp", std::ios::trunc) << "92400\n";
  const SystemSnapshot hot = probe.read();
  ASSERT_NE(hot_zone(hot), nullptr);
  EXPECT_EQ(hot_zone(hot)->type, "cpu-1-0");
  EXPECT_DOUBLE_EQ(hot.thermal_zones[0].temp_c.value(), 92.4);
  const Recommendation r = recommend(hot, std::nullopt);
  EXPECT_EQ(r.threads, 3U);  // 8 - 1 for load, halved
  EXPECT_NE(r.threads_reason.find("cpu-1-0"), std::string::npos) << r.threads_reason;
  fs::remove_all(root);
}

}  // namespace
}  // namespace edge_rt::resource_monitor
