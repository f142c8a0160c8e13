#include <edge_rt/memory_manager/budget.hpp>

#include <array>
#include <cctype>
#include <cstdio>
#include <optional>
#include <vector>

namespace edge_rt::memory_manager {
namespace {

constexpr std::string_view kExpected = "expected a positive size such as 512M, 1G, 64MiB or a byte count";

auto invalid(std::string_view text, std::string_view reason) {
  std::string message = "[memory-budget] '";
  message += text;
  message += "': ";
  if (!reason.empty()) {
    message += reason;
    message += "; ";
  }
  message += kExpected;
  return fail(ErrorCode::kInvalidArgument, std::move(message));
}

bool is_space(char c) {
  return std::isspace(static_cast<unsigned char>(c)) != 0;
}
bool is_digit(char c) {
  return c >= '0' && c <= '9';
}
char to_lower(char c) {
  return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
}

std::string_view trim_spaces(std::string_view text) {
  while (!text.empty() && is_space(text.front())) text.remove_prefix(1);
  while (!text.empty() && is_space(text.back())) text.remove_suffix(1);
  return text;
}

bool equals_ignore_case(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (to_lower(a[i]) != to_lower(b[i])) return false;
  }
  return true;
}

// log2 of the multiplier for a unit suffix: "" and "B" are bytes; K/M/G/T with optional "i" and/or "B" are binary.
std::optional<unsigned> unit_shift(std::string_view unit) {
  if (unit.empty() || equals_ignore_case(unit, "b")) return 0U;
  constexpr std::string_view kPrefixes = "kmgt";
  const std::size_t prefix = kPrefixes.find(to_lower(unit.front()));
  if (prefix == std::string_view::npos) return std::nullopt;
  std::string_view rest = unit.substr(1);
  if (!rest.empty() && to_lower(rest.front()) == 'i') rest.remove_prefix(1);
  if (!rest.empty() && to_lower(rest.front()) == 'b') rest.remove_prefix(1);
  if (!rest.empty()) return std::nullopt;
  return static_cast<unsigned>(10 * (prefix + 1));
}

// floor(0.<digits> * 2^shift), exact for any number of digits: doubles the decimal fraction `shift` times and
// collects the carry out of the first digit as the next bit.
std::uint64_t fraction_bytes(std::string_view digits, unsigned shift) {
  std::vector<unsigned char> fraction;
  fraction.reserve(digits.size());
  for (const char c : digits) fraction.push_back(static_cast<unsigned char>(c - '0'));
  std::uint64_t bytes = 0;
  for (unsigned bit = 0; bit < shift; ++bit) {
    unsigned carry = 0;
    for (auto it = fraction.rbegin(); it != fraction.rend(); ++it) {
      const unsigned doubled = 2U * *it + carry;
      *it = static_cast<unsigned char>(doubled % 10U);
      carry = doubled / 10U;
    }
    bytes = bytes * 2U + carry;
  }
  return bytes;
}

}  // namespace

Result<MemoryBudget> MemoryBudget::parse(std::string_view text) {
  const std::string_view trimmed = trim_spaces(text);
  if (equals_ignore_case(trimmed, "unlimited") || equals_ignore_case(trimmed, "none")) return unlimited();
  if (trimmed.empty()) return invalid(text, "empty");
  if (trimmed.front() == '-') return invalid(text, "negative");

  // <digits>[.<digits>] [spaces] [unit]
  std::size_t pos = 0;
  while (pos < trimmed.size() && is_digit(trimmed[pos])) ++pos;
  const std::string_view integer_digits = trimmed.substr(0, pos);
  std::string_view fraction_digits;
  if (pos < trimmed.size() && trimmed[pos] == '.') {
    const std::size_t start = ++pos;
    while (pos < trimmed.size() && is_digit(trimmed[pos])) ++pos;
    fraction_digits = trimmed.substr(start, pos - start);
    if (fraction_digits.empty()) return invalid(text, "no digits after the decimal point");
  }
  if (integer_digits.empty()) return invalid(text, "no number");
  const std::string_view unit = trim_spaces(trimmed.substr(pos));
  const std::optional<unsigned> shift = unit_shift(unit);
  if (!shift) return invalid(text, "unknown unit '" + std::string(unit) + "'");

  std::uint64_t integer = 0;
  for (const char c : integer_digits) {
    const auto digit = static_cast<std::uint64_t>(c - '0');
    if (integer > (UINT64_MAX - digit) / 10U) return invalid(text, "does not fit in 64 bits");
    integer = integer * 10U + digit;
  }
  if (integer > (UINT64_MAX >> *shift)) return invalid(text, "does not fit in 64 bits");
  const std::uint64_t whole_bytes = integer << *shift;
  const std::uint64_t extra_bytes = fraction_bytes(fraction_digits, *shift);  // < 2^shift, floor of the fraction
  if (whole_bytes > UINT64_MAX - extra_bytes) return invalid(text, "does not fit in 64 bits");
  const std::uint64_t bytes = whole_bytes + extra_bytes;
  if (bytes == 0) return invalid(text, fraction_digits.empty() ? "zero" : "less than one byte");
  return MemoryBudget(bytes);  // UINT64_MAX bytes is the same as unlimited
}

Result<MemoryBudget> MemoryBudget::from_bytes(std::uint64_t bytes) {
  if (bytes == 0) return fail(ErrorCode::kInvalidArgument, "[memory-budget] 0 bytes: a budget must be positive");
  return MemoryBudget(bytes);
}

std::string MemoryBudget::to_string() const {
  return is_unlimited() ? std::string("unlimited") : format_bytes(bytes_);
}

}  // namespace edge_rt::memory_manager
