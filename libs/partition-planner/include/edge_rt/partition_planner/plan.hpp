#pragma once
// Partition planning: which units of a model are loaded together, and what the runtime allocates around them, so
// that the memory pool's peak stays within the budget.

#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/model_ir/model_graph.hpp>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::partition_planner {

/// Activation and scratch buffers the runtime allocates, one pool block each.
enum class Scratch : std::uint8_t {
  kResidual,  ///< [n_batch, d_model]
  kNormed,    ///< [n_batch, d_model]
  kQuery,     ///< [n_batch, n_heads head_dim]
  kAttnOut,   ///< [n_batch, n_heads head_dim]
  kQkv,       ///< [n_batch, (n_heads + 2 n_kv_heads) head_dim]; GPT-2's fused projection, 0 bytes for Llama
  kFfnA,      ///< [n_batch, d_ff]
  kFfnB,      ///< [n_batch, d_ff]; Llama's up projection, 0 bytes for GPT-2
  kScores,    ///< [n_ctx] attention scores of one query row
  kLogits,    ///< [vocab]
  kCount,
};
std::string_view scratch_name(Scratch s) noexcept;

/// What the runtime allocates besides weights for a context of n_ctx tokens processed n_batch at a time. F32.
struct RuntimeBuffers {
  std::uint64_t kv_cache_bytes = 0;  ///< K and V: 2 x n_layers x n_ctx x n_kv_heads head_dim x 4, one block.
  std::array<std::uint64_t, static_cast<std::size_t>(Scratch::kCount)> scratch_bytes{};
  /// What these count against the budget: each non-empty block rounded to its pool size class.
  std::uint64_t reserved_bytes() const noexcept;
  std::uint64_t scratch_total_bytes() const noexcept;
};

/// Errors: kInvalidArgument when n_ctx or n_batch is 0 or n_batch > n_ctx, kContextOverflow when n_ctx exceeds the
/// model's context length.
Result<RuntimeBuffers> runtime_buffers(const model_ir::ModelConfig& config, std::size_t n_ctx, std::size_t n_batch);

/// Bytes of the one pool block holding units [first, last): each weight's resident bytes rounded up to 64.
std::uint64_t group_weight_bytes(std::span<const model_ir::Unit> units, std::size_t first, std::size_t last) noexcept;

/// A run of consecutive units loaded in one pool block.
struct Group {
  std::size_t first_unit = 0;        ///< Index into ModelGraph::units().
  std::size_t last_unit = 0;         ///< One past the end.
  std::uint64_t weight_bytes = 0;    ///< group_weight_bytes().
  std::uint64_t reserved_bytes = 0;  ///< weight_bytes rounded to its pool size class.
  std::uint64_t peak_bytes = 0;      ///< Predicted pool reservation while this group computes.
};

/// Copyable value: the output of a PartitionStrategy.
struct ExecutionPlan {
  std::string strategy;
  memory_manager::MemoryBudget budget = memory_manager::MemoryBudget::unlimited();
  std::size_t n_ctx = 0;
  std::size_t n_batch = 0;
  RuntimeBuffers buffers;
  std::vector<Group> groups;
  /// Groups that fit together with the fixed buffers stay loaded across tokens; otherwise every forward pass
  /// streams every group (load, compute, release).
  bool all_resident = false;
  /// Groups loaded ahead of the one computing (speculative-prefetch: 1).
  std::size_t prefetch_depth = 0;
  std::uint64_t peak_bytes = 0;            ///< Predicted pool peak; <= budget.
  std::uint64_t minimum_budget_bytes = 0;  ///< Smallest budget this strategy accepts for this model and context.
  /// Weight bytes loaded per forward pass (0 when all resident after the first).
  std::uint64_t streamed_bytes_per_pass() const noexcept;
  /// Checks: groups cover the units contiguously in order, none empty, every peak within the budget.
  /// Errors: kInternal naming the broken rule.
  Result<void> validate(std::size_t n_units) const;
  /// Multi-line human-readable table.
  std::string describe(std::span<const model_ir::Unit> units) const;
};

/// Interface. Implementations are stateless and thread-safe.
class PartitionStrategy {
 public:
  virtual ~PartitionStrategy() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Plans `graph` for a context of n_ctx tokens, n_batch per forward pass, within `budget`.
  /// Errors: kBudgetExceeded when the budget is below the minimum; the message says
  /// "minimum budget <size> (<N> bytes)" and what it is made of. Errors of runtime_buffers().
  virtual Result<ExecutionPlan> plan(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                     memory_manager::MemoryBudget budget, std::size_t n_ctx,
                                     std::size_t n_batch) const = 0;
};

/// "sequential": one unit per group; streams one unit at a time when the model does not fit.
/// "greedy-grouping": packs consecutive units into the largest groups the budget allows (fewer, bigger loads).
/// "speculative-prefetch": groups of at most half the free budget, so the next group loads (on a background
/// thread) while the current one computes.
/// Errors: kInvalidArgument for another name (the message lists the valid ones).
Result<std::unique_ptr<PartitionStrategy>> make_strategy(std::string_view name);

/// The names make_strategy accepts.
std::span<const std::string_view> strategy_names() noexcept;

}  // namespace edge_rt::partition_planner
