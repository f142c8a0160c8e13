#pragma once
// Helpers shared by the libFuzzer harnesses in tests/fuzz (see docs/fuzzing.md).

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace edge_rt::fuzz {

/// Larger inputs are dropped: the harnesses test the parsers' logic, not how much memory a huge input takes.
inline constexpr std::size_t kMaxInputBytes = std::size_t{1} << 20;

/// The unsigned little-endian integer in the first `n` (at most 8) bytes of `data`.
inline std::uint64_t read_le(const std::uint8_t* data, std::size_t n) {
  std::uint64_t value = 0;
  for (std::size_t i = 0; i < n && i < 8; ++i) value |= static_cast<std::uint64_t>(data[i]) << (8 * i);
  return value;
}

/// The bytes as text (an empty view for an empty input, whose pointer may be null).
inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return {};
  return {reinterpret_cast<const char*>(data), size};
}

[[noreturn]] inline void invariant_failed(const char* expr, const char* file, int line) {
  std::fprintf(stderr, "%s:%d: fuzz invariant violated: %s\n", file, line, expr);
  std::abort();
}

}  // namespace edge_rt::fuzz

/// A property every successful parse must have; a violation aborts, which libFuzzer reports as a crash.
#define EDGE_RT_FUZZ_EXPECT(expr)                                              \
  do {                                                                         \
    if (!(expr)) ::edge_rt::fuzz::invariant_failed(#expr, __FILE__, __LINE__); \
  } while (false)
