#pragma once
// InferenceEngine: Idle -> load_model() -> Planned -> prepare() -> Ready -> generate().
// Each transition consumes the engine (`std::move(engine).load_model(...)`); a moved-from engine may only be
// destroyed. Methods exist only in the states where they make sense.

#include <edge_rt/core/result.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/partition_planner/plan.hpp>
#include <edge_rt/runtime/sampler.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <atomic>
#include <concepts>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

namespace edge_rt::runtime {

/// State tags.
struct Idle {};
struct Planned {};
struct Ready {};

/// Most kernel threads an engine accepts: far above any edge device, well below where creating threads fails.
inline constexpr std::int32_t kMaxThreads = 256;

/// Kernel threads for an EngineOptions::n_threads value: itself when > 0, else one per online CPU (at least 1).
std::size_t kernel_threads(std::int32_t n_threads) noexcept;

/// What the planner does when the requested device cannot run a unit or an op (unsupported op, dtype or shape;
/// device memory short; the device failed to start).
enum class FallbackPolicy : std::uint8_t {
  kCpu,   ///< Run it on the CPU; Coverage::fallbacks lists it (the CLI says so once on stderr).
  kFail,  ///< Fail-closed: refuse with one error listing every unit and op that would not run there, and why.
};
const char* to_string(FallbackPolicy policy) noexcept;

/// Where to run. Copyable value. Defaults: everything on the CPU.
struct DeviceOptions {
  /// "cpu", "auto" (the first accelerator that starts and is not emulated on the CPU, else the CPU; test
  /// delegates such as npu-sim are never chosen), or "NAME[:INDEX]" (e.g. "npu-sim", "vulkan:1").
  std::string device = "cpu";
  /// Layers on the device, llama.cpp's -ngl: the last N layers; -1 ("all") adds the head. Ignored when the
  /// device is the CPU. Default -1.
  std::int32_t gpu_layers = -1;
  /// Budget per device name (--device-budget NAME=SIZE); a device absent here is limited only by its memory.
  std::vector<std::pair<std::string, memory_manager::MemoryBudget>> budgets;
  FallbackPolicy fallback = FallbackPolicy::kCpu;
};

/// Checks DeviceOptions without starting anything: `device` is cpu, auto or a registered NAME[:INDEX] (INDEX
/// 0..255), budgets name registered devices other than the CPU, gpu_layers >= -1. Errors: kInvalidArgument naming
/// the value and the devices there are. load_model runs it first.
Result<void> check_device_options(const DeviceOptions& options);

/// What ran where: the coverage report (inspect, run -v, run --output json, benchmark JSON). Copyable value.
struct DeviceCoverage {
  std::string name;                ///< "cpu", "npu-sim".
  std::string kind;                ///< "cpu", "gpu", "npu".
  std::size_t units = 0;           ///< Units whose weights live on it.
  std::size_t ops = 0;             ///< Ops of one forward pass it runs (a layer program's steps, head included).
  std::uint64_t weight_bytes = 0;  ///< Weight bytes of the units placed there (resident or streamed).
  std::uint64_t kv_bytes = 0;      ///< KV cache bytes placed there.
  std::uint64_t streamed_bytes_per_token = 0;  ///< Weight bytes loaded into it per decoded token (0: all resident).
  std::uint64_t predicted_peak_bytes = 0;      ///< Its pool's planned peak (the host's includes KV and scratch).
  std::uint64_t budget_bytes = 0;              ///< Its budget; UINT64_MAX when unlimited.
};
/// One unit or op that did not run where requested.
struct FallbackEntry {
  std::string unit;    ///< "layer.3.attn", "head".
  std::string op;      ///< "matmul attn_q", "rms_norm", or "*" for the whole unit.
  std::string reason;  ///< backend::reason_name: "op", "dtype", "shape", "layout", "memory", "init".
  std::string detail;  ///< The device's explanation.
};
struct Coverage {
  std::string requested;                ///< The device asked for ("cpu" when none).
  std::vector<DeviceCoverage> devices;  ///< [0] the CPU.
  std::vector<FallbackEntry> fallbacks;
  std::size_t splits = 0;  ///< Device changes between consecutive ops of one forward pass.
  /// Activation bytes an op reads that another device wrote last, for one decoded token.
  std::uint64_t bytes_across_devices_per_token = 0;
  /// One line: "cpu: 57 ops, 6 units; npu-sim: 21 ops, 6 units; 51 fallback(s) to the CPU (dtype 5, op 46)".
  std::string summary() const;
};

/// What to load and how. Copyable value.
struct EngineOptions {
  std::filesystem::path model_dir;
  memory_manager::MemoryBudget budget = memory_manager::MemoryBudget::unlimited();
  std::string strategy = "greedy-grouping";  ///< See partition_planner::make_strategy.
  std::size_t n_ctx = 0;                     ///< KV cache length in tokens; 0: the model's context length.
  std::size_t n_batch = 0;                   ///< Tokens per prefill forward pass; 0: min(512, n_ctx).
  /// Sessions (each with an n_ctx KV cache and n_batch scratch) the plan leaves room for in the budget: the
  /// weights are planned for the budget less n_sessions - 1 extra sessions. >= 1. A Model may hold more sessions
  /// when the budget has room (Session::create checks); InferenceEngine always holds one.
  std::size_t n_sessions = 1;
  /// Threads that run kernels, the calling thread included; 0: one per online CPU (capped at kMaxThreads);
  /// 1..kMaxThreads, else load_model fails with kInvalidArgument. Results do not depend on it.
  std::int32_t n_threads = 0;
  /// Cold-cache streaming: drop the page cache of every weight range after reading it, so each pass reads from
  /// the device and the page cache does not grow with the model (POSIX_FADV_DONTNEED).
  bool cold_cache = false;
  /// Copy weights from a read-only mapping of the checkpoint, releasing the pages after each copy, instead of
  /// pread (the default). The measured difference is in docs/benchmarks.md.
  bool use_mmap = false;
  DeviceOptions devices;
  /// A tokenizer the caller already loaded from model_dir (to size the context from the prompt); when null the
  /// engine loads the folder's own, if any.
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
};

/// Adjustments another thread (a resource monitor) may make while generate() runs; read before each decode pass.
/// Lowering threads never changes the tokens: the kernels give identical results for any thread count.
/// Thread-safe (atomics). Not copyable.
struct RunControl {
  std::atomic<std::uint32_t> max_threads{0};  ///< Cap on kernel threads (>= 1), 0 = as configured.
  std::atomic<std::uint32_t> pace_ms{0};      ///< Sleep before each decode pass, in ms; 0 = none.
};

/// Polled before each weight group, and each unit (a layer's attention or feed-forward block) in it, of every
/// forward pass (prefill and decode); return true to cancel the call, which then fails with ErrorCode::kCancelled
/// within one unit's compute or one group's load. Called on the calling thread.
using AbortCallback = std::function<bool()>;

/// Per-call generation settings. Copyable value.
struct GenerateOptions {
  std::size_t max_new_tokens = 128;  ///< New tokens at most (-n); 0 runs the prompt only.
  SamplingParams sampling;
  bool stop_at_eos = true;
  /// More ids that end generation with StopReason::kEos when stop_at_eos (a chat template's end-of-turn tokens).
  std::vector<TokenId> stop_ids;
  /// Put BOS before the prompt: nullopt follows the model (adds_bos()); false when the prompt already has what it
  /// needs (a rendered chat template, which holds BOS itself where the model wants one).
  std::optional<bool> add_bos;
  /// Keep the KV cache of the previous generate() call: positions whose tokens equal the start of this call's
  /// input are not evaluated again (the last input token always is, for its logits). A chat resends the whole
  /// conversation each turn and prefills only the new turn. Not with all_logits.
  bool reuse_kv = false;
  bool all_logits = false;        ///< Keep the logits of every input position (prefill) in the result.
  RunControl* control = nullptr;  ///< Optional, not owned; must outlive generate().
  AbortCallback abort;            ///< Optional.
};

/// Weight streaming during one forward pass (prefill: the whole prompt; decode: one token). Copyable value.
struct TokenStats {
  double io_ms = 0;       ///< Reading and converting weights, on whichever thread did it.
  double compute_ms = 0;  ///< Wall time of the pass minus stalls.
  double stall_ms = 0;    ///< Compute waiting for weights (all of io_ms when loads are synchronous).
  std::uint64_t bytes_read = 0;
};

/// Counters of one generate() call. Times in ms, rates in tokens per second.
struct Metrics {
  double load_ms = 0;  ///< load_model() + prepare().
  double ttft_ms = 0;  ///< From generate() entry to the first new token sampled.
  double prefill_ms = 0;
  double decode_ms = 0;             ///< Forward passes of the generated tokens.
  std::size_t n_prompt_tokens = 0;  ///< Input positions evaluated in prefill (BOS included).
  std::size_t n_reused_tokens = 0;  ///< Input positions whose KV entries were kept from the previous call.
  std::size_t n_generated_tokens = 0;
  double prefill_tok_s = 0;
  double decode_tok_s = 0;
  std::uint64_t peak_pool_bytes = 0;      ///< Highest pool reservation since prepare(); <= the budget.
  std::uint64_t budget_bytes = 0;         ///< UINT64_MAX when unlimited.
  std::uint64_t weight_bytes_loaded = 0;  ///< Weight bytes read from storage during this call.
  double io_ms = 0;                       ///< Sums over the passes of TokenStats.
  double compute_ms = 0;
  double stall_ms = 0;
  /// Share of the I/O time hidden behind compute: (io_ms - stall_ms) / io_ms; 1 when nothing was read.
  double overlap_efficiency = 1;
  double paced_ms = 0;          ///< Sleeps asked for by RunControl::pace_ms (included in decode_ms).
  std::size_t min_threads = 0;  ///< Fewest kernel threads any decode pass ran with.
};

/// Why generation stopped.
enum class StopReason { kEos, kMaxTokens, kContextFull, kCallback };
const char* to_string(StopReason reason) noexcept;

struct GenerationResult {
  std::vector<TokenId> input_tokens;      ///< What prefill evaluated: BOS (when added) then the prompt.
  std::vector<TokenId> generated_tokens;  ///< New tokens, the stop token excluded.
  StopReason stop_reason = StopReason::kMaxTokens;
  std::vector<std::vector<float>> logits;  ///< [input position][vocab] when GenerateOptions::all_logits.
  /// One entry per forward pass: [0] the prefill (all of it, even when chunked), then one per decoded token.
  std::vector<TokenStats> passes;
  Metrics metrics;
};

/// Called with each new token before the next is computed; return false to stop.
using TokenCallback = std::function<bool(TokenId)>;

namespace detail {
struct EngineData;
}
class Session;

/// Move-only; moves are O(1) (one pointer). Not thread-safe: one generate() at a time.
template <class State>
class InferenceEngine final {
 public:
  static InferenceEngine<Idle> create() requires std::same_as<State, Idle>;

  /// Opens model_dir (config.json, safetensors, tokenizer if present), validates the graph, starts the backends
  /// options.devices asks for, places units and ops on them and plans it all for the budgets and strategy.
  /// Allocates nothing from any budget yet.
  /// Errors: those of ModelGraph::load/validate, load_tokenizer (a tokenizer file that exists but is broken),
  /// make_strategy and PartitionStrategy::plan (kBudgetExceeded names the minimum budget); kInvalidArgument for
  /// an unknown device or a budget for one; kUnsupported with FallbackPolicy::kFail when a unit or op cannot run
  /// on the device (the message lists every one and why).
  [[nodiscard]] Result<InferenceEngine<Planned>> load_model(const EngineOptions& options) && requires
      std::same_as<State, Idle>;

  /// Allocates the KV cache and scratch from the CPU's pool and loads the groups that stay resident into their
  /// devices' pools.
  /// Errors: kBudgetExceeded (cannot happen for a valid plan), kIoError reading weights.
  [[nodiscard]] Result<InferenceEngine<Ready>> prepare() && requires std::same_as<State, Planned>;

  /// Generates after `prompt` (ids; may be empty: then it starts from BOS, and a model without BOS is an error).
  /// Llama-family models get BOS prepended (GenerateOptions::add_bos overrides). The KV cache restarts at
  /// position 0 on every call unless GenerateOptions::reuse_kv keeps the positions the previous call computed.
  /// Errors: kInvalidArgument (an id outside the vocabulary, empty prompt without BOS, bad sampling params,
  /// reuse_kv with all_logits), kContextOverflow (the prompt does not fit the context), kCancelled
  /// (GenerateOptions::abort), kIoError (streaming a weight failed; the engine is unusable from then on).
  /// The same as session().run().
  Result<GenerationResult> generate(std::span<const TokenId> prompt, const GenerateOptions& options,
                                    const TokenCallback& on_token = {}) requires std::same_as<State, Ready>;
  /// The engine's one session (session.hpp), on a Model no other session shares.
  Session& session() noexcept requires std::same_as<State, Ready>;

  const model_ir::ModelConfig& config() const noexcept requires(!std::same_as<State, Idle>);
  const partition_planner::ExecutionPlan& plan() const noexcept requires(!std::same_as<State, Idle>);
  /// The model's tokenizer; nullptr when the folder has none (then only token ids can be given).
  const tokenizer::Tokenizer* tokenizer() const noexcept requires(!std::same_as<State, Idle>);
  /// Whether generate() puts BOS before a non-empty prompt (Llama-family models with a BOS id), taking one
  /// position of the context.
  bool adds_bos() const noexcept requires(!std::same_as<State, Idle>);
  /// Bytes of weights the graph holds, and parameters.
  std::uint64_t weight_bytes() const noexcept requires(!std::same_as<State, Idle>);
  std::uint64_t parameter_count() const noexcept requires(!std::same_as<State, Idle>);
  /// Weight bytes read from storage per decoded token under the plan (0 when everything is resident).
  std::uint64_t streamed_bytes_per_token() const noexcept requires(!std::same_as<State, Idle>);
  /// Human-readable plan with unit names.
  std::string describe_plan() const requires(!std::same_as<State, Idle>);
  /// Which device runs what, and the fallbacks taken.
  const Coverage& coverage() const noexcept requires(!std::same_as<State, Idle>);

  InferenceEngine(InferenceEngine&&) noexcept;
  InferenceEngine& operator=(InferenceEngine&&) noexcept;
  ~InferenceEngine();

 private:
  template <class>
  friend class InferenceEngine;
  explicit InferenceEngine(std::unique_ptr<detail::EngineData> data) noexcept;
  std::unique_ptr<detail::EngineData> data_;
};

extern template class InferenceEngine<Idle>;
extern template class InferenceEngine<Planned>;
extern template class InferenceEngine<Ready>;

}  // namespace edge_rt::runtime
