#pragma once
// ModelGraph<Loaded> -> validate() -> ModelGraph<Validated>: a checkpoint plus its config, checked tensor by
// tensor, cut into the units the partition planner groups (embedding, one per layer, head).

#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/model_ir/recipe.hpp>
#include <edge_rt/model_ir/safetensors.hpp>

#include <concepts>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace edge_rt::model_ir {

/// What a weight is for, in one vocabulary for both architectures.
enum class WeightRole : std::uint8_t {
  kTokenEmbedding,     ///< [vocab, d_model]
  kPositionEmbedding,  ///< [max_context, d_model] (GPT-2)
  kAttnNorm,           ///< [d_model]
  kAttnNormBias,       ///< [d_model] (GPT-2)
  kQkv,                ///< [3 d_model, d_model] fused (GPT-2 c_attn)
  kQkvBias,            ///< [3 d_model]
  kQ,                  ///< [n_heads head_dim, d_model] (Llama)
  kK,                  ///< [n_kv_heads head_dim, d_model]
  kV,                  ///< [n_kv_heads head_dim, d_model]
  kQBias,              ///< [n_heads head_dim] (Qwen2)
  kKBias,              ///< [n_kv_heads head_dim]
  kVBias,              ///< [n_kv_heads head_dim]
  kQNorm,              ///< [head_dim]: RMSNorm weight of each query head (Qwen3)
  kKNorm,              ///< [head_dim]: the same for each key head
  kAttnOut,            ///< [d_model, n_heads head_dim]
  kAttnOutBias,        ///< [d_model]
  kFfnNorm,            ///< [d_model]
  kFfnNormBias,        ///< [d_model]
  kFfnGate,            ///< [d_ff, d_model] (Llama w1)
  kFfnUp,              ///< [d_ff, d_model] (GPT-2 c_fc, Llama w3)
  kFfnUpBias,          ///< [d_ff]
  kFfnGateUp,          ///< [2 d_ff, d_model]: gate rows then up rows, fused (Phi-3 gate_up_proj)
  kFfnDown,            ///< [d_model, d_ff]
  kFfnDownBias,        ///< [d_model]
  kPostAttnNorm,       ///< [d_model]: RMSNorm of the attention output before the residual add (Gemma)
  kPostFfnNorm,        ///< [d_model]: the same for the MLP output (Gemma)
  kFinalNorm,          ///< [d_model]
  kFinalNormBias,      ///< [d_model]
  kLmHead,             ///< [vocab, d_model]; the token embedding itself when tied
};

std::string_view role_name(WeightRole role) noexcept;

/// One weight as the runtime holds it in memory: matrices keep their file dtype and layout; vectors (norms,
/// biases) are converted to F32. GPT-2's Conv1D matrices are stored input-major [in, out] and stay so in memory
/// (`transpose`), read by backend::cpu::matmul_in_out, so streaming them is a plain read.
struct WeightRef {
  WeightRole role = WeightRole::kTokenEmbedding;
  const WeightFile* file = nullptr;  ///< Owned by the graph; valid while it lives. Read it through a WeightSource.
  const TensorInfo* source = nullptr;
  bool transpose = false;  ///< Stored (and kept) [in, out]; `shape` still gives the logical [out, in].
  tensor_core::DType dtype = tensor_core::DType::kF32;  ///< In memory.
  tensor_core::Shape shape;                             ///< Logical: [out, in] for matrices, [n] for vectors.
  std::uint64_t resident_bytes = 0;                     ///< In memory.
  /// Added to every value of a vector when it is loaded: Hugging Face Gemma stores RMSNorm weights as w - 1 and
  /// computes x * (1 + w) (GGUF files hold w itself).
  float value_offset = 0.0f;
};

enum class UnitKind : std::uint8_t { kEmbedding, kAttention, kFeedForward, kHead };

/// The smallest piece of a model the planner places: its weights are loaded and released together. Two units are
/// special when streamed: the embedding's rows are gathered per token, and the head's LM head matrix is streamed
/// in row (vocabulary) chunks.
struct Unit {
  UnitKind kind = UnitKind::kAttention;
  std::int64_t layer = -1;  ///< Layer index for kAttention and kFeedForward, -1 otherwise.
  std::string name;         ///< "embedding", "layer.3.attn", "layer.3.ffn", "head".
  std::vector<WeightRef> weights;
  std::uint64_t weight_bytes = 0;  ///< Sum of resident_bytes.
  /// nullptr when the unit has no weight of this role (e.g. biases in Llama).
  const WeightRef* find(WeightRole role) const noexcept;
};

struct Loaded {};
struct Validated {};

namespace detail {
struct GraphData;
}

/// Move-only (owns the checkpoint's mappings through one pointer, so moves are O(1)). A moved-from graph may only
/// be destroyed. ModelGraph<Validated> offers const access only: it cannot be mutated.
template <class State>
class ModelGraph final {
 public:
  /// Reads model_dir/config.json (and add_bos_token from tokenizer_config.json when present) and opens the
  /// checkpoint (model.safetensors or a sharded index); or, when
  /// `model_dir` is a .gguf file or a folder holding one and no config.json (find_gguf), the GGUF file with the
  /// config from its metadata (config_from_gguf).
  /// Errors: those of parse_hf_config and Checkpoint::open.
  static Result<ModelGraph<Loaded>> load(const std::filesystem::path& model_dir) requires std::same_as<State, Loaded>;

  /// Resolves every tensor the architecture needs, checks its shape against the config, and builds the units.
  /// Errors: kMissingField naming the absent tensor and file; kInvalidFormat for a shape that disagrees with
  /// config.json (the message gives both).
  [[nodiscard]] Result<ModelGraph<Validated>> validate() && requires std::same_as<State, Loaded>;

  ModelGraph(ModelGraph&&) noexcept;
  ModelGraph& operator=(ModelGraph&&) noexcept;
  ~ModelGraph();

  const std::filesystem::path& model_dir() const noexcept;
  const ModelConfig& config() const noexcept;
  /// The family's recipe (recipe_for(config().architecture)).
  const Recipe& recipe() const noexcept;
  const Checkpoint& checkpoint() const noexcept;

  /// Embedding, then attention and feed-forward of each layer, then head; the order of the forward pass.
  const std::vector<Unit>& units() const noexcept requires std::same_as<State, Validated>;
  /// Sum of the units' weight bytes (a tied embedding counts in both the embedding and the head unit).
  std::uint64_t total_weight_bytes() const noexcept requires std::same_as<State, Validated>;
  /// Parameters in the checkpoint tensors the graph uses, each counted once.
  std::uint64_t parameter_count() const noexcept requires std::same_as<State, Validated>;

 private:
  template <class>
  friend class ModelGraph;
  explicit ModelGraph(std::unique_ptr<detail::GraphData> data) noexcept;
  std::unique_ptr<detail::GraphData> data_;
};

extern template class ModelGraph<Loaded>;
extern template class ModelGraph<Validated>;

}  // namespace edge_rt::model_ir
