// Streaming under a budget: I/O errors in the loading path (compute thread or prefetch thread) surface from
// generate() as errors, with no deadlock and every block back in the pool.
#include "run_options.hpp"

#include <edge_rt/runtime/engine.hpp>

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

namespace edge_rt::runtime {
namespace {

using test_support::greedy;

namespace fs = std::filesystem;
using memory_manager::MemoryBudget;

fs::path copy_of_default_model() {
  const fs::path dir = fs::temp_directory_path() / ("edge_rt_stream_" + std::to_string(std::random_device{}()));
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"}) {
    fs::copy_file(fs::path(EDGE_RT_DEFAULT_MODEL_DIR) / f, dir / f);
  }
  return dir;
}

class StreamingErrors : public ::testing::TestWithParam<const char*> {};

TEST_P(StreamingErrors, TruncatedCheckpointFailsGenerateCleanly) {
  const fs::path dir = copy_of_default_model();
  EngineOptions o;
  o.model_dir = dir;
  o.n_ctx = 64;
  o.strategy = GetParam();
  const std::uint64_t minimum = InferenceEngine<Idle>::create().load_model(o).value().plan().minimum_budget_bytes;
  o.budget = MemoryBudget::from_bytes(minimum).value();  // everything streams
  auto planned = InferenceEngine<Idle>::create().load_model(o);
  ASSERT_TRUE(planned) << planned.error().message;
  auto engine = std::move(planned).value().prepare();
  ASSERT_TRUE(engine) << engine.error().message;
  ASSERT_FALSE(engine.value().plan().all_resident());
  auto ok = engine.value().generate({}, greedy(3));
  ASSERT_TRUE(ok) << ok.error().message;

  fs::resize_file(dir / "model.safetensors", 4096);  // the file shrinks under the running engine
  auto broken = engine.value().generate({}, greedy(20));
  ASSERT_FALSE(broken);
  EXPECT_EQ(broken.error().code, ErrorCode::kIoError);
  EXPECT_NE(broken.error().message.find("model.safetensors"), std::string::npos) << broken.error().message;
  // Poisoned: later calls fail fast with the same error instead of waiting on a stopped loader.
  auto again = engine.value().generate({}, greedy(2));
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kIoError);
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(EveryStrategy, StreamingErrors,
                         ::testing::Values("sequential", "greedy-grouping", "speculative-prefetch"));

TEST(Streaming, ColdCacheReadsTheSameTokens) {
  EngineOptions o;
  o.model_dir = EDGE_RT_DEFAULT_MODEL_DIR;
  o.n_ctx = 64;
  o.strategy = "speculative-prefetch";
  const std::uint64_t minimum = InferenceEngine<Idle>::create().load_model(o).value().plan().minimum_budget_bytes;
  auto run = [&](bool cold, MemoryBudget budget) {
    EngineOptions c = o;
    c.cold_cache = cold;
    c.budget = budget;
    auto engine = std::move(InferenceEngine<Idle>::create().load_model(c).value()).prepare().value();
    return engine.generate({}, greedy(25)).value();
  };
  const auto resident = run(false, MemoryBudget::unlimited());
  const auto cold = run(true, MemoryBudget::from_bytes(minimum).value());
  EXPECT_EQ(cold.generated_tokens, resident.generated_tokens);
  EXPECT_GT(cold.metrics.weight_bytes_loaded, 0u);
  EXPECT_EQ(resident.metrics.weight_bytes_loaded, 0u);
  EXPECT_EQ(cold.passes.size(), 25u);  // prefill + 24 decode passes
  EXPECT_GE(cold.metrics.overlap_efficiency, 0.0);
  EXPECT_LE(cold.metrics.overlap_efficiency, 1.0);
}

}  // namespace
}  // namespace edge_rt::runtime
