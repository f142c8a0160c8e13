// F16 and BF16 checkpoints run through the same path as F32: a half-precision copy of capp-gpt2-tiny gives logits
// close to the F32 model's and the same greedy tokens.
#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <random>

namespace edge_rt::runtime {
namespace {

namespace fs = std::filesystem;
using tensor_core::DType;

fs::path half_copy(const fs::path& src, DType dtype) {
  const fs::path dir = fs::temp_directory_path() / ("edge_rt_half_" + std::string(tensor_core::dtype_name(dtype)) +
                                                    "_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  fs::copy_file(src / "config.json", dir / "config.json");
  auto file = model_ir::SafetensorsFile::open(src / "model.safetensors").value();
  std::vector<std::vector<std::uint16_t>> storage;
  std::vector<model_ir::TensorToWrite> tensors;
  for (const auto& info : file.tensors()) {
    const auto n = static_cast<std::size_t>(info.shape.numel());
    std::vector<float> f(n);
    tensor_core::to_f32(info.dtype, file.bytes(info).data(), n, f.data());
    auto& h = storage.emplace_back(n);
    for (std::size_t i = 0; i < n; ++i)
      h[i] = dtype == DType::kF16 ? tensor_core::f32_to_f16(f[i]) : tensor_core::f32_to_bf16(f[i]);
    tensors.push_back({info.name, dtype, info.shape, {reinterpret_cast<const std::byte*>(h.data()), n * 2}});
  }
  EXPECT_TRUE(model_ir::write_safetensors(dir / "model.safetensors", tensors));
  return dir;
}

Result<GenerationResult> run(const fs::path& model) {
  EngineOptions o;
  o.model_dir = model;
  o.n_ctx = 64;
  EDGE_RT_TRY(auto planned, InferenceEngine<Idle>::create().load_model(o));
  EDGE_RT_TRY(auto engine, std::move(planned).prepare());
  GenerateOptions g;
  g.max_new_tokens = 20;
  g.sampling.temperature = 0.0f;
  g.all_logits = true;
  const std::vector<TokenId> prompt = {2, 8, 14, 18, 22, 26, 49};
  return engine.generate(prompt, g);
}

TEST(HalfPrecisionModels, F16AndBF16MatchF32) {
  const fs::path capp = fs::path(EDGE_RT_SHARED_MODELS_DIR) / "capp-gpt2-tiny";
  auto f32 = run(capp);
  ASSERT_TRUE(f32) << f32.error().message;
  for (auto [dtype, tolerance] : {std::pair{DType::kF16, 0.02f}, std::pair{DType::kBF16, 0.15f}}) {
    const fs::path dir = half_copy(capp, dtype);
    auto half = run(dir);
    ASSERT_TRUE(half) << half.error().message;
    EXPECT_EQ(half.value().generated_tokens, f32.value().generated_tokens) << tensor_core::dtype_name(dtype);
    float worst = 0;
    for (std::size_t i = 0; i < f32.value().logits.size(); ++i) {
      for (std::size_t v = 0; v < f32.value().logits[i].size(); ++v) {
        worst = std::max(worst, std::fabs(half.value().logits[i][v] - f32.value().logits[i][v]));
      }
    }
    EXPECT_LT(worst, tolerance) << tensor_core::dtype_name(dtype);
    EXPECT_GT(worst, 0.0f) << "the half-precision copy should differ a little";
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace edge_rt::runtime
