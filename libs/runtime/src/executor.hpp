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
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
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
  std::size_t threads = 0;  ///< Kernel threads the pass ran with.
};

/// Polled before each weight group and each unit of a forward pass; true cancels the pass.
using AbortFn = std::function<bool()>;

/// What one pass needs besides its tokens. Copyable value; the pointers are not owned.
struct PassOptions {
  const RowLogits* each_row = nullptr;  ///< Sees every row's logits when set.
  const AbortFn* abort = nullptr;       ///< Polled before each group and unit.
  std::size_t max_threads = 0;          ///< Cap on kernel threads for this pass; 0: as configured.
};

class Executor;

/// A first-come, first-served lock (a ticket lock over a condition variable): sessions waiting for the model take
/// passes in the order they asked, so two sessions decoding at once alternate token by token instead of one
/// re-taking the lock after each of its passes. Neither copy nor move. Thread-safe.
class FairLock final {
 public:
  void lock();
  void unlock();

 private:
  std::mutex mutex_;
  std::condition_variable turn_;
  std::uint64_t next_ = 0;     // the ticket the next caller gets
  std::uint64_t serving_ = 0;  // the ticket that holds the lock
};

/// One session's buffers: its KV cache and scratch, from the CPU's pool, and its RoPE tables (they depend on the
/// context length). Move-constructible only. Its pool bytes are counted in the executor's session reservation until it
/// is destroyed, which must happen before the executor's.
class SessionBuffers final {
 public:
  SessionBuffers(SessionBuffers&&) noexcept;
  SessionBuffers& operator=(SessionBuffers&&) = delete;
  ~SessionBuffers();

  std::size_t n_ctx() const noexcept { return n_ctx_; }
  std::size_t n_batch() const noexcept { return n_batch_; }
  /// Pool bytes it holds (its size classes).
  std::uint64_t reserved_bytes() const noexcept { return reserved_bytes_; }
  /// The logits of the last row of the last pass run on it.
  std::span<float> logits() noexcept;

 private:
  friend class Executor;
  SessionBuffers() = default;
  std::span<float> scratch(partition_planner::Scratch s) noexcept;

  Executor* owner_ = nullptr;  // null once moved from
  std::size_t n_ctx_ = 0;
  std::size_t n_batch_ = 0;
  std::size_t vocab_ = 0;
  std::uint64_t reserved_bytes_ = 0;
  memory_manager::BufferGuard kv_cache_;
  std::array<memory_manager::BufferGuard, static_cast<std::size_t>(partition_planner::Scratch::kCount)> scratch_;
  std::vector<std::vector<float>> rope_inv_freq_;  // per layer: model_ir::rope_inv_freq(config, layer, n_ctx)
  std::vector<std::int64_t> rows_;                 // embedding rows of the current pass
};

/// The shared part of a loaded model: the backends, the pinned weight groups and the weight stream. Sessions
/// bring their own buffers (SessionBuffers) to forward(). Neither copy nor move (the pool must stay put while
/// guards point to it). Thread-safe: forward passes of different sessions are serialised on one mutex (the
/// backends run one thread's ops at a time, and the streamed groups come in one forward order).
class Executor final {
 public:
  /// Takes the placement's backends and the run's weight source; loads pinned groups into their devices' pools
  /// and starts the I/O thread when the plan prefetches. `graph` must outlive the executor. `budget` is the CPU
  /// pool's: sessions may use what the plan leaves of it (plan.peak_bytes less the one session it sized).
  static Result<std::unique_ptr<Executor>> create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                  const partition_planner::ExecutionPlan& plan,
                                                  memory_manager::MemoryBudget budget,
                                                  std::unique_ptr<model_ir::WeightSource> source,
                                                  DevicePlacement placement);
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;
  ~Executor();

  /// Pool bytes a session of n_ctx tokens, n_batch per pass, takes (KV cache and scratch, in size classes).
  /// Errors: those of partition_planner::runtime_buffers.
  Result<partition_planner::RuntimeBuffers> session_sizes(std::size_t n_ctx, std::size_t n_batch) const;
  /// Pool bytes left for more sessions: the budget less the weights' planned peak and the live sessions.
  std::uint64_t free_session_bytes() const;
  /// Allocates a session's buffers when the budget leaves room for them beside the weights' planned peak and
  /// the other sessions. Errors: kBudgetExceeded naming what the session needs and the minimum budget;
  /// those of session_sizes.
  Result<SessionBuffers> create_session(std::size_t n_ctx, std::size_t n_batch);

  /// Runs `tokens` at positions [pos0, pos0 + n) of `s` (n <= its n_batch, pos0 + n <= its n_ctx; ids already
  /// validated). Afterwards s.logits() holds the last row's logits. Errors: kCancelled when the abort callback
  /// says so (rows [pos0, pos0 + n) of the KV cache are then partly written); kIoError from storage, after which
  /// the executor is poisoned: every later call returns that error.
  Result<PassStats> forward(SessionBuffers& s, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                            const PassOptions& options);

  /// The host (CPU) pool's counters.
  memory_manager::PoolStats pool_stats() const { return backends_[0]->pool_stats(); }

 private:
  friend class SessionBuffers;
  Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan,
           memory_manager::MemoryBudget budget, std::unique_ptr<model_ir::WeightSource> source,
           DevicePlacement placement);
  std::span<float> scratch(partition_planner::Scratch s) noexcept { return s_->scratch(s); }
  // Rows [0, n) of an activation buffer; kKNew / kVNew: rows [pos0, pos0 + n) of the layer's K / V cache.
  std::span<float> value(model_ir::Value v, std::size_t layer, std::size_t n, std::size_t pos0) noexcept;
  Result<LoadedGroup> load(std::size_t group_index, Staging& staging);
  Result<void> run_pass(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const PassOptions& options,
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
  void release_session(std::uint64_t bytes) noexcept;

  const model_ir::ModelGraph<model_ir::Validated>& graph_;
  const model_ir::ModelConfig& config_;
  const model_ir::Recipe& recipe_;
  partition_planner::ExecutionPlan plan_;
  const memory_manager::MemoryBudget budget_;
  std::unique_ptr<model_ir::WeightSource> source_;  // how weights are read, chosen once per run
  // Before every guard: destroyed last. [0] the CPU, whose pool holds the sessions' KV caches and scratch.
  std::vector<std::unique_ptr<backend::Backend>> backends_;
  std::vector<backend::Backend*> backend_ptrs_;                                            // the same, for load_group
  std::vector<UnitPlacement> placement_;                                                   // per unit
  std::vector<WeightDevices> weight_devices_;                                              // per unit, for load_group
  std::array<std::uint64_t, static_cast<std::size_t>(model_ir::Value::kCount)> widths_{};  // recipe value widths
  std::vector<std::optional<LoadedGroup>> pinned_;                                         // by group index
  backend::PreparedWeight shared_lm_head_;  // tied weights: the resident token embedding
  std::uint64_t weights_peak_bytes_ = 0;    // the plan's CPU peak less the one session it sized
  mutable std::mutex sessions_mutex_;
  std::uint64_t session_bytes_ = 0;                 // pool bytes reserved by live sessions (sessions_mutex_)
  std::size_t n_sessions_ = 0;                      // live sessions (sessions_mutex_)
  FairLock pass_lock_;                              // one forward pass at a time, in turn; guards everything below
  SessionBuffers* s_ = nullptr;                     // the session whose pass runs
  partition_planner::DeviceIndex last_device_ = 0;  // ran the last op
  Staging staging_;                                 // compute-thread loads
  std::atomic<std::uint64_t> io_bytes_{0};
  std::atomic<std::uint64_t> io_ns_{0};
  std::optional<Error> poisoned_;
  std::unique_ptr<Prefetcher> prefetcher_;  // last: its thread stops before the rest is destroyed
};

}  // namespace edge_rt::runtime::detail
