#include "text.hpp"

#include <array>
#include <charconv>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <system_error>

namespace edge_rt::resource_monitor::detail {

std::optional<std::string> read_text(const std::filesystem::path& path) {
  constexpr std::size_t kMaxBytes = std::size_t{1} << 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return std::nullopt;
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::string text;
  std::array<char, 4096> buffer{};
  while (text.size() < kMaxBytes && in.read(buffer.data(), buffer.size()).gcount() > 0) {
    text.append(buffer.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return std::nullopt;
  return text;
}

std::optional<std::string> read_line(const std::filesystem::path& path) {
  auto text = read_text(path);
  if (!text) return std::nullopt;
  const std::string_view all(*text);
  const std::string_view line = trim(all.substr(0, all.find('\n')));
  if (line.empty()) return std::nullopt;
  return std::string(line);
}

std::string_view trim(std::string_view s) noexcept {
  constexpr std::string_view kSpace = " \t\r\n\f\v";
  const auto begin = s.find_first_not_of(kSpace);
  if (begin == std::string_view::npos) return {};
  return s.substr(begin, s.find_last_not_of(kSpace) - begin + 1);
}

std::optional<std::uint64_t> parse_u64(std::string_view s, int base) noexcept {
  s = trim(s);
  if (base == 16 && (s.starts_with("0x") || s.starts_with("0X"))) s.remove_prefix(2);
  std::uint64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::int64_t> parse_i64(std::string_view s) noexcept {
  s = trim(s);
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<double> parse_double(std::string_view s) noexcept {
  s = trim(s);
  double value = 0.0;
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) return std::nullopt;
  return value;
}

std::optional<std::uint32_t> count_cpu_list(std::string_view s) noexcept {
  s = trim(s);
  if (s.empty()) return std::nullopt;
  std::uint32_t count = 0;
  while (!s.empty()) {
    const auto comma = s.find(',');
    const std::string_view range = s.substr(0, comma);
    s = comma == std::string_view::npos ? std::string_view{} : s.substr(comma + 1);
    const auto dash = range.find('-');
    const auto first = parse_u64(range.substr(0, dash));
    const auto last = dash == std::string_view::npos ? first : parse_u64(range.substr(dash + 1));
    if (!first || !last || *last < *first || *last - *first >= 65536) return std::nullopt;
    count += static_cast<std::uint32_t>(*last - *first + 1);
  }
  return count;
}

std::optional<int> suffix_number(std::string_view name, std::string_view prefix) noexcept {
  if (!name.starts_with(prefix)) return std::nullopt;
  name.remove_prefix(prefix.size());
  if (name.empty() || name.size() > 6 || name.find_first_not_of("0123456789") != std::string_view::npos) {
    return std::nullopt;
  }
  return static_cast<int>(*parse_u64(name));
}

bool is_throttling_trip(const std::optional<std::string>& type) noexcept {
  return type && (*type == "passive" || *type == "hot" || *type == "critical");
}

std::string celsius(double c) {
  char buffer[32];
  std::snprintf(buffer, sizeof buffer, "%.1f C", c);
  return buffer;
}

}  // namespace edge_rt::resource_monitor::detail
