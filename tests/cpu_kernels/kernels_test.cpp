// The reference kernels against direct double-precision recomputation of their definitions, at awkward sizes.
#include <edge_rt/backend/cpu/kernels.hpp>

#include <gtest/gtest.h>

#include "per_target.hpp"
#include "random_vector.hpp"

#include <cmath>
#include <random>
#include <vector>

namespace {
// The tests of kernels that dispatch (matmul, activations, softmax, attention), once per Highway target
// (per_target.hpp); norms and RoPE run the reference code on every CPU and stay plain tests.
class KernelsPerTarget : public edge_rt::backend::cpu::testing::PerTargetTest {};
HWY_TARGET_INSTANTIATE_TEST_SUITE_P(KernelsPerTarget);
}  // namespace

namespace edge_rt::backend::cpu {
namespace {

using namespace ::edge_rt::tensor_core;  // dtypes and views

using testing::random_vector;

const std::size_t kSizes[] = {1, 7, 33, 64, 257};

TEST_P(KernelsPerTarget, MatmulMatchesDoubleDotProductsInEveryDType) {
  for (std::size_t k : kSizes) {
    const std::size_t n = 3, m = 5;
    auto x = random_vector(n * k, 1);
    auto w = random_vector(m * k, 2);
    auto bias = random_vector(m, 3);
    std::vector<std::uint16_t> w16(w.size()), wbf(w.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      w16[i] = f32_to_f16(w[i]);
      wbf[i] = f32_to_bf16(w[i]);
    }
    struct Case {
      DType dtype;
      const void* data;
      float (*decode)(const void*, std::size_t);
    };
    const Case cases[] = {
        {DType::kF32, w.data(), [](const void* p, std::size_t i) { return static_cast<const float*>(p)[i]; }},
        {DType::kF16, w16.data(),
         [](const void* p, std::size_t i) { return f16_to_f32(static_cast<const std::uint16_t*>(p)[i]); }},
        {DType::kBF16, wbf.data(),
         [](const void* p, std::size_t i) { return bf16_to_f32(static_cast<const std::uint16_t*>(p)[i]); }},
    };
    for (const Case& c : cases) {
      auto view = TensorView::contiguous(static_cast<const std::byte*>(c.data), c.dtype,
                                         Shape{static_cast<std::int64_t>(m), static_cast<std::int64_t>(k)});
      std::vector<float> out(n * m);
      matmul(x, n, view, bias, out);
      for (std::size_t i = 0; i < n; ++i) {
        for (std::size_t j = 0; j < m; ++j) {
          double expect = bias[j];
          for (std::size_t c2 = 0; c2 < k; ++c2) expect += double{x[i * k + c2]} * c.decode(c.data, j * k + c2);
          EXPECT_NEAR(out[i * m + j], expect, 1e-4 * std::sqrt(double(k)) + 1e-5)
              << "k=" << k << " dtype=" << dtype_name(c.dtype);
        }
      }
    }
  }
}

TEST(Kernels, LayerNormAndRmsNorm) {
  for (std::size_t d : kSizes) {
    auto x = random_vector(2 * d, 4, 3.0f);
    auto gamma = random_vector(d, 5);
    auto beta = random_vector(d, 6);
    std::vector<float> ln(2 * d), rms(2 * d);
    layer_norm(x, d, gamma, beta, 1e-5f, ln);
    rms_norm(x, d, gamma, 1e-5f, rms);
    for (std::size_t r = 0; r < 2; ++r) {
      double mean = 0, var = 0, ss = 0;
      for (std::size_t c = 0; c < d; ++c) mean += x[r * d + c];
      mean /= double(d);
      for (std::size_t c = 0; c < d; ++c) {
        var += (x[r * d + c] - mean) * (x[r * d + c] - mean);
        ss += double{x[r * d + c]} * x[r * d + c];
      }
      var /= double(d);
      for (std::size_t c = 0; c < d; ++c) {
        EXPECT_NEAR(ln[r * d + c], (x[r * d + c] - mean) / std::sqrt(var + 1e-5) * gamma[c] + beta[c], 1e-4);
        EXPECT_NEAR(rms[r * d + c], x[r * d + c] / std::sqrt(ss / double(d) + 1e-5) * gamma[c], 1e-4);
      }
    }
  }
}

TEST(Kernels, NormsMayWorkInPlace) {
  auto x = random_vector(33, 7);
  auto w = random_vector(33, 8);
  std::vector<float> out(33);
  rms_norm(x, 33, w, 1e-5f, out);
  rms_norm(x, 33, w, 1e-5f, x);
  EXPECT_EQ(out, x);
}

TEST_P(KernelsPerTarget, Activations) {
  std::vector<float> x = {-3.0f, -0.5f, 0.0f, 0.5f, 3.0f};
  auto g = x;
  gelu_tanh(g);
  for (std::size_t i = 0; i < x.size(); ++i) {
    const double v = x[i];
    EXPECT_NEAR(g[i], 0.5 * v * (1 + std::tanh(std::sqrt(2 / M_PI) * (v + 0.044715 * v * v * v))), 1e-6);
  }
  auto gate = x;
  std::vector<float> up = {1, 2, 3, 4, 5};
  swiglu(gate, up);
  for (std::size_t i = 0; i < x.size(); ++i) EXPECT_NEAR(gate[i], x[i] / (1 + std::exp(-double(x[i]))) * up[i], 1e-6);
}

TEST_P(KernelsPerTarget, SoftmaxIsStableAndSumsToOne) {
  std::vector<float> x = {1000.0f, 1001.0f, 999.0f};
  softmax(x);
  EXPECT_NEAR(x[0] + x[1] + x[2], 1.0f, 1e-6);
  EXPECT_GT(x[1], x[0]);
  EXPECT_NEAR(x[1] / x[0], std::exp(1.0), 1e-4);
}

TEST(Kernels, RopeRotatesHalvesByPositionAngle) {
  const std::size_t heads = 2, hd = 8, n = 3, pos0 = 5;
  auto x = random_vector(n * heads * hd, 9);
  auto y = x;
  rope(y, n, heads, hd, pos0, tensor_core::rope_inv_freq(10000.0f, hd));
  for (std::size_t t = 0; t < n; ++t) {
    for (std::size_t h = 0; h < heads; ++h) {
      for (std::size_t i = 0; i < hd / 2; ++i) {
        const double angle = double(pos0 + t) * std::pow(10000.0, -2.0 * double(i) / double(hd));
        const float a = x[(t * heads + h) * hd + i], b = x[(t * heads + h) * hd + i + hd / 2];
        EXPECT_NEAR(y[(t * heads + h) * hd + i], a * std::cos(angle) - b * std::sin(angle), 1e-4);
        EXPECT_NEAR(y[(t * heads + h) * hd + i + hd / 2], a * std::sin(angle) + b * std::cos(angle), 1e-4);
      }
    }
  }
  // Position 0 is the identity.
  auto z = x;
  rope(z, 1, heads, hd, 0, tensor_core::rope_inv_freq(10000.0f, hd));
  for (std::size_t i = 0; i < heads * hd; ++i) EXPECT_FLOAT_EQ(z[i], x[i]);
}

// A geometric table (plain RoPE) gives llama.cpp's angles: pos * inv_freq[0], then one float multiplication by
// the ratio per pair, not pos * inv_freq[i] (GGUF models keep llama.cpp's q and k bits); any other table (Llama 3's
// per-pair factors) gives pos * inv_freq[i]. A unit pair (1, 0) comes out as exactly (cos, sin) of the angle.
TEST(Kernels, RopeAdvancesAGeometricTableByOneMultiplicationPerPair) {
  const std::size_t hd = 64, pos = 4321;
  auto geometric = tensor_core::rope_inv_freq(100000.0f, hd);
  auto uneven = geometric;
  for (std::size_t i = hd / 4; i < hd / 2; ++i) uneven[i] /= 8.0f;  // low frequencies scaled, as Llama 3's
  for (const bool chain : {true, false}) {
    const auto& table = chain ? geometric : uneven;
    const float ratio = static_cast<float>(double(table[1]) / table[0]);
    float angle = static_cast<float>(pos) * table[0];
    std::size_t differs = 0;
    for (std::size_t i = 0; i < hd / 2; ++i) {
      if (i > 0) angle = chain ? angle * ratio : static_cast<float>(pos) * table[i];
      differs += angle != static_cast<float>(pos) * table[i];
      std::vector<float> x(hd, 0.0f);
      x[i] = 1.0f;
      rope(x, 1, 1, hd, pos, table);
      EXPECT_EQ(x[i], std::cos(angle)) << "pair " << i << (chain ? " geometric" : " uneven");
      EXPECT_EQ(x[i + hd / 2], std::sin(angle)) << "pair " << i << (chain ? " geometric" : " uneven");
    }
    if (chain) {
      EXPECT_GT(differs, 0u) << "the chain gave no angle of its own: the test could not tell";
    }
  }
}

// Meta's order (llama GGUF files): pair i is (2i, 2i + 1). Equivalent to rotate-half on a row permuted so that
// 2i -> i and 2i + 1 -> i + hd / 2, which is how convert_hf_to_gguf.py permutes Q and K.
TEST(Kernels, RopeInterleavedIsRotateHalfOnPermutedRows) {
  const std::size_t heads = 3, hd = 8, n = 2, pos0 = 7;
  const auto x = random_vector(n * heads * hd, 19);
  auto inter = x;
  rope(inter, n, heads, hd, pos0, tensor_core::rope_inv_freq(10000.0f, hd), /*interleaved=*/true);
  std::vector<float> half(x.size());
  for (std::size_t r = 0; r < n * heads; ++r) {
    for (std::size_t i = 0; i < hd / 2; ++i) {
      half[r * hd + i] = x[r * hd + 2 * i];
      half[r * hd + i + hd / 2] = x[r * hd + 2 * i + 1];
    }
  }
  rope(half, n, heads, hd, pos0, tensor_core::rope_inv_freq(10000.0f, hd));
  for (std::size_t r = 0; r < n * heads; ++r) {
    for (std::size_t i = 0; i < hd / 2; ++i) {
      EXPECT_FLOAT_EQ(inter[r * hd + 2 * i], half[r * hd + i]);
      EXPECT_FLOAT_EQ(inter[r * hd + 2 * i + 1], half[r * hd + i + hd / 2]);
    }
  }
}

// Causal, optionally through a sliding window (keys (p - window, p]) and with soft-capped scores (Gemma-2).
TEST_P(KernelsPerTarget, AttentionIsCausalWithGroupedQueryHeads) {
  const std::size_t heads = 4, kv_heads = 2, hd = 5, pos0 = 3, n = 3, ctx = pos0 + n;
  auto q = random_vector(n * heads * hd, 10);
  auto k = random_vector(ctx * kv_heads * hd, 11);
  auto v = random_vector(ctx * kv_heads * hd, 12);
  for (auto [window, softcap] : {std::pair<std::size_t, float>{0, 0.0f}, {2, 0.0f}, {0, 0.3f}, {4, 0.5f}}) {
    std::vector<float> out(n * heads * hd), scratch(ctx);
    AttentionArgs args{n, pos0, heads, kv_heads, hd, 1.0f / std::sqrt(float(hd))};
    args.window = window;
    args.softcap = softcap;
    attention(args, q, k, v, scratch, out);
    for (std::size_t t = 0; t < n; ++t) {
      for (std::size_t h = 0; h < heads; ++h) {
        const std::size_t kvh = h / (heads / kv_heads);
        const std::size_t last = pos0 + t;
        const std::size_t first = window > 0 && last + 1 > window ? last + 1 - window : 0;
        std::vector<double> s(last + 1, 0.0);
        double max = -1e300, sum = 0;
        for (std::size_t p = first; p <= last; ++p) {
          double dot = 0;
          for (std::size_t c = 0; c < hd; ++c)
            dot += double{q[(t * heads + h) * hd + c]} * k[(p * kv_heads + kvh) * hd + c];
          s[p] = dot / std::sqrt(double(hd));
          if (softcap > 0) s[p] = softcap * std::tanh(s[p] / softcap);
          max = std::max(max, s[p]);
        }
        for (std::size_t p = first; p <= last; ++p) sum += (s[p] = std::exp(s[p] - max));
        for (std::size_t c = 0; c < hd; ++c) {
          double o = 0;
          for (std::size_t p = first; p <= last; ++p) o += s[p] / sum * v[(p * kv_heads + kvh) * hd + c];
          EXPECT_NEAR(out[(t * heads + h) * hd + c], o, 1e-5) << "window " << window << " softcap " << softcap;
        }
      }
    }
  }
}

TEST_P(KernelsPerTarget, EntryPointsAgreeWithReference) {
  auto x = random_vector(4097, 13);
  auto a = x, b = x;
  softmax(a);
  reference::softmax(b);
  for (std::size_t i = 0; i < a.size(); ++i) ASSERT_NEAR(a[i], b[i], 1e-6f + 1e-5f * b[i]) << i;
  EXPECT_EQ(argmax(std::vector<float>{1, 3, 3, 2}), 1u);
}

}  // namespace
}  // namespace edge_rt::backend::cpu

namespace edge_rt::backend::cpu {
namespace {

using namespace ::edge_rt::tensor_core;  // dtypes and views

// x . w_t where w_t is stored [k, m] equals x . w^T with w stored [m, k], for every dtype.
TEST_P(KernelsPerTarget, MatmulInOutEqualsMatmulOnTheTranspose) {
  for (std::size_t k : {1u, 7u, 33u, 130u}) {
    const std::size_t n = 3, m = 9;
    std::mt19937 rng(static_cast<std::uint32_t>(k));
    std::normal_distribution<float> dist(0.0f, 1.0f);
    std::vector<float> x(n * k), w(m * k), wt(k * m), bias(m);
    for (float& v : x) v = dist(rng);
    for (float& v : w) v = dist(rng);
    for (float& v : bias) v = dist(rng);
    for (std::size_t j = 0; j < m; ++j) {
      for (std::size_t c = 0; c < k; ++c) wt[c * m + j] = w[j * k + c];
    }
    std::vector<std::uint16_t> w16(w.size()), wt16(wt.size());
    for (std::size_t i = 0; i < w.size(); ++i) {
      w16[i] = f32_to_bf16(w[i]);
      wt16[i] = f32_to_bf16(wt[i]);
    }
    const auto sk = static_cast<std::int64_t>(k), sm = static_cast<std::int64_t>(m);
    std::vector<float> a(n * m), b(n * m);
    matmul(x, n, TensorView::contiguous(reinterpret_cast<const std::byte*>(w.data()), DType::kF32, Shape{sm, sk}), bias,
           a);
    matmul_in_out(x, n,
                  TensorView::contiguous(reinterpret_cast<const std::byte*>(wt.data()), DType::kF32, Shape{sk, sm}),
                  bias, b);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * std::sqrt(double(k))) << "k=" << k;
    matmul(x, n, TensorView::contiguous(reinterpret_cast<const std::byte*>(w16.data()), DType::kBF16, Shape{sm, sk}),
           {}, a);
    matmul_in_out(x, n,
                  TensorView::contiguous(reinterpret_cast<const std::byte*>(wt16.data()), DType::kBF16, Shape{sk, sm}),
                  {}, b);
    for (std::size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-4 * std::sqrt(double(k))) << "bf16 k=" << k;
  }
}

}  // namespace
}  // namespace edge_rt::backend::cpu
