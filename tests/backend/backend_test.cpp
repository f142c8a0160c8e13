// The backends against the kernels they wrap: the CPU's prepared layouts give the kernels' bits, npu-sim says what
// it cannot run (without allocating) and keeps to its own budget, and the registry refuses duplicates.
#include <edge_rt/backend/backend.hpp>
#include <edge_rt/backend/cpu/kernels.hpp>
#include <edge_rt/backend/cpu_backend.hpp>
#include <edge_rt/backend/npu_sim.hpp>

#include <gtest/gtest.h>

#include <cstring>
#include <random>
#include <vector>

namespace edge_rt::backend {
namespace {

namespace tc = tensor_core;

std::vector<float> random_floats(std::size_t n, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

std::unique_ptr<Backend> start(BackendFactory factory, memory_manager::MemoryBudget budget, std::size_t threads = 2) {
  auto b = factory({budget, threads, 0});
  EDGE_RT_CHECK(b.has_value(), "backend must start");
  return std::move(b).value();
}

// A [rows, k] matrix of `dtype` in a kWeights buffer of `backend`.
memory_manager::BufferGuard weight_buffer(Backend& backend, tc::DType dtype, std::size_t rows, std::size_t k,
                                          const std::vector<float>& values) {
  auto block = backend.allocate(rows * tc::row_bytes(dtype, k), BufferUsage::kWeights);
  EDGE_RT_CHECK(block.has_value(), "allocation must succeed");
  for (std::size_t r = 0; r < rows; ++r) {
    tc::from_f32(dtype, values.data() + r * k, k, block.value().data() + r * tc::row_bytes(dtype, k));
  }
  return std::move(block).value();
}

TEST(CpuBackend, PreparedMatmulGivesTheKernelsBits) {
  auto cpu = start(make_cpu_backend, memory_manager::MemoryBudget::unlimited());
  constexpr std::size_t kRows = 72, kK = 96, kN = 3;
  const auto w = random_floats(kRows * kK, 1);
  const auto x = random_floats(kN * kK, 2);
  const auto bias = random_floats(kRows, 3);
  for (tc::DType dtype :
       {tc::DType::kF32, tc::DType::kF16, tc::DType::kQ8_0, tc::DType::kQ4_0, tc::DType::kQ5_1, tc::DType::kQ5_0}) {
    auto reference_block = weight_buffer(*cpu, dtype, kRows, kK, w);
    auto block = weight_buffer(*cpu, dtype, kRows, kK, w);
    const tc::Shape shape{std::int64_t{kRows}, std::int64_t{kK}};
    const PreparedWeight prepared = cpu->prepare_weight(block.bytes(), dtype, shape, false, WeightUse::kMatmul);
    const bool interleaves = cpu::interleaved_rows(dtype) != 0;
    EXPECT_EQ(prepared.layout, interleaves ? kCpuLayoutInterleaved : kCpuLayoutRows) << tc::dtype_name(dtype);
    std::vector<float> want(kN * kRows), got(kN * kRows);
    const auto reference_view = tc::TensorView::contiguous(reference_block.data(), dtype, shape);
    if (interleaves) {
      cpu::interleave_rows(dtype, reference_block.data(), kRows, kK);
      cpu::matmul_interleaved(x, kN, reference_view, bias, want);
    } else {
      cpu::matmul(x, kN, reference_view, bias, want);
    }
    cpu->matmul(x, kN, prepared, bias, got);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), got.size() * sizeof(float)), 0) << tc::dtype_name(dtype);
  }
}

TEST(CpuBackend, EmbeddingRowsAreNeverReLaidOut) {
  auto cpu = start(make_cpu_backend, memory_manager::MemoryBudget::unlimited());
  const auto table = random_floats(16 * 64, 4);
  auto block = weight_buffer(*cpu, tc::DType::kQ4_0, 16, 64, table);
  const PreparedWeight prepared =
      cpu->prepare_weight(block.bytes(), tc::DType::kQ4_0, tc::Shape{16, 64}, false, WeightUse::kRows);
  EXPECT_EQ(prepared.layout, kCpuLayoutRows);
  const std::vector<std::int64_t> rows{3, 15, 3};
  std::vector<float> out(3 * 64), want(64);
  cpu->embedding_rows(prepared, rows, out, false);
  tc::to_f32(tc::DType::kQ4_0, prepared.view.row(15).data(), 64, want.data());
  EXPECT_EQ(std::memcmp(out.data() + 64, want.data(), 64 * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(out.data(), out.data() + 128, 64 * sizeof(float)), 0);
}

TEST(NpuSim, SupportsOnlyQuantizedOutputMajorMatmuls) {
  auto npu = start(make_npu_sim_backend, memory_manager::MemoryBudget::unlimited());
  EXPECT_EQ(npu->info().name, "npu-sim");
  EXPECT_EQ(npu->info().kind, DeviceKind::kNpu);
  EXPECT_TRUE(npu->supports({Op::kMatmul, tc::DType::kQ8_0, 64, 64, false}).ok());
  EXPECT_TRUE(npu->supports({Op::kMatmul, tc::DType::kQ4_0, 64, 64, false}).ok());
  EXPECT_EQ(npu->supports({Op::kMatmul, tc::DType::kF16, 64, 64, false}).reason, Reason::kDType);
  EXPECT_EQ(npu->supports({Op::kMatmul, tc::DType::kQ8_0, 64, 64, true}).reason, Reason::kLayout);
  for (Op op : {Op::kLayerNorm, Op::kRmsNorm, Op::kRope, Op::kAttention, Op::kGeluTanh, Op::kSwiglu, Op::kAdd,
                Op::kEmbeddingRows, Op::kCopy}) {
    const Support s = npu->supports({op});
    EXPECT_EQ(s.reason, Reason::kOp) << op_name(op);
    EXPECT_FALSE(s.detail.empty());
  }
}

TEST(NpuSim, MatmulMatchesTheCpuBitForBit) {
  auto cpu = start(make_cpu_backend, memory_manager::MemoryBudget::unlimited());
  auto npu = start(make_npu_sim_backend, memory_manager::MemoryBudget::unlimited(), 1);
  const auto w = random_floats(40 * 128, 5);
  const auto x = random_floats(2 * 128, 6);
  for (tc::DType dtype : {tc::DType::kQ8_0, tc::DType::kQ4_0}) {
    auto cpu_block = weight_buffer(*cpu, dtype, 40, 128, w);
    auto npu_block = weight_buffer(*npu, dtype, 40, 128, w);
    const tc::Shape shape{40, 128};
    const auto on_cpu = cpu->prepare_weight(cpu_block.bytes(), dtype, shape, false, WeightUse::kMatmul);
    const auto on_npu = npu->prepare_weight(npu_block.bytes(), dtype, shape, false, WeightUse::kMatmul);
    std::vector<float> want(2 * 40), got(2 * 40);
    cpu->matmul(x, 2, on_cpu, {}, want);
    npu->matmul(x, 2, on_npu, {}, got);
    EXPECT_EQ(std::memcmp(want.data(), got.data(), got.size() * sizeof(float)), 0) << tc::dtype_name(dtype);
  }
}

TEST(NpuSim, AllocatesFromItsOwnBudget) {
  auto cpu = start(make_cpu_backend, memory_manager::MemoryBudget::from_bytes(1 << 20).value());
  auto npu = start(make_npu_sim_backend, memory_manager::MemoryBudget::from_bytes(64 * 1024).value());
  auto fits = npu->allocate(32 * 1024, BufferUsage::kWeights);
  ASSERT_TRUE(fits.has_value());
  auto over = npu->allocate(64 * 1024, BufferUsage::kWeights);
  ASSERT_FALSE(over.has_value());
  EXPECT_EQ(over.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(over.error().message.find("[npu-sim]"), std::string::npos) << over.error().message;
  EXPECT_EQ(cpu->pool_stats().reserved_bytes, 0u);  // the host's pool saw none of it
  EXPECT_GE(npu->pool_stats().reserved_bytes, 32u * 1024);
  EXPECT_FALSE(make_npu_sim_backend({memory_manager::MemoryBudget::unlimited(), 1, 1}).has_value());
}

TEST(Registry, RegistersBuiltinsOnceAndRefusesDuplicates) {
  Registry registry;
  ASSERT_TRUE(register_builtin_backends(registry).has_value());
  ASSERT_NE(registry.find("cpu"), nullptr);
  ASSERT_NE(registry.find("npu-sim"), nullptr);
  EXPECT_FALSE(registry.find("npu-sim")->automatic);  // a test delegate: never chosen by --device auto
  ASSERT_NE(registry.find("vulkan"), nullptr);        // registered in every build; without Vulkan its start fails
  EXPECT_TRUE(registry.find("vulkan")->automatic);
  EXPECT_EQ(registry.find("vulkan")->kind, DeviceKind::kGpu);
  EXPECT_FALSE(register_builtin_backends(registry).has_value());
  EXPECT_FALSE(registry.add({"", DeviceKind::kGpu, make_cpu_backend}).has_value());
}

}  // namespace
}  // namespace edge_rt::backend
