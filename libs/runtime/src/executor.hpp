#pragma once
// Executes an ExecutionPlan: owns the backends, the KV cache, the scratch buffers and the pinned weight groups,
// and runs forward passes group by group, each unit's recipe program op by op on the backend placement chose,
// streaming the groups that are not resident (in the compute thread, or on the Prefetcher's I/O thread when the
// plan has a prefetch depth).

#include "placement.hpp"
#include "prefetcher.hpp"
#include "weights.hpp"

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
  /// Takes the placement's backends and the run's weight source; allocates the KV cache and scratch from the
  /// CPU's pool, loads pinned groups into their devices' pools and starts the I/O thread when the plan
  /// prefetches. `graph` must outlive the executor.
  static Result<std::unique_ptr<Executor>> create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                  const partition_planner::ExecutionPlan& plan,
                                                  std::unique_ptr<model_ir::WeightSource> source,
                                                  DevicePlacement placement);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  /// Runs `tokens` at positions [pos0, pos0 + n) (n <= n_batch, pos0 + n <= n_ctx; ids already validated).
  /// Afterwards logits() holds the last row's logits; `each_row`, when set, sees every row's. After an I/O error
  /// the executor is poisoned: every later call returns that error.
  Result<PassStats> forward(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row);

  std::span<float> logits() noexcept;
  /// The host (CPU) pool's counters.
  memory_manager::PoolStats pool_stats() const { return backends_[0]->pool_stats(); }
  /// Kernel threads from now on: min(n, the configured count), at least 1; 0 restores the configured count.
  /// Between passes only. Returns the count in effect.
  std::size_t limit_threads(std::size_t n);

 private:
  Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan,
           std::unique_ptr<model_ir::WeightSource> source, DevicePlacement placement);
  std::span<float> scratch(partition_planner::Scratch s) noexcept;
  // Rows [0, n) of an activation buffer; kKNew / kVNew: rows [pos0, pos0 + n) of the layer's K / V cache.
  std::span<float> value(model_ir::Value v, std::size_t layer, std::size_t n, std::size_t pos0) noexcept;
  Result<LoadedGroup> load(std::size_t group_index, Staging& staging);
  Result<void> run_pass(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row,
                        double& stall_ms);
  void run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                const RowLogits* each_row);
  Result<void> gather_embedding(std::span<const tokenizer::TokenId> tokens, std::size_t pos0);
  void run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0);
  // Token embeddings times ModelConfig::embedding_scale (Gemma), whichever path gathered them.
  void scale_embeddings(std::span<float> x) const;
  void run_program(const LoadedUnit& unit, std::span<const model_ir::Step> program, std::size_t n, std::size_t pos0);
  void run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row);
  // The backend of device `d`, after synchronizing the device that ran the previous op when it differs.
  backend::Backend& on(partition_planner::DeviceIndex d);
  // Waits for the device that ran the last op.
  void synchronize();
  void norm(backend::Backend& on, std::span<const float> x, std::span<const float> w, std::span<const float> b,
            std::span<float> out);

  const model_ir::ModelGraph<model_ir::Validated>& graph_;
  const model_ir::ModelConfig& config_;
  const model_ir::Recipe& recipe_;
  const std::vector<std::vector<float>> rope_inv_freq_;  // per layer: model_ir::rope_inv_freq(config_, layer, n_ctx)
  partition_planner::ExecutionPlan plan_;
  std::unique_ptr<model_ir::WeightSource> source_;  // how weights are read, chosen once per run
  // Before every guard: destroyed last. [0] the CPU, whose pool holds the KV cache and scratch.
  std::vector<std::unique_ptr<backend::Backend>> backends_;
  std::vector<backend::Backend*> backend_ptrs_;                                            // the same, for load_group
  std::vector<UnitPlacement> placement_;                                                   // per unit
  std::vector<WeightDevices> weight_devices_;                                              // per unit, for load_group
  std::array<std::uint64_t, static_cast<std::size_t>(model_ir::Value::kCount)> widths_{};  // recipe value widths
  std::vector<std::int64_t> rows_;                  // embedding rows of the current pass
  partition_planner::DeviceIndex last_device_ = 0;  // ran the last op
  memory_manager::BufferGuard kv_cache_;
  std::array<memory_manager::BufferGuard, static_cast<std::size_t>(partition_planner::Scratch::kCount)> scratch_;
  std::vector<std::optional<LoadedGroup>> pinned_;  // by group index
  backend::PreparedWeight shared_lm_head_;          // tied weights: the resident token embedding
  Staging staging_;                                 // compute-thread loads
  std::atomic<std::uint64_t> io_bytes_{0};
  std::atomic<std::uint64_t> io_ns_{0};
  std::optional<Error> poisoned_;
  std::unique_ptr<Prefetcher> prefetcher_;  // last: its thread stops before the rest is destroyed
};

}  // namespace edge_rt::runtime::detail
