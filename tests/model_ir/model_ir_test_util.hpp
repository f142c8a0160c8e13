#pragma once
// Helpers shared by the model-ir tests: per-test temp folders, raw file bytes, error expectations.

#include <edge_rt/core/result.hpp>

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <iterator>
#include <string>
#include <string_view>
#include <system_error>

namespace edge_rt::model_ir::test {

inline std::filesystem::path shared_models_dir() {
  return EDGE_RT_SHARED_MODELS_DIR;
}
inline std::filesystem::path default_model_dir() {
  return EDGE_RT_DEFAULT_MODEL_DIR;
}

/// A fresh, empty folder for the running test, removed when the object dies.
class ScopedTempDir final {
 public:
  ScopedTempDir() {
    const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
    std::string name = "edge_rt_model_ir_" + std::to_string(::getpid());
    if (info != nullptr) name += std::string("_") + info->test_suite_name() + "_" + info->name();
    for (char& c : name) {
      if (c == '/') c = '_';
    }
    path_ = std::filesystem::path(::testing::TempDir()) / name;
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
    std::filesystem::create_directories(path_);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;
  ~ScopedTempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const noexcept { return path_; }
  std::filesystem::path operator/(std::string_view name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

inline void write_file(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << "cannot write " << path;
}

inline std::string read_file(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

/// 8 little-endian bytes.
inline std::string le_u64(std::uint64_t v) {
  std::string s(8, '\0');
  for (char& c : s) {
    c = static_cast<char>(v & 0xffu);
    v >>= 8;
  }
  return s;
}

/// A safetensors file by hand: the length prefix, `header` verbatim, then `data`.
inline std::string raw_safetensors(std::string_view header, std::string_view data) {
  return le_u64(header.size()) + std::string(header) + std::string(data);
}

/// Asserts a failure with `code` whose message contains every one of `parts`.
template <class T>
void expect_error(const Result<T>& r, ErrorCode code, std::initializer_list<std::string_view> parts) {
  ASSERT_TRUE(r.has_error()) << "expected " << to_string(code) << ", got success";
  EXPECT_EQ(r.error().code, code) << "got " << to_string(r.error().code) << ": " << r.error().message;
  for (std::string_view part : parts) {
    EXPECT_NE(r.error().message.find(part), std::string::npos)
        << "message lacks '" << part << "': " << r.error().message;
  }
}

}  // namespace edge_rt::model_ir::test
