#include <edge_rt/tensor_core/dtype.hpp>

#include <algorithm>
#include <cmath>
#include <string>

namespace edge_rt::tensor_core {

std::string_view dtype_name(DType dtype) noexcept {
  switch (dtype) {
    case DType::kF32: return "F32";
    case DType::kF16: return "F16";
    case DType::kBF16: return "BF16";
    case DType::kQ8_0: return "Q8_0";
    case DType::kQ4_0: return "Q4_0";
  }
  return "?";
}

Result<DType> parse_dtype(std::string_view name) {
  if (name == "F32") return DType::kF32;
  if (name == "F16") return DType::kF16;
  if (name == "BF16") return DType::kBF16;
  if (name == "Q8_0") return DType::kQ8_0;
  if (name == "Q4_0") return DType::kQ4_0;
  return fail(ErrorCode::kUnsupported, "dtype " + std::string(name) + ", expected F32/F16/BF16/Q8_0/Q4_0");
}

std::uint16_t f32_to_f16(float f) noexcept {
  const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
  const std::uint32_t sign = (bits >> 16) & 0x8000u;
  const std::uint32_t abs = bits & 0x7fffffffu;
  if (abs > 0x7f800000u) return static_cast<std::uint16_t>(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return static_cast<std::uint16_t>(sign | 0x7c00u);  // rounds past 65504: inf
  if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
    if (abs < 0x33000000u) return static_cast<std::uint16_t>(sign);
    const std::uint32_t exponent = abs >> 23;
    const std::uint32_t mantissa = (abs & 0x7fffffu) | 0x800000u;
    // In units of the half subnormal step 2^-24 the value is mantissa * 2^(exponent - 126).
    const std::uint32_t shift = 126 - exponent;
    const std::uint32_t half = mantissa >> shift;
    const std::uint32_t rem = mantissa & ((1u << shift) - 1u);
    const std::uint32_t mid = 1u << (shift - 1);
    std::uint32_t result = half;
    if (rem > mid || (rem == mid && (half & 1u))) ++result;
    return static_cast<std::uint16_t>(sign | result);
  }
  std::uint32_t value = abs - (112u << 23);  // rebias exponent 127 -> 15
  value = value + 0xfffu + ((value >> 13) & 1u);
  return static_cast<std::uint16_t>(sign | (value >> 13));
}

void to_f32(DType dtype, const std::byte* src, std::size_t n, float* out) noexcept {
  switch (dtype) {
    case DType::kF32: std::memcpy(out, src, n * sizeof(float)); return;
    case DType::kF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        out[i] = f16_to_f32(h);
      }
      return;
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        std::uint16_t b;
        std::memcpy(&b, src + 2 * i, 2);
        out[i] = bf16_to_f32(b);
      }
      return;
    case DType::kQ8_0:
      for (std::size_t b = 0; b < n / kQuantBlock; ++b) {
        const std::byte* block = src + b * 34;
        std::uint16_t dh;
        std::memcpy(&dh, block, 2);
        const float d = f16_to_f32(dh);
        for (std::size_t j = 0; j < kQuantBlock; ++j) {
          out[b * kQuantBlock + j] = d * static_cast<float>(static_cast<std::int8_t>(block[2 + j]));
        }
      }
      return;
    case DType::kQ4_0:
      for (std::size_t b = 0; b < n / kQuantBlock; ++b) {
        const std::byte* block = src + b * 18;
        std::uint16_t dh;
        std::memcpy(&dh, block, 2);
        const float d = f16_to_f32(dh);
        for (std::size_t j = 0; j < 16; ++j) {
          const auto q = static_cast<std::uint8_t>(block[2 + j]);
          out[b * kQuantBlock + j] = d * static_cast<float>((q & 0x0f) - 8);
          out[b * kQuantBlock + j + 16] = d * static_cast<float>((q >> 4) - 8);
        }
      }
      return;
  }
}

namespace {

// One Q4_0 block. The scale is chosen as ggml's make_qx_quants does: try 19 candidate inverse scales around
// -8 / m (m the element of largest magnitude), round each value to [-8, 7], take the least-squares scale for
// those integers, and keep the candidate with the smallest squared error. The format is unchanged; only the
// choice of d and q is better than plain rounding (candidate 0 is ggml's reference rounding).
void quantize_block_q4_0(const float* x, std::byte* block) {
  float amax = 0.0f;
  float max = 0.0f;
  for (std::size_t j = 0; j < kQuantBlock; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  int best_q[kQuantBlock] = {};
  float best_d = 0.0f;
  if (amax > 0.0f) {
    double best_err = INFINITY;
    for (int t = -9; t <= 9; ++t) {
      const float iscale = -(8.0f + 0.1f * static_cast<float>(t)) / max;
      int q[kQuantBlock];
      double sum_xq = 0, sum_qq = 0;
      for (std::size_t j = 0; j < kQuantBlock; ++j) {
        q[j] = std::clamp(static_cast<int>(std::lround(iscale * x[j])), -8, 7);
        sum_xq += static_cast<double>(x[j]) * q[j];
        sum_qq += static_cast<double>(q[j]) * q[j];
      }
      if (sum_qq == 0) continue;
      // The scale as stored (F16), so the error is the one the model will see.
      const float d = f16_to_f32(f32_to_f16(static_cast<float>(sum_xq / sum_qq)));
      double err = 0;
      for (std::size_t j = 0; j < kQuantBlock; ++j) {
        const double e = static_cast<double>(x[j]) - static_cast<double>(d) * q[j];
        err += e * e;
      }
      if (err < best_err) {
        best_err = err;
        best_d = d;
        std::copy(q, q + kQuantBlock, best_q);
      }
    }
  }
  const std::uint16_t dh = f32_to_f16(best_d);
  std::memcpy(block, &dh, 2);
  for (std::size_t j = 0; j < 16; ++j) {
    const auto lo = static_cast<std::uint8_t>(best_q[j] + 8);
    const auto hi = static_cast<std::uint8_t>(best_q[j + 16] + 8);
    block[2 + j] = static_cast<std::byte>(lo | hi << 4);
  }
}

}  // namespace

void from_f32(DType dtype, const float* x, std::size_t n, std::byte* out) noexcept {
  switch (dtype) {
    case DType::kF32: std::memcpy(out, x, n * sizeof(float)); return;
    case DType::kF16:
    case DType::kBF16:
      for (std::size_t i = 0; i < n; ++i) {
        const std::uint16_t h = dtype == DType::kF16 ? f32_to_f16(x[i]) : f32_to_bf16(x[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case DType::kQ8_0:
    case DType::kQ4_0: break;
  }
  for (std::size_t b = 0; b < n / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    if (dtype == DType::kQ8_0) {
      float amax = 0.0f;
      for (std::size_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(xb[j]));
      const float d = amax / 127.0f;
      const float id = d != 0.0f ? 1.0f / d : 0.0f;
      std::byte* block = out + b * 34;
      const std::uint16_t dh = f32_to_f16(d);
      std::memcpy(block, &dh, 2);
      for (std::size_t j = 0; j < kQuantBlock; ++j) {
        block[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(std::lround(xb[j] * id)));
      }
    } else {
      quantize_block_q4_0(xb, out + b * 18);
    }
  }
}

}  // namespace edge_rt::tensor_core
