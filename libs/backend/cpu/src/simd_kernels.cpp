// Highway kernels, compiled once per target by foreach_target.h and chosen at run time (HWY_DYNAMIC_DISPATCH).
// Vectors are held in named variables, never arrays, so the file also compiles for SVE's sizeless vectors.

#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "simd_kernels.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
// foreach_target.h must come first: it re-includes this file once per target.
#include <hwy/cache_control.h>
#include <hwy/contrib/math/math-inl.h>
#include <hwy/highway.h>

#include "simd_kernels.hpp"
#include "vnni_kernels.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

HWY_BEFORE_NAMESPACE();
namespace edge_rt::backend::cpu::simd {
using namespace ::edge_rt::tensor_core;  // DType and the block layouts
namespace HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;
using DF = hn::ScalableTag<float>;

// One weight element as float (tails and packing).
template <DType T>
HWY_INLINE float scalar_weight(const std::byte* w, std::size_t i) {
  if constexpr (T == DType::kF32) {
    float v;
    std::memcpy(&v, w + 4 * i, 4);
    return v;
  } else {
    std::uint16_t h;
    std::memcpy(&h, w + 2 * i, 2);
    if constexpr (T == DType::kF16) {
      return f16_to_f32(h);
    } else {
      return bf16_to_f32(h);
    }
  }
}

// Lanes(df) weights starting at element i, as float.
template <DType T>
HWY_INLINE hn::Vec<DF> load_weights(DF df, const std::byte* w, std::size_t i) {
  if constexpr (T == DType::kF32) {
    return hn::LoadU(df, reinterpret_cast<const float*>(w) + i);
  } else if constexpr (T == DType::kF16) {
    const hn::Rebind<hwy::float16_t, DF> dh;
    return hn::PromoteTo(df, hn::LoadU(dh, reinterpret_cast<const hwy::float16_t*>(w) + i));
  } else {
    const hn::Rebind<hwy::bfloat16_t, DF> db;
    return hn::PromoteTo(df, hn::LoadU(db, reinterpret_cast<const hwy::bfloat16_t*>(w) + i));
  }
}

HWY_INLINE float f16_scale(const std::byte* p) {
  const hn::CappedTag<float, 1> d1;
  const hn::Rebind<hwy::float16_t, decltype(d1)> dh1;
  return hn::GetLane(hn::PromoteTo(d1, hn::LoadU(dh1, reinterpret_cast<const hwy::float16_t*>(p))));
}

// ---------------------------------------------------------------------------------------------------- GEMV rows

// Horizontal sum of two accumulators plus the scalar tail: the same steps for every row.
template <DType T>
HWY_INLINE float finish_row(DF df, hn::Vec<DF> a0, hn::Vec<DF> a1, const float* x, const std::byte* w, std::size_t kv,
                            std::size_t k) {
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(a0, a1)));
  for (std::size_t c = kv; c < k; ++c) s = std::fma(x[c], scalar_weight<T>(w, c), s);
  return s;
}

template <DType T>
void GemvRowsT(const float* x, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1, const float* bias,
               float* out) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const std::size_t kv = k / (4 * L) * (4 * L);
  const std::size_t row_bytes = k * dtype_size(T);
  // One row at a time with four accumulators: a single sequential stream through the weights, which the
  // hardware prefetcher follows best; x stays in L1.
  for (std::size_t r = r0; r < r1; ++r) {
    const std::byte* w0 = w + r * row_bytes;
    auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
    for (std::size_t c = 0; c < kv; c += 4 * L) {
      a0 = hn::MulAdd(hn::LoadU(df, x + c), load_weights<T>(df, w0, c), a0);
      a1 = hn::MulAdd(hn::LoadU(df, x + c + L), load_weights<T>(df, w0, c + L), a1);
      a2 = hn::MulAdd(hn::LoadU(df, x + c + 2 * L), load_weights<T>(df, w0, c + 2 * L), a2);
      a3 = hn::MulAdd(hn::LoadU(df, x + c + 3 * L), load_weights<T>(df, w0, c + 3 * L), a3);
    }
    out[r] = finish_row<T>(df, hn::Add(a0, a2), hn::Add(a1, a3), x, w0, kv, k) + (bias ? bias[r] : 0.0f);
  }
}

void GemvRows(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
              const float* bias, float* out) {
  switch (dtype) {
    case DType::kF32: return GemvRowsT<DType::kF32>(x, k, w, r0, r1, bias, out);
    case DType::kF16: return GemvRowsT<DType::kF16>(x, k, w, r0, r1, bias, out);
    case DType::kBF16: return GemvRowsT<DType::kBF16>(x, k, w, r0, r1, bias, out);
    default: return;
  }
}

// ------------------------------------------------------------------------------------------------- GEMV in->out

template <DType T>
void GemvInOutT(const float* x, std::size_t k, const std::byte* w, std::size_t m, float* out) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const std::size_t jv = m / L * L;
  std::fill(out, out + m, 0.0f);
  const std::size_t es = dtype_size(T);
  std::size_t c = 0;
  // Eight rows per pass over out, as two chains of four multiply-adds joined by one add: half the loads and
  // stores of out, and half the dependent latency, of one chain of eight.
  for (; c + 8 <= k; c += 8) {
    const std::byte* w0 = w + c * m * es;
    const auto x0 = hn::Set(df, x[c]), x1 = hn::Set(df, x[c + 1]), x2 = hn::Set(df, x[c + 2]);
    const auto x3 = hn::Set(df, x[c + 3]), x4 = hn::Set(df, x[c + 4]), x5 = hn::Set(df, x[c + 5]);
    const auto x6 = hn::Set(df, x[c + 6]), x7 = hn::Set(df, x[c + 7]);
    const std::size_t stride = m * es;
    for (std::size_t j = 0; j < jv; j += L) {
      auto a = hn::MulAdd(x0, load_weights<T>(df, w0, j), hn::LoadU(df, out + j));
      auto b = hn::Mul(x4, load_weights<T>(df, w0 + 4 * stride, j));
      a = hn::MulAdd(x1, load_weights<T>(df, w0 + stride, j), a);
      b = hn::MulAdd(x5, load_weights<T>(df, w0 + 5 * stride, j), b);
      a = hn::MulAdd(x2, load_weights<T>(df, w0 + 2 * stride, j), a);
      b = hn::MulAdd(x6, load_weights<T>(df, w0 + 6 * stride, j), b);
      a = hn::MulAdd(x3, load_weights<T>(df, w0 + 3 * stride, j), a);
      b = hn::MulAdd(x7, load_weights<T>(df, w0 + 7 * stride, j), b);
      hn::StoreU(hn::Add(a, b), df, out + j);
    }
    for (std::size_t j = jv; j < m; ++j) {
      float a = std::fma(x[c], scalar_weight<T>(w0, j), out[j]);
      float b = x[c + 4] * scalar_weight<T>(w0 + 4 * stride, j);
      a = std::fma(x[c + 1], scalar_weight<T>(w0 + stride, j), a);
      b = std::fma(x[c + 5], scalar_weight<T>(w0 + 5 * stride, j), b);
      a = std::fma(x[c + 2], scalar_weight<T>(w0 + 2 * stride, j), a);
      b = std::fma(x[c + 6], scalar_weight<T>(w0 + 6 * stride, j), b);
      a = std::fma(x[c + 3], scalar_weight<T>(w0 + 3 * stride, j), a);
      b = std::fma(x[c + 7], scalar_weight<T>(w0 + 7 * stride, j), b);
      out[j] = a + b;
    }
  }
  for (; c + 4 <= k; c += 4) {
    const std::byte* w0 = w + c * m * dtype_size(T);
    const std::byte* w1 = w0 + m * dtype_size(T);
    const std::byte* w2 = w1 + m * dtype_size(T);
    const std::byte* w3 = w2 + m * dtype_size(T);
    const auto x0 = hn::Set(df, x[c]);
    const auto x1 = hn::Set(df, x[c + 1]);
    const auto x2 = hn::Set(df, x[c + 2]);
    const auto x3 = hn::Set(df, x[c + 3]);
    for (std::size_t j = 0; j < jv; j += L) {
      auto o = hn::LoadU(df, out + j);
      o = hn::MulAdd(x0, load_weights<T>(df, w0, j), o);
      o = hn::MulAdd(x1, load_weights<T>(df, w1, j), o);
      o = hn::MulAdd(x2, load_weights<T>(df, w2, j), o);
      o = hn::MulAdd(x3, load_weights<T>(df, w3, j), o);
      hn::StoreU(o, df, out + j);
    }
    for (std::size_t j = jv; j < m; ++j) {
      float o = out[j];
      o = std::fma(x[c], scalar_weight<T>(w0, j), o);
      o = std::fma(x[c + 1], scalar_weight<T>(w1, j), o);
      o = std::fma(x[c + 2], scalar_weight<T>(w2, j), o);
      o = std::fma(x[c + 3], scalar_weight<T>(w3, j), o);
      out[j] = o;
    }
  }
  for (; c < k; ++c) {
    const std::byte* w0 = w + c * m * dtype_size(T);
    const auto x0 = hn::Set(df, x[c]);
    for (std::size_t j = 0; j < jv; j += L) {
      hn::StoreU(hn::MulAdd(x0, load_weights<T>(df, w0, j), hn::LoadU(df, out + j)), df, out + j);
    }
    for (std::size_t j = jv; j < m; ++j) out[j] = std::fma(x[c], scalar_weight<T>(w0, j), out[j]);
  }
}

void GemvInOut(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t m, float* out) {
  switch (dtype) {
    case DType::kF32: return GemvInOutT<DType::kF32>(x, k, w, m, out);
    case DType::kF16: return GemvInOutT<DType::kF16>(x, k, w, m, out);
    case DType::kBF16: return GemvInOutT<DType::kBF16>(x, k, w, m, out);
    default: return;
  }
}

// -------------------------------------------------------------------------------------------------------- GEMM

// Packs W(c, j) for c in [c0, c0 + kc), j in [j0, j0 + cols) into `pack` as kc rows of NR = 2 * Lanes floats
// (zero beyond cols).
template <DType T>
void pack_panel(const std::byte* w, bool in_out, std::size_t k, std::size_t m, std::size_t c0, std::size_t kc,
                std::size_t j0, std::size_t cols, float* pack) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const std::size_t nr = 2 * L;
  if (in_out) {
    for (std::size_t p = 0; p < kc; ++p) {
      const std::byte* row = w + (c0 + p) * m * dtype_size(T);
      float* dst = pack + p * nr;
      if (cols == nr) {
        hn::Store(load_weights<T>(df, row, j0), df, dst);
        hn::Store(load_weights<T>(df, row, j0 + L), df, dst + L);
      } else {
        for (std::size_t jj = 0; jj < nr; ++jj) dst[jj] = jj < cols ? scalar_weight<T>(row, j0 + jj) : 0.0f;
      }
    }
    return;
  }
  HWY_ALIGN float segment[kGemmDepth];
  for (std::size_t jj = 0; jj < nr; ++jj) {
    if (jj >= cols) {
      for (std::size_t p = 0; p < kc; ++p) pack[p * nr + jj] = 0.0f;
      continue;
    }
    const std::byte* row = w + ((j0 + jj) * k + c0) * dtype_size(T);
    std::size_t p = 0;
    for (; p + L <= kc; p += L) hn::Store(load_weights<T>(df, row, p), df, segment + p);
    for (; p < kc; ++p) segment[p] = scalar_weight<T>(row, p);
    for (p = 0; p < kc; ++p) pack[p * nr + jj] = segment[p];
  }
}

// The register tile: R (<= 6) rows of x times one packed panel (two vectors wide), over kc steps.
// `init`: start from bias (or zero) instead of the values already in out.
template <std::size_t R>
HWY_INLINE void micro_kernel(const float* a, std::size_t lda, const float* bp, std::size_t kc, float* c,
                             std::size_t ldc, std::size_t cols, bool init, const float* bias) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const std::size_t nr = 2 * L;
  HWY_ALIGN float tile[kGemmRows * 2 * hn::MaxLanes(DF())];
  const bool full = cols == nr;
  // Starting values, staged through `tile` when the panel is partial.
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t jj = 0; jj < nr; ++jj) {
      float v = 0.0f;
      if (jj < cols) v = init ? (bias ? bias[jj] : 0.0f) : c[r * ldc + jj];
      if (!full || init) tile[r * nr + jj] = v;
    }
  }
  auto load_start = [&](std::size_t r, std::size_t half) {
    if (full && !init) return hn::LoadU(df, c + r * ldc + half * L);
    return hn::Load(df, tile + r * nr + half * L);
  };
  auto c00 = load_start(0, 0), c01 = load_start(0, 1);
  auto c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01, c40 = c00, c41 = c01, c50 = c00, c51 = c01;
  if constexpr (R > 1) c10 = load_start(1, 0), c11 = load_start(1, 1);
  if constexpr (R > 2) c20 = load_start(2, 0), c21 = load_start(2, 1);
  if constexpr (R > 3) c30 = load_start(3, 0), c31 = load_start(3, 1);
  if constexpr (R > 4) c40 = load_start(4, 0), c41 = load_start(4, 1);
  if constexpr (R > 5) c50 = load_start(5, 0), c51 = load_start(5, 1);
  for (std::size_t p = 0; p < kc; ++p) {
    const auto b0 = hn::Load(df, bp + p * nr);
    const auto b1 = hn::Load(df, bp + p * nr + L);
    auto av = hn::Set(df, a[p]);
    c00 = hn::MulAdd(av, b0, c00);
    c01 = hn::MulAdd(av, b1, c01);
    if constexpr (R > 1) {
      av = hn::Set(df, a[lda + p]);
      c10 = hn::MulAdd(av, b0, c10);
      c11 = hn::MulAdd(av, b1, c11);
    }
    if constexpr (R > 2) {
      av = hn::Set(df, a[2 * lda + p]);
      c20 = hn::MulAdd(av, b0, c20);
      c21 = hn::MulAdd(av, b1, c21);
    }
    if constexpr (R > 3) {
      av = hn::Set(df, a[3 * lda + p]);
      c30 = hn::MulAdd(av, b0, c30);
      c31 = hn::MulAdd(av, b1, c31);
    }
    if constexpr (R > 4) {
      av = hn::Set(df, a[4 * lda + p]);
      c40 = hn::MulAdd(av, b0, c40);
      c41 = hn::MulAdd(av, b1, c41);
    }
    if constexpr (R > 5) {
      av = hn::Set(df, a[5 * lda + p]);
      c50 = hn::MulAdd(av, b0, c50);
      c51 = hn::MulAdd(av, b1, c51);
    }
  }
  auto store = [&](std::size_t r, decltype(c00) v0, decltype(c00) v1) {
    if (full) {
      hn::StoreU(v0, df, c + r * ldc);
      hn::StoreU(v1, df, c + r * ldc + L);
    } else {
      hn::Store(v0, df, tile + r * nr);
      hn::Store(v1, df, tile + r * nr + L);
      for (std::size_t jj = 0; jj < cols; ++jj) c[r * ldc + jj] = tile[r * nr + jj];
    }
  };
  store(0, c00, c01);
  if constexpr (R > 1) store(1, c10, c11);
  if constexpr (R > 2) store(2, c20, c21);
  if constexpr (R > 3) store(3, c30, c31);
  if constexpr (R > 4) store(4, c40, c41);
  if constexpr (R > 5) store(5, c50, c51);
}

template <DType T>
void GemmT(const float* x, std::size_t n, std::size_t k, const std::byte* w, bool in_out, std::size_t m, std::size_t j0,
           std::size_t j1, const float* bias, float* out, float* pack) {
  const DF df;
  const std::size_t nr = 2 * hn::Lanes(df);
  for (std::size_t c0 = 0; c0 < k; c0 += kGemmDepth) {
    const std::size_t kc = std::min(kGemmDepth, k - c0);
    const bool init = c0 == 0;
    for (std::size_t jp = j0; jp < j1; jp += nr) {
      const std::size_t cols = std::min(nr, j1 - jp);
      pack_panel<T>(w, in_out, k, m, c0, kc, jp, cols, pack);
      const float* b = bias ? bias + jp : nullptr;
      std::size_t i = 0;
      for (; i + kGemmRows <= n; i += kGemmRows) {
        micro_kernel<6>(x + i * k + c0, k, pack, kc, out + i * m + jp, m, cols, init, b);
      }
      const float* a = x + i * k + c0;
      float* c = out + i * m + jp;
      switch (n - i) {
        case 1: micro_kernel<1>(a, k, pack, kc, c, m, cols, init, b); break;
        case 2: micro_kernel<2>(a, k, pack, kc, c, m, cols, init, b); break;
        case 3: micro_kernel<3>(a, k, pack, kc, c, m, cols, init, b); break;
        case 4: micro_kernel<4>(a, k, pack, kc, c, m, cols, init, b); break;
        case 5: micro_kernel<5>(a, k, pack, kc, c, m, cols, init, b); break;
        default: break;
      }
    }
  }
}

void Gemm(DType dtype, const float* x, std::size_t n, std::size_t k, const std::byte* w, bool in_out, std::size_t m,
          std::size_t j0, std::size_t j1, const float* bias, float* out, float* pack) {
  switch (dtype) {
    case DType::kF32: return GemmT<DType::kF32>(x, n, k, w, in_out, m, j0, j1, bias, out, pack);
    case DType::kF16: return GemmT<DType::kF16>(x, n, k, w, in_out, m, j0, j1, bias, out, pack);
    case DType::kBF16: return GemmT<DType::kBF16>(x, n, k, w, in_out, m, j0, j1, bias, out, pack);
    default: return;
  }
}

// ---------------------------------------------------------------------------------------- quantized integer dot

// Integer dot of one 32-value block, scaled: d_w * d_x * sum_j q_w[j] * q_x[j], as a vector of partial sums.
using D16 = hn::CappedTag<std::int16_t, 16>;
using D32 = hn::RepartitionToWide<D16>;

template <DType T>
HWY_INLINE hn::Vec<hn::Rebind<float, D32>> block_dot(const ActBlock& xb, const std::byte* block) {
  const D16 d16;
  const D32 d32;
  const hn::Rebind<float, D32> df32;
  const hn::Rebind<std::int8_t, decltype(d16)> d8;
  const std::size_t L = hn::Lanes(d16);
  auto s0 = hn::Zero(d32);
  auto s1 = hn::Zero(d32);
  const std::int8_t* xs = xb.qs;
  if constexpr (T == DType::kQ8_0) {
    const auto* ws = reinterpret_cast<const std::int8_t*>(block + 2);
    for (std::size_t j = 0; j < kQuantBlock; j += L) {
      s0 = hn::ReorderWidenMulAccumulate(d32, hn::PromoteTo(d16, hn::LoadU(d8, ws + j)),
                                         hn::PromoteTo(d16, hn::LoadU(d8, xs + j)), s0, s1);
    }
  } else {
    const hn::RebindToUnsigned<decltype(d16)> du16;
    const hn::Rebind<std::uint8_t, decltype(d16)> du8;
    const auto* qs = reinterpret_cast<const std::uint8_t*>(block + 2);
    const auto eight = hn::Set(d16, 8);
    const auto low = hn::Set(du16, 0x0f);
    for (std::size_t j = 0; j < kQuantBlock / 2; j += L) {
      const auto q = hn::PromoteTo(du16, hn::LoadU(du8, qs + j));
      const auto lo = hn::Sub(hn::BitCast(d16, hn::And(q, low)), eight);
      const auto hi = hn::Sub(hn::BitCast(d16, hn::ShiftRight<4>(q)), eight);
      s0 = hn::ReorderWidenMulAccumulate(d32, lo, hn::PromoteTo(d16, hn::LoadU(d8, xs + j)), s0, s1);
      s0 = hn::ReorderWidenMulAccumulate(d32, hi, hn::PromoteTo(d16, hn::LoadU(d8, xs + 16 + j)), s0, s1);
    }
  }
  return hn::Mul(hn::ConvertTo(df32, hn::Add(s0, s1)), hn::Set(df32, f16_scale(block) * xb.d));
}

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
// x86: 8-bit products with vpmaddubsw, which Highway 1.0.3 has no portable op for. Q8_0 uses ggml's trick (|w|
// times x with w's sign moved onto x, exact: pairs stay below 2 * 127 * 128). Q4_0's nibbles n are already
// unsigned: sum (n - 8) x = sum n x - 8 sum x, with d * sum x precomputed per activation block (ActBlock::d_sum).
// Both kernels take a group of consecutive rows; every row of a matrix goes through the same group kernel (short
// groups repeat their last row in lanes that are not stored), so the split across threads never changes results.

// The rows of a group are one contiguous range read as several short streams, which the hardware prefetcher does
// not follow: fetch the next group's range (it starts `group_bytes` on) at the rate this one is consumed, three
// cache lines per block of the group (136 bytes for four Q8_0 rows, 144 for eight Q4_0 rows).
HWY_INLINE void prefetch_next_group(const std::byte* group, std::size_t group_bytes, std::size_t consumed) {
  const std::byte* ahead = group + group_bytes + consumed;
  hwy::Prefetch(ahead);
  hwy::Prefetch(ahead + 64);
  hwy::Prefetch(ahead + 128);
}

// Q8_0, four rows at once: they share each activation load, and their four scales are converted and multiplied
// by the activation scale as one vector. `count` (1..4) rows exist; missing ones repeat the last row and are not
// stored.
HWY_INLINE void dot_q8_0_rows4(const ActBlock* xq, const std::byte* w, std::size_t row_bytes, std::size_t count,
                               std::size_t nb, float* out) {
  constexpr std::size_t kBytes = quant_block_bytes(DType::kQ8_0);
  std::size_t offset[4];
  for (std::size_t g = 0; g < 4; ++g) offset[g] = std::min(g, count - 1) * row_bytes;
  __m256 acc[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
  const __m256i ones = _mm256_set1_epi16(1);
  const auto scale = [](const std::byte* p) {
    std::uint16_t h;
    std::memcpy(&h, p, 2);
    return static_cast<int>(h);
  };
  for (std::size_t b = 0; b < nb; ++b) {
    const std::byte* blk = w + b * kBytes;
    prefetch_next_group(w, 4 * row_bytes, b * 4 * kBytes);
    const ActBlock& xb = xq[b];
    const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
    __m128i h = _mm_cvtsi32_si128(scale(blk + offset[0]));
    h = _mm_insert_epi16(h, scale(blk + offset[1]), 1);
    h = _mm_insert_epi16(h, scale(blk + offset[2]), 2);
    h = _mm_insert_epi16(h, scale(blk + offset[3]), 3);
    const __m256 d = _mm256_castps128_ps256(_mm_mul_ps(_mm_cvtph_ps(h), _mm_set1_ps(xb.d)));
    for (std::size_t g = 0; g < 4; ++g) {
      const __m256i wv = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + offset[g] + 2));
      const __m256i pairs = _mm256_maddubs_epi16(_mm256_sign_epi8(wv, wv), _mm256_sign_epi8(x, wv));
      const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(pairs, ones));
      acc[g] = _mm256_fmadd_ps(sums, _mm256_permutevar8x32_ps(d, _mm256_set1_epi32(static_cast<int>(g))), acc[g]);
    }
  }
  const hn::Full256<float> d8;
  for (std::size_t g = 0; g < count; ++g) out[g] = hn::GetLane(hn::SumOfLanes(d8, hn::Vec256<float>{acc[g]}));
}

// One block of eight Q4_0 rows (dot_q4_0_lanes, dot_q4_0_x8): v[t] holds bytes 4t..4t+3 of each row's 16 nibble bytes
// (row g in 32-bit lane g), dw the rows' scales. Adds d_w * d_x * sum n x to acc and d_w * d_x * sum x to corr, lane by
// lane.
HWY_INLINE void q4_0_block_lanes(const __m256i (&v)[4], __m256 dw, const ActBlock& xb, __m256& acc, __m256& corr) {
  const __m256i mask = _mm256_set1_epi8(0x0f);
  const auto word = [](const std::int8_t* p) {
    std::int32_t x;
    std::memcpy(&x, p, 4);
    return _mm256_set1_epi32(x);
  };
  __m256i s16 = _mm256_setzero_si256();
  for (int t = 0; t < 4; ++t) {
    // Byte j of a row holds element j (low nibble) and element j + 16 (high nibble).
    s16 = _mm256_add_epi16(s16, _mm256_maddubs_epi16(_mm256_and_si256(v[t], mask), word(xb.qs + 4 * t)));
    s16 = _mm256_add_epi16(
        s16, _mm256_maddubs_epi16(_mm256_and_si256(_mm256_srli_epi16(v[t], 4), mask), word(xb.qs + 16 + 4 * t)));
  }
  const __m256i sums = _mm256_madd_epi16(s16, _mm256_set1_epi16(1));
  acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(sums), _mm256_mul_ps(dw, _mm256_set1_ps(xb.d)), acc);
  corr = _mm256_fmadd_ps(dw, _mm256_set1_ps(xb.d_sum), corr);
}

HWY_INLINE void store_q4_0_lanes(__m256 acc, __m256 corr, std::size_t count, float* out) {
  alignas(32) float result[8];
  _mm256_store_ps(result, _mm256_fmadd_ps(_mm256_set1_ps(-8.0f), corr, acc));
  for (std::size_t g = 0; g < count; ++g) out[g] = result[g];
}

// Q4_0, eight rows at once with row g in 32-bit lane g, so that a block's scale, float conversion and
// multiply-adds are one vector operation for all eight rows instead of eight. Rows g and g + 4 share a register
// (low and high 128-bit halves); a 4x4 transpose of 32-bit words within each half puts bytes 4t..4t+3 of every
// row in its lane, and each such word meets a broadcast of the matching activation word in vpmaddubsw. The eight
// 16-bit partial sums of a block stay below 8 * 2 * 15 * 127 = 30480, so they add in 16 bits and widen once.
// `count` (1..8) rows exist; the missing lanes repeat the last row and are not stored.
HWY_INLINE void dot_q4_0_lanes(const ActBlock* xq, const std::byte* w, std::size_t row_bytes, std::size_t count,
                               std::size_t nb, float* out) {
  constexpr std::size_t kBytes = quant_block_bytes(DType::kQ4_0);
  std::size_t offset[8];
  for (std::size_t g = 0; g < 8; ++g) offset[g] = std::min(g, count - 1) * row_bytes;
  __m256 acc = _mm256_setzero_ps();
  __m256 corr = _mm256_setzero_ps();
  const auto qs = [&](const std::byte* blk, std::size_t g) {
    return _mm_loadu_si128(reinterpret_cast<const __m128i*>(blk + offset[g] + 2));
  };
  for (std::size_t b = 0; b < nb; ++b) {
    const std::byte* blk = w + b * kBytes;
    prefetch_next_group(w, 8 * row_bytes, b * 8 * kBytes);
    const __m256i y0 = _mm256_inserti128_si256(_mm256_castsi128_si256(qs(blk, 0)), qs(blk, 4), 1);
    const __m256i y1 = _mm256_inserti128_si256(_mm256_castsi128_si256(qs(blk, 1)), qs(blk, 5), 1);
    const __m256i y2 = _mm256_inserti128_si256(_mm256_castsi128_si256(qs(blk, 2)), qs(blk, 6), 1);
    const __m256i y3 = _mm256_inserti128_si256(_mm256_castsi128_si256(qs(blk, 3)), qs(blk, 7), 1);
    const __m256i t0 = _mm256_unpacklo_epi32(y0, y1);
    const __m256i t1 = _mm256_unpackhi_epi32(y0, y1);
    const __m256i t2 = _mm256_unpacklo_epi32(y2, y3);
    const __m256i t3 = _mm256_unpackhi_epi32(y2, y3);
    const __m256i v[4] = {_mm256_unpacklo_epi64(t0, t2), _mm256_unpackhi_epi64(t0, t2), _mm256_unpacklo_epi64(t1, t3),
                          _mm256_unpackhi_epi64(t1, t3)};
    // Eight scalar loads of the scales measured faster than one vpgatherdd (22-24 vs 20.5 GB/s, Zen 3).
    std::uint16_t h[8];
    for (std::size_t g = 0; g < 8; ++g) std::memcpy(&h[g], blk + offset[g], 2);
    q4_0_block_lanes(v, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(h))), xq[b], acc, corr);
  }
  store_q4_0_lanes(acc, corr, count, out);
}

// Q4_0x8: the same arithmetic on eight rows that interleave_rows laid out as one 144-byte record per block (eight
// scales, then the four vectors v[t]), so a group is a single sequential stream with no transpose. The hardware
// prefetcher still lags on it, so lines are prefetched 1 KiB ahead; without that it was no faster than the row
// layout. With it, `edge_rt_bench layout` (GPT-2 layer matrices, Zen 3, 2 threads) gives medians 5-17% above
// the row layout.
HWY_INLINE void dot_q4_0_x8(const ActBlock* xq, const std::byte* group, std::size_t nb, float* out) {
  constexpr std::size_t kRecord = 8 * quant_block_bytes(DType::kQ4_0);
  __m256 acc = _mm256_setzero_ps();
  __m256 corr = _mm256_setzero_ps();
  for (std::size_t b = 0; b < nb; ++b) {
    const std::byte* p = group + b * kRecord;
    hwy::Prefetch(p + 1024);
    hwy::Prefetch(p + 1024 + 64);
    hwy::Prefetch(p + 1024 + 128);
    const __m256i v[4] = {_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 16)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 48)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 80)),
                          _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 112))};
    q4_0_block_lanes(v, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))), xq[b], acc, corr);
  }
  store_q4_0_lanes(acc, corr, 8, out);
}

// Interleaved: Q4_0 weights in the Q4_0x8 layout (interleave_rows).
template <DType T, bool Interleaved = false>
void GemvQuantT(const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
                const float* bias, float* out, std::size_t m) {
  const std::size_t nb = k / kQuantBlock;
  const std::size_t row_bytes = nb * quant_block_bytes(T);
  // Rows in groups of G (eight for Q4_0, four for Q8_0); the last group of a range may be shorter. Q4_0x8 ranges
  // start on a group, and only the matrix's last rows % 8 rows (row layout) form a short group.
  constexpr std::size_t G = T == DType::kQ8_0 ? 4 : 8;
  float v[G];
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t r = r0; r < r1; r += G) {
      const std::size_t count = std::min<std::size_t>(G, r1 - r);
      if constexpr (Interleaved) {
        if (count == 8) {
          dot_q4_0_x8(xq + i * nb, w + r * row_bytes, nb, v);
        } else {
          dot_q4_0_lanes(xq + i * nb, w + r * row_bytes, row_bytes, count, nb, v);
        }
      } else if constexpr (T == DType::kQ4_0) {
        dot_q4_0_lanes(xq + i * nb, w + r * row_bytes, row_bytes, count, nb, v);
      } else {
        dot_q8_0_rows4(xq + i * nb, w + r * row_bytes, row_bytes, count, nb, v);
      }
      for (std::size_t g = 0; g < count; ++g) out[i * m + r + g] = v[g] + (bias ? bias[r + g] : 0.0f);
    }
  }
}

// ---- The other block formats (Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K; Q8_0 in prefill), one row at a time. Each 32-weight
// sub-block is unpacked to 32 unsigned bytes u (0..63) with q = u - kBias<T>; vpmaddubsw multiplies u with the
// activations, and the bias comes off in 16 bits (sum u x - bias sum x: both below 2 * 63 * 127, so the difference is
// exact). The int32 sums become floats and meet the sub-block's scale (two for Q6_K, one per 16 weights: lanes 0-3 hold
// the first 16 weights' pairs, lanes 4-7 the rest); a min (Q4_1, Q5_1, Q4_K, Q5_K) adds offset * d_x * sum q_x once per
// sub-block.
template <DType T>
inline constexpr int kBias = T == DType::kQ5_0   ? 16
                             : T == DType::kQ6_K ? 32
                                                 : 0;
// Q4_1/Q5_1 meet ggml's Q8_1 activations, whose sum term is F16 (ActBlock::s16); the K-quants' min meets an
// integer sum (Q8_K's bsums), which d_sum is.
template <DType T>
inline constexpr bool kQ8_1Sum = T == DType::kQ4_1 || T == DType::kQ5_1;

// Bytes 0..31 of the result are 0xff where bit i of `bits` is set (ggml's bytes_from_bits_32).
HWY_INLINE __m256i bytes_from_bits(std::uint32_t bits) {
  const __m256i shuffle =
      _mm256_setr_epi64x(0x0000000000000000, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303);
  const __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(bits)), shuffle);
  return _mm256_cmpeq_epi8(_mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)), _mm256_set1_epi64x(-1));
}

// 16 nibble bytes: low nibbles to bytes 0..15, high nibbles to 16..31.
HWY_INLINE __m256i unpack_nibbles(const std::byte* qs) {
  const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(qs));
  const __m128i mask = _mm_set1_epi8(0x0f);
  return _mm256_set_m128i(_mm_and_si128(_mm_srli_epi16(v, 4), mask), _mm_and_si128(v, mask));
}

HWY_INLINE float f16_at(const std::byte* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return _cvtsh_ss(h);
}

// Sub-block s of the block at `blk` as unsigned bytes.
template <DType T>
HWY_INLINE __m256i unpack_sub_block(const std::byte* blk, std::size_t s) {
  const __m256i low4 = _mm256_set1_epi8(0x0f);
  if constexpr (T == DType::kQ8_0) {  // signed: dot_blocks_tile moves the sign onto x
    return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 2));
  } else if constexpr (T == DType::kQ4_1) {
    return unpack_nibbles(blk + 4);
  } else if constexpr (T == DType::kQ5_0 || T == DType::kQ5_1) {
    constexpr std::size_t kQh = T == DType::kQ5_0 ? 2 : 4;
    std::uint32_t qh;
    std::memcpy(&qh, blk + kQh, 4);
    return _mm256_or_si256(unpack_nibbles(blk + kQh + 4), _mm256_and_si256(bytes_from_bits(qh), _mm256_set1_epi8(16)));
  } else if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
    constexpr std::size_t kQs = T == DType::kQ4_K ? 16 : 48;
    const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + kQs + 32 * (s / 2)));
    __m256i u = _mm256_and_si256(s % 2 == 0 ? q : _mm256_srli_epi16(q, 4), low4);
    if constexpr (T == DType::kQ5_K) {
      const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 16));
      const __m256i bit =
          _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(s))), _mm256_set1_epi8(1));
      u = _mm256_or_si256(u, _mm256_slli_epi16(bit, 4));
    }
    return u;
  } else {  // Q6_K: quarter r of half s / 4
    const std::size_t half = s / 4, r = s % 4;
    const __m256i ql = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 64 * half + (r & 1) * 32));
    const __m256i qh = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(blk + 128 + 32 * half));
    const __m256i low = _mm256_and_si256(r >= 2 ? _mm256_srli_epi16(ql, 4) : ql, low4);
    const __m256i high =
        _mm256_and_si256(_mm256_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * r))), _mm256_set1_epi8(3));
    return _mm256_or_si256(low, _mm256_slli_epi16(high, 4));
  }
}

// Scales and offsets of every sub-block of a block: scale[2 s], scale[2 s + 1] (equal but for Q6_K), offset[s].
template <DType T>
HWY_INLINE void block_scales(const std::byte* blk, float* scale, float* offset) {
  if constexpr (T == DType::kQ4_1 || T == DType::kQ5_1) {
    scale[0] = scale[1] = f16_at(blk);
    offset[0] = f16_at(blk + 2);
  } else if constexpr (T == DType::kQ5_0 || T == DType::kQ8_0) {
    scale[0] = scale[1] = f16_at(blk);
    offset[0] = 0.0f;
  } else if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
    const float d = f16_at(blk), dmin = f16_at(blk + 2);
    const auto* q = reinterpret_cast<const std::uint8_t*>(blk + 4);
    for (std::size_t j = 0; j < 8; ++j) {
      const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
      const int m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
      scale[2 * j] = scale[2 * j + 1] = d * static_cast<float>(sc);
      offset[j] = -(dmin * static_cast<float>(m));
    }
  } else {
    const float d = f16_at(blk + 208);
    const auto* sc = reinterpret_cast<const std::int8_t*>(blk + 192);
    for (std::size_t j = 0; j < 16; ++j) scale[j] = d * static_cast<float>(sc[j]);
    for (std::size_t j = 0; j < 8; ++j) offset[j] = 0.0f;
  }
}

// A tile of R rows x TT tokens: each sub-block of the R rows is unpacked once and meets the TT tokens' activations,
// so prefill pays the unpacking once per TT tokens instead of once per token. `rows` (1..R) rows and `tokens`
// (1..TT) tokens exist; missing ones repeat the last and are not stored. out[t * R + r]. Every element sees the
// same operations whatever R, TT and its place in the tile, so results do not depend on n or the thread split.
template <DType T, std::size_t R, std::size_t TT>
HWY_INLINE void dot_blocks_tile(const ActBlock* xq, std::size_t nb, const std::byte* w, std::size_t row_bytes,
                                std::size_t rows, std::size_t tokens, float* out) {
  constexpr std::size_t kSub = block_elems(T) / kQuantBlock;
  constexpr std::size_t kBytes = quant_block_bytes(T);
  constexpr bool kHasOffset = T == DType::kQ4_1 || T == DType::kQ5_1 || T == DType::kQ4_K || T == DType::kQ5_K;
  const __m256i ones = _mm256_set1_epi16(1);
  const __m256i bias = _mm256_set1_epi8(static_cast<char>(kBias<T>));
  const std::byte* wr[R];
  for (std::size_t r = 0; r < R; ++r) wr[r] = w + std::min(r, rows - 1) * row_bytes;
  const ActBlock* xt[TT];
  for (std::size_t t = 0; t < TT; ++t) xt[t] = xq + std::min(t, tokens - 1) * nb;
  __m256 acc[R][TT];
  float corr[R][TT];
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t t = 0; t < TT; ++t) {
      acc[r][t] = _mm256_setzero_ps();
      corr[r][t] = 0.0f;
    }
  }
  float scale[R][2 * kSub], offset[R][kSub];
  for (std::size_t b = 0; b < nb / kSub; ++b) {
    for (std::size_t r = 0; r < R; ++r) {
      hwy::Prefetch(wr[r] + (b + 4) * kBytes);
      block_scales<T>(wr[r] + b * kBytes, scale[r], offset[r]);
    }
    for (std::size_t s = 0; s < kSub; ++s) {
      __m256i u[R];
      for (std::size_t r = 0; r < R; ++r) u[r] = unpack_sub_block<T>(wr[r] + b * kBytes, s);
      for (std::size_t t = 0; t < TT; ++t) {
        const ActBlock& xb = xt[t][b * kSub + s];
        const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(xb.qs));
        const __m256i pb = kBias<T> != 0 ? _mm256_maddubs_epi16(bias, x) : _mm256_setzero_si256();
        for (std::size_t r = 0; r < R; ++r) {
          // Q8_0: |w| times x with w's sign moved onto x, as dot_q8_0_rows4 (decode) computes it, to the bit.
          __m256i p = T == DType::kQ8_0 ? _mm256_maddubs_epi16(_mm256_sign_epi8(u[r], u[r]), _mm256_sign_epi8(x, u[r]))
                                        : _mm256_maddubs_epi16(u[r], x);
          if constexpr (kBias<T> != 0) p = _mm256_sub_epi16(p, pb);
          const __m256 sums = _mm256_cvtepi32_ps(_mm256_madd_epi16(p, ones));
          const __m128 lo = _mm_set1_ps(scale[r][2 * s] * xb.d);
          const __m128 hi = _mm_set1_ps(scale[r][2 * s + 1] * xb.d);
          acc[r][t] = _mm256_fmadd_ps(sums, _mm256_set_m128(hi, lo), acc[r][t]);
          if constexpr (kHasOffset) corr[r][t] += offset[r][s] * (kQ8_1Sum<T> ? xb.s16 : xb.d_sum);
        }
      }
    }
  }
  const hn::Full256<float> d8;
  for (std::size_t t = 0; t < TT; ++t) {
    for (std::size_t r = 0; r < R; ++r) {
      out[t * R + r] = hn::GetLane(hn::SumOfLanes(d8, hn::Vec256<float>{acc[r][t]})) + corr[r][t];
    }
  }
}
#else
// sum over blocks of d_w * d_x * (integer dot of the block), for one weight row and one activation row. Two
// blocks per step into two accumulators; the weights ahead are prefetched (one stream per thread is otherwise
// latency-bound on this access size).
template <DType T>
HWY_INLINE float dot_quant(const ActBlock* xq, const std::byte* w, std::size_t nb) {
  const hn::Rebind<float, D32> df32;
  constexpr std::size_t kBytes = quant_block_bytes(T);
  auto acc0 = hn::Zero(df32);
  auto acc1 = hn::Zero(df32);
  std::size_t b = 0;
  for (; b + 2 <= nb; b += 2) {
    hwy::Prefetch(w + (b + 16) * kBytes);
    acc0 = hn::Add(acc0, block_dot<T>(xq[b], w + b * kBytes));
    acc1 = hn::Add(acc1, block_dot<T>(xq[b + 1], w + (b + 1) * kBytes));
  }
  if (b < nb) acc0 = hn::Add(acc0, block_dot<T>(xq[b], w + b * kBytes));
  return hn::GetLane(hn::SumOfLanes(df32, hn::Add(acc0, acc1)));
}

template <DType T>
void GemvQuantT(const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
                const float* bias, float* out, std::size_t m) {
  const std::size_t nb = k / kQuantBlock;
  const std::size_t row_bytes = nb * quant_block_bytes(T);
  for (std::size_t r = r0; r < r1; ++r) {
    const std::byte* wr = w + r * row_bytes;
    const float b = bias ? bias[r] : 0.0f;
    for (std::size_t i = 0; i < n; ++i) out[i * m + r] = dot_quant<T>(xq + i * nb, wr, nb) + b;
  }
}

// The other block formats, portable: each sub-block decoded to its integer form (decode_sub_block), then the
// reference arithmetic with the integer sums in order.
template <DType T>
HWY_INLINE float dot_blocks(const ActBlock* xq, const std::byte* w, std::size_t nb) {
  constexpr std::size_t kSub = block_elems(T) / kQuantBlock;
  constexpr std::size_t kBytes = quant_block_bytes(T);
  float acc = 0.0f;
  SubBlock sb;
  for (std::size_t b = 0; b < nb; ++b) {
    decode_sub_block(T, w + b / kSub * kBytes, b % kSub, sb);
    std::int32_t isum[2] = {0, 0};
    for (std::size_t j = 0; j < kQuantBlock; ++j) isum[j / 16] += sb.q[j] * xq[b].qs[j];
    acc +=
        static_cast<float>(isum[0]) * (sb.scale[0] * xq[b].d) + static_cast<float>(isum[1]) * (sb.scale[1] * xq[b].d);
    acc += sb.offset * (T == DType::kQ4_1 || T == DType::kQ5_1 ? xq[b].s16 : xq[b].d_sum);
  }
  return acc;
}

template <DType T, std::size_t R, std::size_t TT>
HWY_INLINE void dot_blocks_tile(const ActBlock* xq, std::size_t nb, const std::byte* w, std::size_t row_bytes,
                                std::size_t rows, std::size_t tokens, float* out) {
  for (std::size_t t = 0; t < tokens; ++t) {
    for (std::size_t r = 0; r < rows; ++r) out[t * R + r] = dot_blocks<T>(xq + t * nb, w + r * row_bytes, nb);
  }
}
#endif

// Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K: tiles of four rows by four tokens (one token when decoding).
template <DType T>
void GemvBlocksT(const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
                 const float* bias, float* out, std::size_t m) {
  constexpr std::size_t R = 4, TT = 4;
  const std::size_t nb = k / kQuantBlock;
  const std::size_t row_bytes = k / block_elems(T) * quant_block_bytes(T);
  float tile[R * TT];
  for (std::size_t i = 0; i < n; i += TT) {
    const std::size_t tokens = std::min(TT, n - i);
    for (std::size_t r = r0; r < r1; r += R) {
      const std::size_t rows = std::min(R, r1 - r);
      if (tokens == 1) {
        for (std::size_t g = 0; g < rows; ++g) {
          dot_blocks_tile<T, 1, 1>(xq + i * nb, nb, w + (r + g) * row_bytes, row_bytes, 1, 1, tile + g);
        }
      } else {
        dot_blocks_tile<T, R, TT>(xq + i * nb, nb, w + r * row_bytes, row_bytes, rows, tokens, tile);
      }
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t g = 0; g < rows; ++g) out[(i + t) * m + r + g] = tile[t * R + g] + (bias ? bias[r + g] : 0.0f);
      }
    }
  }
}

void GemvQuant(DType dtype, bool interleaved, const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w,
               std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m) {
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  if (interleaved) return GemvQuantT<DType::kQ4_0, true>(xq, n, k, w, r0, r1, bias, out, m);
#else
  (void)interleaved;  // has_interleaved_q4_0() is false: callers never set it
#endif
#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3
  // Prefill in tiles (the same bits per element as decode's four-row kernel).
  if (dtype == DType::kQ8_0 && n > 1) return GemvBlocksT<DType::kQ8_0>(xq, n, k, w, r0, r1, bias, out, m);
#endif
  if (dtype == DType::kQ8_0) return GemvQuantT<DType::kQ8_0>(xq, n, k, w, r0, r1, bias, out, m);
  if (dtype == DType::kQ4_0) return GemvQuantT<DType::kQ4_0>(xq, n, k, w, r0, r1, bias, out, m);
  switch (dtype) {
    case DType::kQ4_1: return GemvBlocksT<DType::kQ4_1>(xq, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_0: return GemvBlocksT<DType::kQ5_0>(xq, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_1: return GemvBlocksT<DType::kQ5_1>(xq, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_K: return GemvBlocksT<DType::kQ4_K>(xq, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_K: return GemvBlocksT<DType::kQ5_K>(xq, n, k, w, r0, r1, bias, out, m);
    case DType::kQ6_K: return GemvBlocksT<DType::kQ6_K>(xq, n, k, w, r0, r1, bias, out, m);
    default: return;
  }
}

bool Int8Vnni() {
  return HWY_TARGET == HWY_AVX3 && vnni::available();
}

bool HasInterleavedQ4_0() {
  return HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3;
}

// ----------------------------------------------------------------------------------------------- vector helpers

void SumRows(const float* rows, std::size_t n_rows, std::size_t m, std::size_t j0, std::size_t j1, const float* bias,
             float* out) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  std::size_t j = j0;
  for (; j + L <= j1; j += L) {
    auto v = bias ? hn::LoadU(df, bias + j) : hn::Zero(df);
    for (std::size_t r = 0; r < n_rows; ++r) v = hn::Add(v, hn::LoadU(df, rows + r * m + j));
    hn::StoreU(v, df, out + j);
  }
  for (; j < j1; ++j) {
    float v = bias ? bias[j] : 0.0f;
    for (std::size_t r = 0; r < n_rows; ++r) v += rows[r * m + j];
    out[j] = v;
  }
}

// Per block, as ggml's AVX2 quantize_row_q8_0/q8_1 (so greedy tokens follow llama.cpp's): amax, d = amax / 127 (kept
// rounded to F16), q = x * (127 / amax) rounded to nearest, ties to even (std::nearbyint in the reference).
void QuantizeAct(const float* x, std::size_t k, ActBlock* out) {
  const hn::CappedTag<float, kQuantBlock> df;  // a block per loop, whatever the vector length (SVE up to 2048 bits)
  const hn::RebindToSigned<decltype(df)> di;
  const hn::Rebind<std::int8_t, decltype(df)> d8;
  const std::size_t L = hn::Lanes(df);
  for (std::size_t b = 0; b < k / kQuantBlock; ++b) {
    const float* xb = x + b * kQuantBlock;
    auto vmax = hn::Zero(df);
    // x * 0 is 0 for finite x and NaN for NaN or infinity: summed, it marks a block with a non-finite value. Max
    // and the int8 conversion would otherwise turn NaN into finite garbage, and a broken weight upstream would
    // give plausible text; a NaN scale makes every dot product with this block NaN, so the logits show it.
    auto vbad = hn::Zero(df);
    for (std::size_t j = 0; j < kQuantBlock; j += L) {
      const auto v = hn::LoadU(df, xb + j);
      vmax = hn::Max(vmax, hn::Abs(v));
      vbad = hn::MulAdd(v, hn::Zero(df), vbad);
    }
    const float amax = hn::GetLane(hn::MaxOfLanes(df, vmax));
    const float bad = hn::GetLane(hn::SumOfLanes(df, vbad));
    const float d = amax / 127.0f + bad;
    // A non-finite block quantizes to zeros (NaN or infinite lanes would convert to INT_MIN/INT_MAX and overflow
    // the integer sum below); its NaN scale carries the verdict.
    const bool finite = bad == 0.0f;
    const auto id = hn::Set(df, amax != 0.0f && finite ? 127.0f / amax : 0.0f);
    auto sum = hn::Zero(di);
    for (std::size_t j = 0; j < kQuantBlock; j += L) {
      const auto v = finite ? hn::LoadU(df, xb + j) : hn::Zero(df);
      const auto q = hn::ConvertTo(di, hn::Round(hn::Mul(v, id)));
      sum = hn::Add(sum, q);
      hn::StoreU(hn::DemoteTo(d8, q), d8, out[b].qs + j);
    }
    // The scale as ggml's block_q8_0 / block_q8_1 store it (F16), so products match llama.cpp's.
    const float d16 = f16_to_f32(f32_to_f16(d));
    const auto qsum = static_cast<float>(hn::GetLane(hn::SumOfLanes(di, sum)));
    out[b].d = d16;
    out[b].d_sum = d16 * qsum;
    out[b].s16 = f16_to_f32(f32_to_f16(d * qsum));
  }
}

// q.k with four vector accumulators over steps of four vectors, joined as (0 + 2) + (1 + 3) and summed across the
// lanes, the rest added in double: the order of ggml's F32 dot product, which llama.cpp's attention runs for q.k,
// so that edge-rt's scores of a GGUF model stay close to llama.cpp's (issue 15: top-1 agreement).
float DotAttn(const float* a, const float* b, std::size_t n) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  std::size_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L) {
    s0 = hn::MulAdd(hn::LoadU(df, a + i), hn::LoadU(df, b + i), s0);
    s1 = hn::MulAdd(hn::LoadU(df, a + i + L), hn::LoadU(df, b + i + L), s1);
    s2 = hn::MulAdd(hn::LoadU(df, a + i + 2 * L), hn::LoadU(df, b + i + 2 * L), s2);
    s3 = hn::MulAdd(hn::LoadU(df, a + i + 3 * L), hn::LoadU(df, b + i + 3 * L), s3);
  }
  double sum = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(s0, s2), hn::Add(s1, s3))));
  for (; i < n; ++i) sum += static_cast<double>(a[i] * b[i]);
  return static_cast<float>(sum);
}

void AttnScores(const float* q, const float* k, std::size_t stride, std::size_t n_keys, std::size_t hd, float scale,
                float* scores) {
  for (std::size_t p = 0; p < n_keys; ++p) scores[p] = DotAttn(q, k + p * stride, hd) * scale;
}

// out[j] = sum over keys p of probs[p] * v[p][j], summed as a GEMM with one vector of keys per step sums them
// (llama.cpp's tinyBLAS for the attention's values): key p in lane p % L of a partial sum that takes its keys in
// order with one fused multiply-add each, then the L partial sums halved pairwise (lane i + lane i + L/2, ...), the
// order of a lane sum. Partial sums per residue go over the columns in blocks of four vectors kept in registers.
void AttnValues(const float* probs, const float* v, std::size_t stride, std::size_t n_keys, std::size_t hd,
                float* out) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  thread_local std::vector<float> partial;
  if (partial.size() < L * hd) partial.resize(L * hd);
  for (std::size_t r = 0; r < L; ++r) {
    float* pr = partial.data() + r * hd;
    std::size_t j = 0;
    for (; j + 4 * L <= hd; j += 4 * L) {
      auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
      for (std::size_t p = r; p < n_keys; p += L) {
        const float* row = v + p * stride + j;
        const auto w = hn::Set(df, probs[p]);
        a0 = hn::MulAdd(w, hn::LoadU(df, row), a0);
        a1 = hn::MulAdd(w, hn::LoadU(df, row + L), a1);
        a2 = hn::MulAdd(w, hn::LoadU(df, row + 2 * L), a2);
        a3 = hn::MulAdd(w, hn::LoadU(df, row + 3 * L), a3);
      }
      hn::StoreU(a0, df, pr + j);
      hn::StoreU(a1, df, pr + j + L);
      hn::StoreU(a2, df, pr + j + 2 * L);
      hn::StoreU(a3, df, pr + j + 3 * L);
    }
    for (; j + L <= hd; j += L) {
      auto a = hn::Zero(df);
      for (std::size_t p = r; p < n_keys; p += L)
        a = hn::MulAdd(hn::Set(df, probs[p]), hn::LoadU(df, v + p * stride + j), a);
      hn::StoreU(a, df, pr + j);
    }
    for (; j < hd; ++j) {
      float a = 0.0f;
      for (std::size_t p = r; p < n_keys; p += L) a = std::fma(probs[p], v[p * stride + j], a);
      pr[j] = a;
    }
  }
  for (std::size_t half = L / 2; half >= 1; half /= 2) {
    for (std::size_t i = 0; i < half; ++i) {
      float* to = partial.data() + i * hd;
      const float* from = partial.data() + (i + half) * hd;
      for (std::size_t j = 0; j < hd; ++j) to[j] = from[j] + to[j];
    }
  }
  std::copy(partial.data(), partial.data() + hd, out);
}

// Whole vectors only (the last one masked), each summed across its lanes and added in double, as ggml's soft_max
// sums a row whose masked keys are zeros: the order keeps edge-rt's probabilities close to llama.cpp's.
double ExpShifted(float* x, std::size_t n, float max) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const auto vmax = hn::Set(df, max);
  double sum = 0.0;
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    const auto e = hn::Exp(df, hn::Sub(hn::LoadU(df, x + i), vmax));
    hn::StoreU(e, df, x + i);
    sum += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, e)));
  }
  if (i < n) {  // the last vector, zeros past the end
    HWY_ALIGN float tail[hn::MaxLanes(df)] = {};
    std::copy(x + i, x + n, tail);
    const auto e = hn::IfThenElseZero(hn::FirstN(df, n - i), hn::Exp(df, hn::Sub(hn::Load(df, tail), vmax)));
    hn::Store(e, df, tail);
    std::copy(tail, tail + (n - i), x + i);
    sum += static_cast<double>(hn::GetLane(hn::SumOfLanes(df, e)));
  }
  return sum;
}

void Scale(float* x, std::size_t n, float s) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const auto vs = hn::Set(df, s);
  std::size_t i = 0;
  for (; i + L <= n; i += L) hn::StoreU(hn::Mul(hn::LoadU(df, x + i), vs), df, x + i);
  for (; i < n; ++i) x[i] *= s;
}

void GeluTanh(float* x, std::size_t n) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const auto half = hn::Set(df, 0.5f);
  const auto one = hn::Set(df, 1.0f);
  const auto k0 = hn::Set(df, 0.7978845608028654f);
  const auto k1 = hn::Set(df, 0.044715f);
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    const auto v = hn::LoadU(df, x + i);
    const auto inner = hn::Mul(k0, hn::MulAdd(hn::Mul(k1, hn::Mul(v, v)), v, v));
    hn::StoreU(hn::Mul(hn::Mul(half, v), hn::Add(one, hn::Tanh(df, inner))), df, x + i);
  }
  for (; i < n; ++i) {
    const float v = x[i];
    x[i] = 0.5f * v * (1.0f + std::tanh(0.7978845608028654f * (v + 0.044715f * v * v * v)));
  }
}

void Swiglu(float* gate, const float* up, std::size_t n) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  const auto one = hn::Set(df, 1.0f);
  std::size_t i = 0;
  for (; i + L <= n; i += L) {
    const auto g = hn::LoadU(df, gate + i);
    const auto silu = hn::Div(g, hn::Add(one, hn::Exp(df, hn::Neg(g))));
    hn::StoreU(hn::Mul(silu, hn::LoadU(df, up + i)), df, gate + i);
  }
  for (; i < n; ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

float ReadSum(const float* p, std::size_t n) {
  const DF df;
  const std::size_t L = hn::Lanes(df);
  auto s0 = hn::Zero(df), s1 = hn::Zero(df), s2 = hn::Zero(df), s3 = hn::Zero(df);
  auto s4 = hn::Zero(df), s5 = hn::Zero(df), s6 = hn::Zero(df), s7 = hn::Zero(df);
  for (std::size_t i = 0; i + 8 * L <= n; i += 8 * L) {
    s0 = hn::Add(s0, hn::Load(df, p + i));
    s1 = hn::Add(s1, hn::Load(df, p + i + L));
    s2 = hn::Add(s2, hn::Load(df, p + i + 2 * L));
    s3 = hn::Add(s3, hn::Load(df, p + i + 3 * L));
    s4 = hn::Add(s4, hn::Load(df, p + i + 4 * L));
    s5 = hn::Add(s5, hn::Load(df, p + i + 5 * L));
    s6 = hn::Add(s6, hn::Load(df, p + i + 6 * L));
    s7 = hn::Add(s7, hn::Load(df, p + i + 7 * L));
  }
  const auto a = hn::Add(hn::Add(s0, s1), hn::Add(s2, s3));
  const auto b = hn::Add(hn::Add(s4, s5), hn::Add(s6, s7));
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(a, b)));
}

float FmaChains(std::size_t iterations) {
  const DF df;
  const auto m = hn::Set(df, 0.999999f);
  const auto a = hn::Set(df, 1e-7f);
  auto c0 = hn::Set(df, 1.0f), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
  auto c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
  for (std::size_t i = 0; i < iterations; ++i) {
    c0 = hn::MulAdd(c0, m, a);
    c1 = hn::MulAdd(c1, m, a);
    c2 = hn::MulAdd(c2, m, a);
    c3 = hn::MulAdd(c3, m, a);
    c4 = hn::MulAdd(c4, m, a);
    c5 = hn::MulAdd(c5, m, a);
    c6 = hn::MulAdd(c6, m, a);
    c7 = hn::MulAdd(c7, m, a);
    c8 = hn::MulAdd(c8, m, a);
    c9 = hn::MulAdd(c9, m, a);
    c10 = hn::MulAdd(c10, m, a);
    c11 = hn::MulAdd(c11, m, a);
  }
  const auto s = hn::Add(hn::Add(hn::Add(c0, c1), hn::Add(c2, c3)), hn::Add(hn::Add(c4, c5), hn::Add(c6, c7)));
  return hn::GetLane(hn::SumOfLanes(df, hn::Add(s, hn::Add(hn::Add(c8, c9), hn::Add(c10, c11)))));
}

const char* TargetName() {
  return hwy::TargetName(HWY_TARGET);
}

std::size_t FloatLanes() {
  return hn::Lanes(DF());
}

}  // namespace HWY_NAMESPACE
}  // namespace edge_rt::backend::cpu::simd
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace edge_rt::backend::cpu::simd {

HWY_EXPORT(GemvRows);
HWY_EXPORT(GemvInOut);
HWY_EXPORT(SumRows);
HWY_EXPORT(Gemm);
HWY_EXPORT(GemvQuant);
HWY_EXPORT(HasInterleavedQ4_0);
HWY_EXPORT(Int8Vnni);
HWY_EXPORT(QuantizeAct);
HWY_EXPORT(AttnScores);
HWY_EXPORT(AttnValues);
HWY_EXPORT(ExpShifted);
HWY_EXPORT(Scale);
HWY_EXPORT(GeluTanh);
HWY_EXPORT(Swiglu);
HWY_EXPORT(TargetName);
HWY_EXPORT(ReadSum);
HWY_EXPORT(FmaChains);

float read_sum(const float* p, std::size_t n) {
  return HWY_DYNAMIC_DISPATCH(ReadSum)(p, n);
}
float fma_chains(std::size_t iterations) {
  return HWY_DYNAMIC_DISPATCH(FmaChains)(iterations);
}
HWY_EXPORT(FloatLanes);

const char* target_name() {
  return HWY_DYNAMIC_DISPATCH(TargetName)();
}
std::size_t float_lanes() {
  return HWY_DYNAMIC_DISPATCH(FloatLanes)();
}
void gemv_rows(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
               const float* bias, float* out) {
  HWY_DYNAMIC_DISPATCH(GemvRows)(dtype, x, k, w, r0, r1, bias, out);
}
void gemv_in_out(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t m, float* out) {
  HWY_DYNAMIC_DISPATCH(GemvInOut)(dtype, x, k, w, m, out);
}
void sum_rows(const float* rows, std::size_t n_rows, std::size_t m, std::size_t j0, std::size_t j1, const float* bias,
              float* out) {
  HWY_DYNAMIC_DISPATCH(SumRows)(rows, n_rows, m, j0, j1, bias, out);
}
void gemm(DType dtype, const float* x, std::size_t n, std::size_t k, const std::byte* w, bool in_out, std::size_t m,
          std::size_t j0, std::size_t j1, const float* bias, float* out, float* pack) {
  HWY_DYNAMIC_DISPATCH(Gemm)(dtype, x, n, k, w, in_out, m, j0, j1, bias, out, pack);
}
void gemv_quant(DType dtype, bool interleaved, const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w,
                std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m) {
  HWY_DYNAMIC_DISPATCH(GemvQuant)(dtype, interleaved, xq, n, k, w, r0, r1, bias, out, m);
}
bool int8_vnni() {
  return HWY_DYNAMIC_DISPATCH(Int8Vnni)();
}

bool has_interleaved_q4_0() {
  return HWY_DYNAMIC_DISPATCH(HasInterleavedQ4_0)();
}
void quantize_act(const float* x, std::size_t k, ActBlock* out) {
  HWY_DYNAMIC_DISPATCH(QuantizeAct)(x, k, out);
}
void attn_scores(const float* q, const float* k, std::size_t stride, std::size_t n_keys, std::size_t hd, float scale,
                 float* scores) {
  HWY_DYNAMIC_DISPATCH(AttnScores)(q, k, stride, n_keys, hd, scale, scores);
}
void attn_values(const float* probs, const float* v, std::size_t stride, std::size_t n_keys, std::size_t hd,
                 float* out) {
  HWY_DYNAMIC_DISPATCH(AttnValues)(probs, v, stride, n_keys, hd, out);
}
double exp_shifted(float* x, std::size_t n, float max) {
  return HWY_DYNAMIC_DISPATCH(ExpShifted)(x, n, max);
}
void scale(float* x, std::size_t n, float s) {
  HWY_DYNAMIC_DISPATCH(Scale)(x, n, s);
}
void gelu_tanh(float* x, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(GeluTanh)(x, n);
}
void swiglu(float* gate, const float* up, std::size_t n) {
  HWY_DYNAMIC_DISPATCH(Swiglu)(gate, up, n);
}

}  // namespace edge_rt::backend::cpu::simd
#endif  // HWY_ONCE
