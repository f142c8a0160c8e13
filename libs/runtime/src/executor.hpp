#pragma once
// Executes an ExecutionPlan: owns the pool, the KV cache, the scratch buffers and the pinned weight groups, and
// runs forward passes group by group, streaming the groups that are not resident (in the compute thread, or on
// the Prefetcher's I/O thread when the plan has a prefetch depth).

#include "prefetcher.hpp"
#include "weights.hpp"

#include <edge_rt/tensor_core/thread_pool.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <atomic>
#include <functional>
#include <memory>
#include <optional>

namespace edge_rt::runtime::detail {

/// Called with (row within the pass, first vocabulary id, logits of ids [first, first + size)) when every row's
/// logits are wanted; a chunked head calls it once per chunk and row.
using RowLogits = std::function<void(std::size_t, std::size_t, std::span<const float>)>;

/// Time and bytes of forward passes. Copyable value.
struct PassStats {
  double io_ms = 0;       ///< Reading and converting weights (either thread).
  double compute_ms = 0;  ///< Forward-pass wall time minus stalls.
  double stall_ms = 0;    ///< Compute waiting for weights.
  std::uint64_t bytes_read = 0;
};

/// Neither copy nor move (the pool must stay put while guards point to it). Not thread-safe.
class Executor final {
 public:
  /// Allocates the KV cache and scratch, loads pinned groups, starts the I/O thread when the plan prefetches and
  /// n_threads - 1 kernel workers (n_threads >= 1, see kernel_threads). `graph` must outlive the executor.
  static Result<std::unique_ptr<Executor>> create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                  const partition_planner::ExecutionPlan& plan, const IoOptions& io,
                                                  std::size_t n_threads);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  /// Runs `tokens` at positions [pos0, pos0 + n) (n <= n_batch, pos0 + n <= n_ctx; ids already validated).
  /// Afterwards logits() holds the last row's logits; `each_row`, when set, sees every row's. After an I/O error
  /// the executor is poisoned: every later call returns that error.
  Result<PassStats> forward(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row);

  std::span<float> logits() noexcept;
  memory_manager::PoolStats pool_stats() const { return pool_->stats(); }
  /// Kernel threads from now on: min(n, the configured count), at least 1; 0 restores the configured count.
  /// Between passes only. Returns the count in effect.
  std::size_t limit_threads(std::size_t n);

 private:
  Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan,
           const IoOptions& io, std::size_t n_threads);
  // out = x . W (+ bias) for the unit's matrix `role`, whichever way it is stored.
  void linear(const LoadedUnit& unit, model_ir::WeightRole role, model_ir::WeightRole bias, std::span<const float> x,
              std::size_t n, std::span<float> out);
  std::span<float> scratch(partition_planner::Scratch s) noexcept;
  Result<LoadedGroup> load(std::size_t group_index, Staging& staging);
  Result<void> run_pass(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row,
                        double& stall_ms);
  void run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                const RowLogits* each_row);
  Result<void> gather_embedding(std::span<const tokenizer::TokenId> tokens, std::size_t pos0);
  void run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0);
  void run_llama_attention(const LoadedUnit& unit, std::size_t n, std::size_t pos0);
  void run_llama_ffn(const LoadedUnit& unit, std::size_t n);
  void run_gpt2_attention(const LoadedUnit& unit, std::size_t n, std::size_t pos0);
  void run_gpt2_ffn(const LoadedUnit& unit, std::size_t n);
  void run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row);
  void attend(std::size_t layer, std::size_t n, std::size_t pos0);

  const model_ir::ModelGraph<model_ir::Validated>& graph_;
  const model_ir::ModelConfig& config_;
  partition_planner::ExecutionPlan plan_;
  IoOptions io_;
  std::unique_ptr<memory_manager::MemoryPool> pool_;  // before every guard: destroyed last
  memory_manager::BufferGuard kv_cache_;
  std::array<memory_manager::BufferGuard, static_cast<std::size_t>(partition_planner::Scratch::kCount)> scratch_;
  std::vector<std::optional<LoadedGroup>> pinned_;  // by group index
  tensor_core::TensorView shared_lm_head_;          // tied weights: the resident token embedding
  Staging staging_;                                 // compute-thread loads
  std::atomic<std::uint64_t> io_bytes_{0};
  std::atomic<std::uint64_t> io_ns_{0};
  std::optional<Error> poisoned_;
  std::size_t configured_threads_ = 1;
  std::unique_ptr<tensor_core::ThreadPool> threads_;
  std::unique_ptr<Prefetcher> prefetcher_;  // last: its thread stops before the rest is destroyed
};

}  // namespace edge_rt::runtime::detail
