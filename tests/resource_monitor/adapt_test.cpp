// Run-time adaptation: adapt() on recorded trees, and a Monitor polling a tree that heats, cools and drains.
#include <edge_rt/resource_monitor/adapt.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <condition_variable>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <vector>

namespace edge_rt::resource_monitor {
namespace {

namespace fs = std::filesystem;

const fs::path kFixtures = EDGE_RT_SOURCE_DIR "/tests/resource_monitor/fixtures";

// A writable copy of a fixture tree, removed at the end of the test.
class TreeCopy {
 public:
  explicit TreeCopy(const char* fixture) {
    // Per test and process: CTest runs the tests of this file in parallel processes.
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    root_ = fs::path(testing::TempDir()) /
            (std::string("edge_rt_adapt_") + fixture + "_" + info->name() + "_" + std::to_string(::getpid()));
    fs::remove_all(root_);
    fs::copy(kFixtures / fixture, root_, fs::copy_options::recursive);
  }
  ~TreeCopy() { fs::remove_all(root_); }
  void write(const char* file, const char* text) const { std::ofstream(root_ / file, std::ios::trunc) << text; }
  SystemProbe probe() const { return SystemProbe::at(root_).value(); }

 private:
  fs::path root_;
};

constexpr const char* kPhoneTemp = "sys/class/thermal/thermal_zone0/temp";  // passive trip 95 C, critical 115 C
constexpr const char* kPhoneBattery = "sys/class/power_supply/battery/capacity";

TEST(Adapt, RecordedDevices) {
  const AdaptPolicy policy;
  // Raspberry Pi 4: 82.3 C against a critical trip of 110 C, but the firmware reports "currently throttled".
  const Adaptation pi = adapt(SystemProbe::at(kFixtures / "rpi4-4gb").value().read(), policy, 4);
  EXPECT_EQ(pi.max_threads, 2U);
  EXPECT_EQ(pi.pace_ms, policy.pace_ms);
  EXPECT_NE(pi.reason.find("throttling"), std::string::npos) << pi.reason;
  // Android phone: cool, battery 76% discharging.
  const Adaptation phone = adapt(SystemProbe::at(kFixtures / "android-phone").value().read(), policy, 8);
  EXPECT_EQ(phone, (Adaptation{0, 0, ""}));
  EXPECT_EQ(phone.reason, "normal");
  // No sources at all: nothing to react to.
  EXPECT_EQ(adapt(SystemProbe::at(kFixtures / "bare").value().read(), policy, 2), (Adaptation{0, 0, ""}));
}

TEST(Adapt, ThresholdsComeFromThePolicy) {
  TreeCopy tree("android-phone");
  tree.write(kPhoneTemp, "91000\n");  // 4 C below the passive trip
  AdaptPolicy policy;
  policy.thermal_margin_c = 5.0;
  policy.pace_ms = 20;
  const Adaptation warm = adapt(tree.probe().read(), policy, 8);
  EXPECT_EQ(warm.max_threads, 4U);
  EXPECT_EQ(warm.pace_ms, 20U);
  EXPECT_NE(warm.reason.find("within 5.0 C"), std::string::npos) << warm.reason;
  policy.thermal_margin_c = 3.0;
  EXPECT_EQ(adapt(tree.probe().read(), policy, 8).max_threads, 0U);

  tree.write(kPhoneBattery, "10\n");
  const Adaptation low = adapt(tree.probe().read(), policy, 8);
  EXPECT_EQ(low.max_threads, 4U);
  EXPECT_NE(low.reason.find("battery at 10%"), std::string::npos) << low.reason;
  policy.battery_low_percent = 0;  // disabled
  EXPECT_EQ(adapt(tree.probe().read(), policy, 8).max_threads, 0U);
  tree.write("sys/class/power_supply/battery/status", "Charging\n");
  policy.battery_low_percent = 15;
  EXPECT_EQ(adapt(tree.probe().read(), policy, 8).max_threads, 0U);  // charging is not low

  tree.write(kPhoneTemp, "96000\n");  // past the passive trip: one thread, double pace
  const Adaptation hot = adapt(tree.probe().read(), policy, 8);
  EXPECT_EQ(hot.max_threads, 1U);
  EXPECT_EQ(hot.pace_ms, 2 * policy.pace_ms);
  EXPECT_NE(hot.reason.find("passive trip point 95.0 C reached"), std::string::npos) << hot.reason;
  EXPECT_EQ(adapt(tree.probe().read(), policy, 1).max_threads, 1U);
}

TEST(Monitor, PollsReportOnlyChanges) {
  TreeCopy tree("android-phone");
  std::vector<Adaptation> seen;
  Monitor monitor(tree.probe(), AdaptPolicy{}, 8, [&](const Adaptation& a) { seen.push_back(a); });
  monitor.poll_once();  // cool: nothing to report
  EXPECT_TRUE(seen.empty());
  tree.write(kPhoneTemp, "92000\n");
  monitor.poll_once();
  monitor.poll_once();  // still warm: no second report
  tree.write(kPhoneTemp, "99000\n");
  monitor.poll_once();
  tree.write(kPhoneTemp, "50000\n");
  monitor.poll_once();
  ASSERT_EQ(seen.size(), 3U);
  EXPECT_EQ(seen[0].max_threads, 4U);
  EXPECT_EQ(seen[1].max_threads, 1U);
  EXPECT_EQ(seen[2].max_threads, 0U);
  EXPECT_EQ(seen[2].reason, "normal");
}

TEST(Monitor, ThreadSeesTheTreeChange) {
  TreeCopy tree("android-phone");
  AdaptPolicy policy;
  policy.interval = std::chrono::milliseconds(5);
  std::mutex m;
  std::condition_variable cv;
  std::vector<Adaptation> seen;
  {
    Monitor monitor(tree.probe(), policy, 8, [&](const Adaptation& a) {
      std::lock_guard lock(m);
      seen.push_back(a);
      cv.notify_all();
    });
    monitor.start();
    tree.write(kPhoneTemp, "99000\n");
    std::unique_lock lock(m);
    // A generous deadline: this checks that the thread polls at all, not how fast.
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return !seen.empty(); }));
  }  // the destructor stops and joins the thread
  EXPECT_EQ(seen.front().max_threads, 1U);
}

}  // namespace
}  // namespace edge_rt::resource_monitor
