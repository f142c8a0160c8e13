// The dispatched SIMD kernels against the reference kernels, on random inputs at awkward sizes, and the same
// results for every thread count.
//
// Targets tested: each SimdKernelsPerTarget test (and KernelsPerTarget in kernels_test.cpp) runs once per Highway
// target that tensor-core compiled and this CPU supports, named by its suffix (/AVX2, /SSE4, /EMU128): on x86 AVX3
// where AVX-512 is present and AVX2, both of which run the raw AVX2 intrinsics, then SSE4 and the portable EMU128
// (SCALAR where the compiler cannot build EMU128); on Arm SVE2 and SVE where present, then NEON and EMU128.
// Targets the CPU lacks are not run on it (AVX3 on a Zen 3), and DispatchesTheTargetUnderTest fails if dispatch
// silently picked another target than the one the test names.
#include <edge_rt/backend/cpu/kernels.hpp>

#include <gtest/gtest.h>

#include "per_target.hpp"
#include "random_vector.hpp"

#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

namespace {
// The kernel tests that dispatch, once per Highway target (per_target.hpp).
class SimdKernelsPerTarget : public edge_rt::backend::cpu::testing::PerTargetTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(SimdKernelsPerTarget);
}  // namespace

namespace edge_rt::backend::cpu {
namespace {

using namespace ::edge_rt::tensor_core;  // dtypes and views

using testing::random_vector;

// Weights of `dtype` holding `w` ([rows, cols] row-major), as raw bytes.
std::vector<std::byte> encode(DType dtype, const std::vector<float>& w, std::size_t cols) {
  std::vector<std::byte> out(w.size() / cols * row_bytes(dtype, cols));
  for (std::size_t r = 0; r < w.size() / cols; ++r) {
    from_f32(dtype, w.data() + r * cols, cols, out.data() + r * row_bytes(dtype, cols));
  }
  return out;
}

// Tolerance for one output: summation order changes the result by a few ulp of the sum of |terms|.
double tolerance(const float* x, std::size_t k, const std::vector<float>& w_abs_row_max) {
  double s = 0;
  for (std::size_t c = 0; c < k; ++c) s += std::fabs(x[c]);
  double wmax = 0;
  for (float v : w_abs_row_max) wmax = std::max<double>(wmax, v);
  return 4e-7 * s * wmax * std::sqrt(double(k)) + 1e-6;
}

const std::size_t kAwkward[] = {1, 7, 33, 100, 4097};
const DType kFloatTypes[] = {DType::kF32, DType::kF16, DType::kBF16};

TEST(SimdKernels, ReportsADispatchedTarget) {
  std::printf("dispatched target %s\n", simd_target());
  EXPECT_STRNE(simd_target(), "");
}

// The library dispatches to the target under test, not a fallback: a target it did not compile would run EMU128.
// The AVX512-VNNI tiles stand in for the AVX3 target's int8 kernels on CPUs with VNNI, and nowhere else.
TEST_P(SimdKernelsPerTarget, NamesItsInt8Kernels) {
#if defined(__x86_64__)
  const bool vnni_cpu = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                        __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl") &&
                        __builtin_cpu_supports("avx512vnni");
#else
  const bool vnni_cpu = false;
#endif
  const bool avx3 = std::strcmp(simd_target(), "AVX3") == 0;
  EXPECT_STREQ(int8_kernels(), avx3 && vnni_cpu ? "AVX512-VNNI" : simd_target());
}

TEST_P(SimdKernelsPerTarget, DispatchesTheTargetUnderTest) {
  EXPECT_STREQ(simd_target(), hwy::TargetName(GetParam()));
}

TEST_P(SimdKernelsPerTarget, MatmulMatchesReferenceAtAwkwardSizes) {
  for (DType dtype : kFloatTypes) {
    for (std::size_t k : kAwkward) {
      for (std::size_t m : {std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{70}}) {
        for (std::size_t n : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{13}}) {
          if (k * m * n > 3'000'000) continue;
          const auto x = random_vector(n * k, 11);
          const auto w = random_vector(m * k, 12);
          const auto bias = random_vector(m, 13);
          const auto bytes = encode(dtype, w, k);
          const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
          std::vector<float> want(n * m), got(n * m);
          reference::matmul(x, n, view, bias, want);
          matmul(x, n, view, bias, got);
          const std::vector<float> wmax = {4.5f};
          for (std::size_t i = 0; i < n * m; ++i) {
            ASSERT_NEAR(got[i], want[i], tolerance(x.data() + i / m * k, k, wmax))
                << dtype_name(dtype) << " n=" << n << " k=" << k << " m=" << m << " i=" << i;
          }
        }
      }
    }
  }
}

TEST_P(SimdKernelsPerTarget, MatmulInOutMatchesReferenceAtAwkwardSizes) {
  for (DType dtype : kFloatTypes) {
    for (std::size_t k : kAwkward) {
      for (std::size_t m : {std::size_t{1}, std::size_t{7}, std::size_t{33}, std::size_t{70}}) {
        for (std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{9}}) {
          if (k * m * n > 3'000'000) continue;
          const auto x = random_vector(n * k, 21);
          const auto w = random_vector(k * m, 22);
          const auto bias = random_vector(m, 23);
          const auto bytes = encode(dtype, w, m);
          const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(k), std::int64_t(m)});
          std::vector<float> want(n * m), got(n * m);
          reference::matmul_in_out(x, n, view, bias, want);
          matmul_in_out(x, n, view, bias, got);
          const std::vector<float> wmax = {4.5f};
          for (std::size_t i = 0; i < n * m; ++i) {
            ASSERT_NEAR(got[i], want[i], tolerance(x.data() + i / m * k, k, wmax))
                << dtype_name(dtype) << " n=" << n << " k=" << k << " m=" << m;
          }
        }
      }
    }
  }
}

TEST_P(SimdKernelsPerTarget, QuantizedMatmulMatchesTheIntegerReference) {
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K,
                      DType::kQ6_K}) {
    const std::size_t b = block_elems(dtype);  // one block, three (odd counts), and a long row
    for (std::size_t k : {b, 3 * b, std::size_t{4096}}) {
      for (std::size_t m : {std::size_t{1}, std::size_t{7}, std::size_t{33}}) {
        for (std::size_t n : {std::size_t{1}, std::size_t{5}}) {
          const auto x = random_vector(n * k, 31);
          const auto w = random_vector(m * k, 32);
          const auto bias = random_vector(m, 33);
          const auto bytes = encode(dtype, w, k);
          const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
          std::vector<float> want(n * m), got(n * m);
          reference::matmul(x, n, view, bias, want);
          matmul(x, n, view, bias, got);
          // Block sums are exact integers in both; only the float accumulation over blocks differs in order.
          for (std::size_t i = 0; i < n * m; ++i) {
            ASSERT_NEAR(got[i], want[i], 1e-5 * std::sqrt(double(k)) * (1 + std::fabs(want[i])))
                << dtype_name(dtype) << " n=" << n << " k=" << k << " m=" << m;
          }
          // And against float math on the dequantized weights: the 8-bit activations cost at most ~1%.
          std::vector<float> deq(m * k);
          to_f32(dtype, bytes.data(), m * k, deq.data());
          for (std::size_t i = 0; i < n; ++i) {
            for (std::size_t j = 0; j < m; ++j) {
              double exact = bias[j], mag = 0;
              for (std::size_t c = 0; c < k; ++c) {
                exact += double{x[i * k + c]} * deq[j * k + c];
                mag += std::fabs(double{x[i * k + c]} * deq[j * k + c]);
              }
              ASSERT_NEAR(got[i * m + j], exact, 0.02 * mag + 1e-5) << dtype_name(dtype) << " k=" << k;
            }
          }
        }
      }
    }
  }
}

// One-hot Q8_0 rows (scale 1.0) read back the quantized activations: with max |x| = 127 the activation scale is 1,
// so each output is x_j rounded as ggml's AVX2 quantize_row_q8_0 does: to nearest, ties to even.
TEST_P(SimdKernelsPerTarget, QuantizedActivationsRoundHalfToEven) {
  std::vector<float> x = {127.0f,  0.5f, -0.5f, 1.5f, -1.5f, 2.5f, -2.5f,  0.49999997f, -0.49999997f, 126.5f,
                          -126.5f, 3.4f, -3.6f, 0.0f, -0.0f, 7.5f, 100.5f, -100.5f,     0.25f,        64.5f};
  x.resize(32, -5.5f);
  std::vector<std::byte> w(32 * 34, std::byte{0});
  for (std::size_t r = 0; r < 32; ++r) {
    w[r * 34] = std::byte{0x00};  // F16 1.0 = 0x3C00, little-endian
    w[r * 34 + 1] = std::byte{0x3C};
    w[r * 34 + 2 + r] = std::byte{1};
  }
  const auto view = TensorView::contiguous(w.data(), DType::kQ8_0, Shape{32, 32});
  std::vector<float> got(32);
  matmul(x, 1, view, {}, got);
  for (std::size_t j = 0; j < 32; ++j) EXPECT_EQ(got[j], std::nearbyint(x[j])) << "x = " << x[j];
}

// A NaN or infinity among the activations must reach the quantized matmul's outputs: int8 conversion would turn
// it into a finite -128 and the broken weight upstream into plausible text (issue 12). Other blocks stay finite.
TEST_P(SimdKernelsPerTarget, NonFiniteActivationsStayNonFiniteThroughQuantizedMatmul) {
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity()}) {
      const std::size_t k = 96, m = 16;
      auto x = random_vector(k, 41);
      x[40] = bad;  // in the second block
      const auto w = random_vector(m * k, 42);
      const auto bytes = encode(dtype, w, k);
      const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
      std::vector<float> got(m);
      matmul(x, 1, view, {}, got);
      for (std::size_t j = 0; j < m; ++j) EXPECT_FALSE(std::isfinite(got[j])) << dtype_name(dtype) << " row " << j;
      x[40] = 1.0f;
      matmul(x, 1, view, {}, got);
      for (std::size_t j = 0; j < m; ++j) EXPECT_TRUE(std::isfinite(got[j])) << dtype_name(dtype) << " row " << j;
    }
  }
}

// A long batch on interleaved weights is quantized 16 tokens per vector for the VNNI panel tiles
// (vnni::quantize_panels), apart from quantize_act: the edge cases of that quantization must give each token's
// outputs as it has them alone (non-finite blocks, all-zero ones, F16 scales that underflow to subnormals or zero or
// overflow to infinity, and values that fall exactly half way between two integers).
TEST_P(SimdKernelsPerTarget, PanelTilesQuantizeEdgeCasesAsATokenAlone) {
  if (std::strcmp(int8_kernels(), "AVX512-VNNI") != 0) GTEST_SKIP() << "no VNNI panel tiles on this CPU";
  const std::size_t k = 256, m = 32, n = 40;
  auto x = random_vector(n * k, 91);
  const auto scale_token = [&](std::size_t t, float by) {
    for (std::size_t i = 0; i < k; ++i) x[t * k + i] *= by;
  };
  x[3 * k + 5] = std::numeric_limits<float>::quiet_NaN();
  x[7 * k + 40] = std::numeric_limits<float>::infinity();
  x[9 * k + 70] = -std::numeric_limits<float>::infinity();
  std::fill(x.begin() + 11 * k, x.begin() + 12 * k, 0.0f);
  scale_token(13, 1e-38f);               // d underflows F16 to zero
  scale_token(17, 1e-5f);                // d is an F16 subnormal
  scale_token(19, 1e7f);                 // d overflows F16
  for (std::size_t i = 0; i < k; ++i) {  // amax 127 (d = 1): every other value is a tie
    x[23 * k + i] = i % 32 == 0 ? 127.0f : (static_cast<float>(i % 7) - 3.0f) + (i % 2 != 0 ? 0.5f : 0.25f);
  }
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0, DType::kQ4_K, DType::kQ6_K, DType::kQ4_1, DType::kQ5_1}) {
    auto bytes = encode(dtype, random_vector(m * k, 92), k);
    const bool rows = interleaved_rows(dtype) == 0;  // Q4_1/Q5_1: panels on the row layout
    if (!rows) interleave_rows(dtype, bytes.data(), m, k);
    const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
    const auto mul = [&](std::span<const float> in, std::size_t tokens, std::span<float> got) {
      rows ? matmul(in, tokens, view, {}, got) : matmul_interleaved(in, tokens, view, {}, got);
    };
    std::vector<float> batch(n * m);
    mul(x, n, batch);
    for (std::size_t t = 0; t < n; ++t) {
      std::vector<float> alone(m);
      mul(std::span(x).subspan(t * k, k), 1, alone);
      for (std::size_t r = 0; r < m; ++r) {
        const float got = batch[t * m + r];
        if (std::isnan(alone[r])) {
          EXPECT_TRUE(std::isnan(got)) << dtype_name(dtype) << " token " << t << " row " << r;
        } else {
          EXPECT_EQ(std::bit_cast<std::uint32_t>(got), std::bit_cast<std::uint32_t>(alone[r]))
              << dtype_name(dtype) << " token " << t << " row " << r << ": " << got << " alone " << alone[r];
        }
      }
    }
    for (std::size_t r = 0; r < m; ++r) {  // the cases did happen
      EXPECT_TRUE(std::isnan(batch[3 * m + r])) << dtype_name(dtype);
      EXPECT_FALSE(std::isfinite(batch[19 * m + r])) << dtype_name(dtype);
    }
  }
}

TEST_P(SimdKernelsPerTarget, Q4_0KeepsElementJInTheLowNibbleAndJPlus16InTheHigh) {
  // A block built by hand: d = 0.5, byte j holds nibble j (element j) and nibble 15 - j (element j + 16).
  std::byte block[18];
  const std::uint16_t dh = f32_to_f16(0.5f);
  std::memcpy(block, &dh, 2);
  for (std::size_t j = 0; j < 16; ++j) block[2 + j] = static_cast<std::byte>(j | (15 - j) << 4);
  std::vector<float> deq(32);
  to_f32(DType::kQ4_0, block, 32, deq.data());
  const auto view = TensorView::contiguous(block, DType::kQ4_0, Shape{1, 32});
  for (std::size_t j = 0; j < 16; ++j) {
    EXPECT_FLOAT_EQ(deq[j], 0.5f * (static_cast<float>(j) - 8.0f)) << j;
    EXPECT_FLOAT_EQ(deq[j + 16], 0.5f * (7.0f - static_cast<float>(j))) << j;
  }
  // The integer kernel reads the same order: a one-hot x picks out one element (127 quantizes exactly, d = 1).
  for (std::size_t i = 0; i < 32; ++i) {
    std::vector<float> x(32, 0.0f);
    x[i] = 127.0f;
    float got = 0.0f;
    matmul(x, 1, view, {}, std::span(&got, 1));
    EXPECT_FLOAT_EQ(got, 127.0f * deq[i]) << i;
  }
}

TEST(SimdKernels, Q4_0QuantizerBeatsPlainRoundingAndStaysInTheFormat) {
  const auto x = random_vector(32 * 256, 42);
  std::vector<std::byte> q(row_bytes(DType::kQ4_0, x.size()));
  from_f32(DType::kQ4_0, x.data(), x.size(), q.data());
  std::vector<float> back(x.size());
  to_f32(DType::kQ4_0, q.data(), x.size(), back.data());
  double err = 0, plain_err = 0;
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0, max = 0;
    for (std::size_t j = 0; j < 32; ++j) {
      if (std::fabs(x[b * 32 + j]) > amax) amax = std::fabs(max = x[b * 32 + j]);
    }
    const float d = f16_to_f32(f32_to_f16(max / -8.0f));  // ggml's reference rounding
    for (std::size_t j = 0; j < 32; ++j) {
      const float v = x[b * 32 + j];
      const int qi = std::min(15, static_cast<int>(v / d + 8.5f));
      plain_err += std::pow(v - d * static_cast<float>(qi - 8), 2);
      err += std::pow(v - back[b * 32 + j], 2);
    }
  }
  EXPECT_LT(err, plain_err);
  EXPECT_GT(err, 0.0);
}

TEST(SimdKernels, Q8_0RoundTripIsWithinHalfAStep) {
  const auto x = random_vector(4096, 41, 3.0f);
  std::vector<std::byte> q(row_bytes(DType::kQ8_0, x.size()));
  from_f32(DType::kQ8_0, x.data(), x.size(), q.data());
  std::vector<float> back(x.size());
  to_f32(DType::kQ8_0, q.data(), x.size(), back.data());
  for (std::size_t b = 0; b < x.size() / 32; ++b) {
    float amax = 0;
    for (std::size_t j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[b * 32 + j]));
    for (std::size_t j = 0; j < 32; ++j) {
      ASSERT_NEAR(back[b * 32 + j], x[b * 32 + j], amax / 127.0f * 0.5f + amax * 1e-3f);  // + F16 scale rounding
    }
  }
}

TEST_P(SimdKernelsPerTarget, ElementwiseOpsMatchReference) {
  for (std::size_t n : kAwkward) {
    auto a = random_vector(n, 51, 3.0f);
    auto b = a;
    reference::gelu_tanh(a);
    gelu_tanh(b);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(b[i], a[i], 1e-5f * (1 + std::fabs(a[i]))) << "gelu n=" << n;
    auto g1 = random_vector(n, 52, 3.0f);
    auto g2 = g1;
    const auto up = random_vector(n, 53);
    reference::swiglu(g1, up);
    swiglu(g2, up);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(g2[i], g1[i], 1e-5f * (1 + std::fabs(g1[i]))) << "swiglu n=" << n;
    auto s1 = random_vector(n, 54, 4.0f);
    auto s2 = s1;
    reference::softmax(s1);
    softmax(s2);
    for (std::size_t i = 0; i < n; ++i) ASSERT_NEAR(s2[i], s1[i], 1e-6f + 1e-5f * s1[i]) << "softmax n=" << n;
  }
}

// Head sizes 33, 44 and 64 take every path of the value sum (blocks of four vectors, single vectors, scalar tail).
TEST_P(SimdKernelsPerTarget, AttentionMatchesReference) {
  for (std::size_t head_dim : {33, 44, 64}) {
    AttentionArgs args;
    args.window = head_dim == 44 ? 9 : 0;  // a sliding window, and soft-capping, on one of the shapes
    args.softcap = head_dim == 44 ? 0.7f : 0.0f;
    args.n_tokens = 5;
    args.pos0 = 27;
    args.n_heads = 6;
    args.n_kv_heads = 2;
    args.head_dim = head_dim;
    args.scale = 1.0f / std::sqrt(static_cast<float>(head_dim));
    const std::size_t ctx = args.pos0 + args.n_tokens;
    const auto q = random_vector(args.n_tokens * args.n_heads * args.head_dim, 61);
    const auto k = random_vector(ctx * args.n_kv_heads * args.head_dim, 62);
    const auto v = random_vector(ctx * args.n_kv_heads * args.head_dim, 63);
    std::vector<float> scratch(ctx), want(q.size()), got(q.size()), threaded(q.size());
    reference::attention(args, q, k, v, scratch, want);
    attention(args, q, k, v, scratch, got);
    ThreadPool pool(3);
    attention(args, q, k, v, scratch, threaded, &pool);
    for (std::size_t i = 0; i < q.size(); ++i)
      ASSERT_NEAR(got[i], want[i], 1e-5f) << "head_dim " << head_dim << " " << i;
    EXPECT_EQ(std::memcmp(got.data(), threaded.data(), got.size() * 4), 0);
  }
}

// Bit-identical outputs for 1, 2, 3 and 5 threads in every matrix path.
TEST_P(SimdKernelsPerTarget, ResultsAreIdenticalForAnyThreadCount) {
  const std::size_t m = 1000;  // not a multiple of any vector width
  const auto bias = random_vector(m, 72);
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0, DType::kQ4_1, DType::kQ5_1,
                      DType::kQ4_K, DType::kQ6_K}) {
    const std::size_t k = is_k_quant(dtype) ? 768 : 544;
    const auto w = random_vector(m * k, 71);
    const auto out_in = encode(dtype, w, k);
    const auto out_in_view = TensorView::contiguous(out_in.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
    for (std::size_t n : {std::size_t{1}, std::size_t{17}}) {
      const auto x = random_vector(n * k, 73);
      std::vector<float> single(n * m);
      matmul(x, n, out_in_view, bias, single);
      for (std::size_t threads : {2, 3, 5}) {
        ThreadPool pool(threads);
        std::vector<float> multi(n * m);
        matmul(x, n, out_in_view, bias, multi, &pool);
        EXPECT_EQ(std::memcmp(single.data(), multi.data(), single.size() * 4), 0)
            << dtype_name(dtype) << " n=" << n << " threads=" << threads;
      }
      if (is_quantized(dtype)) continue;
      const auto in_out = encode(dtype, w, m);  // the same numbers read as [k, m]
      const auto in_out_view = TensorView::contiguous(in_out.data(), dtype, Shape{std::int64_t(k), std::int64_t(m)});
      std::vector<float> single_io(n * m);
      matmul_in_out(x, n, in_out_view, bias, single_io);
      for (std::size_t threads : {2, 3, 5}) {
        ThreadPool pool(threads);
        std::vector<float> multi(n * m);
        matmul_in_out(x, n, in_out_view, bias, multi, &pool);
        EXPECT_EQ(std::memcmp(single_io.data(), multi.data(), multi.size() * 4), 0)
            << "in_out " << dtype_name(dtype) << " n=" << n << " threads=" << threads;
      }
    }
  }
}

// Prefill runs tiles of several tokens and decode one token: each output must be the same bits either way, so that
// a prompt's logits do not depend on how it was batched.
// m = 37, n = 37: Q4_1/Q5_1's VNNI panel tiles (vnni::row_layout_panels) for two groups of 16 rows, tiles for the
// rest, with threads splitting the rows.
TEST_P(SimdKernelsPerTarget, QuantizedRowsAreTheSameBitsInABatchAndAlone) {
  for (DType dtype :
       {DType::kQ8_0, DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    for (const auto& [m, n] : {std::pair<std::size_t, std::size_t>{13, 7}, {37, 37}}) {
      const std::size_t k = 512;
      const auto w = random_vector(m * k, 81);
      const auto bytes = encode(dtype, w, k);
      const auto view = TensorView::contiguous(bytes.data(), dtype, Shape{std::int64_t(m), std::int64_t(k)});
      const auto x = random_vector(n * k, 82);
      std::vector<float> batch(n * m);
      ThreadPool pool(2);
      matmul(x, n, view, {}, batch, &pool);
      for (std::size_t i = 0; i < n; ++i) {
        std::vector<float> alone(m);
        matmul(std::span(x).subspan(i * k, k), 1, view, {}, alone);
        EXPECT_EQ(std::memcmp(alone.data(), batch.data() + i * m, m * 4), 0)
            << dtype_name(dtype) << " m=" << m << " token " << i;
      }
    }
  }
}

// Interleaved matrices hold the same numbers as the rows in another order: matmul_interleaved must give matmul's bits
// (within rounding with the AVX512-VNNI kernels, which sum 16 rows per vector there), for whole groups of 8 or 16 rows
// and for the tail rows that keep the row layout, with any thread count, and for a token in a batch or alone (so
// the VNNI panel tiles of a long batch give the 16-row tiles' bits).
TEST_P(SimdKernelsPerTarget, InterleavedRowsMatchRowLayout) {
  const bool vnni = std::strcmp(int8_kernels(), "AVX512-VNNI") == 0;
  std::size_t tested = 0;
  for (DType dtype : {DType::kQ4_0, DType::kQ8_0, DType::kQ5_0, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    if (interleaved_rows(dtype) == 0) continue;
    ++tested;
    const std::size_t b = block_elems(dtype);  // one block, and an odd count (17 for 32-value blocks)
    for (std::size_t k : {b, b == 32 ? std::size_t{544} : 3 * b}) {
      for (std::size_t m : {std::size_t{8}, std::size_t{13}, std::size_t{16}, std::size_t{64}, std::size_t{1001}}) {
        const auto w = random_vector(m * k, 81);
        const auto rows = encode(dtype, w, k);
        auto interleaved = rows;
        interleave_rows(dtype, interleaved.data(), m, k);
        ASSERT_EQ(interleaved.size(), rows.size());
        if (m >= interleaved_rows(dtype)) {
          EXPECT_NE(interleaved, rows) << "nothing was interleaved, m=" << m;
        } else {
          EXPECT_EQ(interleaved, rows) << "fewer rows than a group were interleaved, m=" << m;
        }
        const Shape shape{std::int64_t(m), std::int64_t(k)};
        const auto row_view = TensorView::contiguous(rows.data(), dtype, shape);
        const auto il_view = TensorView::contiguous(interleaved.data(), dtype, shape);
        const auto bias = random_vector(m, 82);
        // 37: VNNI panel tiles (from vnni::kPanelTokens on) over a pair of 16-token groups and a last group alone.
        for (std::size_t n : {std::size_t{1}, std::size_t{3}, std::size_t{9}, std::size_t{37}}) {
          const auto x = random_vector(n * k, 83);
          std::vector<float> want(n * m), ref(n * m);
          matmul(x, n, row_view, bias, want);
          reference::matmul(x, n, row_view, bias, ref);
          const auto near = [&](const std::vector<float>& got, const char* what) {
            for (std::size_t i = 0; i < ref.size(); ++i) {
              ASSERT_NEAR(got[i], ref[i], 1e-3f * (1.0f + std::fabs(ref[i])))
                  << what << " " << dtype_name(dtype) << " k=" << k << " m=" << m << " n=" << n << " i=" << i;
            }
          };
          near(want, "rows");
          if (vnni) {
            std::vector<float> il(n * m);
            matmul_interleaved(x, n, il_view, bias, il);
            near(il, "interleaved");
            for (std::size_t i = 0; i < n; ++i) {  // the batch's rows are the bits of each token alone
              std::vector<float> alone(m);
              matmul_interleaved(std::span(x).subspan(i * k, k), 1, il_view, bias, alone);
              EXPECT_EQ(std::memcmp(alone.data(), il.data() + i * m, m * 4), 0)
                  << dtype_name(dtype) << " k=" << k << " m=" << m;
            }
            want = il;
          }
          for (std::size_t threads : {1, 2, 3}) {
            ThreadPool pool(threads);
            std::vector<float> got(n * m);
            matmul_interleaved(x, n, il_view, bias, got, &pool);
            EXPECT_EQ(std::memcmp(want.data(), got.data(), got.size() * 4), 0)
                << dtype_name(dtype) << " k=" << k << " m=" << m << " n=" << n << " threads=" << threads;
          }
        }
      }
    }
  }
  if (tested == 0) GTEST_SKIP() << "this CPU's kernels read every format as rows";
}

TEST(ThreadPool, RunsEveryChunkExactlyOnceAcrossManyLoops) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.size(), 4u);
  for (std::size_t loop = 0; loop < 2000; ++loop) {
    const std::size_t n = 1 + loop % 37;
    std::vector<std::atomic<int>> hits(n);
    pool.parallel_for(n, [&](std::size_t c) { hits[c].fetch_add(1); });
    for (std::size_t c = 0; c < n; ++c) ASSERT_EQ(hits[c].load(), 1) << "loop " << loop << " chunk " << c;
  }
}

TEST(ThreadPool, ParallelRangesCoverTheRangeOnce) {
  ThreadPool pool(3);
  for (std::size_t n : {0, 1, 7, 100, 1001}) {
    std::vector<int> seen(n, 0);
    parallel_ranges(&pool, n, 16, [&](std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) ++seen[i];
    });
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << n;
  }
  ThreadPool single(1);
  std::size_t total = 0;
  parallel_ranges(&single, 50, 7, [&](std::size_t b, std::size_t e) { total += e - b; });
  EXPECT_EQ(total, 50u);
}

}  // namespace
}  // namespace edge_rt::backend::cpu
