#pragma once
// Executes an ExecutionPlan: owns the pool, the KV cache, the scratch buffers and the resident weight groups, and
// runs forward passes group by group, streaming the groups that are not resident.

#include "weights.hpp"

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <functional>
#include <future>
#include <memory>

namespace edge_rt::runtime::detail {

/// Called with (row index within the pass, logits [vocab]) for each row when every row's logits are wanted.
using RowLogits = std::function<void(std::size_t, std::span<const float>)>;

/// Neither copy nor move (the pool must stay put while guards point to it). Not thread-safe.
class Executor final {
 public:
  /// Allocates the KV cache and scratch, loads resident groups. `graph` must outlive the executor.
  static Result<std::unique_ptr<Executor>> create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                  const partition_planner::ExecutionPlan& plan);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  /// Runs `tokens` at positions [pos0, pos0 + n) (n <= n_batch, pos0 + n <= n_ctx; ids already validated).
  /// Afterwards logits() holds the last row's logits; `each_row`, when set, sees every row's.
  Result<void> forward(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row);

  std::span<float> logits() noexcept;
  memory_manager::PoolStats pool_stats() const { return pool_->stats(); }
  std::uint64_t weight_bytes_loaded() const noexcept { return weight_bytes_loaded_; }

 private:
  Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan);
  std::span<float> scratch(partition_planner::Scratch s) noexcept;
  Result<LoadedGroup> load(std::size_t group_index);
  void run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                const RowLogits* each_row);
  void run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0);
  void run_llama_layer(const LoadedUnit& unit, std::size_t n, std::size_t pos0);
  void run_gpt2_layer(const LoadedUnit& unit, std::size_t n, std::size_t pos0);
  void run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row);
  void attend(std::size_t layer, std::size_t n, std::size_t pos0);

  const model_ir::ModelGraph<model_ir::Validated>& graph_;
  const model_ir::ModelConfig& config_;
  partition_planner::ExecutionPlan plan_;
  std::unique_ptr<memory_manager::MemoryPool> pool_;  // before every guard: destroyed last
  memory_manager::BufferGuard kv_cache_;
  std::array<memory_manager::BufferGuard, static_cast<std::size_t>(partition_planner::Scratch::kCount)> scratch_;
  std::vector<LoadedGroup> resident_;
  std::future<Result<LoadedGroup>> pending_;  // speculative prefetch of the next group
  std::size_t pending_index_ = 0;
  std::uint64_t weight_bytes_loaded_ = 0;
};

}  // namespace edge_rt::runtime::detail
