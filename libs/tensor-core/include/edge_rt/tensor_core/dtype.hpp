#pragma once
// Element types of weights and activations, and their conversions to float.

#include <edge_rt/core/result.hpp>

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace edge_rt::tensor_core {

/// Weight element types edge-rt reads. Activations are always F32.
enum class DType : std::uint8_t { kF32, kF16, kBF16 };

/// Bytes per element.
constexpr std::size_t dtype_size(DType dtype) noexcept {
  return dtype == DType::kF32 ? 4 : 2;
}

/// Safetensors spelling: "F32", "F16", "BF16".
std::string_view dtype_name(DType dtype) noexcept;

/// Parses a safetensors dtype string. Errors: kUnsupported for any other dtype (I8, F8_E4M3, F64...).
Result<DType> parse_dtype(std::string_view name);

/// IEEE 754 binary16 -> float (exact; subnormals, infinities and NaN kept).
inline float f16_to_f32(std::uint16_t h) noexcept {
  const std::uint32_t sign = static_cast<std::uint32_t>(h & 0x8000u) << 16;
  const std::uint32_t exponent = (h >> 10) & 0x1fu;
  std::uint32_t mantissa = h & 0x3ffu;
  std::uint32_t bits;
  if (exponent == 0) {
    if (mantissa == 0) {
      bits = sign;
    } else {  // subnormal: normalise
      int shift = 0;
      while ((mantissa & 0x400u) == 0) {
        mantissa <<= 1;
        ++shift;
      }
      mantissa &= 0x3ffu;
      bits = sign | static_cast<std::uint32_t>(127 - 15 - shift + 1) << 23 | mantissa << 13;
    }
  } else if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | mantissa << 13;
  } else {
    bits = sign | (exponent + (127 - 15)) << 23 | mantissa << 13;
  }
  return std::bit_cast<float>(bits);
}

/// float -> binary16, round to nearest even; overflow gives infinity.
std::uint16_t f32_to_f16(float f) noexcept;

/// bfloat16 is the top half of a float.
inline float bf16_to_f32(std::uint16_t b) noexcept {
  return std::bit_cast<float>(static_cast<std::uint32_t>(b) << 16);
}

/// float -> bfloat16, round to nearest even; NaN stays NaN.
inline std::uint16_t f32_to_bf16(float f) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  if ((bits & 0x7fffffffu) > 0x7f800000u) return static_cast<std::uint16_t>((bits >> 16) | 0x40u);
  return static_cast<std::uint16_t>((bits + 0x7fffu + ((bits >> 16) & 1u)) >> 16);
}

/// Converts `n` elements of `dtype` at `src` to float. `src` need not be aligned.
void to_f32(DType dtype, const std::byte* src, std::size_t n, float* out) noexcept;

}  // namespace edge_rt::tensor_core
