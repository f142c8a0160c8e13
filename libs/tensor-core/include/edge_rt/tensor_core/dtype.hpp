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
/// The quantized types are ggml's block formats, byte for byte (https://github.com/ggml-org/ggml,
/// src/ggml-common.h). Scales d, m, dmin are F16. Within a 32-weight block, element j < 16 is the low nibble of
/// qs[j] and element j + 16 the high nibble.
///   Q8_0, 32 weights in 34 bytes: d, int8 q[32]; w = d * q.
///   Q4_0, 32 in 18: d, qs[16]; w = d * (nibble - 8).
///   Q4_1, 32 in 20: d, m, qs[16]; w = d * nibble + m.
///   Q5_0, 32 in 22: d, qh[4] (bit j: the fifth bit of element j), qs[16]; w = d * (q5 - 16).
///   Q5_1, 32 in 24: d, m, qh[4], qs[16]; w = d * q5 + m.
///   Q4_K, 256 in 144: d, dmin, scales[12] (eight 6-bit scales and eight 6-bit mins), qs[128]; sub-block s of 32
///         uses the low (s even) or high (s odd) nibbles of qs[32 (s / 2) ...]; w = d * sc_s * q - dmin * m_s.
///   Q5_K, 256 in 176: as Q4_K plus qh[32] (bit s of qh[l]: the fifth bit of element l of sub-block s).
///   Q6_K, 256 in 210: ql[128] (low 4 bits), qh[64] (high 2 bits), int8 scales[16] (one per 16 weights), d;
///         w = d * sc * (q6 - 32).
/// A quantized matrix is always stored output-major ([out, in], blocks along the input dimension) and needs
/// in % block_elems(dtype) == 0.
/// File formats only: a backend's own in-memory layouts (the CPU's interleaved Q4_0x8) live in its prepared
/// weights (edge_rt/backend/backend.hpp), not here.
enum class DType : std::uint8_t { kF32, kF16, kBF16, kQ8_0, kQ4_0, kQ4_1, kQ5_0, kQ5_1, kQ4_K, kQ5_K, kQ6_K };

/// Weights per block of the 32-weight formats, per sub-block of the K-quants, and per activation block of the
/// integer matmul.
inline constexpr std::size_t kQuantBlock = 32;
/// Weights per K-quant super-block.
inline constexpr std::size_t kSuperBlock = 256;

constexpr bool is_quantized(DType dtype) noexcept {
  return dtype >= DType::kQ8_0;
}
constexpr bool is_k_quant(DType dtype) noexcept {
  return dtype >= DType::kQ4_K;
}

/// Bytes per element of an unquantized dtype. Precondition: !is_quantized(dtype) (use row_bytes for those).
constexpr std::size_t dtype_size(DType dtype) noexcept {
  return dtype == DType::kF32 ? 4 : 2;
}

/// Weights per block: 1 (F32/F16/BF16), 32, or 256 (K-quants). A quantized row's length is a multiple of it.
constexpr std::size_t block_elems(DType dtype) noexcept {
  return is_k_quant(dtype) ? kSuperBlock : is_quantized(dtype) ? kQuantBlock : 1;
}

/// Bytes of one block (see DType); the element size for F32/F16/BF16.
constexpr std::size_t quant_block_bytes(DType dtype) noexcept {
  switch (dtype) {
    case DType::kQ8_0: return 34;
    case DType::kQ4_0: return 18;
    case DType::kQ4_1: return 20;
    case DType::kQ5_0: return 22;
    case DType::kQ5_1: return 24;
    case DType::kQ4_K: return 144;
    case DType::kQ5_K: return 176;
    case DType::kQ6_K: return 210;
    default: return dtype_size(dtype);
  }
}

/// Bytes of `n` consecutive elements of one row. Precondition for quantized dtypes: n % block_elems(dtype) == 0.
constexpr std::size_t row_bytes(DType dtype, std::size_t n) noexcept {
  return n / block_elems(dtype) * quant_block_bytes(dtype);
}

/// One 32-weight sub-block of any quantized dtype in integer form: w[j] = scale[j / 16] * q[j] + offset. The
/// integer matmul multiplies q with 8-bit activations; the reference kernels and to_f32 use the same form.
struct SubBlock {
  std::int8_t q[kQuantBlock];  ///< -32..31 for Q6_K, 0..31 for Q5_1/Q5_K/Q4_1/Q4_K, signed otherwise.
  float scale[2];              ///< Equal except for Q6_K (a scale per 16 weights).
  float offset;                ///< m (Q4_1, Q5_1), -dmin * m_s (Q4_K, Q5_K), else 0.
};
/// Decodes sub-block `s` (< block_elems(dtype) / 32) of the block at `block`. Precondition: is_quantized(dtype).
void decode_sub_block(DType dtype, const std::byte* block, std::size_t s, SubBlock& out) noexcept;

/// Safetensors spelling for F32/F16/BF16 ("F32", "F16", "BF16"); ggml's names ("Q8_0", "Q4_K"...) for the quantized
/// formats, which a safetensors file stores as U8 tensors described in its __metadata__ (see
/// model_ir::SafetensorsFile).
std::string_view dtype_name(DType dtype) noexcept;

/// Parses a name dtype_name gives (case-sensitive). Errors: kUnsupported for any other name (I8, F8_E4M3, F64...).
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
/// the start of a block and n % block_elems(dtype) == 0 (dequantization, as ggml's dequantize_row_*).
void to_f32(DType dtype, const std::byte* src, std::size_t n, float* out) noexcept;

/// The inverse of to_f32: stores `n` floats as `dtype` at `out` (row_bytes(dtype, n) bytes, need not be aligned).
/// F16/BF16 round to nearest even. Quantized dtypes need n % block_elems(dtype) == 0: Q8_0 uses ggml's reference
/// rounding, d = max|x| / 127, q = round(x / d); Q4_0 takes the scale that minimises the block's squared error
/// among 19 candidates around ggml's reference d = m / -8 (m the element of largest magnitude), as ggml's
/// make_qx_quants chooses it, with q in [-8, 7] stored as q + 8. Q4_1/Q5_1 map [min, max] onto the integer range
/// and Q5_0 uses d = m / -16 (ggml's reference quantizers). Q4_K/Q5_K take each sub-block's min and scale from
/// its range, then quantize the eight scales and mins to 6 bits against the block's largest; Q6_K takes
/// d_16 = m / -32 per 16 weights (m the element of largest magnitude) and stores the sixteen scales as int8
/// against the largest. These are ggml's reference (non-imatrix) recipes without its iterative search, so
/// their error is a little above llama-quantize's.
void from_f32(DType dtype, const float* x, std::size_t n, std::byte* out) noexcept;

}  // namespace edge_rt::tensor_core
