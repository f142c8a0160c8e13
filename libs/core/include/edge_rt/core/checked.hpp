#pragma once
// Checked arithmetic for sizes computed from file data (header fields, shapes, offsets). A hostile file can put
// any 64-bit value in a field; products and sums of such values must fail instead of wrapping.

#include <cstdint>
#include <optional>

namespace edge_rt {

/// a * b, or nullopt when the product does not fit in T. T: an integer type. Thread-safe, allocation-free.
template <class T>
constexpr std::optional<T> checked_mul(T a, T b) noexcept {
  T out{};
  if (__builtin_mul_overflow(a, b, &out)) return std::nullopt;
  return out;
}

/// a + b, or nullopt when the sum does not fit in T.
template <class T>
constexpr std::optional<T> checked_add(T a, T b) noexcept {
  T out{};
  if (__builtin_add_overflow(a, b, &out)) return std::nullopt;
  return out;
}

/// The product of every factor, or nullopt as soon as one step overflows (an empty list gives 1).
template <class T, class... Rest>
constexpr std::optional<T> checked_product(T first, Rest... rest) noexcept {
  std::optional<T> acc = first;
  ((acc = acc ? checked_mul<T>(*acc, static_cast<T>(rest)) : std::nullopt), ...);
  return acc;
}

}  // namespace edge_rt
