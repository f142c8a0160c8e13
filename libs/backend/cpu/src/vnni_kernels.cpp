// AVX-512 VNNI integer GEMM tiles (vnni_kernels.hpp). Layouts are ggml's (ggml-common.h), as in
// tensor_core::decode_sub_block, which the reference kernels use.
//
// One step is a pair of 32-value sub-blocks: the weights become 64 unsigned bytes u (q = u - bias), vpdpbusd adds
// u * x over each lane's four values onto ActPair::init (-bias * sum x), so each int32 lane is exact. The lanes become
// floats and meet scale_w * d_x (one scale per 16 values for Q6_K, per 32 otherwise); a min adds offset_w * sum term
// once per sub-block (through lanes 0 and 8, where ActPair::sum is non-zero). A tile of R rows x TT tokens unpacks
// each row's pair once for TT tokens, and each token's pair meets R rows.
#include "vnni_kernels.hpp"

#include <edge_rt/tensor_core/dtype.hpp>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define EDGE_RT_VNNI_KERNELS 1
#else
#define EDGE_RT_VNNI_KERNELS 0
#endif

namespace edge_rt::backend::cpu::vnni {

namespace {

// The unsigned bias the unpacked weights carry: Q8_0's signed bytes are stored + 128 (xor 0x80).
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
  static const bool ok = std::getenv("EDGE_RT_NO_VNNI") == nullptr && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                         __builtin_cpu_supports("avx512vnni");
  return ok;
#else
  return false;
#endif
}

void pack_act(DType dtype, const simd::ActBlock* xq, std::size_t nb, ActPair* out) {
  const int bias = bias_of(dtype);
  for (std::size_t p = 0; p < (nb + 1) / 2; ++p) {
    ActPair& a = out[p];
    for (std::size_t h = 0; h < 2; ++h) {
      const std::size_t b = 2 * p + h;
      std::int8_t* qs = a.qs + 32 * h;
      float* d = a.d + 8 * h;
      float* sum = a.sum + 4 * h;
      std::int32_t* init = a.init + 8 * h;
      std::fill(sum, sum + 4, 0.0f);
      if (b >= nb) {  // the missing half of an odd row's last pair
        std::fill(qs, qs + 32, std::int8_t{0});
        std::fill(d, d + 8, 0.0f);
        std::fill(init, init + 8, 0);
        continue;
      }
      const simd::ActBlock& x = xq[b];
      std::memcpy(qs, x.qs, 32);
      std::fill(d, d + 8, x.d);
      std::fill(sum, sum + 4, q8_1_sum(dtype) ? x.s16 : x.d_sum);
      for (std::size_t i = 0; i < 8; ++i) init[i] = -bias * (qs[4 * i] + qs[4 * i + 1] + qs[4 * i + 2] + qs[4 * i + 3]);
    }
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

__m512i dup256(__m256i v) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(v), v, 1);
}

// Lanes 0-7 F16 value h0, lanes 8-15 h1, as floats.
__m512 two_halves(std::uint16_t h0, std::uint16_t h1) {
  return _mm512_cvtph_ps(_mm256_set_m128i(_mm_set1_epi16(static_cast<short>(h1)), _mm_set1_epi16(static_cast<short>(h0))));
}

// The 16 nibble bytes of each of two 32-value blocks: block a's low nibbles (values 0-15), its high nibbles
// (16-31), then block b's.
__m512i nibbles2(__m128i a, __m128i b) {
  const __m512i z = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_set_m128i(a, a)), _mm256_set_m128i(b, b), 1);
  return _mm512_and_si512(_mm512_mask_srli_epi16(z, 0xff00ff00u, z, 4), _mm512_set1_epi8(0x0f));
}

// A pair of 32-value blocks as 64 unsigned bytes; Single: b0 is the row's last, odd block and b1 is not read.
template <DType T, bool Single>
__m512i unpack2(const std::byte* b0, const std::byte* b1) {
  if constexpr (T == DType::kQ8_0) {
    const __m256i hi = Single ? _mm256_setzero_si256() : load256(b1 + 2);
    const __m512i q = _mm512_inserti64x4(_mm512_castsi256_si512(load256(b0 + 2)), hi, 1);
    return _mm512_xor_si512(q, _mm512_set1_epi8(static_cast<char>(0x80)));
  } else if constexpr (T == DType::kQ4_0 || T == DType::kQ4_1) {
    constexpr std::size_t kQs = T == DType::kQ4_0 ? 2 : 4;
    return nibbles2(load128(b0 + kQs), Single ? _mm_setzero_si128() : load128(b1 + kQs));
  } else {  // Q5_0, Q5_1: bit j of qh is value j's fifth bit
    constexpr std::size_t kQh = T == DType::kQ5_0 ? 2 : 4;
    std::uint32_t h0, h1 = 0;
    std::memcpy(&h0, b0 + kQh, 4);
    if constexpr (!Single) std::memcpy(&h1, b1 + kQh, 4);
    const __m512i u = nibbles2(load128(b0 + kQh + 4), Single ? _mm_setzero_si128() : load128(b1 + kQh + 4));
    const __mmask64 high = _cvtu64_mask64(std::uint64_t{h0} | (std::uint64_t{h1} << 32));
    return _mm512_mask_add_epi8(u, high, u, _mm512_set1_epi8(16));
  }
}

// The F16 field at byte `at` of a pair of blocks (Single: zero for the missing b1): the scale d at 0, Q4_1/Q5_1's
// min at 2.
template <bool Single>
__m512 f16_pair(const std::byte* b0, const std::byte* b1, std::size_t at) {
  return two_halves(u16_at(b0 + at), Single ? 0 : u16_at(b1 + at));
}

// Sub-blocks 2q and 2q + 1 of a K-quant block (256 values) as 64 unsigned bytes.
template <DType T>
__m512i unpack_k(const std::byte* blk, std::size_t q) {
  if constexpr (T == DType::kQ4_K || T == DType::kQ5_K) {
    // 32 bytes hold sub-block 2q in the low nibbles and 2q + 1 in the high ones.
    constexpr std::size_t kQs = T == DType::kQ4_K ? 16 : 48;
    const __m512i z = dup256(load256(blk + kQs + 32 * q));
    __m512i u = _mm512_and_si512(_mm512_mask_srli_epi16(z, 0xffff0000u, z, 4), _mm512_set1_epi8(0x0f));
    if constexpr (T == DType::kQ5_K) {  // bit s of qh[j] is value j of sub-block s's fifth bit
      const __m512i bit = _mm512_inserti64x4(_mm512_set1_epi8(static_cast<char>(1u << (2 * q))),
                                             _mm256_set1_epi8(static_cast<char>(1u << (2 * q + 1))), 1);
      u = _mm512_mask_add_epi8(u, _mm512_test_epi8_mask(dup256(load256(blk + 16)), bit), u, _mm512_set1_epi8(16));
    }
    return u;
  } else {  // Q6_K: sub-block s is quarter s % 4 of half s / 4; a pair shares its half and its nibble
    const std::size_t half = q / 2, nibble = q % 2;
    __m512i low = _mm512_loadu_si512(blk + 64 * half);  // quarters 2 nibble and 2 nibble + 1 (bytes 0-31, 32-63)
    if (nibble != 0) low = _mm512_srli_epi16(low, 4);
    __m512i high = _mm512_srl_epi16(dup256(load256(blk + 128 + 32 * half)), _mm_cvtsi32_si128(static_cast<int>(4 * nibble)));
    high = _mm512_mask_srli_epi16(high, 0xffff0000u, high, 2);
    return _mm512_or_si512(_mm512_and_si512(low, _mm512_set1_epi8(0x0f)),
                           _mm512_slli_epi16(_mm512_and_si512(high, _mm512_set1_epi8(3)), 4));
  }
}

// A K-quant block's scales in vector lanes, one per sub-block (Q4_K/Q5_K, lanes 0-7) or per 16 values (Q6_K, lanes
// 0-15), and Q4_K/Q5_K's offsets, one per sub-block.
template <DType T>
void k_scales(const std::byte* blk, __m512& scale, float* offset) {
  if constexpr (T == DType::kQ6_K) {
    const __m512 sc = _mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(load128(blk + 192)));
    scale = _mm512_mul_ps(sc, _mm512_set1_ps(_cvtsh_ss(u16_at(blk + 208))));
    std::fill(offset, offset + 8, 0.0f);
  } else {
    const float d = _cvtsh_ss(u16_at(blk)), dmin = _cvtsh_ss(u16_at(blk + 2));
    const auto* q = reinterpret_cast<const std::uint8_t*>(blk + 4);
    alignas(32) float sc[8];
    for (std::size_t j = 0; j < 8; ++j) {
      const int s = j < 4 ? q[j] & 63 : (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
      const int m = j < 4 ? q[j + 4] & 63 : (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
      sc[j] = d * static_cast<float>(s);
      offset[j] = -(dmin * static_cast<float>(m));
    }
    scale = _mm512_castps256_ps512(_mm256_load_ps(sc));
  }
}

// Lane i of pair q's scale vector: Q6_K's scale 4q + i / 4, the others' sub-block 2q + i / 8.
template <DType T>
__m512 pair_lanes(__m512 v, std::size_t q) {
  const __m512i lane = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
  const __m512i idx = T == DType::kQ6_K
                          ? _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(4 * q)), _mm512_srli_epi32(lane, 2))
                          : _mm512_add_epi32(_mm512_set1_epi32(static_cast<int>(2 * q)), _mm512_srli_epi32(lane, 3));
  return _mm512_permutexvar_ps(idx, v);
}

// One pair p of every (row, token) of the tile. The mins' terms go to their own accumulator, corr[t] (lane r: row r's
// even sub-blocks, lane 4 + r its odd ones), as in ggml's dot products: they are large and cancel, and summing them
// into acc moved SmolLM2-Q4_1's logits by up to 0.3 from llama.cpp's.
template <DType T, std::size_t R, std::size_t TT>
inline __attribute__((always_inline)) void step(const ActPair* const (&xt)[TT], std::size_t p,
                                                const __m512i (&u)[R], const __m512 (&s)[R], __m256 o,
                                                __m512 (&acc)[R][TT], __m256 (&corr)[TT]) {
  static_assert(R == 4, "ActPair::sum and the corr lanes hold four rows");
#pragma GCC unroll 4
  for (std::size_t t = 0; t < TT; ++t) {
    const ActPair& x = xt[t][p];
    const __m512i xs = _mm512_load_si512(x.qs);
    const __m512 d = _mm512_load_ps(x.d);
    const __m512i init = bias_of(T) != 0 ? _mm512_load_si512(x.init) : _mm512_setzero_si512();
#pragma GCC unroll 4
    for (std::size_t r = 0; r < R; ++r) {
      const __m512i dot = _mm512_dpbusd_epi32(init, u[r], xs);
      acc[r][t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(s[r], d), acc[r][t]);
    }
    if constexpr (kHasOffset<T>) corr[t] = _mm256_fmadd_ps(o, _mm256_load_ps(x.sum), corr[t]);
  }
}

// The tile's R rows are one contiguous range, read as R short streams that the hardware prefetcher does not
// follow (a SmolLM2 row is 10 cache lines): each step fetches as much of the next tile's range, which starts at
// `next`, as it consumes of its own. Prefetching ahead within each row instead halved decode speed.
template <std::size_t StepBytes>
inline __attribute__((always_inline)) void prefetch_next_tile(const std::byte* next, std::size_t consumed) {
#pragma GCC unroll 8
  for (std::size_t at = 0; at < StepBytes; at += 64) {
    _mm_prefetch(reinterpret_cast<const char*>(next + consumed + at), _MM_HINT_T0);
  }
}

// Pair p of each of the tile's rows of a 32-value format: weights, scales and (Q4_1/Q5_1) the mins, lane r of o
// row r's first block, lane 4 + r its second. Single: the rows' last, odd block alone.
template <DType T, std::size_t R, bool Single>
inline __attribute__((always_inline)) void load_pairs(const std::byte* const (&wr)[R], std::size_t p,
                                                      __m512i (&u)[R], __m512 (&s)[R], __m256& o) {
  constexpr std::size_t kBytes = quant_block_bytes(T);
  alignas(16) std::uint16_t mins[8] = {};
  for (std::size_t r = 0; r < R; ++r) {
    const std::byte* b0 = wr[r] + 2 * p * kBytes;
    const std::byte* b1 = b0 + kBytes;
    u[r] = unpack2<T, Single>(b0, b1);
    s[r] = f16_pair<Single>(b0, b1, 0);
    if constexpr (kHasOffset<T>) {
      mins[r] = u16_at(b0 + 2);
      if constexpr (!Single) mins[4 + r] = u16_at(b1 + 2);
    }
  }
  o = kHasOffset<T> ? _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(mins))) : _mm256_setzero_ps();
}

// out[t * R + r] for `rows` (1..R) rows of w from `w` and `tokens` (1..TT) rows of xp; missing ones repeat the last
// and are not stored by the caller.
template <DType T, std::size_t R, std::size_t TT>
void tile(const ActPair* xp, std::size_t np, std::size_t nb, const std::byte* w, std::size_t row_bytes,
          std::size_t rows, std::size_t tokens, float* out) {
  constexpr std::size_t kBytes = quant_block_bytes(T);
  const std::byte* wr[R];
  for (std::size_t r = 0; r < R; ++r) wr[r] = w + std::min(r, rows - 1) * row_bytes;
  const ActPair* xt[TT];
  for (std::size_t t = 0; t < TT; ++t) xt[t] = xp + std::min(t, tokens - 1) * np;
  __m512 acc[R][TT];
  __m256 corr[TT];
  for (std::size_t t = 0; t < TT; ++t) {
    for (std::size_t r = 0; r < R; ++r) acc[r][t] = _mm512_setzero_ps();
    corr[t] = _mm256_setzero_ps();
  }
  __m512i u[R];
  __m512 s[R];
  __m256 o = _mm256_setzero_ps();
  if constexpr (is_k_quant(T)) {
    for (std::size_t b = 0; b < nb / 8; ++b) {
      __m512 sc[R];
      alignas(32) float off[R][8];
      prefetch_next_tile<R * kBytes>(w + R * row_bytes, b * R * kBytes);
      for (std::size_t r = 0; r < R; ++r) k_scales<T>(wr[r] + b * kBytes, sc[r], off[r]);
      for (std::size_t q = 0; q < 4; ++q) {
        for (std::size_t r = 0; r < R; ++r) {
          u[r] = unpack_k<T>(wr[r] + b * kBytes, q);
          s[r] = pair_lanes<T>(sc[r], q);
        }
        if constexpr (kHasOffset<T>) {
          o = _mm256_setr_ps(off[0][2 * q], off[1][2 * q], off[2][2 * q], off[3][2 * q], off[0][2 * q + 1],
                             off[1][2 * q + 1], off[2][2 * q + 1], off[3][2 * q + 1]);
        }
        step<T, R, TT>(xt, 4 * b + q, u, s, o, acc, corr);
      }
    }
  } else {
    for (std::size_t p = 0; p < nb / 2; ++p) {
      prefetch_next_tile<R * 2 * kBytes>(w + R * row_bytes, p * R * 2 * kBytes);
      load_pairs<T, R, false>(wr, p, u, s, o);
      step<T, R, TT>(xt, p, u, s, o, acc, corr);
    }
    if (nb % 2 != 0) {
      load_pairs<T, R, true>(wr, nb / 2, u, s, o);
      step<T, R, TT>(xt, nb / 2, u, s, o, acc, corr);
    }
  }
  for (std::size_t t = 0; t < TT; ++t) {
    alignas(32) float c[8];
    _mm256_store_ps(c, corr[t]);
    for (std::size_t r = 0; r < R; ++r) out[t * R + r] = _mm512_reduce_add_ps(acc[r][t]) + (c[r] + c[4 + r]);
  }
}

// Tiles of four rows by four tokens, one token when decoding (the same operations per element).
template <DType T>
void gemv_t(const ActPair* xp, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
            const float* bias, float* out, std::size_t m) {
  constexpr std::size_t R = 4, TT = 4;
  const std::size_t nb = k / kQuantBlock, np = (nb + 1) / 2;
  const std::size_t bytes = row_bytes(T, k);
  float result[R * TT];
  for (std::size_t i = 0; i < n; i += TT) {
    const std::size_t tokens = std::min(TT, n - i);
    for (std::size_t r = r0; r < r1; r += R) {
      const std::size_t rows = std::min(R, r1 - r);
      if (tokens == 1) {
        tile<T, R, 1>(xp + i * np, np, nb, w + r * bytes, bytes, rows, 1, result);
      } else {
        tile<T, R, TT>(xp + i * np, np, nb, w + r * bytes, bytes, rows, tokens, result);
      }
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t g = 0; g < rows; ++g) {
          out[(i + t) * m + r + g] = result[t * R + g] + (bias != nullptr ? bias[r + g] : 0.0f);
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

// Q4_0x8 (interleave_q4_0): one 144-byte record per block of eight rows, their eight F16 scales then v[j] (j < 4),
// 32 bytes holding bytes 4j..4j+3 of each row's 16 nibble bytes (row g in 32-bit lane g). Two groups' records side
// by side fill a 512-bit vector with 16 rows, one per lane: each activation word is a broadcast, and the scales and
// float work are one vector operation for 16 rows (a pair-layout tile spends one per row and 64 values), which keeps
// decode at the memory's pace. g1 == g0 for a lone group, whose upper lanes are not stored.
template <std::size_t TT>
void tile_x8(const simd::ActBlock* xq, const std::int32_t* xinit, std::size_t nb, const std::byte* g0,
             const std::byte* g1, std::size_t tokens, float* out) {
  constexpr std::size_t kRecord = 8 * quant_block_bytes(DType::kQ4_0);
  const __m512i low4 = _mm512_set1_epi8(0x0f);
  __m512 acc[TT];
  for (auto& a : acc) a = _mm512_setzero_ps();
  for (std::size_t b = 0; b < nb; ++b) {
    const std::byte* p0 = g0 + b * kRecord;
    const std::byte* p1 = g1 + b * kRecord;
    for (std::size_t line = 0; line < kRecord; line += 64) {  // the hardware prefetcher lags on two streams
      _mm_prefetch(reinterpret_cast<const char*>(p0 + 1024 + line), _MM_HINT_T0);
      _mm_prefetch(reinterpret_cast<const char*>(p1 + 1024 + line), _MM_HINT_T0);
    }
    __m512i lo[4], hi[4];
    for (std::size_t j = 0; j < 4; ++j) {
      const __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(load256(p0 + 16 + 32 * j)), load256(p1 + 16 + 32 * j), 1);
      lo[j] = _mm512_and_si512(v, low4);                         // values 4j..4j+3
      hi[j] = _mm512_and_si512(_mm512_srli_epi16(v, 4), low4);  // values 16+4j..16+4j+3
    }
    const __m512 dw = _mm512_cvtph_ps(_mm256_set_m128i(load128(p1), load128(p0)));
#pragma GCC unroll 8
    for (std::size_t t = 0; t < TT; ++t) {
      const std::size_t x = std::min(t, tokens - 1) * nb + b;
      const simd::ActBlock& xb = xq[x];
      __m512i dot = _mm512_set1_epi32(xinit[x]);
      for (std::size_t j = 0; j < 4; ++j) {
        dot = _mm512_dpbusd_epi32(dot, lo[j], word(xb.qs + 4 * j));
        dot = _mm512_dpbusd_epi32(dot, hi[j], word(xb.qs + 16 + 4 * j));
      }
      acc[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(dot), _mm512_mul_ps(dw, _mm512_set1_ps(xb.d)), acc[t]);
    }
  }
  for (std::size_t t = 0; t < TT; ++t) _mm512_storeu_ps(out + 16 * t, acc[t]);
}

}  // namespace

void gemv_q4_0x8(const simd::ActBlock* xq, const std::int32_t* xinit, const ActPair* xp, std::size_t n,
                 std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1, const float* bias, float* out,
                 std::size_t m) {
  constexpr std::size_t TT = 8;
  const std::size_t nb = k / kQuantBlock;
  const std::size_t bytes = row_bytes(DType::kQ4_0, k);
  const std::size_t grouped = m / 8 * 8, end = std::min(r1, grouped);
  alignas(64) float result[TT * 16];
  for (std::size_t i = 0; i < n; i += TT) {
    const std::size_t tokens = std::min(TT, n - i);
    for (std::size_t r = r0; r < end; r += 16) {
      const std::size_t rows = std::min<std::size_t>(16, end - r);
      const std::byte* g0 = w + r * bytes;
      const std::byte* g1 = rows > 8 ? g0 + 8 * bytes : g0;
      if (tokens == 1) {
        tile_x8<1>(xq + i * nb, xinit + i * nb, nb, g0, g1, 1, result);
      } else {
        tile_x8<TT>(xq + i * nb, xinit + i * nb, nb, g0, g1, tokens, result);
      }
      for (std::size_t t = 0; t < tokens; ++t) {
        for (std::size_t g = 0; g < rows; ++g) {
          out[(i + t) * m + r + g] = result[16 * t + g] + (bias != nullptr ? bias[r + g] : 0.0f);
        }
      }
    }
  }
  if (r1 > grouped) gemv_t<DType::kQ4_0>(xp, n, k, w, std::max(r0, grouped), r1, bias, out, m);
}

void gemv(DType dtype, const ActPair* xp, std::size_t n, std::size_t k, const std::byte* w, std::size_t r0,
          std::size_t r1, const float* bias, float* out, std::size_t m) {
  switch (dtype) {
    case DType::kQ8_0: return gemv_t<DType::kQ8_0>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_0: return gemv_t<DType::kQ4_0>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_1: return gemv_t<DType::kQ4_1>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_0: return gemv_t<DType::kQ5_0>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_1: return gemv_t<DType::kQ5_1>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ4_K: return gemv_t<DType::kQ4_K>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ5_K: return gemv_t<DType::kQ5_K>(xp, n, k, w, r0, r1, bias, out, m);
    case DType::kQ6_K: return gemv_t<DType::kQ6_K>(xp, n, k, w, r0, r1, bias, out, m);
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

#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC diagnostic pop
#pragma GCC pop_options
#endif

#else  // not x86-64: available() is false and these are never called

void gemv_q4_0x8(const simd::ActBlock*, const std::int32_t*, const ActPair*, std::size_t, std::size_t,
                 const std::byte*, std::size_t, std::size_t, const float*, float*, std::size_t) {}

void gemv(DType, const ActPair*, std::size_t, std::size_t, const std::byte*, std::size_t, std::size_t, const float*,
          float*, std::size_t) {}

std::int32_t dpbusd_chains(std::size_t) {
  return 0;
}

#endif

}  // namespace edge_rt::backend::cpu::vnni
