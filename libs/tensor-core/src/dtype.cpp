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
    case DType::kQ4_1: return "Q4_1";
    case DType::kQ5_0: return "Q5_0";
    case DType::kQ5_1: return "Q5_1";
    case DType::kQ4_K: return "Q4_K";
    case DType::kQ5_K: return "Q5_K";
    case DType::kQ6_K: return "Q6_K";
  }
  return "?";
}

Result<DType> parse_dtype(std::string_view name) {
  for (int i = 0; i <= static_cast<int>(DType::kQ6_K); ++i) {
    if (name == dtype_name(static_cast<DType>(i))) return static_cast<DType>(i);
  }
  return fail(ErrorCode::kUnsupported,
              "dtype " + std::string(name) + ", expected F32/F16/BF16/Q8_0/Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K");
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
    default: break;
  }
  const std::size_t be = block_elems(dtype);
  const std::size_t bytes = quant_block_bytes(dtype);
  SubBlock sb;
  for (std::size_t b = 0; b < n / be; ++b) {
    for (std::size_t s = 0; s < be / kQuantBlock; ++s) {
      decode_sub_block(dtype, src + b * bytes, s, sb);
      float* o = out + b * be + s * kQuantBlock;
      for (std::size_t j = 0; j < kQuantBlock; ++j) o[j] = sb.scale[j / 16] * static_cast<float>(sb.q[j]) + sb.offset;
    }
  }
}

namespace {

float f16_at(const std::byte* p) noexcept {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
void put_f16(std::byte* p, float v) noexcept {
  const std::uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}
std::uint8_t u8_at(const std::byte* p, std::size_t i) noexcept {
  return static_cast<std::uint8_t>(p[i]);
}

// The low nibbles of 16 bytes are elements 0..15, the high nibbles 16..31.
void nibbles(const std::byte* qs, std::int8_t* q, int bias) noexcept {
  for (std::size_t j = 0; j < 16; ++j) {
    q[j] = static_cast<std::int8_t>((u8_at(qs, j) & 0x0f) - bias);
    q[j + 16] = static_cast<std::int8_t>((u8_at(qs, j) >> 4) - bias);
  }
}
// Adds 16 to element j where bit j of the little-endian word at qh is set (Q5_0, Q5_1).
void fifth_bits(const std::byte* qh, std::int8_t* q) noexcept {
  std::uint32_t h;
  std::memcpy(&h, qh, 4);
  for (std::size_t j = 0; j < kQuantBlock; ++j) q[j] = static_cast<std::int8_t>(q[j] + (((h >> j) & 1u) << 4));
}

// ggml's get_scale_min_k4: the 6-bit scale and min of sub-block j of a Q4_K/Q5_K block.
void scale_min_k4(const std::byte* scales, std::size_t j, int& sc, int& m) noexcept {
  if (j < 4) {
    sc = u8_at(scales, j) & 63;
    m = u8_at(scales, j + 4) & 63;
  } else {
    sc = (u8_at(scales, j + 4) & 0x0f) | ((u8_at(scales, j - 4) >> 6) << 4);
    m = (u8_at(scales, j + 4) >> 4) | ((u8_at(scales, j) >> 6) << 4);
  }
}

}  // namespace

void decode_sub_block(DType dtype, const std::byte* block, std::size_t s, SubBlock& out) noexcept {
  out.offset = 0.0f;
  float d = 0.0f;
  switch (dtype) {
    case DType::kQ8_0:
      d = f16_at(block);
      std::memcpy(out.q, block + 2, kQuantBlock);
      break;
    case DType::kQ4_0:
      d = f16_at(block);
      nibbles(block + 2, out.q, 8);
      break;
    case DType::kQ4_1:
      d = f16_at(block);
      out.offset = f16_at(block + 2);
      nibbles(block + 4, out.q, 0);
      break;
    case DType::kQ5_0:
      d = f16_at(block);
      nibbles(block + 6, out.q, 0);
      fifth_bits(block + 2, out.q);
      for (std::int8_t& q : out.q) q = static_cast<std::int8_t>(q - 16);
      break;
    case DType::kQ5_1:
      d = f16_at(block);
      out.offset = f16_at(block + 2);
      nibbles(block + 8, out.q, 0);
      fifth_bits(block + 4, out.q);
      break;
    case DType::kQ4_K:
    case DType::kQ5_K: {
      int sc = 0, m = 0;
      scale_min_k4(block + 4, s, sc, m);
      d = f16_at(block) * static_cast<float>(sc);
      out.offset = -(f16_at(block + 2) * static_cast<float>(m));
      const bool q5 = dtype == DType::kQ5_K;
      const std::byte* qh = block + 16;
      const std::byte* qs = block + (q5 ? 48 : 16) + 32 * (s / 2);
      const int shift = s % 2 == 0 ? 0 : 4;
      for (std::size_t l = 0; l < kQuantBlock; ++l) {
        int q = (u8_at(qs, l) >> shift) & 0x0f;
        if (q5) q |= ((u8_at(qh, l) >> s) & 1) << 4;
        out.q[l] = static_cast<std::int8_t>(q);
      }
      break;
    }
    case DType::kQ6_K: {
      const std::byte* ql = block + 64 * (s / 4);
      const std::byte* qh = block + 128 + 32 * (s / 4);
      const auto* sc = reinterpret_cast<const std::int8_t*>(block + 192);
      const float dd = f16_at(block + 208);
      const std::size_t r = s % 4;  // which quarter of the 128-weight half
      for (std::size_t l = 0; l < kQuantBlock; ++l) {
        const int low = (u8_at(ql, l + (r & 1) * 32) >> (r >= 2 ? 4 : 0)) & 0x0f;
        const int high = (u8_at(qh, l) >> (2 * r)) & 3;
        out.q[l] = static_cast<std::int8_t>((low | high << 4) - 32);
      }
      out.scale[0] = dd * static_cast<float>(sc[2 * s]);
      out.scale[1] = dd * static_cast<float>(sc[2 * s + 1]);
      return;
    }
    default: break;
  }
  out.scale[0] = out.scale[1] = d;
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

void quantize_block_q8_0(const float* x, std::byte* block) {
  float amax = 0.0f;
  for (std::size_t j = 0; j < kQuantBlock; ++j) amax = std::max(amax, std::fabs(x[j]));
  const float d = amax / 127.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(block, d);
  for (std::size_t j = 0; j < kQuantBlock; ++j) {
    block[2 + j] = static_cast<std::byte>(static_cast<std::int8_t>(std::lround(x[j] * id)));
  }
}

// Packs 32 values in [0, 15] (or the low four bits of [0, 31]) as nibbles, and their fifth bits into qh when given.
void pack_nibbles(const int* q, std::byte* qs, std::byte* qh) {
  std::uint32_t h = 0;
  for (std::size_t j = 0; j < 16; ++j) {
    qs[j] = static_cast<std::byte>((q[j] & 0x0f) | (q[j + 16] & 0x0f) << 4);
    h |= static_cast<std::uint32_t>((q[j] >> 4) & 1) << j | static_cast<std::uint32_t>((q[j + 16] >> 4) & 1)
                                                                << (j + 16);
  }
  if (qh) std::memcpy(qh, &h, 4);
}

// ggml's quantize_row_q4_1_ref / q5_1_ref: [min, max] onto [0, levels].
void quantize_block_min(const float* x, int levels, std::byte* block, bool five) {
  float lo = x[0], hi = x[0];
  for (std::size_t j = 1; j < kQuantBlock; ++j) {
    lo = std::min(lo, x[j]);
    hi = std::max(hi, x[j]);
  }
  const float d = (hi - lo) / static_cast<float>(levels);
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(block, d);
  put_f16(block + 2, lo);
  int q[kQuantBlock];
  for (std::size_t j = 0; j < kQuantBlock; ++j) q[j] = std::min(levels, static_cast<int>((x[j] - lo) * id + 0.5f));
  if (five) {
    pack_nibbles(q, block + 8, block + 4);
  } else {
    pack_nibbles(q, block + 4, nullptr);
  }
}

// ggml's quantize_row_q5_0_ref: d = m / -16 with m the element of largest magnitude.
void quantize_block_q5_0(const float* x, std::byte* block) {
  float amax = 0.0f, max = 0.0f;
  for (std::size_t j = 0; j < kQuantBlock; ++j) {
    if (std::fabs(x[j]) > amax) {
      amax = std::fabs(x[j]);
      max = x[j];
    }
  }
  const float d = max / -16.0f;
  const float id = d != 0.0f ? 1.0f / d : 0.0f;
  put_f16(block, d);
  int q[kQuantBlock];
  for (std::size_t j = 0; j < kQuantBlock; ++j) q[j] = std::min(31, static_cast<int>(x[j] * id + 16.5f));
  pack_nibbles(q, block + 6, block + 2);
}

// Q4_K / Q5_K (levels 15 / 31): per sub-block of 32, min m_s = max(0, -min x) and scale (max + m_s) / levels;
// the eight scales and mins become 6-bit integers against the largest of each (d = max scale / 63).
void quantize_block_k(const float* x, int levels, std::byte* block, bool five) {
  float scale[8], min[8];
  float max_scale = 0.0f, max_min = 0.0f;
  for (std::size_t s = 0; s < 8; ++s) {
    float lo = 0.0f, hi = 0.0f;
    for (std::size_t l = 0; l < kQuantBlock; ++l) {
      lo = std::min(lo, x[32 * s + l]);
      hi = std::max(hi, x[32 * s + l]);
    }
    min[s] = -lo;
    scale[s] = (hi - lo) / static_cast<float>(levels);
    max_scale = std::max(max_scale, scale[s]);
    max_min = std::max(max_min, min[s]);
  }
  const float inv_scale = max_scale > 0.0f ? 63.0f / max_scale : 0.0f;
  const float inv_min = max_min > 0.0f ? 63.0f / max_min : 0.0f;
  std::uint8_t ls[8], lm[8];
  for (std::size_t s = 0; s < 8; ++s) {
    ls[s] = static_cast<std::uint8_t>(std::min(63L, std::lround(inv_scale * scale[s])));
    lm[s] = static_cast<std::uint8_t>(std::min(63L, std::lround(inv_min * min[s])));
  }
  put_f16(block, max_scale / 63.0f);
  put_f16(block + 2, max_min / 63.0f);
  std::byte* scales = block + 4;
  for (std::size_t j = 0; j < 8; ++j) {  // the inverse of scale_min_k4
    if (j < 4) {
      scales[j] = static_cast<std::byte>(ls[j]);
      scales[j + 4] = static_cast<std::byte>(lm[j]);
    } else {
      scales[j + 4] = static_cast<std::byte>((ls[j] & 0x0f) | (lm[j] & 0x0f) << 4);
      scales[j - 4] |= static_cast<std::byte>((ls[j] >> 4) << 6);
      scales[j] |= static_cast<std::byte>((lm[j] >> 4) << 6);
    }
  }
  const float d = f16_at(block), dmin = f16_at(block + 2);
  std::byte* qh = block + 16;
  std::byte* qs = block + (five ? 48 : 16);
  if (five) std::memset(qh, 0, 32);
  for (std::size_t s = 0; s < 8; ++s) {
    const float dl = d * static_cast<float>(ls[s]);
    const float dm = dmin * static_cast<float>(lm[s]);
    for (std::size_t l = 0; l < kQuantBlock; ++l) {
      const int q = dl != 0.0f ? std::clamp(static_cast<int>(std::lround((x[32 * s + l] + dm) / dl)), 0, levels) : 0;
      std::byte& byte = qs[32 * (s / 2) + l];
      if (s % 2 == 0) {
        byte = static_cast<std::byte>(q & 0x0f);
      } else {
        byte |= static_cast<std::byte>((q & 0x0f) << 4);
      }
      if (five) qh[l] |= static_cast<std::byte>(((q >> 4) & 1) << s);
    }
  }
}

// Q6_K: per 16 weights, scale = m / -32 (m the element of largest magnitude); the sixteen scales as int8 against
// the one of largest magnitude (d = that scale / -128).
void quantize_block_q6_k(const float* x, std::byte* block) {
  float scale[16];
  float max_scale = 0.0f, max_abs = 0.0f;
  for (std::size_t g = 0; g < 16; ++g) {
    float amax = 0.0f, m = 0.0f;
    for (std::size_t l = 0; l < 16; ++l) {
      if (std::fabs(x[16 * g + l]) > amax) {
        amax = std::fabs(x[16 * g + l]);
        m = x[16 * g + l];
      }
    }
    scale[g] = m / -32.0f;
    if (std::fabs(scale[g]) > max_abs) {
      max_abs = std::fabs(scale[g]);
      max_scale = scale[g];
    }
  }
  std::byte* ql = block;
  std::byte* qh = block + 128;
  auto* sc = reinterpret_cast<std::int8_t*>(block + 192);
  std::memset(block, 0, 208);
  const float iscale = max_abs > 0.0f ? -128.0f / max_scale : 0.0f;
  put_f16(block + 208, iscale != 0.0f ? 1.0f / iscale : 0.0f);
  const float d = f16_at(block + 208);
  int q[kSuperBlock];
  for (std::size_t g = 0; g < 16; ++g) {
    sc[g] = static_cast<std::int8_t>(std::min(127L, std::lround(iscale * scale[g])));
    const float dl = d * static_cast<float>(sc[g]);
    for (std::size_t l = 0; l < 16; ++l) {
      q[16 * g + l] = dl != 0.0f ? std::clamp(static_cast<int>(std::lround(x[16 * g + l] / dl)), -32, 31) + 32 : 32;
    }
  }
  for (std::size_t half = 0; half < 2; ++half) {
    const int* qq = q + 128 * half;
    for (std::size_t l = 0; l < 32; ++l) {
      ql[64 * half + l] = static_cast<std::byte>((qq[l] & 0x0f) | (qq[l + 64] & 0x0f) << 4);
      ql[64 * half + l + 32] = static_cast<std::byte>((qq[l + 32] & 0x0f) | (qq[l + 96] & 0x0f) << 4);
      qh[32 * half + l] = static_cast<std::byte>((qq[l] >> 4) | (qq[l + 32] >> 4) << 2 | (qq[l + 64] >> 4) << 4 |
                                                 (qq[l + 96] >> 4) << 6);
    }
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
    default: break;
  }
  const std::size_t be = block_elems(dtype);
  const std::size_t bytes = quant_block_bytes(dtype);
  for (std::size_t b = 0; b < n / be; ++b) {
    const float* xb = x + b * be;
    std::byte* block = out + b * bytes;
    switch (dtype) {
      case DType::kQ8_0: quantize_block_q8_0(xb, block); break;
      case DType::kQ4_0: quantize_block_q4_0(xb, block); break;
      case DType::kQ4_1: quantize_block_min(xb, 15, block, false); break;
      case DType::kQ5_0: quantize_block_q5_0(xb, block); break;
      case DType::kQ5_1: quantize_block_min(xb, 31, block, true); break;
      case DType::kQ4_K: quantize_block_k(xb, 15, block, false); break;
      case DType::kQ5_K: quantize_block_k(xb, 31, block, true); break;
      case DType::kQ6_K: quantize_block_q6_k(xb, block); break;
      default: break;
    }
  }
}

}  // namespace edge_rt::tensor_core
