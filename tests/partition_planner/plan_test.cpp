#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <gtest/gtest.h>

namespace edge_rt::partition_planner {
namespace {

using memory_manager::MemoryBudget;
using model_ir::ModelGraph;

ModelGraph<model_ir::Validated> stories() {
  auto loaded = ModelGraph<model_ir::Loaded>::load(EDGE_RT_DEFAULT_MODEL_DIR);
  EDGE_RT_CHECK(loaded.has_value(), "the embedded model must load");
  auto graph = std::move(loaded).value().validate();
  EDGE_RT_CHECK(graph.has_value(), "the embedded model must validate");
  return std::move(graph).value();
}

MemoryBudget budget(std::uint64_t bytes) {
  return MemoryBudget::from_bytes(bytes).value();
}

TEST(RuntimeBuffers, SizesFollowTheConfig) {
  auto g = stories();
  auto b = runtime_buffers(g.config(), /*n_ctx=*/100, /*n_batch=*/10);
  ASSERT_TRUE(b);
  // 2 (K,V) x 5 layers x 100 positions x 4 KV heads x 8 head_dim x 4 bytes.
  EXPECT_EQ(b.value().kv_cache_bytes, 2u * 5 * 100 * 32 * 4);
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kFfnA)], 10u * 172 * 4);
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kQkv)], 0u);  // Llama: separate q/k/v
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kLogits)], 512u * 4);
  EXPECT_GE(b.value().reserved_bytes(), b.value().kv_cache_bytes + b.value().scratch_total_bytes());

  auto too_long = runtime_buffers(g.config(), 513, 1);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kContextOverflow);
  auto bad_batch = runtime_buffers(g.config(), 10, 11);
  ASSERT_FALSE(bad_batch);
  EXPECT_EQ(bad_batch.error().code, ErrorCode::kInvalidArgument);
}

TEST(Strategies, UnknownNameIsAnError) {
  auto s = make_strategy("round-robin");
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, ErrorCode::kInvalidArgument);
  EXPECT_NE(s.error().message.find("sequential"), std::string::npos);
  EXPECT_EQ(strategy_names().size(), 3u);
}

TEST(Strategies, UnlimitedBudgetKeepsEverythingResident) {
  auto g = stories();
  for (std::string_view name : strategy_names()) {
    auto plan = make_strategy(name).value()->plan(g, MemoryBudget::unlimited(), 64, 8);
    ASSERT_TRUE(plan) << plan.error().message;
    EXPECT_TRUE(plan.value().all_resident) << name;
    EXPECT_EQ(plan.value().streamed_bytes_per_pass(), 0u);
    EXPECT_TRUE(plan.value().validate(g.units().size()));
  }
}

TEST(Strategies, BelowTheMinimumNamesTheMinimum) {
  auto g = stories();
  for (std::string_view name : strategy_names()) {
    auto strategy = make_strategy(name).value();
    auto plan = strategy->plan(g, budget(1024), 64, 8);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().code, ErrorCode::kBudgetExceeded);
    const std::string& msg = plan.error().message;
    const auto at = msg.find("minimum budget");
    ASSERT_NE(at, std::string::npos) << msg;
    const auto open = msg.find('(', at);
    const std::uint64_t minimum = std::stoull(msg.substr(open + 1));
    // The minimum itself plans; one byte less does not.
    auto ok = strategy->plan(g, budget(minimum), 64, 8);
    ASSERT_TRUE(ok) << name << ": " << ok.error().message;
    EXPECT_EQ(ok.value().minimum_budget_bytes, minimum);
    EXPECT_LE(ok.value().peak_bytes, minimum);
    EXPECT_FALSE(strategy->plan(g, budget(minimum - 1), 64, 8)) << name;
  }
}

TEST(Strategies, ShapesOfTheirPlansAtTightBudgets) {
  auto g = stories();
  const std::size_t n_units = g.units().size();  // embedding + 5 layers + head
  ASSERT_EQ(n_units, 7u);

  auto seq = make_strategy("sequential").value()->plan(g, budget(600 << 10), 64, 8).value();
  EXPECT_FALSE(seq.all_resident);
  EXPECT_EQ(seq.groups.size(), n_units);
  EXPECT_EQ(seq.prefetch_depth, 0u);

  // Room for about three layers at once: greedy packs several units per group.
  const std::uint64_t fixed = seq.buffers.reserved_bytes();
  const std::uint64_t layer = memory_manager::MemoryPool::size_class(group_weight_bytes(g.units(), 1, 2));
  auto greedy = make_strategy("greedy-grouping").value()->plan(g, budget(fixed + 3 * layer + layer / 2), 64, 8).value();
  EXPECT_FALSE(greedy.all_resident);
  EXPECT_LT(greedy.groups.size(), n_units);
  EXPECT_GT(greedy.groups.size(), 1u);
  for (const Group& grp : greedy.groups) EXPECT_LE(grp.peak_bytes, greedy.budget.bytes());

  // Prefetch keeps two groups live: every adjacent pair (wrapping) fits.
  auto spec =
      make_strategy("speculative-prefetch").value()->plan(g, budget(fixed + 3 * layer + layer / 2), 64, 8).value();
  EXPECT_EQ(spec.prefetch_depth, 1u);
  for (std::size_t i = 0; i < spec.groups.size(); ++i) {
    const auto& a = spec.groups[i];
    const auto& b = spec.groups[(i + 1) % spec.groups.size()];
    EXPECT_LE(fixed + a.reserved_bytes + b.reserved_bytes, spec.budget.bytes());
  }
  EXPECT_GT(spec.streamed_bytes_per_pass(), 0u);
  EXPECT_NE(spec.describe(g.units()).find("streamed"), std::string::npos);
}

TEST(ExecutionPlan, ValidateRejectsBrokenPlans) {
  ExecutionPlan plan;
  plan.budget = budget(1000);
  plan.groups = {Group{0, 2, 10, 64, 100}, Group{3, 4, 10, 64, 100}};
  auto gap = plan.validate(4);
  ASSERT_FALSE(gap);
  EXPECT_EQ(gap.error().code, ErrorCode::kInternal);
  plan.groups = {Group{0, 2, 10, 64, 100}, Group{2, 3, 10, 64, 100}};
  EXPECT_FALSE(plan.validate(4));  // does not cover unit 3
  plan.groups = {Group{0, 4, 10, 64, 2000}};
  EXPECT_FALSE(plan.validate(4));  // over budget
  plan.groups = {Group{0, 4, 10, 64, 900}};
  EXPECT_TRUE(plan.validate(4));
}

}  // namespace
}  // namespace edge_rt::partition_planner
