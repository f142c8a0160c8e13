#pragma once
// Private helpers: read small sysfs/procfs text files and parse their values without throwing.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>

namespace edge_rt::resource_monitor::detail {

/// The whole file (at most 1 MiB), or nullopt when it is missing or unreadable.
std::optional<std::string> read_text(const std::filesystem::path& path);
/// The file's first line without surrounding whitespace, or nullopt when missing, unreadable or empty.
std::optional<std::string> read_line(const std::filesystem::path& path);

std::string_view trim(std::string_view s) noexcept;
/// A whole decimal (or, with base 16, hex with an optional 0x) number; nullopt for anything else.
std::optional<std::uint64_t> parse_u64(std::string_view s, int base = 10) noexcept;
std::optional<std::int64_t> parse_i64(std::string_view s) noexcept;
std::optional<double> parse_double(std::string_view s) noexcept;
/// Number of CPUs in a kernel CPU list ("0-3", "0,2-5"); nullopt when malformed or empty.
std::optional<std::uint32_t> count_cpu_list(std::string_view s) noexcept;
/// The numeric suffix of a name ("thermal_zone12" with prefix "thermal_zone" -> 12); nullopt otherwise.
std::optional<int> suffix_number(std::string_view name, std::string_view prefix) noexcept;

/// Whether a trip point of this type makes the kernel or firmware throttle: "passive", "hot" or "critical".
bool is_throttling_trip(const std::optional<std::string>& type) noexcept;
/// "82.3 C".
std::string celsius(double c);

}  // namespace edge_rt::resource_monitor::detail
