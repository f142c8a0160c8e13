// Finding the default model at run time (edge_rt/core/data_dir.hpp): EDGE_RT_DATA_DIR first, then
// share/edge-rt/models/stories260K beside the executable's folder or any of its parents.
#include <edge_rt/core/data_dir.hpp>

#include <unistd.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>

namespace edge_rt {
namespace {

namespace fs = std::filesystem;

class DataDirTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edge_rt_data_dir_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  // A model folder (config.json only: the search looks for nothing else) at `dir_`/`relative`.
  fs::path make_model(const fs::path& relative) {
    const fs::path model = dir_ / relative;
    fs::create_directories(model);
    std::ofstream(model / "config.json") << "{}\n";
    return model;
  }
  fs::path dir_;
};

TEST_F(DataDirTest, InstalledLayoutBesideBin) {
  const fs::path model = make_model("prefix/share/edge-rt/models/stories260K");
  auto found = find_default_model_dir(/*data_dir=*/{}, /*exe_path=*/dir_ / "prefix/bin/edge-rt");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found.value().string(), model.string());
}

TEST_F(DataDirTest, BuildTreeTwoLevelsUp) {
  const fs::path model = make_model("build/share/edge-rt/models/stories260K");
  auto found = find_default_model_dir(/*data_dir=*/{}, /*exe_path=*/dir_ / "build/apps/edge-rt/edge-rt");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found.value().string(), model.string());
}

TEST_F(DataDirTest, DataDirComesFirst) {
  make_model("prefix/share/edge-rt/models/stories260K");
  const fs::path model = make_model("data/models/stories260K");
  auto found = find_default_model_dir(/*data_dir=*/dir_ / "data", /*exe_path=*/dir_ / "prefix/bin/edge-rt");
  ASSERT_TRUE(found.has_value()) << found.error().message;
  EXPECT_EQ(found.value().string(), model.string());
}

// EDGE_RT_DATA_DIR set on purpose but wrong is an error, not a silent fall back to the executable's copy.
TEST_F(DataDirTest, DataDirWithoutModelIsAnError) {
  make_model("prefix/share/edge-rt/models/stories260K");
  auto found = find_default_model_dir(/*data_dir=*/dir_ / "empty", /*exe_path=*/dir_ / "prefix/bin/edge-rt");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::kIoError);
  EXPECT_NE(found.error().message.find((dir_ / "empty/models/stories260K").string()), std::string::npos)
      << found.error().message;
  EXPECT_NE(found.error().message.find("EDGE_RT_DATA_DIR"), std::string::npos) << found.error().message;
}

TEST_F(DataDirTest, FolderWithoutConfigDoesNotCount) {
  fs::create_directories(dir_ / "prefix/share/edge-rt/models/stories260K");
  auto found = find_default_model_dir(/*data_dir=*/{}, /*exe_path=*/dir_ / "prefix/bin/edge-rt");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::kIoError);
}

TEST_F(DataDirTest, NotFoundListsThePlacesAndTheWayOut) {
  auto found = find_default_model_dir(/*data_dir=*/{}, /*exe_path=*/dir_ / "bin/edge-rt");
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::kIoError);
  const std::string& message = found.error().message;
  EXPECT_NE(message.find((dir_ / "bin/share/edge-rt/models/stories260K").string()), std::string::npos) << message;
  EXPECT_NE(message.find((dir_ / "share/edge-rt/models/stories260K").string()), std::string::npos) << message;
  EXPECT_NE(message.find("--model"), std::string::npos) << message;
  EXPECT_NE(message.find("EDGE_RT_DATA_DIR"), std::string::npos) << message;
}

TEST_F(DataDirTest, NothingKnownIsAnError) {
  auto found = find_default_model_dir(/*data_dir=*/{}, /*exe_path=*/{});
  ASSERT_FALSE(found.has_value());
  EXPECT_EQ(found.error().code, ErrorCode::kIoError);
  EXPECT_NE(found.error().message.find("EDGE_RT_DATA_DIR is not set"), std::string::npos) << found.error().message;
}

}  // namespace
}  // namespace edge_rt
