// AVX-512 VNNI integer GEMM tiles (vnni_kernels.hpp). Layouts are ggml's (ggml-common.h), as in
// tensor_core::decode_sub_block, which the reference kernels use.
//
// Row layout: one step is one 32-value sub-block of two rows, which become 64 unsigned bytes u (q = u - bias; row a
// in bytes 0-31, row b in 32-63) and meet the token's 32 activations broadcast to both halves. vpdpbusd adds u * x
// over each lane's four values onto ActVnni::init (-bias * sum x), so each int32 lane is exact; the lanes become
// floats and meet scale_w * d_x (one scale per 16 values for Q6_K, per 32 otherwise) in a fused multiply-add. Each
// row so keeps ggml's order: 8 lanes per block, blocks in order, then ggml's 8-lane sum, and a min's term
// (offset_w * sum term) in its own accumulator, added last. That order matters: 8-bit activations turn ulp
// differences into flips of one integer, which SmolLM2's logits showed as 0.1-0.3 off llama.cpp's with 16 lanes.
// A tile of four rows x TT tokens unpacks each sub-block once for TT tokens.
//
// Interleaved layout (Q4_0, Q5_0, Q8_0, Q4_K, Q5_K, Q6_K; see tile16): 16 rows per vector, one per lane, which
// spends the float work once per 16 rows and reads each tile as one stream.
#include "vnni_kernels.hpp"

#include <edge_rt/backend/cpu/kernels.hpp>
#include <edge_rt/tensor_core/dtype.hpp>

#include <algorithm>
#include <cstring>
#include <utility>
#include <vector>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EDGE_RT_VNNI_KERNELS 1
#else
#define EDGE_RT_VNNI_KERNELS 0
#endif

namespace edge_rt::backend::cpu::vnni {

namespace {

// The unsigned bias the unpacked weights carry: Q8_0's signed bytes are read + 128 (xor 0x80).
constexpr int bias_of(DType dtype) noexcept {
  switch (dtype) {
    case DType::kQ4_0: return 8;
    case DType::kQ5_0: return 16;
    case DType::kQ6_K: return 32;
    case DType::kQ8_0: return 128;
    default: return 0;
  }
}

// Q4_1/Q5_1's min meets ggml's Q8_1 sum term (F16); the K-quants' min meets the integer sum (d * sum qs).
constexpr bool q8_1_sum(DType dtype) noexcept {
  return dtype == DType::kQ4_1 || dtype == DType::kQ5_1;
}

}  // namespace

bool available() noexcept {
#if EDGE_RT_VNNI_KERNELS
  static const bool ok = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

void pack_act(DType dtype, const simd::ActBlock* xq, std::size_t nb, ActVnni* out) {
  const int bias = bias_of(dtype);
  for (std::size_t b = 0; b < nb; ++b) {
    const simd::ActBlock& x = xq[b];
    ActVnni& a = out[b];
    std::memcpy(a.qs, x.qs, sizeof a.qs);
    std::int32_t half[2] = {0, 0};
    for (std::size_t i = 0; i < 8; ++i) {
      const std::int32_t four = x.qs[4 * i] + x.qs[4 * i + 1] + x.qs[4 * i + 2] + x.qs[4 * i + 3];
      a.init[i] = -bias * four;
      half[i / 4] += four;
    }
    a.init_half[0] = -bias * half[0];
    a.init_half[1] = -bias * half[1];
    a.init_sum = -bias * (half[0] + half[1]);
    a.d = x.d;
    a.sum = q8_1_sum(dtype) ? x.s16 : x.d_sum;
  }
}

#if EDGE_RT_VNNI_KERNELS
// Everything below is compiled for AVX-512 + VNNI. Only this file's own functions are: every header is included
// above, so no inline function shared with other files is built with these instructions.
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
// GCC 12's AVX-512 intrinsics pass _mm512_undefined_*() as the unused merge source and warn about it where they are
// inlined (GCC bug 105593, fixed in 13).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

namespace {

template <DType T>
constexpr bool kHasOffset = T == DType::kQ4_1 || T == DType::kQ5_1 || T == DType::kQ4_K || T == DType::kQ5_K;

std::uint16_t u16_at(const std::byte* p) {
  std::uint16_t h;
  std::memcpy(&h, p, 2);
  return h;
}

__m128i load128(const std::byte* p) {
  return _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
}

__m256i load256(const std::byte* p) {
  return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
}

// a in bytes 0-31, b in 32-63.
__m512i join(__m256i a, __m256i b) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
}

// Lanes 0-7 a, lanes 8-15 b.
__m512 join_ps(float a, float b) {
  return _mm512_insertf32x8(_mm512_set1_ps(a), _mm256_set1_ps(b), 1);
}

// The 16 nibble bytes of each of two 32-value blocks: block a's low nibbles (values 0-15), its high nibbles
// (16-31), then block b's.
__m512i nibbles2(__m128i a, __m128i b) {
  const __m512i z = join(_mm256_set_m128i(a, a), _mm256_set_m128i(b, b));
  return _mm512_and_si512(_mm512_mask_srli_epi16(z, 0xff00ff00u, z, 4), _mm512_set1_epi8(0x0f));
}

// Block a and block b (of two rows) of a 32-value format as 64 unsigned bytes.
template <DType T>
__m512i unpack2(const std::byte* a, const std::byte* b) {
  if constexpr (T == DType::kQ8_0) {
    return _mm512_xor_si512(join(load256(a + 2), load256(b + 2)), _mm512_set1_epi8(static_cast<char>(0x80)));
  } else if constexpr (T == DType::kQ4_0 || T == DType::kQ4_1) {
    constexpr std::size_t kQs = T == DType::kQ4_0 ? 2 : 4;
    return nibbles2(load128(a + kQs), load128(b + kQs));
  } else {  // Q5_0, Q5_1: bit j of qh is value j's fifth bit
    constexpr std::size_t kQh = T == DType::kQ5_0 ? 2 : 4;
    std::uint32_t ha, hb;
    std::memcpy(&ha, a + kQh, 4);
    std::memcpy(&hb, b + kQh, 4);
    const __m512i u = nibbles2(load128(a + kQh + 4), load128(b + kQh + 4));
    const __mmask64 high = _cvtu64_mask64(std::uint64_t{ha} | (std::uint64_t{hb} << 32));
    return _mm512_mask_add_epi8(u, high, u, _mm512_set1_epi8(16));
  }
}

// Sub-block s of K-quant blocks a and b (of two rows) as 64 unsigned bytes.
template <DType T>
__m512i unpack_k2(const std::byte* a, const std::byte* b, std::size_t s) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
    // 32 bytes hold sub-block 2q in the low nibbles and 2q + 1 in the high ones.
    constexpr std::size_t kQs = T == DType::kQ4_K ? 16 : 48;
    const std::size_t at = kQs + 32 * (s / 2);
    __m512i q = join(load256(a + at), load256(b + at));
    if (s % 2 != 0) q = _mm512_srli_epi16(q, 4);
    __m512i u = _mm512_and_si512(q, low4);
    if constexpr (T == DType::kQ5_K) {  // bit s of qh[j] is value j of sub-block s's fifth bit
      const __mmask64 high =
          _mm512_test_epi8_mask(join(load256(a + 16), load256(b + 16)), _mm512_set1_epi8(static_cast<char>(1u << s)));
      u = _mm512_mask_add_epi8(u, high, u, _mm512_set1_epi8(16));
    }
    return u;
  } else {  // Q6_K: sub-block s is quarter s % 4 of half s / 4
    const std::size_t half = s / 4, quarter = s % 4;
    const std::size_t at = 64 * half + (quarter & 1) * 32;
    __m512i low = join(load256(a + at), load256(b + at));
    if (quarter >= 2) low = _mm512_srli_epi16(low, 4);
    const __m512i qh = join(load256(a + 128 + 32 * half), load256(b + 128 + 32 * half));
    const __m512i high = _mm512_srl_epi16(qh, _mm_cvtsi32_si128(static_cast<int>(2 * quarter)));
    return _mm512_or_si512(_mm512_and_si512(low, low4),
                           _mm512_slli_epi16(_mm512_and_si512(high, _mm512_set1_epi8(3)), 4));
  }
}

// A K-quant block's scales, one per sub-block (Q4_K/Q5_K: scale[0..7]) or per 16 values (Q6_K: scale[0..15]), and
// Q4_K/Q5_K's offsets, one per sub-block (zero for Q6_K).
template <DType T>
void k_scales(const std::byte* blk, float* scale, float* offset) {
  if constexpr (T == DType::kQ6_K) {
    const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(blk + 192)));
    _mm512_storeu_ps(scale, _mm512_mul_ps(sc, _mm512_set1_ps(_cvtsh_ss(u16_at(blk + 208)))));
    std::fill(offset, offset + 8, 0.0f);
  } else {
    const float d = _cvtsh_ss(u16_at(blk)), dmin = _cvtsh_ss(u16_at(blk + 2));
    const auto* q = reinterpret_cast<const std::uint8_t*>(blk + 4);
    for (std::size_t j = 0; j < 8; ++j) {
      const int sc = j < 4 ? q[j] & 63 : (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
      const int m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
      scale[j] = d * static_cast<float>(sc);
      offset[j] = -(dmin * static_cast<float>(m));
    }
  }
}

// ggml's hsum_float_8: the upper half onto the lower, then pairs, then the last two.
float hsum8(__m256 x) {
  __m128 r = _mm_add_ps(_mm256_extractf128_ps(x, 1), _mm256_castps256_ps128(x));
  r = _mm_add_ps(r, _mm_movehl_ps(r, r));
  r = _mm_add_ss(r, _mm_movehdup_ps(r));
  return _mm_cvtss_f32(r);
}

// Rows of a tile; two per vector.
constexpr std::size_t kRows = 4;

// One sub-block of the tile's rows for each of its tokens: u, sw for rows (0, 1) and (2, 3); o the four rows'
// offsets (formats with a min).
template <DType T, std::size_t TT>
inline __attribute__((always_inline)) void step(const ActVnni* const (&xt)[TT], std::size_t sb, const __m512i (&u)[2],
                                                const __m512 (&sw)[2], __m128 o, __m512 (&acc)[2][TT],
                                                __m128 (&corr)[TT]) {
#pragma GCC unroll 8
  for (std::size_t t = 0; t < TT; ++t) {
    const ActVnni& x = xt[t][sb];
    const __m512i xs = _mm512_broadcast_i64x4(_mm256_load_si256(reinterpret_cast<const __m256i*>(x.qs)));
    const __m512i init = bias_of(T) != 0
                             ? _mm512_broadcast_i64x4(_mm256_load_si256(reinterpret_cast<const __m256i*>(x.init)))
                             : _mm512_setzero_si512();
    const __m512 d = _mm512_set1_ps(x.d);
    for (std::size_t h = 0; h < 2; ++h) {
      const __m512i dot = _mm512_dpbusd_epi32(init, u[h], xs);
      acc[h][t] = _mm512_fmadd_ps(_mm512_mul_ps(sw[h], d), _mm512_cvtepi32_ps(dot), acc[h][t]);
    }
    if constexpr (kHasOffset<T>) corr[t] = _mm_fmadd_ps(o, _mm_set1_ps(x.sum), corr[t]);
  }
}

// The tile's rows are one contiguous range, read as four short streams that the hardware prefetcher does not
// follow (a SmolLM2 row is 10 cache lines): each step fetches as much of the next tile's range, which starts at
// `next`, as it consumes of its own. Prefetching ahead within each row instead halved decode speed.
template <std::size_t StepBytes>
inline __attribute__((always_inline)) void prefetch_next_tile(const std::byte* next, std::size_t consumed) {
#pragma GCC unroll 16
  for (std::size_t at = 0; at < StepBytes; at += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(next + consumed + at), _MM_HINT_T0);
  }
}

// out[t * kRows + r] for `rows` (1..4) rows of w from `w` and `tokens` (1..TT) rows of xv (nb blocks each); missing
// ones repeat the last and are not stored by the caller.
template <DType T, std::size_t TT>
void tile(const ActVnni* xv, std::size_t nb, const std::byte* w, std::size_t row_bytes, std::size_t rows,
          std::size_t tokens, float* out) {
  constexpr std::size_t kBytes = quant_block_bytes(T);
  const std::byte* wr[kRows];
  for (std::size_t r = 0; r < kRows; ++r) wr[r] = w + std::min(r, rows - 1) * row_bytes;
  const ActVnni* xt[TT];
  for (std::size_t t = 0; t < TT; ++t) xt[t] = xv + std::min(t, tokens - 1) * nb;
  __m512 acc[2][TT];
  __m128 corr[TT];
  for (std::size_t t = 0; t < TT; ++t) {
    acc[0][t] = acc[1][t] = _mm512_setzero_ps();
    corr[t] = _mm_setzero_ps();
  }
  __m512i u[2];
  __m512 sw[2];
  __m128 o = _mm_setzero_ps();
  if constexpr (is_k_quant(T)) {
    constexpr std::size_t kSub = kSuperBlock / kQuantBlock;
    for (std::size_t b = 0; b < nb / kSub; ++b) {
      float sc[kRows][16], off[kRows][8];
      const std::byte* blk[kRows];
      for (std::size_t r = 0; r < kRows; ++r) {
        blk[r] = wr[r] + b * kBytes;
        k_scales<T>(blk[r], sc[r], off[r]);
      }
      for (std::size_t s = 0; s < kSub; ++s) {
        // Spread over the block: a burst of a whole block's lines fills the miss buffers and stalls.
        prefetch_next_tile<kRows * kBytes / kSub>(w + kRows * row_bytes, (b * kSub + s) * (kRows * kBytes / kSub));
        for (std::size_t h = 0; h < 2; ++h) {
          u[h] = unpack_k2<T>(blk[2 * h], blk[2 * h + 1], s);
          if constexpr (T == DType::kQ6_K) {  // a scale per 16 values: four lanes each
            const __m128 four =
                _mm_setr_ps(sc[2 * h][2 * s], sc[2 * h][2 * s + 1], sc[2 * h + 1][2 * s], sc[2 * h + 1][2 * s + 1]);
            sw[h] = _mm512_permutexvar_ps(_mm512_set_epi32(3, 3, 3, 3, 2, 2, 2, 2, 1, 1, 1, 1, 0, 0, 0, 0),
                                          _mm512_castps128_ps512(four));
          } else {
            sw[h] = join_ps(sc[2 * h][s], sc[2 * h + 1][s]);
          }
        }
        if constexpr (kHasOffset<T>) o = _mm_setr_ps(off[0][s], off[1][s], off[2][s], off[3][s]);
        step<T, TT>(xt, b * kSub + s, u, sw, o, acc, corr);
      }
    }
  } else {
    for (std::size_t b = 0; b < nb; ++b) {
      prefetch_next_tile<kRows * kBytes>(w + kRows * row_bytes, b * kRows * kBytes);
      alignas(16) std::uint16_t mins[kRows];
      for (std::size_t h = 0; h < 2; ++h) {
        const std::byte* a = wr[2 * h] + b * kBytes;
        const std::byte* c = wr[2 * h + 1] + b * kBytes;
        u[h] = unpack2<T>(a, c);
        sw[h] = _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(u16_at(c))),
                                                 _mm_set1_epi16(static_cast<short>(u16_at(a)))));
        if constexpr (kHasOffset<T>) {
          mins[2 * h] = u16_at(a + 2);
          mins[2 * h + 1] = u16_at(c + 2);
        }
      }
      if constexpr (kHasOffset<T>) {
        std::uint64_t four;
        std::memcpy(&four, mins, 8);
        o = _mm_cvtph_ps(_mm_cvtsi64_si128(static_cast<long long>(four)));
      }
      step<T, TT>(xt, b, u, sw, o, acc, corr);
    }
  }
  for (std::size_t t = 0; t < TT; ++t) {
    alignas(16) float c[4];
    _mm_store_ps(c, corr[t]);
    for (std::size_t r = 0; r < kRows; ++r) {
      const __m512 a = acc[r / 2][t];
      const __m256 half = r % 2 == 0 ? _mm512_castps512_ps256(a) : _mm512_extractf32x8_ps(a, 1);
      out[t * kRows + r] = hsum8(half) + c[r];
    }
  }
}

// Tiles of four rows by eight tokens, one token when decoding (the same operations per element).
template <DType T>
void gemv_t(const ActVnni* xv, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
            const float* bias, float* out, std::size_t m) {
  constexpr std::size_t TT = 8;
  const std::size_t nb = k / kQuantBlock;
  const std::size_t bytes = row_bytes(T, k);
  float result[kRows * TT];
  for (std::size_t i = 0; i < n; i += TT) {
    const std::size_t tokens = std::min(TT, n - i);
    for (std::size_t r = r0; r < r1; r += kRows) {
      const std::size_t rows = std::min(kRows, r1 - r);
      if (tokens == 1) {
        tile<T, 1>(xv + i * nb, nb, w + r * bytes, bytes, rows, 1, result);
      } else {
        tile<T, TT>(xv + i * nb, nb, w + r * bytes, bytes, rows, tokens, result);
      }
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t g = 0; g < rows; ++g) {
          out[(i + t) * m + r + g] = result[t * kRows + g] + (bias != nullptr ? bias[r + g] : 0.0f);
        }
      }
    }
  }
}

// Four activation bytes in every 32-bit lane.
__m512i word(const std::int8_t* q) {
  std::int32_t v;
  std::memcpy(&v, q, 4);
  return _mm512_set1_epi32(v);
}

// Interleaved by 16 rows (interleave_rows, interleave_layout): one record per block of 16 rows, their F16 scales
// (32 bytes), then each word run (64 bytes: 4 bytes of each row, row g in 32-bit lane g). A 512-bit vector so holds
// 16 rows, one per lane: each activation word is a broadcast, the scales and float work are one vector operation for
// 16 rows (the row layout spends one per two rows and 32 values), and a tile reads one contiguous stream. Each row
// sums its (sub-)blocks' exact integer dots in one float lane. `next`: the next tile, prefetched at the rate this one
// reads its own (the hardware prefetcher lags; without it decode ran at two thirds of the speed).
constexpr std::size_t kGroup = 16;

__m512i load512(const std::byte* p) {
  return _mm512_loadu_si512(p);
}

// 16 F16 values as floats.
__m512 halves16(const std::byte* p) {
  return _mm512_cvtph_ps(load256(p));
}

template <DType T>
constexpr std::size_t kField(std::size_t f) {
  return interleave_layout(T).offset(f, kGroup);
}

// Block b's record p of Q8_0, Q4_0 or Q5_0 (fields d, [qh,] qs): u[w] = values 4w..4w+3 of each row, unsigned;
// returns the rows' scales.
template <DType T>
inline __attribute__((always_inline)) __m512 decode32(const std::byte* p, __m512i (&u)[8]) {
  constexpr InterleaveLayout kRec = interleave_layout(T);
  constexpr std::size_t kQs = kField<T>(kRec.count - 1);                 // the values are the last field
  constexpr std::size_t kWords = kRec.fields[kRec.count - 1].bytes / 4;  // per row: 4 (nibbles) or 8 (Q8_0)
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  for (std::size_t j = 0; j < kWords; ++j) {
    const __m512i v = load512(p + kQs + 64 * j);
    if constexpr (kWords == 4) {  // low nibbles: values 4j.., high ones: 16 + 4j..
      u[j] = _mm512_and_si512(v, low4);
      u[4 + j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);
    } else {
      u[j] = _mm512_xor_si512(v, _mm512_set1_epi8(static_cast<char>(0x80)));
    }
  }
  if constexpr (T == DType::kQ5_0) {  // value e's fifth bit is bit e of the row's qh: byte e / 8, bit e % 8
    const __m512i qh = load512(p + kField<T>(1));
    const __m512i lane_bytes = _mm512_set4_epi32(0x0c0c0c0c, 0x08080808, 0x04040404, 0);
    for (std::size_t w = 0; w < 8; ++w) {
      const std::size_t e = 4 * w;
      const __m512i bytes =
          _mm512_shuffle_epi8(qh, _mm512_add_epi8(lane_bytes, _mm512_set1_epi8(static_cast<char>(e / 8))));
      const __m512i bits = _mm512_set1_epi32(e % 8 == 0 ? 0x08040201 : static_cast<int>(0x80402010u));
      u[w] = _mm512_mask_add_epi8(u[w], _mm512_test_epi8_mask(bytes, bits), u[w], _mm512_set1_epi8(16));
    }
  }
  return halves16(p);
}

// A shift of every 32-bit lane by a count known only at run time.
__m512i srl32(__m512i v, std::size_t count) {
  return _mm512_srl_epi32(v, _mm_cvtsi32_si128(static_cast<int>(count)));
}

// Sub-block s (0..7) of a K-quant record p: u[i] = values 4i..4i+3 of each row, unsigned; the rows' scales, one per
// sub-block (scale[0]) or for Q6_K one per half (scale[h], values 16h..16h+15); Q4_K/Q5_K's offsets (dmin * min).
//  - Q4_K, Q5_K (fields d, dmin, scales, [qh,] qs): the 6-bit scales and mins are decoded in the rows' lanes (three
//    32-bit words per row, as k_scales reads them); qs word 8q + i holds values 4i..4i+3 of sub-block 2q (low
//    nibbles) and 2q + 1 (high nibbles); Q5_K's fifth bit of value j of sub-block s is bit s of qh byte j (qh word i:
//    values 4i..4i+3).
//  - Q6_K (fields d, scales, qh, ql): sub-block s is quarter r = s % 4 of half s / 4: its words i < 8 are ql word
//    16 (s / 4) + 8 (r % 2) + i (low nibbles for r < 2, high ones otherwise) and bits 2r, 2r + 1 of qh word
//    8 (s / 4) + i. Its two scales are int8.
template <DType T>
inline __attribute__((always_inline)) void decode_k(const std::byte* p, std::size_t s, __m512i (&u)[8],
                                                    __m512 (&scale)[2], __m512& offset) {
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  if constexpr (T == DType::kQ6_K) {
    const std::size_t half = s / 4, r = s % 4;
    for (std::size_t i = 0; i < 8; ++i) {
      __m512i low = load512(p + kField<T>(3) + 64 * (16 * half + 8 * (r % 2) + i));
      if (r >= 2) low = _mm512_srli_epi16(low, 4);
      const __m512i high =
          _mm512_srl_epi16(load512(p + kField<T>(2) + 64 * (8 * half + i)), _mm_cvtsi32_si128(static_cast<int>(2 * r)));
      u[i] = _mm512_or_si512(_mm512_and_si512(low, low4),
                             _mm512_slli_epi16(_mm512_and_si512(high, _mm512_set1_epi8(3)), 4));
    }
    const __m512 d = halves16(p + kField<T>(0));
    for (std::size_t h = 0; h < 2; ++h) {  // scale 2s + h: byte (2s + h) % 4 of scale word (2s + h) / 4
      const std::size_t idx = 2 * s + h;
      const __m512i words = load512(p + kField<T>(1) + 64 * (idx / 4));
      const __m512i sc =
          _mm512_srai_epi32(_mm512_sll_epi32(words, _mm_cvtsi32_si128(static_cast<int>(24 - 8 * (idx % 4)))), 24);
      scale[h] = _mm512_mul_ps(_mm512_cvtepi32_ps(sc), d);
    }
    offset = _mm512_setzero_ps();
  } else {
    constexpr std::size_t kQs = kField<T>(T == DType::kQ5_K ? 4 : 3);
    const std::size_t q = s / 2;
    for (std::size_t i = 0; i < 8; ++i) {
      const __m512i v = load512(p + kQs + 64 * (8 * q + i));
      u[i] = _mm512_and_si512(s % 2 == 0 ? v : _mm512_srli_epi16(v, 4), low4);
    }
    if constexpr (T == DType::kQ5_K) {
      const __m512i bit = _mm512_set1_epi8(static_cast<char>(1u << s));
      for (std::size_t i = 0; i < 8; ++i) {
        const __mmask64 high = _mm512_test_epi8_mask(load512(p + kField<T>(3) + 64 * i), bit);
        u[i] = _mm512_mask_add_epi8(u[i], high, u[i], _mm512_set1_epi8(16));
      }
    }
    const __m512i low6 = _mm512_set1_epi32(63), low4w = _mm512_set1_epi32(15), two = _mm512_set1_epi32(3);
    const __m512i s0 = load512(p + kField<T>(2)), s1 = load512(p + kField<T>(2) + 64),
                  s2 = load512(p + kField<T>(2) + 128);
    __m512i sc, m;
    if (s < 4) {
      sc = _mm512_and_si512(srl32(s0, 8 * s), low6);
      m = _mm512_and_si512(srl32(s1, 8 * s), low6);
    } else {
      const std::size_t j = s - 4;
      sc = _mm512_or_si512(_mm512_and_si512(srl32(s2, 8 * j), low4w),
                           _mm512_slli_epi32(_mm512_and_si512(srl32(s0, 8 * j + 6), two), 4));
      m = _mm512_or_si512(_mm512_and_si512(srl32(s2, 8 * j + 4), low4w),
                          _mm512_slli_epi32(_mm512_and_si512(srl32(s1, 8 * j + 6), two), 4));
    }
    scale[0] = scale[1] = _mm512_mul_ps(_mm512_cvtepi32_ps(sc), halves16(p + kField<T>(0)));
    offset = _mm512_mul_ps(_mm512_cvtepi32_ps(m), halves16(p + kField<T>(1)));
  }
}

// Q8_0, Q4_0, Q5_0: per block, each token's dot starts from its -bias * sum x.
template <DType T, std::size_t TT>
void tile16(const ActVnni* xv, std::size_t nb, const std::byte* g, const std::byte* next, std::size_t tokens,
            float* out) {
  constexpr std::size_t kRecord = kGroup * quant_block_bytes(T);
  __m512 acc[TT];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (std::size_t b = 0; b < nb; ++b) {
    const std::byte* p = g + b * kRecord;
    prefetch_next_tile<kRecord>(next, b * kRecord);
    __m512i u[8];
    const __m512 dw = decode32<T>(p, u);
#pragma GCC unroll 8
    for (std::size_t t = 0; t < TT; ++t) {
      const ActVnni& x = xv[std::min(t, tokens - 1) * nb + b];
      __m512i dot = _mm512_set1_epi32(x.init_sum);
      for (std::size_t w = 0; w < 8; ++w) dot = _mm512_dpbusd_epi32(dot, u[w], word(x.qs + 4 * w));
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(x.d)), acc[t]);
    }
  }
  for (std::size_t t = 0; t < TT; ++t) _mm512_storeu_ps(out + kGroup * t, acc[t]);
}

// Q4_K and Q5_K, per sub-block; the mins' terms go to their own accumulator.
template <DType T, std::size_t TT>
void tile16_k(const ActVnni* xv, std::size_t nb, const std::byte* g, const std::byte* next, std::size_t tokens,
              float* out) {
  constexpr std::size_t kRecord = kGroup * quant_block_bytes(T);
  constexpr std::size_t kSub = kSuperBlock / kQuantBlock;
  __m512 acc[TT], corr[TT];
  for (std::size_t t = 0; t < TT; ++t) acc[t] = corr[t] = _mm512_setzero_ps();
  for (std::size_t b = 0; b < nb / kSub; ++b) {
    const std::byte* p = g + b * kRecord;
    for (std::size_t s = 0; s < kSub; ++s) {
      // Spread over the block: a burst of a whole record's 36 lines fills the miss buffers and stalls (decode 31
      // instead of 47 tok/s on TinyLlama-1.1B Q4_K_M).
      prefetch_next_tile<kRecord / kSub>(next, b * kRecord + s * (kRecord / kSub));
      __m512i u[8];
      __m512 scale[2], offset;
      decode_k<T>(p, s, u, scale, offset);
#pragma GCC unroll 8
      for (std::size_t t = 0; t < TT; ++t) {
        const ActVnni& x = xv[std::min(t, tokens - 1) * nb + b * kSub + s];
        __m512i dot = _mm512_setzero_si512();
        for (std::size_t i = 0; i < 8; ++i) dot = _mm512_dpbusd_epi32(dot, u[i], word(x.qs + 4 * i));
        acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(scale[0], _mm512_set1_ps(x.d)), acc[t]);
        corr[t] = _mm512_fnmadd_ps(offset, _mm512_set1_ps(x.sum), corr[t]);
      }
    }
  }
  for (std::size_t t = 0; t < TT; ++t) _mm512_storeu_ps(out + kGroup * t, _mm512_add_ps(acc[t], corr[t]));
}

// Q6_K, per sub-block: its two scales (one per 16 values) split the dot in two, each starting from the half's
// -32 * sum x.
template <std::size_t TT>
void tile16_q6_k(const ActVnni* xv, std::size_t nb, const std::byte* g, const std::byte* next, std::size_t tokens,
                 float* out) {
  constexpr DType T = DType::kQ6_K;
  constexpr std::size_t kRecord = kGroup * quant_block_bytes(T);
  constexpr std::size_t kSub = kSuperBlock / kQuantBlock;
  __m512 acc[TT];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (std::size_t b = 0; b < nb / kSub; ++b) {
    const std::byte* p = g + b * kRecord;
    for (std::size_t s = 0; s < kSub; ++s) {
      prefetch_next_tile<kRecord / kSub>(next, b * kRecord + s * (kRecord / kSub));  // spread over the block
      __m512i u[8];
      __m512 scale[2], offset;
      decode_k<T>(p, s, u, scale, offset);
#pragma GCC unroll 8
      for (std::size_t t = 0; t < TT; ++t) {
        const ActVnni& x = xv[std::min(t, tokens - 1) * nb + b * kSub + s];
        for (std::size_t h = 0; h < 2; ++h) {
          __m512i dot = _mm512_set1_epi32(x.init_half[h]);
          for (std::size_t i = 4 * h; i < 4 * h + 4; ++i) dot = _mm512_dpbusd_epi32(dot, u[i], word(x.qs + 4 * i));
          acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(scale[h], _mm512_set1_ps(x.d)), acc[t]);
        }
      }
    }
  }
  for (std::size_t t = 0; t < TT; ++t) _mm512_storeu_ps(out + kGroup * t, acc[t]);
}

template <DType T, std::size_t TT>
void tile16_any(const ActVnni* xv, std::size_t nb, const std::byte* g, const std::byte* next, std::size_t tokens,
                float* out) {
  if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
    tile16_k<T, TT>(xv, nb, g, next, tokens, out);
  } else if constexpr (T == DType::kQ6_K) {
    tile16_q6_k<TT>(xv, nb, g, next, tokens, out);
  } else {
    tile16<T, TT>(xv, nb, g, next, tokens, out);
  }
}

// A group of 16 interleaved rows decoded once for the panel tiles: per 32-value block b, u[b * 512 + 64 w + 4 r]
// holds values 4w..4w+3 of row r (unsigned, as decode32/decode_k give them), scale[(2b + h) * 16 + r] the row's
// scale of the block (h = 0) or, for Q6_K, of its half h, and offset[b * 16 + r] the Q4_K/Q5_K row's dmin * min.
struct Decoded {
  std::vector<std::byte> u;
  std::vector<float> scale, offset;
};

template <DType T>
void decode_group(const std::byte* g, std::size_t nb, Decoded& out) {
  constexpr std::size_t kRecord = kGroup * quant_block_bytes(T);
  if (out.u.size() < nb * 512) {
    out.u.resize(nb * 512);
    out.scale.resize(nb * 2 * kGroup);
    out.offset.resize(nb * kGroup);
  }
  const auto store = [&](std::size_t b, const __m512i(&u)[8], const __m512(&scale)[2], __m512 offset) {
    for (std::size_t w = 0; w < 8; ++w) _mm512_storeu_si512(out.u.data() + b * 512 + 64 * w, u[w]);
    _mm512_storeu_ps(out.scale.data() + 2 * b * kGroup, scale[0]);
    _mm512_storeu_ps(out.scale.data() + (2 * b + 1) * kGroup, scale[1]);
    _mm512_storeu_ps(out.offset.data() + b * kGroup, offset);
  };
  __m512i u[8];
  __m512 scale[2], offset = _mm512_setzero_ps();
  if constexpr (is_k_quant(T)) {
    constexpr std::size_t kSub = kSuperBlock / kQuantBlock;
    for (std::size_t b = 0; b < nb; ++b) {
      decode_k<T>(g + b / kSub * kRecord, b % kSub, u, scale, offset);
      store(b, u, scale, offset);
    }
  } else {
    for (std::size_t b = 0; b < nb; ++b) {
      scale[0] = scale[1] = decode32<T>(g + b * kRecord, u);
      store(b, u, scale, offset);
    }
  }
}

// Words [W0, W1) of block b for R rows from `row` of a decoded group and V vectors of 16 tokens: each dot starts
// from the tokens' init and meets scale_w * d_x in a fused multiply-add, as tile16's do.
template <std::size_t R, std::size_t V, std::size_t W0, std::size_t W1>
inline __attribute__((always_inline)) void panel_step(const std::byte* u, const float* scale,
                                                      const ActPanel* const (&x)[V],
                                                      const std::int32_t* const (&init)[V], __m512 (&f)[R][V]) {
  __m512i a[R][V];
  for (std::size_t v = 0; v < V; ++v) {
    const __m512i i0 = _mm512_loadu_si512(init[v]);
    for (std::size_t r = 0; r < R; ++r) a[r][v] = i0;
  }
#pragma GCC unroll 8
  for (std::size_t w = W0; w < W1; ++w) {
    __m512i xw[V];
    for (std::size_t v = 0; v < V; ++v) xw[v] = _mm512_loadu_si512(x[v]->words[w]);
#pragma GCC unroll 8
    for (std::size_t r = 0; r < R; ++r) {
      std::int32_t word32;
      std::memcpy(&word32, u + 64 * w + 4 * r, 4);
      const __m512i wb = _mm512_set1_epi32(word32);
      for (std::size_t v = 0; v < V; ++v) a[r][v] = _mm512_dpbusd_epi32(a[r][v], wb, xw[v]);
    }
  }
  for (std::size_t v = 0; v < V; ++v) {
    const __m512 dx = _mm512_loadu_ps(x[v]->d);
    for (std::size_t r = 0; r < R; ++r) {
      f[r][v] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a[r][v]), _mm512_mul_ps(_mm512_set1_ps(scale[r]), dx), f[r][v]);
    }
  }
}

// acc[r * 32 + 16 v + t] (zero when b0 is 0) += blocks [b0, b1) for R rows from `row` of a decoded group and token t of
// groups x[v] (whole rows of blocks): per element the operations of tile16 / tile16_q6_k / tile16_k's acc in the same
// order.
template <DType T, std::size_t R, std::size_t V>
void panel(const Decoded& dec, std::size_t row, const ActPanel* const (&xg)[V], std::size_t b0, std::size_t b1,
           float* acc) {
  __m512 f[R][V];
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t v = 0; v < V; ++v) {
      f[r][v] = b0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc + r * 2 * kGroup + kGroup * v);
    }
  }
  for (std::size_t b = b0; b < b1; ++b) {
    const std::byte* u = dec.u.data() + b * 512 + 4 * row;
    const float* scale = dec.scale.data() + 2 * b * kGroup + row;
    const ActPanel* x[V];
    for (std::size_t v = 0; v < V; ++v) x[v] = xg[v] + b;
    if constexpr (T == DType::kQ6_K) {
      const std::int32_t* lo[V];
      const std::int32_t* hi[V];
      for (std::size_t v = 0; v < V; ++v) {
        lo[v] = x[v]->init_half[0];
        hi[v] = x[v]->init_half[1];
      }
      panel_step<R, V, 0, 4>(u, scale, x, lo, f);
      panel_step<R, V, 4, 8>(u, scale + kGroup, x, hi, f);
    } else {
      const std::int32_t* init[V];
      for (std::size_t v = 0; v < V; ++v) init[v] = x[v]->init_sum;
      panel_step<R, V, 0, 8>(u, scale, x, init, f);
    }
  }
  for (std::size_t r = 0; r < R; ++r) {
    for (std::size_t v = 0; v < V; ++v) _mm512_store_ps(acc + r * 2 * kGroup + kGroup * v, f[r][v]);
  }
}

// Q4_K/Q5_K: acc += the mins' terms of all nb blocks, summed in their own accumulator as tile16_k's (8 rows at a
// time, so that the accumulators stay in registers).
template <DType T, std::size_t V>
void panel_corr(const Decoded& dec, const ActPanel* const (&xg)[V], std::size_t nb, float* acc) {
  constexpr std::size_t kRows8 = 8;
  for (std::size_t r0 = 0; r0 < kGroup; r0 += kRows8) {
    __m512 corr[kRows8][V];
    for (auto& cr : corr) {
      for (auto& cv : cr) cv = _mm512_setzero_ps();
    }
    for (std::size_t b = 0; b < nb; ++b) {
      const float* offset = dec.offset.data() + b * kGroup + r0;
      for (std::size_t v = 0; v < V; ++v) {
        const __m512 sum = _mm512_loadu_ps(xg[v][b].sum);
        for (std::size_t r = 0; r < kRows8; ++r) {
          corr[r][v] = _mm512_fnmadd_ps(_mm512_set1_ps(offset[r]), sum, corr[r][v]);
        }
      }
    }
    for (std::size_t r = 0; r < kRows8; ++r) {
      for (std::size_t v = 0; v < V; ++v) {
        float* a = acc + (r0 + r) * 2 * kGroup + kGroup * v;
        _mm512_store_ps(a, _mm512_add_ps(_mm512_load_ps(a), corr[r][v]));
      }
    }
  }
}

// Transposes 16 x 16 floats: v[i] lane j becomes v[j] lane i.
inline __attribute__((always_inline)) void transpose16(__m512 (&v)[16]) {
  __m512 t[16];
  for (std::size_t i = 0; i < 16; i += 2) {  // per 128-bit lane: a0 b0 a1 b1 and a2 b2 a3 b3
    t[i] = _mm512_unpacklo_ps(v[i], v[i + 1]);
    t[i + 1] = _mm512_unpackhi_ps(v[i], v[i + 1]);
  }
  for (std::size_t i = 0; i < 16; i += 4) {  // u[i + j]: column 4L + j of rows i..i+3 in 128-bit lane L
    v[i] = _mm512_shuffle_ps(t[i], t[i + 2], 0x44);
    v[i + 1] = _mm512_shuffle_ps(t[i], t[i + 2], 0xee);
    v[i + 2] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    v[i + 3] = _mm512_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (std::size_t j = 0; j < 4; ++j) {  // lanes L of u[j], u[4 + j], u[8 + j], u[12 + j] make column 4L + j
    const __m512 p = _mm512_shuffle_f32x4(v[j], v[4 + j], 0x88), q = _mm512_shuffle_f32x4(v[j], v[4 + j], 0xdd);
    const __m512 p2 = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0x88);
    const __m512 q2 = _mm512_shuffle_f32x4(v[8 + j], v[12 + j], 0xdd);
    t[j] = _mm512_shuffle_f32x4(p, p2, 0x88);
    t[8 + j] = _mm512_shuffle_f32x4(p, p2, 0xdd);
    t[4 + j] = _mm512_shuffle_f32x4(q, q2, 0x88);
    t[12 + j] = _mm512_shuffle_f32x4(q, q2, 0xdd);
  }
  for (std::size_t i = 0; i < 16; ++i) v[i] = t[i];
}

// Q4_1/Q5_1 keep the row layout and ggml's summation order (see tile): 16 rows from `g` decoded as decode_group
// does, the F16 scale and min of each row's block as floats.
template <DType T>
void decode_group_rows(const std::byte* g, std::size_t bytes, std::size_t nb, Decoded& out) {
  constexpr std::size_t kBytes = quant_block_bytes(T);
  if (out.u.size() < nb * 512) {
    out.u.resize(nb * 512);
    out.scale.resize(nb * 2 * kGroup);
    out.offset.resize(nb * kGroup);
  }
  for (std::size_t b = 0; b < nb; ++b) {
    __m512 words[16];  // row r's 8 words, then zeros: transposed, words[w] holds word w of each row
    for (std::size_t r = 0; r < kGroup; r += 2) {
      const std::byte* a = g + r * bytes + b * kBytes;
      const std::byte* c = a + bytes;
      const __m512i two = unpack2<T>(a, c);  // row r's values 0..31, then row r + 1's
      words[r] = _mm512_castsi512_ps(_mm512_zextsi256_si512(_mm512_castsi512_si256(two)));
      words[r + 1] = _mm512_castsi512_ps(_mm512_zextsi256_si512(_mm512_extracti64x4_epi64(two, 1)));
      for (std::size_t h = 0; h < 2; ++h) {
        out.scale[2 * b * kGroup + r + h] = _cvtsh_ss(u16_at(h == 0 ? a : c));
        out.offset[b * kGroup + r + h] = _cvtsh_ss(u16_at((h == 0 ? a : c) + 2));
      }
    }
    transpose16(words);
    for (std::size_t w = 0; w < 8; ++w)
      _mm512_storeu_ps(reinterpret_cast<float*>(out.u.data() + b * 512 + 64 * w), words[w]);
  }
}

// The row tiles' operations for one row of a group decoded by decode_group_rows and the tokens of xg[v], blocks
// [b0, b1): eight accumulators per token, one per 4-value word (ggml's 8 lanes), each word's dot converted and
// multiplied by scale_w * d_x on its own; the min's terms in their own accumulator. acc: [9][V][16] floats (the 8
// lanes, then the mins), carried between chunks of blocks (zero when b0 is 0).
template <std::size_t V>
void panel_rows(const Decoded& dec, std::size_t row, const ActPanel* const (&xg)[V], std::size_t b0, std::size_t b1,
                float* acc) {
  __m512 f[8][V], corr[V];
  for (std::size_t v = 0; v < V; ++v) {
    for (std::size_t w = 0; w < 8; ++w) {
      f[w][v] = b0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc + (w * V + v) * kGroup);
    }
    corr[v] = b0 == 0 ? _mm512_setzero_ps() : _mm512_load_ps(acc + (8 * V + v) * kGroup);
  }
  for (std::size_t b = b0; b < b1; ++b) {
    const std::byte* u = dec.u.data() + b * 512 + 4 * row;
    const __m512 sw = _mm512_set1_ps(dec.scale[2 * b * kGroup + row]), o = _mm512_set1_ps(dec.offset[b * kGroup + row]);
    __m512 dd[V];
    for (std::size_t v = 0; v < V; ++v) {
      dd[v] = _mm512_mul_ps(sw, _mm512_loadu_ps(xg[v][b].d));
      corr[v] = _mm512_fmadd_ps(o, _mm512_loadu_ps(xg[v][b].sum), corr[v]);
    }
#pragma GCC unroll 8
    for (std::size_t w = 0; w < 8; ++w) {
      std::int32_t word32;
      std::memcpy(&word32, u + 64 * w, 4);
      const __m512i wb = _mm512_set1_epi32(word32);
      for (std::size_t v = 0; v < V; ++v) {
        const __m512i dot = _mm512_dpbusd_epi32(_mm512_setzero_si512(), wb, _mm512_loadu_si512(xg[v][b].words[w]));
        f[w][v] = _mm512_fmadd_ps(dd[v], _mm512_cvtepi32_ps(dot), f[w][v]);
      }
    }
  }
  for (std::size_t v = 0; v < V; ++v) {
    for (std::size_t w = 0; w < 8; ++w) _mm512_store_ps(acc + (w * V + v) * kGroup, f[w][v]);
    _mm512_store_ps(acc + (8 * V + v) * kGroup, corr[v]);
  }
}

// ggml's hsum_float_8 of the 8 lane accumulators, lane by lane, plus the mins' terms (tile's last step).
template <std::size_t V>
void panel_rows_sum(const float* acc, float* res) {
  for (std::size_t v = 0; v < V; ++v) {
    const auto lane = [&](std::size_t w) { return _mm512_load_ps(acc + (w * V + v) * kGroup); };
    const __m512 t0 = _mm512_add_ps(_mm512_add_ps(lane(4), lane(0)), _mm512_add_ps(lane(6), lane(2)));
    const __m512 t1 = _mm512_add_ps(_mm512_add_ps(lane(5), lane(1)), _mm512_add_ps(lane(7), lane(3)));
    _mm512_store_ps(res + kGroup * v, _mm512_add_ps(_mm512_add_ps(t0, t1), lane(8)));
  }
}

// Rows [r0, end) (whole groups) for all n tokens with the panel tiles: per block of 128 tokens each row group is
// decoded once, then for each pair of token groups the rows go as panels of 6, 5 and 5 (6 x 2 x 2 accumulators and
// the broadcast fit the 32 vector registers), a chunk of k at a time. The 16 rows x 32 tokens are transposed and staged
// by token (scalar stores m floats apart had cost a third of the panels' time).
template <DType T>
void gemm_panels(const ActPanel* xp, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t end,
                 const float* bias, float* out, std::size_t m) {
  // Blocks per pass over the panels: the pair's activations (13 KiB) and the rows' decoded weights (4 KiB) fit L1
  // for the three panels. (Measured the same as whole rows at k = 1536, where L2 kept up.)
  constexpr std::size_t kChunk = 8;
  constexpr bool kRowLayout = q8_1_sum(T);  // Q4_1/Q5_1: ggml's order, one row per panel
  const std::size_t nb = k / kQuantBlock, bytes = row_bytes(T, k), groups = (n + kGroup - 1) / kGroup;
  // Token groups per pass over the rows: 8 (128 tokens) decode each row group once for a usual prefill batch and
  // keep their activations in L2 (120 KiB per 576 inputs) while every row group meets them; 4 had cost a tenth more
  // decoding.
  constexpr std::size_t kBlockGroups = 8;
  constexpr std::size_t kSlice = 256;
  thread_local Decoded dec;
  thread_local std::vector<float> staging(kBlockGroups * kGroup * kSlice);  // on the heap, not in static TLS
  float* staged = staging.data();
  const std::size_t group_bytes = kGroup * bytes;  // 16 rows, contiguous in either layout
  for (std::size_t gb = 0; gb < groups; gb += kBlockGroups) {
    const std::size_t ge = std::min(groups, gb + kBlockGroups);
    const std::size_t steps = (ge - gb + 1) / 2 * (kRowLayout ? kGroup : (nb + kChunk - 1) / kChunk);
    // Rows in slices of up to kSlice: a slice's results for the block's tokens are staged, then written by token,
    // kSlice floats in a row (storing each token's 16 outputs straight into rows m floats apart had cost a third
    // of the time where m is 16384).
    for (std::size_t s0 = r0; s0 < end; s0 += kSlice) {
      const std::size_t s1 = std::min(end, s0 + kSlice);
      for (std::size_t r = s0; r < s1; r += kGroup) {
        if constexpr (kRowLayout) {
          decode_group_rows<T>(w + r * bytes, bytes, nb, dec);
        } else {
          decode_group<T>(w + r * bytes, nb, dec);
        }
        // The next group comes from memory while this one computes, a slice per step.
        const std::byte* next = r + kGroup < end ? w + (r + kGroup) * bytes : nullptr;
        std::size_t step = 0;
        const auto prefetch_slice = [&] {
          if (next == nullptr) return;
          for (std::size_t at = step * group_bytes / steps / 64 * 64; at < (step + 1) * group_bytes / steps; at += 64) {
            _mm_prefetch(reinterpret_cast<const char*>(next + at), _MM_HINT_T1);
          }
          ++step;
        };
        const __m512 add = bias != nullptr ? _mm512_loadu_ps(bias + r) : _mm512_setzero_ps();
        for (std::size_t g = gb; g < ge; g += 2) {
          const ActPanel* const x2[2] = {xp + g * nb, xp + (g + 1) * nb};
          const ActPanel* const x1[1] = {xp + g * nb};
          const std::size_t vectors = std::min<std::size_t>(2, ge - g);
          alignas(64) float acc[kGroup * 2 * kGroup];  // [row][16 v + t]
          if constexpr (kRowLayout) {
            for (std::size_t row = 0; row < kGroup; ++row) {
              prefetch_slice();
              alignas(64) float lanes[9 * 2 * kGroup];
              for (std::size_t b0 = 0; b0 < nb; b0 += kChunk) {
                const std::size_t b1 = std::min(nb, b0 + kChunk);
                vectors == 2 ? panel_rows<2>(dec, row, x2, b0, b1, lanes) : panel_rows<1>(dec, row, x1, b0, b1, lanes);
              }
              vectors == 2 ? panel_rows_sum<2>(lanes, acc + row * 2 * kGroup)
                           : panel_rows_sum<1>(lanes, acc + row * 2 * kGroup);
            }
          } else {
            for (std::size_t b0 = 0; b0 < nb; b0 += kChunk) {
              prefetch_slice();
              const std::size_t b1 = std::min(nb, b0 + kChunk);
              for (const auto& [row, count] : {std::pair<std::size_t, std::size_t>{0, 6}, {6, 5}, {11, 5}}) {
                float* at = acc + row * 2 * kGroup;
                if (vectors == 2) {
                  count == 6 ? panel<T, 6, 2>(dec, row, x2, b0, b1, at) : panel<T, 5, 2>(dec, row, x2, b0, b1, at);
                } else {
                  count == 6 ? panel<T, 6, 1>(dec, row, x1, b0, b1, at) : panel<T, 5, 1>(dec, row, x1, b0, b1, at);
                }
              }
            }
          }
          if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
            vectors == 2 ? panel_corr<T, 2>(dec, x2, nb, acc) : panel_corr<T, 1>(dec, x1, nb, acc);
          }
          for (std::size_t v = 0; v < vectors; ++v) {
            __m512 c[16];
            for (std::size_t j = 0; j < kGroup; ++j) c[j] = _mm512_load_ps(acc + j * 2 * kGroup + kGroup * v);
            transpose16(c);
            const std::size_t t0 = kGroup * (g + v), tokens = std::min(kGroup, n - t0);
            for (std::size_t t = 0; t < tokens; ++t) {
              _mm512_storeu_ps(staged + (t0 + t - kGroup * gb) * kSlice + (r - s0), _mm512_add_ps(c[t], add));
            }
          }
        }
      }
      const std::size_t tokens = std::min(n, kGroup * ge) - kGroup * gb;
      for (std::size_t t = 0; t < tokens; ++t) {
        std::memcpy(out + (kGroup * gb + t) * m + s0, staged + t * kSlice, (s1 - s0) * sizeof(float));
      }
    }
  }
}

// Row layout: Q4_1/Q5_1's whole groups of 16 rows in panels from kPanelTokens tokens on, everything else in tiles.
template <DType T>
void gemv_rows_t(const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k, const std::byte* w,
                 std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m) {
  if constexpr (row_layout_panels(T)) {
    if (n >= kPanelTokens) {
      const std::size_t grouped = m / kGroup * kGroup, end = std::min(r1, grouped);
      if (r0 < end) gemm_panels<T>(xp, n, k, w, r0, end, bias, out, m);
      r0 = std::max(r0, grouped);
      if (r0 < r1) gemv_t<T>(xv, n, k, w, r0, r1, bias, out, m);
      return;
    }
  }
  gemv_t<T>(xv, n, k, w, r0, r1, bias, out, m);
}

template <DType T>
void gemv_interleaved_t(const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k, const std::byte* w,
                        std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m) {
  constexpr std::size_t TT = 8;
  const std::size_t nb = k / kQuantBlock;
  const std::size_t bytes = row_bytes(T, k);
  const std::size_t grouped = m / kGroup * kGroup, end = std::min(r1, grouped);
  alignas(64) float result[TT * kGroup];
  const bool panels = n >= kPanelTokens;
  if (panels && r0 < end) gemm_panels<T>(xp, n, k, w, r0, end, bias, out, m);
  for (std::size_t i = 0; i < (panels ? 0 : n); i += TT) {
    const std::size_t tokens = std::min(TT, n - i);
    for (std::size_t r = r0; r < end; r += kGroup) {
      const std::byte* g = w + r * bytes;
      if (tokens == 1) {
        tile16_any<T, 1>(xv + i * nb, nb, g, g + kGroup * bytes, 1, result);
      } else {
        tile16_any<T, TT>(xv + i * nb, nb, g, g + kGroup * bytes, tokens, result);
      }
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t j = 0; j < kGroup; ++j) {
          out[(i + t) * m + r + j] = result[kGroup * t + j] + (bias != nullptr ? bias[r + j] : 0.0f);
        }
      }
    }
  }
  if (r1 > grouped) gemv_t<T>(xv, n, k, w, std::max(r0, grouped), r1, bias, out, m);
}

// F32 -> F16 -> F32 rounding to nearest even, as tensor_core's f32_to_f16 / f16_to_f32 (a NaN becomes its
// sign | 0x7fc00000).
__m512 round_f16(__m512 v) {
  const __m512 r = _mm512_cvtph_ps(_mm512_cvtps_ph(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  const __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
  const __m512i quiet = _mm512_or_si512(_mm512_and_si512(_mm512_castps_si512(v), _mm512_set1_epi32(INT32_MIN)),
                                        _mm512_set1_epi32(0x7fc00000));
  return _mm512_mask_blend_ps(nan, r, _mm512_castsi512_ps(quiet));
}

}  // namespace

void quantize_panels(DType dtype, const float* x, std::size_t n, std::size_t k, std::size_t g0, std::size_t g1,
                     ActPanel* out) {
  const std::size_t nb = k / kQuantBlock;
  const __m512i bias = _mm512_set1_epi32(-bias_of(dtype));
  const __m512 zero = _mm512_setzero_ps();
  const bool q8_1 = q8_1_sum(dtype);
  for (std::size_t g = g0; g < g1; ++g) {
    const float* row[kGroup];
    for (std::size_t t = 0; t < kGroup; ++t) row[t] = x + std::min(kGroup * g + t, n - 1) * k;
    for (std::size_t b = 0; b < nb; ++b) {
      ActPanel& a = out[g * nb + b];
      alignas(64) float v[kQuantBlock][kGroup];  // v[j]: value j of each token
      for (std::size_t h = 0; h < 2; ++h) {
        __m512 c[16];
        for (std::size_t t = 0; t < kGroup; ++t) c[t] = _mm512_loadu_ps(row[t] + b * kQuantBlock + 16 * h);
        transpose16(c);
        for (std::size_t j = 0; j < 16; ++j) _mm512_store_ps(v[16 * h + j], c[j]);
      }
      // simd::QuantizeAct per lane: x * 0 summed marks a non-finite block, whose values quantize to zero.
      __m512 amax = zero, bad = zero;
      for (std::size_t j = 0; j < kQuantBlock; ++j) {
        const __m512 xj = _mm512_load_ps(v[j]);
        amax = _mm512_max_ps(amax, _mm512_abs_ps(xj));
        bad = _mm512_fmadd_ps(xj, zero, bad);
      }
      const __m512 d = _mm512_add_ps(_mm512_div_ps(amax, _mm512_set1_ps(127.0f)), bad);
      const __mmask16 finite = _mm512_cmp_ps_mask(bad, zero, _CMP_EQ_OQ);
      const __mmask16 scaled = finite & _mm512_cmp_ps_mask(amax, zero, _CMP_NEQ_OQ);
      const __m512 id = _mm512_maskz_div_ps(scaled, _mm512_set1_ps(127.0f), amax);
      __m512i half[2] = {_mm512_setzero_si512(), _mm512_setzero_si512()};
      for (std::size_t w = 0; w < 8; ++w) {
        __m512i word = _mm512_setzero_si512();
        for (std::size_t i = 0; i < 4; ++i) {
          const __m512 xj = _mm512_maskz_mov_ps(finite, _mm512_load_ps(v[4 * w + i]));
          const __m512i q =
              _mm512_cvt_roundps_epi32(_mm512_mul_ps(xj, id), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
          half[w / 4] = _mm512_add_epi32(half[w / 4], q);
          word = _mm512_or_si512(
              word, _mm512_slli_epi32(_mm512_and_si512(q, _mm512_set1_epi32(0xff)), static_cast<unsigned>(8 * i)));
        }
        _mm512_store_si512(a.words[w], word);
      }
      const __m512i qsum = _mm512_add_epi32(half[0], half[1]);
      const __m512 d16 = round_f16(d), fsum = _mm512_cvtepi32_ps(qsum);
      _mm512_store_ps(a.d, d16);
      _mm512_store_ps(a.sum, q8_1 ? round_f16(_mm512_mul_ps(d, fsum)) : _mm512_mul_ps(d16, fsum));
      _mm512_store_si512(a.init_sum, _mm512_mullo_epi32(bias, qsum));
      _mm512_store_si512(a.init_half[0], _mm512_mullo_epi32(bias, half[0]));
      _mm512_store_si512(a.init_half[1], _mm512_mullo_epi32(bias, half[1]));
    }
  }
}

void gemv_interleaved(DType dtype, const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k,
                      const std::byte* w, std::size_t r0, std::size_t r1, const float* bias, float* out,
                      std::size_t m) {
  switch (dtype) {
    case DType::kQ8_0: return gemv_interleaved_t<DType::kQ8_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_0: return gemv_interleaved_t<DType::kQ4_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_0: return gemv_interleaved_t<DType::kQ5_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_K: return gemv_interleaved_t<DType::kQ4_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_K: return gemv_interleaved_t<DType::kQ5_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ6_K: return gemv_interleaved_t<DType::kQ6_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    default: return;
  }
}

void gemv(DType dtype, const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k, const std::byte* w,
          std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m) {
  switch (dtype) {
    case DType::kQ8_0: return gemv_rows_t<DType::kQ8_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_0: return gemv_rows_t<DType::kQ4_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_1: return gemv_rows_t<DType::kQ4_1>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_0: return gemv_rows_t<DType::kQ5_0>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_1: return gemv_rows_t<DType::kQ5_1>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_K: return gemv_rows_t<DType::kQ4_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_K: return gemv_rows_t<DType::kQ5_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ6_K: return gemv_rows_t<DType::kQ6_K>(xv, xp, n, k, w, r0, r1, bias, out, m);
    default: return;
  }
}

std::int32_t dpbusd_chains(std::size_t iterations) {
  // Operands the compiler cannot fold; 12 chains cover vpdpbusd's latency on current cores.
  const __m512i a = _mm512_set1_epi8(static_cast<char>(1 + (iterations & 1)));
  const __m512i b = _mm512_set1_epi8(static_cast<char>(2 + (iterations & 2)));
  __m512i acc[12];
  for (auto& v : acc) v = _mm512_setzero_si512();
  for (std::size_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 12
    for (auto& v : acc) v = _mm512_dpbusd_epi32(v, a, b);
  }
  __m512i total = acc[0];
  for (std::size_t c = 1; c < 12; ++c) total = _mm512_add_epi32(total, acc[c]);
  return _mm512_reduce_add_epi32(total);
}

template <std::size_t PerBroadcast>
std::int32_t dpbusd_chains_broadcast_t(std::size_t iterations, const std::int8_t* x) {
  const __m512i a = _mm512_set1_epi8(static_cast<char>(1 + (iterations & 1)));
  const __m512i b = _mm512_set1_epi8(static_cast<char>(2 + (iterations & 2)));
  __m512i acc[12];
  for (auto& v : acc) v = _mm512_setzero_si512();
  for (std::size_t i = 0; i < iterations; ++i) {
    const std::int8_t* q = x + (i % 16) * 48;
#pragma GCC unroll 12
    for (std::size_t c = 0; c < 12; c += PerBroadcast) {
      const __m512i xw = word(q + 4 * c);
      for (std::size_t j = 0; j < PerBroadcast; ++j) acc[c + j] = _mm512_dpbusd_epi32(acc[c + j], j % 2 ? b : a, xw);
    }
  }
  __m512i total = acc[0];
  for (std::size_t c = 1; c < 12; ++c) total = _mm512_add_epi32(total, acc[c]);
  return _mm512_reduce_add_epi32(total);
}

std::int32_t dpbusd_chains_broadcast(std::size_t iterations, const std::int8_t* x, std::size_t per_broadcast) {
  switch (per_broadcast) {
    case 2: return dpbusd_chains_broadcast_t<2>(iterations, x);
    case 4: return dpbusd_chains_broadcast_t<4>(iterations, x);
    default: return dpbusd_chains_broadcast_t<1>(iterations, x);
  }
}

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else  // not x86-64: available() is false and these are never called

void gemv_interleaved(DType, const ActVnni*, const ActPanel*, std::size_t, std::size_t, const std::byte*, std::size_t,
                      std::size_t, const float*, float*, std::size_t) {}

void gemv(DType, const ActVnni*, const ActPanel*, std::size_t, std::size_t, const std::byte*, std::size_t, std::size_t,
          const float*, float*, std::size_t) {}

void quantize_panels(DType, const float*, std::size_t, std::size_t, std::size_t, std::size_t, ActPanel*) {}

std::int32_t dpbusd_chains(std::size_t) {
  return 0;
}

std::int32_t dpbusd_chains_broadcast(std::size_t, const std::int8_t*, std::size_t) {
  return 0;
}

#endif

}  // namespace edge_rt::backend::cpu::vnni
