#include <edge_rt/memory_manager/budget.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace edge_rt::memory_manager {
namespace {

constexpr std::uint64_t kKiB = 1024;
constexpr std::uint64_t kMiB = 1024 * kKiB;
constexpr std::uint64_t kGiB = 1024 * kMiB;
constexpr std::uint64_t kTiB = 1024 * kGiB;

struct ParseCase {
  std::string_view text;
  std::uint64_t bytes;
};

class ParseAccepts : public ::testing::TestWithParam<ParseCase> {};

TEST_P(ParseAccepts, GivesBinaryByteCount) {
  const ParseCase& c = GetParam();
  const Result<MemoryBudget> budget = MemoryBudget::parse(c.text);
  ASSERT_TRUE(budget.has_value()) << c.text << ": " << budget.error().message;
  EXPECT_FALSE(budget.value().is_unlimited()) << c.text;
  EXPECT_EQ(budget.value().bytes(), c.bytes) << c.text;
}

INSTANTIATE_TEST_SUITE_P(
    AllForms, ParseAccepts,
    ::testing::Values(ParseCase{"512M", 512 * kMiB}, ParseCase{"1G", kGiB}, ParseCase{"64MiB", 64 * kMiB},
                      ParseCase{"64mib", 64 * kMiB}, ParseCase{"64MB", 64 * kMiB}, ParseCase{"64mi", 64 * kMiB},
                      ParseCase{"1.5G", kGiB + kGiB / 2}, ParseCase{"0.5G", kGiB / 2}, ParseCase{"256k", 256 * kKiB},
                      ParseCase{"256K", 256 * kKiB}, ParseCase{"2T", 2 * kTiB}, ParseCase{"4096", 4096},
                      ParseCase{"100B", 100}, ParseCase{"100b", 100}, ParseCase{"1", 1},
                      ParseCase{" 64 MiB ", 64 * kMiB},  // surrounding and inner spaces, as format_bytes writes
                      ParseCase{"1.3K", 1331},           // 1331.2 bytes: the fraction of a byte is dropped
                      ParseCase{"0.001K", 1},            // 1.024 bytes
                      ParseCase{"007M", 7 * kMiB},       // leading zeros
                      ParseCase{"16383.999999999T", 16384 * kTiB - 1100},  // 2^54 - 1099.51...: exact fraction
                      ParseCase{"18446744073709551614", UINT64_MAX - 1}));

TEST(MemoryBudgetParse, UnlimitedAndNoneAreUnlimited) {
  for (const std::string_view text : {"unlimited", "none", "Unlimited", "NONE"}) {
    const Result<MemoryBudget> budget = MemoryBudget::parse(text);
    ASSERT_TRUE(budget.has_value()) << text;
    EXPECT_TRUE(budget.value().is_unlimited()) << text;
    EXPECT_EQ(budget.value().bytes(), UINT64_MAX) << text;
    EXPECT_EQ(budget.value().to_string(), "unlimited");
  }
}

class ParseRejects : public ::testing::TestWithParam<std::string_view> {};

TEST_P(ParseRejects, WithInvalidArgumentNamingTheText) {
  const std::string_view text = GetParam();
  const Result<MemoryBudget> budget = MemoryBudget::parse(text);
  ASSERT_FALSE(budget.has_value()) << text << " gave " << budget.value().bytes();
  EXPECT_EQ(budget.error().code, ErrorCode::kInvalidArgument) << text;
  const std::string& message = budget.error().message;
  EXPECT_EQ(message.rfind("[memory-budget] '" + std::string(text) + "'", 0), 0U) << message;
  EXPECT_NE(message.find("expected a positive size such as 512M, 1G, 64MiB or a byte count"), std::string::npos)
      << message;
}

INSTANTIATE_TEST_SUITE_P(Malformed, ParseRejects,
                         ::testing::Values("", "   ", "0", "0M", "0.0G", "-5M", "-0", "+5M", "abc", "12Q", "M",
                                           "1.2.3G", "1.", ".5G", "5 M B", "5MiBs", "1e9", "1,5G", "0x10",
                                           "0.5",                      // half a byte
                                           "0.4B",                     // below one byte
                                           "18446744073709551616",     // 2^64
                                           "99999999999999999999999",  // far past 64 bits
                                           "16777216T"                 // 2^64 bytes
                                           ));

TEST(MemoryBudgetParse, MessageForUnknownUnitIsSpecific) {
  const Result<MemoryBudget> budget = MemoryBudget::parse("12Q");
  ASSERT_FALSE(budget.has_value());
  EXPECT_EQ(
      budget.error().message,
      "[memory-budget] '12Q': unknown unit 'Q'; expected a positive size such as 512M, 1G, 64MiB or a byte count");
}

TEST(MemoryBudgetFromBytes, RejectsZeroAndKeepsPositive) {
  const Result<MemoryBudget> zero = MemoryBudget::from_bytes(/*bytes=*/0);
  ASSERT_FALSE(zero.has_value());
  EXPECT_EQ(zero.error().code, ErrorCode::kInvalidArgument);

  const Result<MemoryBudget> some = MemoryBudget::from_bytes(/*bytes=*/4096);
  ASSERT_TRUE(some.has_value());
  EXPECT_EQ(some.value().bytes(), 4096U);
  EXPECT_FALSE(some.value().is_unlimited());
}

TEST(FormatBytes, PicksUnitAndPrecision) {
  EXPECT_EQ(format_bytes(/*bytes=*/0), "0 B");
  EXPECT_EQ(format_bytes(/*bytes=*/512), "512 B");
  EXPECT_EQ(format_bytes(/*bytes=*/1023), "1023 B");
  EXPECT_EQ(format_bytes(/*bytes=*/1024), "1.0 KiB");
  EXPECT_EQ(format_bytes(/*bytes=*/1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(/*bytes=*/64 * kMiB), "64.0 MiB");
  EXPECT_EQ(format_bytes(/*bytes=*/kGiB + kGiB / 5), "1.20 GiB");
  EXPECT_EQ(format_bytes(/*bytes=*/3 * kTiB), "3.00 TiB");
  EXPECT_EQ(format_bytes(/*bytes=*/UINT64_MAX), "16.00 EiB");
}

TEST(MemoryBudget, ToStringRoundTripsThroughParse) {
  const Result<MemoryBudget> budget = MemoryBudget::parse("64MiB");
  ASSERT_TRUE(budget.has_value());
  EXPECT_EQ(budget.value().to_string(), "64.0 MiB");
  const Result<MemoryBudget> again = MemoryBudget::parse(budget.value().to_string());
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(again.value().bytes(), budget.value().bytes());
}

}  // namespace
}  // namespace edge_rt::memory_manager
