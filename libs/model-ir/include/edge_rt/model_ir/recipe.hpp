#pragma once
// A recipe says what one model family is: the tensors of each unit and their shapes, the norm and activation
// kinds, and the forward pass of a layer as a short program of steps over named activation buffers. The graph
// builds units from it, the planner sizes buffers from it, and the runtime's executor runs its programs against
// backends. A new family is one file in libs/model-ir/src/recipes/ plus its tests (docs/architecture.md).

#include <edge_rt/core/result.hpp>
#include <edge_rt/model_ir/config.hpp>

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::model_ir {

enum class WeightRole : std::uint8_t;
struct Unit;

namespace detail {
class UnitBuilder;  // private to model-ir: resolves tensor names against the checkpoint
}

enum class NormKind : std::uint8_t {
  kLayerNorm,  ///< (x - mean) / sqrt(var + eps) * gamma + beta (Ba et al. 2016)
  kRmsNorm,    ///< x / sqrt(mean(x^2) + eps) * w (Zhang & Sennrich 2019)
};

/// Activation buffers of a forward pass, F32, [n_batch, width] each (widths: Recipe::value_widths).
enum class Value : std::uint8_t {
  kResidual,  ///< The residual stream, [d_model].
  kNormed,    ///< A normalised copy of the residual, and each sub-layer's output before the residual add.
  kQuery,     ///< [n_heads head_dim]
  kAttnOut,   ///< [n_heads head_dim]
  kQkv,       ///< Fused Q, K, V projection output, [(n_heads + 2 n_kv_heads) head_dim].
  kFfnA,      ///< [d_ff]; [2 d_ff] in a recipe with kSplitGateUp
  kFfnB,      ///< [d_ff]
  kKNew,      ///< Rows [pos0, pos0 + n) of this layer's K cache, [n_kv_heads head_dim]: written in place.
  kVNew,      ///< Same for V.
  kCount,
};
std::string_view value_name(Value v) noexcept;

/// One step of a layer program.
enum class StepOp : std::uint8_t {
  kNorm,         ///< out = norm(in) with `weight` (and `bias` for LayerNorm); the recipe's NormKind.
  kMatmul,       ///< out = in . weight^T (+ bias).
  kSplitQkv,     ///< kQkv -> kQuery, kKNew, kVNew (a copy).
  kSplitGateUp,  ///< kFfnA rows [gate | up] (2 d_ff wide) -> gate in kFfnA, up in `out` (kFfnB) (Phi-3).
  kHeadNorm,     ///< RMSNorm of each head of `out` in place (kQuery or kKNew) with `weight` [head_dim] (Qwen3).
  kRope,         ///< RoPE on `out` in place (kQuery: n_heads heads, kKNew: n_kv_heads), rope_theta from the config.
  kAttention,    ///< kQuery against the layer's KV cache -> kAttnOut (causal, GQA).
  kGeluTanh,     ///< `out` in place.
  kSwiglu,       ///< out = silu(out) * in.
  kGeglu,        ///< out = gelu_tanh(out) * in (Gemma).
  kAdd,          ///< out += in.
};
std::string_view step_name(StepOp op) noexcept;

/// Copyable value. `weight` and `bias` are meaningful when has_weight / has_bias.
struct Step {
  StepOp op = StepOp::kAdd;
  Value in = Value::kResidual;
  Value out = Value::kResidual;
  WeightRole weight{};
  WeightRole bias{};
  bool has_weight = false;
  bool has_bias = false;
};

/// Immutable; one static instance per family (recipe_for). Thread-safe.
struct Recipe {
  std::string_view family;  ///< "gpt2", "llama", "qwen2", "qwen3", "mistral".
  NormKind norm = NormKind::kRmsNorm;
  bool position_embedding = false;  ///< Learned absolute positions added to the token embedding (GPT-2).
  /// Llama-family models put BOS before every prompt.
  bool prepends_bos = false;
  std::span<const Step> attention;     ///< Program of a kAttention unit.
  std::span<const Step> feed_forward;  ///< Program of a kFeedForward unit.
  /// Resolves the family's tensors for `config` and returns the units in forward order (embedding, attention and
  /// feed-forward per layer, head). Errors: kMissingField (absent tensor), kInvalidFormat (shape mismatch).
  Result<std::vector<Unit>> (*build_units)(detail::UnitBuilder& builder) = nullptr;
  /// The config.json keys that decide tensor shapes, with their values ("n_embd 768, ..."), for error messages.
  std::string (*shape_keys)(const ModelConfig& config) = nullptr;

  /// Floats per token of each activation buffer the programs use (0 for those they do not).
  std::array<std::uint64_t, static_cast<std::size_t>(Value::kCount)> value_widths(const ModelConfig& c) const noexcept;
};

/// The recipe of config.architecture.
const Recipe& recipe_for(Architecture architecture) noexcept;

}  // namespace edge_rt::model_ir
