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
/// kQ8_0 and kQ4_0 are ggml's block formats (https://github.com/ggml-org/ggml, ggml-common.h): 32 consecutive
/// weights of a row share one F16 scale d.
///   Q8_0 block, 34 bytes: d, then int8 q[32]; w[j] = d * q[j].
///   Q4_0 block, 18 bytes: d, then uint8 qs[16]; element j (< 16) is the low nibble of qs[j], element j + 16 the
///   high nibble; w = d * (nibble - 8).
/// A quantized matrix is always stored output-major ([out, in], blocks along the input dimension) and needs
/// in % 32 == 0.
/// File formats only: a backend's own in-memory layouts (the CPU's interleaved Q4_0x8) live in its prepared
/// weights (edge_rt/backend/backend.hpp), not here.
enum class DType : std::uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0 };

/// Weights per quantization block.
inline constexpr std::size_t kQuantBlock = 32;

constexpr bool is_quantized(DType dtype) noexcept {
  return dtype == DType::kQ8_0 || dtype == DType::kQ4_0;
}

/// Bytes per element of an unquantized dtype. Precondition: !is_quantized(dtype) (use row_bytes for those).
constexpr std::size_t dtype_size(DType dtype) noexcept {
  return dtype == DType::kF32 ? 4 : 2;
}

/// Bytes of one block of 32 weights: 34 (Q8_0), 18 (Q4_0).
constexpr std::size_t quant_block_bytes(DType dtype) noexcept {
  return dtype == DType::kQ8_0 ? 34 : 18;
}

/// Bytes of `n` consecutive elements of one row. Precondition for quantized dtypes: n % 32 == 0.
constexpr std::size_t row_bytes(DType dtype, std::size_t n) noexcept {
  return is_quantized(dtype) ? n / kQuantBlock * quant_block_bytes(dtype) : n * dtype_size(dtype);
}

/// Safetensors spelling for F32/F16/BF16 ("F32", "F16", "BF16"); "Q8_0", "Q4_0" for the quantized formats, which
/// a safetensors file stores as U8 tensors described in its __metadata__ (see model_ir::SafetensorsFile).
std::string_view dtype_name(DType dtype) noexcept;

/// Parses "F32", "F16", "BF16", "Q8_0" or "Q4_0" (case-sensitive). Errors: kUnsupported for any other name
/// (I8, F8_E4M3, F64...).
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

/// Converts `n` elements of `dtype` at `src` to float. `src` need not be aligned. For quantized dtypes `src` is
/// the start of a block and n % 32 == 0 (dequantization).
void to_f32(DType dtype, const std::byte* src, std::size_t n, float* out) noexcept;

/// The inverse of to_f32: stores `n` floats as `dtype` at `out` (row_bytes(dtype, n) bytes, need not be aligned).
/// F16/BF16 round to nearest even. Quantized dtypes need n % 32 == 0: Q8_0 uses ggml's reference rounding,
/// d = max|x| / 127, q = round(x / d); Q4_0 takes the scale that minimises the block's squared error among 19
/// candidates around ggml's reference d = m / -8 (m the element of largest magnitude), as ggml's make_qx_quants
/// chooses it, with q in [-8, 7] stored as q + 8.
void from_f32(DType dtype, const float* x, std::size_t n, std::byte* out) noexcept;

}  // namespace edge_rt::tensor_core
