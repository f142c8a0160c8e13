#include <edge_rt/core/format.hpp>

#include <array>
#include <cstdio>

namespace edge_rt {

std::string format_bytes(std::uint64_t bytes) {
  if (bytes < 1024U) return std::to_string(bytes) + " B";
  constexpr std::array<const char*, 6> kUnits = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  std::size_t unit = 0;
  auto value = static_cast<double>(bytes) / 1024.0;
  while (value >= 1024.0 && unit + 1 < kUnits.size()) {
    value /= 1024.0;
    ++unit;
  }
  // One decimal for KiB and MiB; two from GiB up, where a tenth (~100 MiB) is too coarse for budgets.
  const int decimals = unit < 2 ? 1 : 2;
  std::array<char, 32> buffer{};
  std::snprintf(buffer.data(), buffer.size(), "%.*f %s", decimals, value, kUnits[unit]);
  return std::string(buffer.data());
}

}  // namespace edge_rt
