// Safe input files and atomic output files (edge_rt/core/file.hpp), and checked arithmetic (core/checked.hpp).
#include <edge_rt/core/checked.hpp>
#include <edge_rt/core/file.hpp>

#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>

namespace edge_rt {
namespace {

namespace fs = std::filesystem;

class FileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("edge_rt_core_" + std::to_string(::getpid()) + "_" +
                                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& name, const std::string& bytes) {
    std::ofstream(dir_ / name, std::ios::binary) << bytes;
    return dir_ / name;
  }
  static std::string slurp(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  fs::path dir_;
};

void expect_error(const Result<std::string>& r, ErrorCode code, const std::string& part) {
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(part), std::string::npos) << r.error().message;
}

TEST_F(FileTest, ReadsARegularFile) {
  const auto r = read_regular_file(write("a.json", "{\"x\": 1}"), 100, "[t]");
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r.value(), "{\"x\": 1}");
}

TEST_F(FileTest, RefusesWhatIsNotARegularFileWithoutBlocking) {
  ASSERT_EQ(::mkfifo((dir_ / "fifo").c_str(), 0600), 0);
  const auto start = std::chrono::steady_clock::now();
  expect_error(read_regular_file(dir_ / "fifo", 100, "[t]"), ErrorCode::kInvalidFormat, "is a FIFO");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));  // no writer: open must not wait
  expect_error(read_regular_file("/dev/zero", 100, "[t]"), ErrorCode::kInvalidFormat, "character device");
  expect_error(read_regular_file(dir_, 100, "[t]"), ErrorCode::kInvalidFormat, "is a directory");
  expect_error(read_regular_file(dir_ / "missing", 100, "[t]"), ErrorCode::kIoError, "No such file");
}

TEST_F(FileTest, RefusesAFileOverItsCap) {
  expect_error(read_regular_file(write("big", std::string(101, 'x')), 100, "[t]"), ErrorCode::kInvalidFormat,
               "101 bytes, more than the 100-byte limit");
}

TEST_F(FileTest, AtomicWriteReplacesALinkInsteadOfWritingThroughIt) {
  const fs::path source = write("source.bin", "precious");
  fs::create_symlink(source, dir_ / "sym.bin");
  fs::create_hard_link(source, dir_ / "hard.bin");
  ASSERT_TRUE(write_file_atomically(dir_ / "sym.bin", "new", "[t]"));
  ASSERT_TRUE(write_file_atomically(dir_ / "hard.bin", "new", "[t]"));
  EXPECT_EQ(slurp(source), "precious");
  EXPECT_FALSE(fs::is_symlink(dir_ / "sym.bin"));
  EXPECT_EQ(slurp(dir_ / "sym.bin"), "new");
  EXPECT_EQ(slurp(dir_ / "hard.bin"), "new");
}

TEST_F(FileTest, AnUncommittedWriterLeavesTheTargetAndNoTemporaryFile) {
  const fs::path target = write("model.bin", "old");
  {
    auto w = AtomicFileWriter::create(target, "[t]");
    ASSERT_TRUE(w.has_value());
    ASSERT_TRUE(w.value().write("partial"));
  }  // dropped without commit, as on an error
  EXPECT_EQ(slurp(target), "old");
  std::size_t entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir_)) ++entries;
  EXPECT_EQ(entries, 1u);
}

TEST_F(FileTest, AWriterInAMissingFolderFailsWithTheOsReason) {
  const auto w = AtomicFileWriter::create(dir_ / "no" / "model.bin", "[t]");
  ASSERT_FALSE(w.has_value());
  EXPECT_NE(w.error().message.find("No such file or directory"), std::string::npos) << w.error().message;
}

TEST_F(FileTest, SameFileThroughALinkIsRefused) {
  const fs::path source = write("source.bin", "x");
  fs::create_symlink(source, dir_ / "sym.bin");
  const fs::path inputs[] = {source};
  const auto r = refuse_same_file(dir_ / "sym.bin", inputs, "[t]");
  ASSERT_FALSE(r.has_value());
  EXPECT_NE(r.error().message.find("is the same file as the input"), std::string::npos);
  EXPECT_TRUE(refuse_same_file(write("other.bin", "x"), inputs, "[t]").has_value());
  EXPECT_TRUE(refuse_same_file(dir_ / "absent.bin", inputs, "[t]").has_value());
}

TEST(Checked, ProductsAndSumsThatOverflowAreNullopt) {
  constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
  EXPECT_EQ(checked_mul<std::uint64_t>(1u << 20, 1u << 20), std::uint64_t{1} << 40);
  EXPECT_EQ(checked_mul<std::uint64_t>(kMax / 2 + 1, 2), std::nullopt);
  EXPECT_EQ(checked_add<std::uint64_t>(kMax, 1), std::nullopt);
  EXPECT_EQ(checked_add<std::int64_t>(-5, 3), -2);
  const std::uint64_t f = std::uint64_t{1} << 20;
  EXPECT_EQ(checked_product(f, f, f), std::uint64_t{1} << 60);
  EXPECT_EQ(checked_product(f, f, f, f), std::nullopt);  // llama2.c's fields of 2^20 each (issue 12)
}

}  // namespace
}  // namespace edge_rt
