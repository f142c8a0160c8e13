#pragma once
// Model and Session, as llama.cpp's model and context: a Model (weights, plan, backends, weight stream) is loaded
// once and shared read-only by any number of Sessions; each Session owns its KV cache, scratch and token history,
// all counted in the model's one budget.
//
// Threads: different sessions may run on different threads at once. Their forward passes are serialised on the
// model (one pass at a time, each using every kernel thread): the backends run one thread's ops at a time, and a
// streamed model reads its groups in one forward order, so each pass streams the groups once for its own tokens.
// One session is not thread-safe: one call at a time.

#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace edge_rt::runtime {

namespace detail {
struct ModelData;
struct SessionData;
}  // namespace detail

/// A loaded, planned and prepared model. Copyable handle (copies share one model); the model lives until its
/// last handle and its last Session are gone. Thread-safe.
class Model final {
 public:
  /// Loads, places and plans as InferenceEngine::load_model, then loads the resident weight groups and starts the
  /// weight stream. Takes nothing for sessions yet. Errors: those of load_model and prepare; kInvalidArgument for
  /// n_sessions 0.
  [[nodiscard]] static Result<Model> load(const EngineOptions& options);

  const model_ir::ModelConfig& config() const noexcept;
  const partition_planner::ExecutionPlan& plan() const noexcept;
  const EngineOptions& options() const noexcept;
  /// The model's tokenizer; nullptr when the folder has none.
  const tokenizer::Tokenizer* tokenizer() const noexcept;
  std::shared_ptr<const tokenizer::Tokenizer> shared_tokenizer() const noexcept;
  /// Whether a prompt gets BOS by default (see InferenceEngine::adds_bos), and the BOS id (config, else tokenizer).
  bool adds_bos() const noexcept;
  std::optional<tokenizer::TokenId> bos_id() const noexcept;
  /// End-of-sequence ids: config.json's, else the tokenizer's.
  std::vector<tokenizer::TokenId> eos_ids() const;
  const Coverage& coverage() const noexcept;
  double load_ms() const noexcept;
  /// Bytes of the weights as stored, and parameters.
  std::uint64_t weight_bytes() const noexcept;
  std::uint64_t parameter_count() const noexcept;
  /// Pool bytes a session with these options takes (KV cache and scratch). Errors: those of SessionOptions'
  /// values (see Session::create).
  Result<std::uint64_t> session_bytes(std::size_t n_ctx, std::size_t n_batch) const;
  /// Pool bytes the budget has left for more sessions now.
  std::uint64_t free_session_bytes() const;
  /// The host pool's counters (weights, streaming blocks and every session).
  memory_manager::PoolStats pool_stats() const;

 private:
  friend class Session;
  template <class>
  friend class InferenceEngine;
  explicit Model(std::shared_ptr<detail::ModelData> data) noexcept;
  std::shared_ptr<detail::ModelData> data_;
};

/// Per-session sizes. Copyable value.
struct SessionOptions {
  std::size_t n_ctx = 0;    ///< KV cache length in tokens; 0: the model's (EngineOptions::n_ctx as planned).
  std::size_t n_batch = 0;  ///< Tokens per prefill pass; 0: the model's, capped at n_ctx.
};

/// What one append() evaluated. Copyable value.
struct AppendStats {
  std::size_t n_evaluated = 0;  ///< Positions run through the model (pending tokens included).
  std::size_t n_reused = 0;     ///< assign(): positions whose KV cache was kept.
  double prefill_ms = 0;
  TokenStats pass;  ///< Streaming over the call's passes.
};

/// One conversation's state on a Model: the tokens so far (tokens()), the KV cache of the first n_past() of
/// them, and the logits after the last one evaluated. Move-only; moves are O(1). One call at a time.
///
/// tokens() is everything appended and generated, in order. The last generated token is not evaluated until the
/// next append() or generate() (it is "pending"), as in llama.cpp, so n_past() may be tokens().size() - 1.
class Session final {
 public:
  /// Allocates the KV cache and scratch from the model's CPU pool. Errors: kInvalidArgument (n_batch > n_ctx),
  /// kContextOverflow (n_ctx above the model's context length), kBudgetExceeded when the budget has no room for
  /// it beside the weights' planned peak and the other sessions (the message gives what it needs and the minimum
  /// budget).
  [[nodiscard]] static Result<Session> create(const Model& model, const SessionOptions& options = {});

  /// Appends `tokens` (ids in the model's vocabulary; may be empty) and prefills every token not yet evaluated,
  /// n_batch per pass; afterwards the logits of the last token are ready for generate(). No BOS is added.
  /// Errors: kInvalidArgument (an id outside the vocabulary), kContextOverflow (n_ctx would be passed; nothing is
  /// appended), kCancelled (options.abort said so: the session is as before the call, its KV cache valid),
  /// kIoError (streaming failed: the model is unusable from then on).
  Result<AppendStats> append(std::span<const tokenizer::TokenId> tokens, const GenerateOptions& options = {});

  /// Makes tokens() equal `tokens`, keeping the KV cache of the prefix they share with the evaluated tokens and
  /// prefilling the rest (an app that re-renders its whole conversation each turn prefills only the new turn).
  /// Errors: as append() (checked before anything changes); kCancelled leaves the shared prefix.
  Result<AppendStats> assign(std::span<const tokenizer::TokenId> tokens, const GenerateOptions& options = {});

  /// Samples up to options.max_new_tokens after tokens(), evaluating pending tokens first. Generated tokens join
  /// tokens() as they are sampled (the stop token does not). options.reuse_kv, add_bos and all_logits do not
  /// apply. Errors: kInvalidArgument (no tokens yet, bad sampling params), kCancelled (the tokens handed to
  /// on_token so far stay in the session), kNumerical (non-finite logits), kIoError.
  Result<GenerationResult> generate(const GenerateOptions& options, const TokenCallback& on_token = {});

  /// The InferenceEngine::generate call: replaces tokens() with BOS (per options.add_bos / the model) and
  /// `prompt`, keeping the KV cache of the common prefix with the previous tokens when options.reuse_kv, then
  /// generates. Errors: those of InferenceEngine::generate, and kCancelled as generate().
  Result<GenerationResult> run(std::span<const tokenizer::TokenId> prompt, const GenerateOptions& options,
                               const TokenCallback& on_token = {});

  /// Keeps the first n tokens (n >= size: nothing changes) and their KV cache; later appends overwrite the rest.
  void truncate(std::size_t n) noexcept;

  std::span<const tokenizer::TokenId> tokens() const noexcept;
  /// Positions whose KV cache entries are valid (a prefix of tokens()).
  std::size_t n_past() const noexcept;
  std::size_t n_ctx() const noexcept;
  std::size_t n_batch() const noexcept;
  /// Pool bytes the session holds.
  std::uint64_t reserved_bytes() const noexcept;
  const Model& model() const noexcept;

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();

 private:
  explicit Session(std::unique_ptr<detail::SessionData> data) noexcept;
  std::unique_ptr<detail::SessionData> data_;
};

}  // namespace edge_rt::runtime
