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
  auto b = runtime_buffers(g.config(), g.recipe(), /*n_ctx=*/100, /*n_batch=*/10);
  ASSERT_TRUE(b);
  // 2 (K,V) x 5 layers x 100 positions x 4 KV heads x 8 head_dim x 4 bytes.
  EXPECT_EQ(b.value().kv_cache_bytes, 2u * 5 * 100 * 32 * 4);
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kFfnA)], 10u * 172 * 4);
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kQkv)], 0u);  // Llama: separate q/k/v
  EXPECT_EQ(b.value().scratch_bytes[static_cast<std::size_t>(Scratch::kLogits)], 512u * 4);
  EXPECT_GE(b.value().reserved_bytes(), b.value().kv_cache_bytes + b.value().scratch_total_bytes());

  auto too_long = runtime_buffers(g.config(), g.recipe(), 513, 1);
  ASSERT_FALSE(too_long);
  EXPECT_EQ(too_long.error().code, ErrorCode::kContextOverflow);
  auto bad_batch = runtime_buffers(g.config(), g.recipe(), 10, 11);
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
    EXPECT_TRUE(plan.value().all_resident()) << name;
    EXPECT_EQ(plan.value().streamed_bytes_per_token(g.units()), 0u);
    EXPECT_TRUE(plan.value().validate(g.units()));
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
  const auto units = g.units();
  ASSERT_EQ(units.size(), 12u);  // embedding + 5 x (attention, feed-forward) + head
  auto min_of = [&](std::string_view name) {
    auto probe = make_strategy(name).value()->plan(g, MemoryBudget::unlimited(), 64, 8).value();
    return probe.minimum_budget_bytes;
  };

  // At its minimum, sequential streams everything but the embedding (gathered) one unit at a time.
  auto seq = make_strategy("sequential").value()->plan(g, budget(min_of("sequential")), 64, 8).value();
  EXPECT_FALSE(seq.all_resident());
  EXPECT_EQ(seq.prefetch_depth, 0u);
  EXPECT_TRUE(seq.groups.front().gathered());
  std::size_t head_chunks = 0;
  for (const Group& grp : seq.groups) {
    if (grp.is_head_chunk()) ++head_chunks;
    if (!grp.gathered() && !grp.is_head_chunk()) {
      EXPECT_EQ(grp.last_unit - grp.first_unit, 1u);
    }
  }
  EXPECT_GE(head_chunks, 1u);
  EXPECT_GT(seq.streamed_bytes_per_token(units), 0u);
  EXPECT_TRUE(seq.validate(units));

  // More room: the largest units get pinned, so fewer bytes stream per token.
  const std::uint64_t fixed = seq.buffers.reserved_bytes();
  const std::uint64_t ffn = memory_manager::MemoryPool::size_class(group_weight_bytes(units, 2, 3, {}));
  auto roomy = make_strategy("sequential").value()->plan(g, budget(fixed + 6 * ffn), 64, 8).value();
  EXPECT_GT(roomy.resident_bytes, 0u);
  EXPECT_LT(roomy.streamed_bytes_per_token(units), seq.streamed_bytes_per_token(units));
  EXPECT_LE(roomy.peak_bytes, roomy.budget.bytes());

  // Greedy packs consecutive streamed units into one load where the free budget allows (pinning comes first, so
  // it never streams more than sequential at the same budget).
  for (std::uint64_t b = fixed + 2 * ffn; b < fixed + 8 * ffn; b += ffn / 4) {
    auto greedy = make_strategy("greedy-grouping").value()->plan(g, budget(b), 64, 8).value();
    auto sequential = make_strategy("sequential").value()->plan(g, budget(b), 64, 8).value();
    EXPECT_LE(greedy.peak_bytes, greedy.budget.bytes());
    EXPECT_LE(greedy.streamed_bytes_per_token(units), sequential.streamed_bytes_per_token(units));
    EXPECT_LE(greedy.groups.size(), sequential.groups.size());
    EXPECT_TRUE(greedy.validate(units));
  }
  // Prefetch keeps depth + 1 loads live; its minimum is twice the largest unit above the fixed buffers.
  EXPECT_GT(min_of("speculative-prefetch"), min_of("sequential"));
  auto spec = make_strategy("speculative-prefetch").value()->plan(g, budget(fixed + 6 * ffn), 64, 8).value();
  EXPECT_GE(spec.prefetch_depth, 1u);
  std::uint64_t largest_streamed = 0;
  for (const Group& grp : spec.groups) {
    if (!grp.resident()) largest_streamed = std::max(largest_streamed, grp.reserved_bytes);
  }
  EXPECT_LE(fixed + spec.resident_bytes + (1 + spec.prefetch_depth) * largest_streamed, spec.budget.bytes());
  EXPECT_NE(spec.describe(units).find("streamed"), std::string::npos);
}

// A large vocabulary: the LM head streams in chunks, and the minimum budget is set by a layer unit, not by the
// 3.2 MB head or embedding.
TEST(Strategies, LargeHeadStreamsInVocabularyChunks) {
  auto loaded = ModelGraph<model_ir::Loaded>::load(std::string(EDGE_RT_SHARED_MODELS_DIR) + "/tiny-random-gpt2");
  ASSERT_TRUE(loaded);
  auto g = std::move(loaded).value().validate().value();
  const auto units = g.units();
  for (std::string_view name : strategy_names()) {
    auto strategy = make_strategy(name).value();
    const std::uint64_t minimum = strategy->plan(g, MemoryBudget::unlimited(), 32, 4).value().minimum_budget_bytes;
    EXPECT_LT(minimum, 1u << 20) << name;  // the tied 50257 x 16 F32 head alone is 3.2 MB
    auto plan = strategy->plan(g, budget(minimum), 32, 4);
    ASSERT_TRUE(plan) << plan.error().message;
    std::size_t chunks = 0;
    std::int64_t covered = 0;
    for (const Group& grp : plan.value().groups) {
      if (!grp.is_head_chunk()) continue;
      ++chunks;
      EXPECT_EQ(grp.row_begin, covered);
      covered = grp.row_end;
    }
    EXPECT_GT(chunks, 10u) << name;
    EXPECT_EQ(covered, 50257);
    EXPECT_TRUE(plan.value().validate(units));
  }
}

TEST(ExecutionPlan, ValidateRejectsBrokenPlans) {
  auto g = stories();
  const auto units = g.units();
  auto plan = make_strategy("sequential").value()->plan(g, MemoryBudget::unlimited(), 64, 8).value();
  ASSERT_TRUE(plan.validate(units));
  auto gap = plan;
  gap.groups.erase(gap.groups.begin() + 3);
  auto r = gap.validate(units);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInternal);
  auto short_plan = plan;
  short_plan.groups.pop_back();
  EXPECT_FALSE(short_plan.validate(units));
  auto over = plan;
  over.budget = budget(1024);
  EXPECT_FALSE(over.validate(units));
  auto bad_chunk = plan;
  bad_chunk.groups.back().row_begin = 5;
  bad_chunk.groups.back().row_end = 9;
  EXPECT_FALSE(bad_chunk.validate(units));
}

}  // namespace
}  // namespace edge_rt::partition_planner

namespace edge_rt::partition_planner {
namespace {

// A request for the CPU and npu-sim, every unit on the CPU, both budgets unlimited.
PlanRequest two_devices(std::size_t n_units) {
  PlanRequest request;
  request.devices = {"cpu", "npu-sim"};
  request.budgets = {MemoryBudget::unlimited(), MemoryBudget::unlimited()};
  request.unit_device.assign(n_units, 0);
  return request;
}

// Units on another device are resident there, one group each, and cost the host nothing.
TEST(DevicePlacement, DeviceUnitsAreResidentThereAndLeaveTheHostBudget) {
  auto g = stories();
  const std::size_t n = g.units().size();
  PlanRequest request = two_devices(n);
  for (std::size_t u = n - 5; u + 1 < n; ++u) request.unit_device[u] = 1;  // the last layers, not the head
  auto strategy = make_strategy("greedy-grouping").value();
  auto cpu_only = strategy->plan(g, MemoryBudget::unlimited(), 64, 8).value();
  auto placed = strategy->plan(g, MemoryBudget::unlimited(), 64, 8, request).value();
  std::uint64_t device_bytes = 0;
  for (const Group& grp : placed.groups) {
    for (std::size_t u = grp.first_unit; u < grp.last_unit; ++u) {
      EXPECT_EQ(grp.device, request.unit_device[u]) << "a group spans devices at unit " << u;
    }
    if (grp.device == 1) {
      EXPECT_TRUE(grp.resident());
      EXPECT_EQ(grp.last_unit - grp.first_unit, 1u);
      device_bytes += grp.reserved_bytes;
    }
  }
  EXPECT_EQ(placed.device_resident_bytes.at(1), device_bytes);
  EXPECT_GT(device_bytes, 0u);
  EXPECT_LT(placed.resident_bytes, cpu_only.resident_bytes);
  EXPECT_TRUE(placed.validate(g.units()).has_value());

  // The device's budget holds its units or the plan is refused, naming the device.
  request.budgets[1] = budget(1024);
  auto refused = strategy->plan(g, MemoryBudget::unlimited(), 64, 8, request);
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(refused.error().message.find("device npu-sim"), std::string::npos) << refused.error().message;

  // A malformed request is refused.
  request.unit_device[0] = 1;
  EXPECT_EQ(strategy->plan(g, MemoryBudget::unlimited(), 64, 8, request).error().code, ErrorCode::kInvalidArgument);
}

// Under a host budget that forces streaming, device units stay resident on the device.
TEST(DevicePlacement, StreamingPlansKeepDeviceUnitsResident) {
  auto g = stories();
  const std::size_t n = g.units().size();
  auto strategy = make_strategy("sequential").value();
  auto unlimited = strategy->plan(g, MemoryBudget::unlimited(), 64, 8).value();
  const std::uint64_t tight = unlimited.minimum_budget_bytes + 1;
  PlanRequest request = two_devices(n);
  request.unit_device[n - 2] = 1;
  auto plan = strategy->plan(g, budget(tight), 64, 8, request).value();
  EXPECT_FALSE(plan.all_resident());
  bool found = false;
  for (const Group& grp : plan.groups) {
    if (grp.first_unit == n - 2) {
      found = true;
      EXPECT_EQ(grp.device, 1);
      EXPECT_TRUE(grp.resident());
    } else {
      EXPECT_EQ(grp.device, 0);
    }
  }
  EXPECT_TRUE(found);
  EXPECT_LE(plan.peak_bytes, tight);
}

}  // namespace
}  // namespace edge_rt::partition_planner

namespace edge_rt::partition_planner {
namespace {

// Slots follow the geometry: pread needs no padding; a direct-I/O source pads large matrices to whole pages plus
// two, so a read can land at the file offset modulo the page.
TEST(BufferGeometry, SlotsFollowTheWeightSource) {
  const BufferGeometry pread;
  const BufferGeometry direct = BufferGeometry::direct_io();
  EXPECT_EQ(weight_slot_bytes(100'000, true, pread), 100'032u);
  EXPECT_EQ(weight_slot_bytes(100'000, true, direct), 102'400u + 8192u);
  EXPECT_EQ(weight_slot_bytes(1000, true, direct), 1024u);         // small matrices: no direct slot
  EXPECT_EQ(weight_slot_bytes(100'000, false, direct), 100'032u);  // vectors never
  EXPECT_FALSE(has_direct_slot(100'000, true, pread));
  EXPECT_TRUE(has_direct_slot(100'000, true, direct));
  BufferGeometry wide;
  wide.alignment = 256;
  EXPECT_EQ(weight_slot_bytes(1000, true, wide), 1024u);
  EXPECT_EQ(weight_slot_bytes(1025, false, wide), 1280u);

  // A plan records its geometry, and a direct-I/O plan never needs less than a pread one.
  auto g = stories();
  auto strategy = make_strategy("sequential").value();
  PlanRequest with_direct;
  with_direct.geometry = direct;
  auto a = strategy->plan(g, MemoryBudget::unlimited(), 64, 8).value();
  auto b = strategy->plan(g, MemoryBudget::unlimited(), 64, 8, with_direct).value();
  EXPECT_EQ(a.geometry.direct_alignment, 0u);
  EXPECT_EQ(b.geometry.direct_alignment, 4096u);
  EXPECT_LE(a.resident_bytes, b.resident_bytes);
}

}  // namespace
}  // namespace edge_rt::partition_planner

namespace edge_rt::partition_planner {
namespace {

// A device budget below its units' total: the largest are pinned, the rest stream into the device, and each
// device's planned peak stays within its budget, for every strategy.
TEST(DevicePlacement, UnitsStreamThroughAShortDeviceBudget) {
  auto g = stories();
  const std::size_t n = g.units().size();
  PlanRequest request = two_devices(n);
  std::uint64_t total = 0, largest = 0;
  for (std::size_t u = 1; u + 1 < n; ++u) {
    request.unit_device[u] = 1;
    const std::uint64_t b = BufferGeometry{}.size_class(group_weight_bytes(g.units(), u, u + 1, {}));
    total += b;
    largest = std::max(largest, b);
  }
  for (std::string_view name : strategy_names()) {
    auto strategy = make_strategy(name).value();
    const std::uint64_t minimum = (1 + strategy->min_depth()) * largest;
    ASSERT_LT(minimum + largest, total);
    request.budgets[1] = budget(minimum + largest);
    auto plan = strategy->plan(g, MemoryBudget::unlimited(), 64, 8, request);
    ASSERT_TRUE(plan.has_value()) << name << ": " << plan.error().message;
    std::size_t streamed = 0;
    for (const Group& grp : plan.value().groups) {
      if (grp.device == 1 && !grp.resident()) ++streamed;
    }
    EXPECT_GT(streamed, 0u) << name;
    EXPECT_GT(plan.value().device_stream_block_bytes.at(1), 0u) << name;
    EXPECT_LE(plan.value().device_peak_bytes.at(1), minimum + largest) << name;
    EXPECT_GE(plan.value().prefetch_depth, strategy->min_depth()) << name;
    EXPECT_GT(plan.value().streamed_bytes_per_token(g.units(), 1), 0u) << name;
    EXPECT_EQ(plan.value().streamed_bytes_per_token(g.units(), 0), 0u) << name;  // the host keeps its units

    request.budgets[1] = budget(minimum - 1);
    auto refused = strategy->plan(g, MemoryBudget::unlimited(), 64, 8, request);
    ASSERT_FALSE(refused.has_value()) << name;
    EXPECT_NE(refused.error().message.find("minimum device budget"), std::string::npos) << refused.error().message;
  }
}

}  // namespace
}  // namespace edge_rt::partition_planner
