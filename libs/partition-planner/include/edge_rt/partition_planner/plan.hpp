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

/// Activation and scratch buffers the runtime allocates, one pool block each. The first seven are the recipe's
/// activation buffers (model_ir::Value, same order), [n_batch, width] with widths from Recipe::value_widths: 0
/// bytes for those the family's programs do not use (kQkv for Llama, kFfnB for GPT-2).
enum class Scratch : std::uint8_t {
  kResidual,
  kNormed,
  kQuery,
  kAttnOut,
  kQkv,
  kFfnA,
  kFfnB,
  kScores,        ///< [n_ctx] attention scores of one query row
  kLogits,        ///< [vocab]
  kEmbeddingRow,  ///< [d_model] F32: an embedding row read from storage when the embedding is gathered
  kCount,
};
std::string_view scratch_name(Scratch s) noexcept;
/// The scratch buffer holding a recipe activation buffer. Precondition: v is not kKNew or kVNew (the KV cache).
constexpr Scratch scratch_of(model_ir::Value v) noexcept {
  return static_cast<Scratch>(v);
}

/// How weights sit in pool blocks: set by the backend that allocates them (alignment, size classes) and the weight
/// source that fills them (the alignment of in-place reads). Copyable value; the defaults are the CPU backend's
/// with pread (no direct-read slots).
struct BufferGeometry {
  /// Weights start at multiples of this many bytes inside a block.
  std::uint64_t alignment = 64;
  /// The weight source's in-place read alignment (model_ir::WeightSource::in_place_alignment): 0 means reads
  /// land anywhere, so no weight needs a direct-read slot.
  std::uint64_t direct_alignment = 0;
  /// Matrices of at least this many bytes get a direct-read slot when direct_alignment > 0.
  std::uint64_t direct_min_bytes = 64 * 1024;
  /// The bytes a request of n bytes takes from the allocating pool (memory_manager::MemoryPool::size_class).
  std::uint64_t (*size_class)(std::uint64_t bytes) noexcept = pool_size_class;

  static std::uint64_t pool_size_class(std::uint64_t bytes) noexcept;
  /// The geometry of a direct-I/O source (--cold-cache): page-aligned slots for large matrices.
  static BufferGeometry direct_io(std::uint64_t page = 4096) noexcept;
};

/// What the runtime allocates besides weights for a context of n_ctx tokens processed n_batch at a time. F32.
struct RuntimeBuffers {
  std::uint64_t kv_cache_bytes = 0;  ///< K and V: 2 x n_layers x n_ctx x n_kv_heads head_dim x 4, one block.
  std::array<std::uint64_t, static_cast<std::size_t>(Scratch::kCount)> scratch_bytes{};
  /// What these count against the budget: each non-empty block rounded to its pool size class.
  std::uint64_t reserved_bytes(const BufferGeometry& geometry = {}) const noexcept;
  std::uint64_t scratch_total_bytes() const noexcept;
};

/// Sized from the family's recipe. Errors: kInvalidArgument when n_ctx or n_batch is 0 or n_batch > n_ctx,
/// kContextOverflow when n_ctx exceeds the model's context length.
Result<RuntimeBuffers> runtime_buffers(const model_ir::ModelConfig& config, const model_ir::Recipe& recipe,
                                       std::size_t n_ctx, std::size_t n_batch);

/// Bytes of one row of a rank-2 weight as held in memory (its dtype's row_bytes over shape[1]): LM head chunks
/// and embedding gathers are whole rows.
std::uint64_t weight_row_bytes(const model_ir::WeightRef& w) noexcept;

/// Bytes one weight of `bytes` resident bytes takes in a group's pool block, at an `alignment` offset. Vectors and
/// small matrices: `bytes` rounded up to the alignment. With a direct-I/O source, a matrix of at least
/// direct_min_bytes: `bytes` rounded up to direct_alignment plus two of it, so that a cold-cache load can place
/// its data at the file position's offset modulo the alignment inside the slot and read it straight into the
/// block, with no bounce copy (the slot holds the aligned window around the data). The size does not depend on
/// the file offset, so plans stay offset-independent.
std::uint64_t weight_slot_bytes(std::uint64_t bytes, bool matrix, const BufferGeometry& geometry) noexcept;
/// Whether weight_slot_bytes gives this weight a direct-read slot.
constexpr bool has_direct_slot(std::uint64_t bytes, bool matrix, const BufferGeometry& geometry) noexcept {
  return matrix && geometry.direct_alignment > 0 && bytes >= geometry.direct_min_bytes;
}

/// Bytes of the one pool block holding units [first, last): the sum of weight_slot_bytes of their weights.
std::uint64_t group_weight_bytes(std::span<const model_ir::Unit> units, std::size_t first, std::size_t last,
                                 const BufferGeometry& geometry) noexcept;

/// How a group's weights reach the device that computes it.
enum class Placement : std::uint8_t {
  kResident,  ///< Loaded once in prepare() into the device's pool and kept across tokens (pinned).
  kStreamed,  ///< Loaded into a pool block before each use and released after it.
  kGathered,  ///< The embedding, not loaded: the rows each pass needs are read on demand.
};
std::string_view placement_name(Placement p) noexcept;

/// Index into ExecutionPlan::devices; 0 is always the CPU (the host).
using DeviceIndex = std::uint8_t;

/// A run of consecutive units loaded in one pool block, or one vocabulary chunk of the head.
struct Group {
  std::size_t first_unit = 0;  ///< Index into ModelGraph::units().
  std::size_t last_unit = 0;   ///< One past the end.
  std::int64_t row_begin = 0;  ///< Head chunks: LM head rows [row_begin, row_end); otherwise both 0.
  std::int64_t row_end = 0;
  Placement placement = Placement::kStreamed;
  DeviceIndex device = 0;  ///< Whose pool holds the weights and whose kernels run the units (ops it lacks: CPU).
  /// Tied weights, all resident on the CPU: the head reads its LM head from the resident token embedding instead
  /// of a second copy (weight_bytes excludes it).
  bool lm_head_shared = false;
  std::uint64_t weight_bytes = 0;    ///< Bytes of its pool block (0 when gathered).
  std::uint64_t reserved_bytes = 0;  ///< weight_bytes rounded to its pool size class.
  bool is_head_chunk() const noexcept { return row_end > row_begin; }
  bool resident() const noexcept { return placement == Placement::kResident; }
  bool gathered() const noexcept { return placement == Placement::kGathered; }
};

/// What a PartitionStrategy honours besides the budget: the buffer geometry, which device each unit should run on
/// and each device's budget. Copyable value. Default: everything on the CPU, pread geometry.
struct PlanRequest {
  BufferGeometry geometry;
  std::vector<std::string> devices{"cpu"};  ///< Names; [0] is the CPU, whose budget is the plan's budget.
  std::vector<memory_manager::MemoryBudget> budgets{memory_manager::MemoryBudget::unlimited()};  ///< Per device.
  std::vector<DeviceIndex> unit_device;  ///< Per unit; empty: all 0. The embedding (unit 0) must be 0.
};

/// Copyable value: the output of a PartitionStrategy.
struct ExecutionPlan {
  std::string strategy;
  memory_manager::MemoryBudget budget = memory_manager::MemoryBudget::unlimited();
  std::size_t n_ctx = 0;
  std::size_t n_batch = 0;
  RuntimeBuffers buffers;
  /// In forward order; every unit is covered once, except the head, which may be several row chunks.
  std::vector<Group> groups;
  /// Device names, [0] the CPU; Group::device indexes them. Their budgets: [0] is `budget`, the rest
  /// device_budgets[i].
  std::vector<std::string> devices{"cpu"};
  std::vector<memory_manager::MemoryBudget> device_budgets{memory_manager::MemoryBudget::unlimited()};
  /// Pool bytes of the resident groups on each device (index as devices).
  std::vector<std::uint64_t> device_resident_bytes{0};
  /// Per device: the block every streamed load into it gets (its largest streamed group; 0 when none streams).
  std::vector<std::uint64_t> device_stream_block_bytes{0};
  /// Per device: predicted pool peak, within its budget ([0] is peak_bytes).
  std::vector<std::uint64_t> device_peak_bytes{0};
  BufferGeometry geometry;  ///< The geometry the plan's bytes were computed with; loads must use the same.
  /// Streamed groups loaded ahead of the one computing, on the I/O thread (0: loads happen in the compute thread).
  std::size_t prefetch_depth = 0;
  std::uint64_t resident_bytes = 0;  ///< Pool bytes of the pinned groups on the CPU.
  /// Every streamed load gets a block of this size (the largest streamed group), so blocks are reused from the
  /// pool's cache from the second load on: no page faults or system calls per load.
  std::uint64_t stream_block_bytes = 0;
  std::uint64_t peak_bytes = 0;            ///< Predicted pool peak; <= budget.
  std::uint64_t minimum_budget_bytes = 0;  ///< Smallest budget this strategy accepts for this model and context.

  /// Every group is pinned: nothing streams after prepare().
  bool all_resident() const noexcept;
  /// Weight bytes read from storage per forward pass of one token: streamed groups plus gathered embedding rows.
  std::uint64_t streamed_bytes_per_token(std::span<const model_ir::Unit> units) const noexcept;
  /// The same, for the groups loaded into one device (gathers count on the CPU).
  std::uint64_t streamed_bytes_per_token(std::span<const model_ir::Unit> units, DeviceIndex device) const noexcept;
  /// Checks: groups cover the units in order (head chunks contiguous over the vocabulary), none empty, the peak
  /// within the budget. Errors: kInternal naming the broken rule.
  Result<void> validate(std::span<const model_ir::Unit> units) const;
  /// Multi-line human-readable table: each group resident or streamed, bytes, the peak and the minimum budget.
  std::string describe(std::span<const model_ir::Unit> units) const;
};

/// Interface. Implementations are stateless and thread-safe.
class PartitionStrategy {
 public:
  virtual ~PartitionStrategy() = default;
  virtual std::string_view name() const noexcept = 0;
  /// Loads the strategy keeps in flight ahead of the compute at least (speculative-prefetch: 1). A streamed
  /// device needs 1 + this many slots of its largest unit.
  virtual std::size_t min_depth() const noexcept { return 0; }
  /// Plans `graph` for a context of n_ctx tokens, n_batch per forward pass, within `budget` (the host's).
  /// Units `request` puts on another device cost the host nothing: resident there, one group per unit, when they
  /// fit its budget; otherwise the largest are pinned and the rest stream into it (packed as on the host), and
  /// the prefetch depth counts loads into every device.
  /// Errors: kBudgetExceeded when the budget is below the minimum; the message says
  /// "minimum budget <size> (<N> bytes)" and what it is made of; kBudgetExceeded naming the device when its
  /// budget cannot hold 1 + min_depth() loads of its largest unit; kInvalidArgument for a malformed request.
  /// Errors of runtime_buffers().
  virtual Result<ExecutionPlan> plan(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                     memory_manager::MemoryBudget budget, std::size_t n_ctx, std::size_t n_batch,
                                     const PlanRequest& request = {}) const = 0;
};

/// Every strategy keeps the whole model resident when it fits. Otherwise it pins (keeps resident across tokens)
/// the largest units that leave room for streaming the rest, choosing by bytes per token saved, gathers embedding
/// rows on demand, streams the LM head in vocabulary chunks, and streams the other units as follows.
/// "sequential": one unit per load, loaded in the compute thread.
/// "greedy-grouping": consecutive units packed into the largest loads the free budget allows (fewer, bigger reads).
/// "speculative-prefetch": loads of at most 1/(depth+1) of the free budget, read on a background I/O thread
/// `depth` loads ahead of the compute (double buffering at depth 1; the planner raises the depth up to 3 while
/// each load still holds the largest unit).
/// Errors: kInvalidArgument for another name (the message lists the valid ones).
Result<std::unique_ptr<PartitionStrategy>> make_strategy(std::string_view name);

/// The names make_strategy accepts.
std::span<const std::string_view> strategy_names() noexcept;

}  // namespace edge_rt::partition_planner
