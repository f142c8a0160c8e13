// The ceiling of an int8 GEMM that keeps ggml's summation order for Q4_1/Q5_1 (docs/benchmarks.md, "Why Q4_1 and
// Q5_1 stay near 0.3"): every vpdpbusd's 4-value dot is converted to float and meets its scale in its own fused
// multiply-add. Runs 8 independent vpdpbusd chains alone, then the same chains with one convert + fused multiply-add
// per vpdpbusd (registers only, no loads), and prints the second rate as a share of the first, best of 20 rounds
// each, three times. Needs AVX-512 VNNI. Not part of the build:
//
//   g++ -O2 -march=native tools/probes/int8_float_mix.cpp -o /tmp/int8_float_mix && /tmp/int8_float_mix
#include <immintrin.h>

#include <algorithm>
#include <chrono>
#include <cstdio>

namespace {

volatile float sink;

template <bool WithFloat>
__attribute__((noinline)) float chains(std::size_t iterations) {
  const __m512i a = _mm512_set1_epi8(static_cast<char>(1 + (iterations & 1)));
  const __m512i b = _mm512_set1_epi8(static_cast<char>(2 + (iterations & 2)));
  const __m512 scale = _mm512_set1_ps(1.0001f);
  __m512i acc[8];
  __m512 f[8];
  for (int j = 0; j < 8; ++j) {
    acc[j] = _mm512_setzero_si512();
    f[j] = _mm512_set1_ps(static_cast<float>(j));
  }
  for (std::size_t i = 0; i < iterations; ++i) {
#pragma GCC unroll 8
    for (int j = 0; j < 8; ++j) {
      acc[j] = _mm512_dpbusd_epi32(acc[j], a, b);
      if constexpr (WithFloat) f[j] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc[j]), scale, f[j]);
    }
  }
  __m512i t = acc[0];
  __m512 s = f[0];
  for (int j = 1; j < 8; ++j) {
    t = _mm512_add_epi32(t, acc[j]);
    s = _mm512_add_ps(s, f[j]);
  }
  return static_cast<float>(_mm512_reduce_add_epi32(t)) + _mm512_reduce_add_ps(s);
}

template <bool WithFloat>
double best_seconds() {
  double best = 1e9;
  for (int round = 0; round < 20; ++round) {
    const auto t0 = std::chrono::steady_clock::now();
    sink = chains<WithFloat>(100000);
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return best;
}

}  // namespace

int main() {
  for (int run = 0; run < 3; ++run) {
    const double alone = best_seconds<false>(), mixed = best_seconds<true>();
    std::printf("vpdpbusd + convert + fused multiply-add per step: %.2f of vpdpbusd alone\n", alone / mixed);
  }
}
