// The Vulkan backend's ops against the CPU reference kernels on awkward shapes and every weight format, with the
// normalised mean squared error bounds llama.cpp's test-backend-ops uses (NMSE = sum (a - b)^2 / sum b^2), run
// with the Khronos validation layer on (EDGE_RT_VULKAN_VALIDATION=1, set by CTest) and zero messages allowed.
// Skipped, with the reason, where the build has no Vulkan or the machine no Vulkan driver.
#include <edge_rt/backend/cpu/kernels.hpp>
#include <edge_rt/backend/vulkan.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

namespace edge_rt::backend {
namespace {

namespace tc = tensor_core;
using tc::DType;

std::vector<float> random_floats(std::size_t n, unsigned seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-scale, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

double nmse(std::span<const float> got, std::span<const float> want) {
  double err = 0, ref = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    err += d * d;
    ref += static_cast<double>(want[i]) * want[i];
  }
  return ref == 0 ? err : err / ref;
}

// The shaders compute what the CPU reference does: F32/F16/BF16 weights decoded exactly, and for Q8_0/Q4_0 the
// activations quantized to 8 bits per block (as ggml's vec_dot) with integer block dots; only the summation order
// differs (and, on devices whose float division is not correctly rounded, an activation's rounding). Against the
// F32 product with the decoded weights, quantized results carry the activation rounding: llama.cpp's looser bound.
constexpr double kExactBound = 1e-10;
constexpr double kQuantizedBound = 1e-7;  // many more float terms per row, each with a 2-rounding scale product
constexpr double kQuantizedActivationBound = 5e-3;
// GLSL's exp and tanh are the device's (lavapipe: LLVM's approximations), not libm's.
constexpr double kTranscendentalBound = 1e-7;

float gelu_double(float v) {
  const double x = v;
  const double u = 0.7978845608028654 * (x + 0.044715 * x * x * x);
  return static_cast<float>(x / (1.0 + std::exp(-2.0 * u)));  // = 0.5 x (1 + tanh u)
}

// Each test runs twice: with subgroup reductions (where the device has them) and with the shared-memory path of
// devices without (EDGE_RT_VULKAN_SUBGROUPS=0, read when a backend starts).
class Vulkan : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ::setenv("EDGE_RT_VULKAN_SUBGROUPS", GetParam() ? "1" : "0", 1);
    auto b = make_vulkan_backend({memory_manager::MemoryBudget::unlimited(), 1, 0});
    if (!b) {
      GTEST_SKIP() << b.error().message;
    }
    gpu_ = std::move(b).value();
    messages_before_ = vulkan_validation_messages();
  }
  void TearDown() override {
    if (gpu_) {
      EXPECT_EQ(vulkan_validation_messages(), messages_before_) << "validation messages (stderr has them)";
    }
  }

  // A [rows, cols] matrix (as stored) of `dtype` in a device weight buffer.
  memory_manager::BufferGuard weights(DType dtype, std::size_t rows, std::size_t cols, const std::vector<float>& v) {
    auto block = gpu_->allocate(rows * tc::row_bytes(dtype, cols), BufferUsage::kWeights);
    EDGE_RT_CHECK(block.has_value(), "device allocation must succeed");
    for (std::size_t r = 0; r < rows; ++r) {
      tc::from_f32(dtype, v.data() + r * cols, cols, block.value().data() + r * tc::row_bytes(dtype, cols));
    }
    return std::move(block).value();
  }

  std::unique_ptr<Backend> gpu_;
  std::uint64_t messages_before_ = 0;
};

struct MatmulCase {
  std::size_t m, k, n;
};

TEST_P(Vulkan, MatmulOutputMajorEveryFormat) {
  const MatmulCase cases[] = {{1, 32, 1}, {7, 64, 3}, {33, 96, 9}, {4097, 256, 1}, {130, 4096, 8}, {65, 160, 17}};
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    for (const auto& c : cases) {
      const auto w = random_floats(c.m * c.k, 1);
      const auto x = random_floats(c.n * c.k, 2);
      const auto bias = random_floats(c.m, 3);
      auto block = weights(dtype, c.m, c.k, w);
      const tc::Shape shape{static_cast<std::int64_t>(c.m), static_cast<std::int64_t>(c.k)};
      const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), dtype, shape, false, WeightUse::kMatmul);
      std::vector<float> decoded(c.m * c.k);
      tc::to_f32(dtype, block.data(), c.m * c.k, decoded.data());
      for (bool with_bias : {false, true}) {
        std::vector<float> want(c.n * c.m), exact(c.n * c.m), got(c.n * c.m, -1.0f);
        const std::span<const float> b = with_bias ? std::span<const float>(bias) : std::span<const float>{};
        cpu::reference::matmul(x, c.n, tc::TensorView::contiguous(block.data(), dtype, shape), b, want);
        cpu::reference::matmul(
            x, c.n, tc::TensorView::contiguous(reinterpret_cast<const std::byte*>(decoded.data()), DType::kF32, shape),
            b, exact);
        gpu_->matmul(x, c.n, pw, b, got);
        gpu_->synchronize();
        const std::string what = std::string(tc::dtype_name(dtype)) + " m=" + std::to_string(c.m) +
                                 " k=" + std::to_string(c.k) + " n=" + std::to_string(c.n) +
                                 " bias=" + std::to_string(with_bias);
        EXPECT_LT(nmse(got, want), tc::is_quantized(dtype) ? kQuantizedBound : kExactBound) << what;
        EXPECT_LT(nmse(got, exact), tc::is_quantized(dtype) ? kQuantizedActivationBound : kExactBound) << what;
      }
    }
  }
}

// GPT-2 124M's quantized matmul shapes against the kernels the CPU backend runs (SIMD, threaded).
TEST_P(Vulkan, QuantizedMatmulMatchesTheCpuBackendOnGpt2Shapes) {
  const MatmulCase cases[] = {{2304, 768, 1}, {768, 3072, 5}, {3072, 768, 24}};
  for (DType dtype : {DType::kQ8_0, DType::kQ4_0}) {
    for (const auto& c : cases) {
      const auto w = random_floats(c.m * c.k, 21, 0.05f);
      const auto x = random_floats(c.n * c.k, 22, 3.0f);
      const auto bias = random_floats(c.m, 23);
      auto block = weights(dtype, c.m, c.k, w);
      const tc::Shape shape{static_cast<std::int64_t>(c.m), static_cast<std::int64_t>(c.k)};
      const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), dtype, shape, false, WeightUse::kMatmul);
      std::vector<float> want(c.n * c.m), ref(c.n * c.m), got(c.n * c.m, -1.0f);
      cpu::matmul(x, c.n, tc::TensorView::contiguous(block.data(), dtype, shape), bias, want);
      cpu::reference::matmul(x, c.n, tc::TensorView::contiguous(block.data(), dtype, shape), bias, ref);
      gpu_->matmul(x, c.n, pw, bias, got);
      gpu_->synchronize();
      EXPECT_LT(nmse(got, want), kQuantizedBound) << tc::dtype_name(dtype) << " m=" << c.m << " k=" << c.k;
      EXPECT_LT(nmse(got, ref), kQuantizedBound) << tc::dtype_name(dtype) << " m=" << c.m << " k=" << c.k;
      EXPECT_LT(nmse(want, ref), kQuantizedBound) << tc::dtype_name(dtype) << " m=" << c.m << " k=" << c.k;
    }
  }
}

// Quantized matmuls recorded back to back share the backend's quantized-activation buffer, which grows on the way.
TEST_P(Vulkan, ChainedQuantizedMatmuls) {
  const std::size_t d = 256, h = 1024, n = 3;
  const auto w1 = random_floats(h * d, 24, 0.1f);
  const auto w2 = random_floats(d * h, 25, 0.1f);
  const auto x = random_floats(n * d, 26);
  auto b1 = weights(DType::kQ8_0, h, d, w1);
  auto b2 = weights(DType::kQ4_0, d, h, w2);
  const tc::Shape s1{static_cast<std::int64_t>(h), static_cast<std::int64_t>(d)};
  const tc::Shape s2{static_cast<std::int64_t>(d), static_cast<std::int64_t>(h)};
  const PreparedWeight p1 = gpu_->prepare_weight(b1.bytes(), DType::kQ8_0, s1, false, WeightUse::kMatmul);
  const PreparedWeight p2 = gpu_->prepare_weight(b2.bytes(), DType::kQ4_0, s2, false, WeightUse::kMatmul);
  std::vector<float> mid(n * h), want(n * d), got_mid(n * h), got(n * d), again(n * d);
  cpu::reference::matmul(x, n, tc::TensorView::contiguous(b1.data(), DType::kQ8_0, s1), {}, mid);
  cpu::reference::matmul(mid, n, tc::TensorView::contiguous(b2.data(), DType::kQ4_0, s2), {}, want);
  gpu_->matmul(x, n, p1, {}, got_mid);
  gpu_->matmul(got_mid, n, p2, {}, got);
  gpu_->matmul(x, n, p1, {}, got_mid);  // the small one again, after the buffer grew
  gpu_->matmul(got_mid, n, p2, {}, again);
  gpu_->synchronize();
  EXPECT_LT(nmse(got, want), kQuantizedBound);
  EXPECT_EQ(got, again);
}

TEST_P(Vulkan, MatmulInputMajor) {
  const MatmulCase cases[] = {{1, 1, 1}, {7, 33, 2}, {33, 7, 9}, {2304, 768, 1}, {97, 64, 17}};
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16}) {
    for (const auto& c : cases) {
      const auto w = random_floats(c.k * c.m, 4);
      const auto x = random_floats(c.n * c.k, 5);
      const auto bias = random_floats(c.m, 6);
      auto block = weights(dtype, c.k, c.m, w);  // stored [k, m]
      const tc::Shape shape{static_cast<std::int64_t>(c.k), static_cast<std::int64_t>(c.m)};
      const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), dtype, shape, true, WeightUse::kMatmul);
      std::vector<float> want(c.n * c.m), got(c.n * c.m, -1.0f);
      cpu::reference::matmul_in_out(x, c.n, tc::TensorView::contiguous(block.data(), dtype, shape), bias, want);
      gpu_->matmul(x, c.n, pw, bias, got);
      gpu_->synchronize();
      EXPECT_LT(nmse(got, want), kExactBound) << tc::dtype_name(dtype) << " m=" << c.m << " k=" << c.k << " n=" << c.n;
    }
  }
}

// GPT-2's LM head in F32 is 154 MB; lavapipe binds at most 128 MiB: the matmul splits the rows across bindings.
TEST_P(Vulkan, MatmulSplitsAWeightLargerThanOneBinding) {
  const std::uint64_t range = gpu_->info().max_binding_bytes;
  const std::size_t k = 1024;
  const std::size_t m = static_cast<std::size_t>(range / (k * 4)) + 1001;  // past one binding
  if (m * k * 4 > (std::uint64_t{1} << 31)) {
    GTEST_SKIP() << "the device binds more than 2 GiB: nothing to split here";
  }
  const auto w = random_floats(m * k, 7);
  const auto x = random_floats(k, 8);
  auto block = weights(DType::kF32, m, k, w);
  const tc::Shape shape{static_cast<std::int64_t>(m), static_cast<std::int64_t>(k)};
  const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), DType::kF32, shape, false, WeightUse::kMatmul);
  std::vector<float> want(m), got(m, -1.0f);
  cpu::reference::matmul(x, 1, tc::TensorView::contiguous(block.data(), DType::kF32, shape), {}, want);
  gpu_->matmul(x, 1, pw, {}, got);
  gpu_->synchronize();
  EXPECT_LT(nmse(got, want), kExactBound);
  EXPECT_LT(std::fabs(got.back() - want.back()), 1e-3f);  // the last rows come from the last binding
}

TEST_P(Vulkan, Norms) {
  for (std::size_t d : {1, 7, 64, 288, 4097}) {
    for (std::size_t rows : {1, 3}) {
      const auto x = random_floats(rows * d, 9, 3.0f);
      const auto g = random_floats(d, 10);
      const auto b = random_floats(d, 11);
      std::vector<float> want(rows * d), got(rows * d);
      cpu::reference::layer_norm(x, d, g, b, 1e-5f, want);
      gpu_->layer_norm(x, d, g, b, 1e-5f, got);
      gpu_->synchronize();
      EXPECT_LT(nmse(got, want), kExactBound) << "layer_norm d=" << d << " rows=" << rows;
      cpu::reference::rms_norm(x, d, g, 1e-5f, want);
      gpu_->rms_norm(x, d, g, 1e-5f, got);
      gpu_->synchronize();
      EXPECT_LT(nmse(got, want), kExactBound) << "rms_norm d=" << d << " rows=" << rows;
    }
  }
}

TEST_P(Vulkan, RopeMatchesTheCpu) {
  for (bool interleaved : {false, true}) {
    for (std::size_t n : {1, 7}) {
      for (std::size_t pos0 : {0, 33}) {
        const std::size_t heads = 3, hd = 16;
        auto want = random_floats(n * heads * hd, 12);
        auto got = want;
        const std::vector<float> freq = tensor_core::rope_inv_freq(10000.0f, hd);
        cpu::reference::rope(want, n, heads, hd, pos0, freq, interleaved);
        gpu_->rope(got, n, heads, hd, pos0, freq, interleaved);
        gpu_->synchronize();
        EXPECT_LT(nmse(got, want), 1e-12) << "n=" << n << " pos0=" << pos0 << " interleaved=" << interleaved;
      }
    }
  }
}

TEST_P(Vulkan, AttentionWithGqa) {
  struct Case {
    std::size_t n, pos0, heads, kv_heads, hd;
  };
  for (const Case c : {Case{1, 0, 4, 4, 8}, Case{1, 40, 6, 2, 16}, Case{7, 5, 8, 2, 32}, Case{33, 0, 2, 1, 64},
                       Case{1, 200, 12, 12, 64}}) {
    const std::size_t keys = c.pos0 + c.n;
    const std::size_t kv = c.kv_heads * c.hd;
    const auto q = random_floats(c.n * c.heads * c.hd, 13);
    const auto k = random_floats(keys * kv, 14);
    const auto v = random_floats(keys * kv, 15);
    tc::AttentionArgs args;
    args.n_tokens = c.n;
    args.pos0 = c.pos0;
    args.n_heads = c.heads;
    args.n_kv_heads = c.kv_heads;
    args.head_dim = c.hd;
    args.scale = 1.0f / std::sqrt(static_cast<float>(c.hd));
    std::vector<float> scratch(keys), want(c.n * c.heads * c.hd), got(want.size());
    cpu::reference::attention(args, q, k, v, scratch, want);
    gpu_->attention(args, q, k, v, scratch, got);
    gpu_->synchronize();
    EXPECT_LT(nmse(got, want), kExactBound)
        << "n=" << c.n << " pos0=" << c.pos0 << " heads=" << c.heads << "/" << c.kv_heads << " hd=" << c.hd;
  }
}

TEST_P(Vulkan, ElementwiseOps) {
  for (std::size_t n : {1, 7, 255, 257, 70000}) {
    auto x = random_floats(n, 16, 8.0f);
    const auto y = random_floats(n, 17, 2.0f);
    // GELU against the formula in double: the CPU's float tanh cancels where tanh nears -1, the shader does not.
    std::vector<float> want(n);
    std::transform(x.begin(), x.end(), want.begin(), gelu_double);
    auto got = x;
    gpu_->gelu_tanh(got);
    gpu_->synchronize();
    EXPECT_LT(nmse(got, want), kTranscendentalBound) << "gelu n=" << n;
    want = x;
    got = x;
    cpu::reference::swiglu(want, y);
    gpu_->swiglu(got, y);
    gpu_->synchronize();
    EXPECT_LT(nmse(got, want), kTranscendentalBound) << "swiglu n=" << n;
    want = x;
    got = x;
    cpu::reference::add(y, want);
    gpu_->add(y, got);
    gpu_->synchronize();
    EXPECT_EQ(got, want) << "add n=" << n;  // one rounding either way
  }
}

TEST_P(Vulkan, GeluSaturatesWithoutNaN) {
  std::vector<float> x{-1e4f, -50.0f, -9.0f, 9.0f, 50.0f, 1e4f};
  const std::vector<float> in = x;
  gpu_->gelu_tanh(x);
  gpu_->synchronize();
  for (std::size_t i = 0; i < x.size(); ++i) {
    EXPECT_TRUE(std::isfinite(x[i])) << in[i];
    EXPECT_NEAR(x[i], gelu_double(in[i]), 1e-6 * std::max(1.0f, std::fabs(in[i]))) << in[i];
  }
}

TEST_P(Vulkan, EmbeddingRowsEveryFormat) {
  const std::size_t rows = 37, d = 96;
  const auto table = random_floats(rows * d, 18);
  const std::vector<std::int64_t> ids{0, 36, 5, 5, 17};
  for (DType dtype : {DType::kF32, DType::kF16, DType::kBF16, DType::kQ8_0, DType::kQ4_0}) {
    auto block = weights(dtype, rows, d, table);
    const tc::Shape shape{static_cast<std::int64_t>(rows), static_cast<std::int64_t>(d)};
    const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), dtype, shape, false, WeightUse::kRows);
    std::vector<float> want(ids.size() * d), got(want.size());
    for (std::size_t i = 0; i < ids.size(); ++i) {
      tc::to_f32(dtype, block.data() + static_cast<std::size_t>(ids[i]) * tc::row_bytes(dtype, d), d,
                 want.data() + i * d);
    }
    gpu_->embedding_rows(pw, ids, got, false);
    gpu_->synchronize();
    EXPECT_EQ(got, want) << tc::dtype_name(dtype);  // decoding is exact
    for (float& v : want) v *= 2;
    gpu_->embedding_rows(pw, ids, got, true);
    gpu_->synchronize();
    EXPECT_EQ(got, want) << tc::dtype_name(dtype) << " accumulate";
  }
}

// Ops recorded back to back, results read only after synchronize(): an op reads what the previous one wrote to a
// host buffer (its staged copy), in place and through a sub-range, and a copy moves it.
TEST_P(Vulkan, ChainedOpsSeeEachOthersResults) {
  const std::size_t m = 48, k = 64;
  const auto w = random_floats(m * k, 19);
  const auto x = random_floats(k, 20);
  auto block = weights(DType::kF32, m, k, w);
  const tc::Shape shape{static_cast<std::int64_t>(m), static_cast<std::int64_t>(k)};
  const PreparedWeight pw = gpu_->prepare_weight(block.bytes(), DType::kF32, shape, false, WeightUse::kMatmul);
  std::vector<float> want(m), got(m), want_copy(m / 2), got_copy(m / 2);
  cpu::reference::matmul(x, 1, tc::TensorView::contiguous(block.data(), DType::kF32, shape), {}, want);
  cpu::reference::gelu_tanh(want);
  cpu::reference::add(std::span<const float>(want).first(m / 2), std::span<float>(want).last(m / 2));
  std::copy(want.begin() + m / 2, want.end(), want_copy.begin());
  gpu_->matmul(x, 1, pw, {}, got);
  gpu_->gelu_tanh(got);
  gpu_->add(std::span<const float>(got).first(m / 2), std::span<float>(got).last(m / 2));
  gpu_->copy(std::span<const float>(got).last(m / 2), got_copy);
  gpu_->synchronize();
  EXPECT_LT(nmse(got, want), kExactBound);
  EXPECT_LT(nmse(got_copy, want_copy), kExactBound);

  // In place (x and out the same host span, which an earlier op of the batch wrote), as the executor's norms may be.
  const auto g = random_floats(m, 27);
  cpu::reference::matmul(x, 1, tc::TensorView::contiguous(block.data(), DType::kF32, shape), {}, want);
  cpu::reference::rms_norm(want, m, g, 1e-5f, want);
  gpu_->matmul(x, 1, pw, {}, got);
  gpu_->rms_norm(got, m, g, 1e-5f, got);
  gpu_->synchronize();
  EXPECT_LT(nmse(got, want), kExactBound);
}

TEST_P(Vulkan, SupportsAndDeviceFacts) {
  const DeviceInfo& info = gpu_->info();
  EXPECT_EQ(info.name, "vulkan");
  EXPECT_EQ(info.kind, DeviceKind::kGpu);
  EXPECT_TRUE(info.unified_memory);
  EXPECT_GT(info.max_binding_bytes, 0u);
  EXPECT_FALSE(info.budget.is_unlimited());  // a default budget from the device-local heap
  EXPECT_EQ(gpu_->supports({Op::kMatmul, DType::kQ4_0, 64, 64, /*input_major=*/true}).reason, Reason::kLayout);
  EXPECT_TRUE(gpu_->supports({Op::kMatmul, DType::kQ4_0, 64, 64, false}).ok());
  EXPECT_TRUE(gpu_->supports({Op::kAttention}).ok());
  OpDesc windowed{Op::kAttention};
  windowed.attention_extras = true;  // sliding window / soft-capping: the CPU's
  EXPECT_EQ(gpu_->supports(windowed).reason, Reason::kOp);
  // An input-major weight past one binding cannot be split by rows.
  const auto too_many = static_cast<std::int64_t>(info.max_binding_bytes / 4 / 64 + 1);
  EXPECT_EQ(gpu_->supports({Op::kMatmul, DType::kF32, 64, too_many, true}).reason, Reason::kShape);
}

TEST_P(Vulkan, DeviceBudgetIsAHardCeiling) {
  auto small = make_vulkan_backend({memory_manager::MemoryBudget::from_bytes(1 << 20).value(), 1, 0});
  ASSERT_TRUE(small.has_value()) << small.error().message;
  auto ok = small.value()->allocate(512 << 10, BufferUsage::kWeights);
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  auto over = small.value()->allocate(768 << 10, BufferUsage::kWeights);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(over.error().message.find("[vulkan]"), std::string::npos) << over.error().message;
}

TEST_P(Vulkan, NoSuchIndexIsAnInitError) {
  auto none = make_vulkan_backend({memory_manager::MemoryBudget::unlimited(), 1, 255});
  ASSERT_FALSE(none.has_value());
  EXPECT_EQ(none.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(none.error().message.find("vulkan:255"), std::string::npos) << none.error().message;
}

INSTANTIATE_TEST_SUITE_P(Reductions, Vulkan, ::testing::Bool(), [](const ::testing::TestParamInfo<bool>& p) {
  return p.param ? "subgroups" : "shared_memory";
});

TEST(VulkanDevices, ListedWithTheirFeatures) {
  auto list = list_vulkan_devices();
  if (!list) {
    GTEST_SKIP() << list.error().message;
  }
  ASSERT_FALSE(list.value().empty());
  const VulkanDeviceReport& d = list.value()[0];
  EXPECT_FALSE(d.name.empty());
  EXPECT_FALSE(d.heaps.empty());
  EXPECT_GT(d.max_storage_buffer_range, 0u);
  EXPECT_EQ(d.usable, d.why_not.empty());
}

}  // namespace
}  // namespace edge_rt::backend
