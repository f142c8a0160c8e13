#pragma once
// A memory budget in bytes, parsed from the user's text.

#include <edge_rt/core/format.hpp>
#include <edge_rt/core/result.hpp>

#include <cstdint>
#include <string>
#include <string_view>

namespace edge_rt::memory_manager {

/// Copyable value. Either a positive byte count or unlimited.
class MemoryBudget final {
 public:
  /// Parses "512M", "1G", "64MiB", "1.5G", "4096", "256k"; suffixes K/M/G/T with optional "i" and "B" are binary
  /// (1K = 1024 bytes), case-insensitive; "unlimited" / "none" give unlimited.
  /// Errors: kInvalidArgument for 0, negative numbers, garbage ("abc", "12Q"), or overflow of 64 bits.
  static Result<MemoryBudget> parse(std::string_view text);
  /// Errors: kInvalidArgument for 0.
  static Result<MemoryBudget> from_bytes(std::uint64_t bytes);
  static MemoryBudget unlimited() noexcept { return MemoryBudget(kUnlimited); }

  bool is_unlimited() const noexcept { return bytes_ == kUnlimited; }
  /// The limit; UINT64_MAX when unlimited.
  std::uint64_t bytes() const noexcept { return bytes_; }
  /// "64.0 MiB" or "unlimited".
  std::string to_string() const;

 private:
  static constexpr std::uint64_t kUnlimited = UINT64_MAX;
  explicit MemoryBudget(std::uint64_t bytes) : bytes_(bytes) {}
  std::uint64_t bytes_;
};

/// Byte counts in messages: see edge_rt/core/format.hpp.
using ::edge_rt::format_bytes;

}  // namespace edge_rt::memory_manager
