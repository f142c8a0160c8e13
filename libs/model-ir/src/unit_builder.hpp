#pragma once
// Builds units for a recipe: resolves each tensor name in the checkpoint and checks its shape against the one the
// config implies. Private to model-ir; recipes receive it in Recipe::build_units.

#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/model_ir/recipe.hpp>

#include <filesystem>
#include <string>

namespace edge_rt::model_ir::detail {

/// Borrows the checkpoint and config for one build. Not thread-safe.
class UnitBuilder final {
 public:
  UnitBuilder(const std::filesystem::path& model_dir, const ModelConfig& config, const Checkpoint& checkpoint)
      : model_dir_(model_dir), config_(config), checkpoint_(checkpoint) {}

  const ModelConfig& config() const noexcept { return config_; }
  const std::filesystem::path& model_dir() const noexcept { return model_dir_; }
  bool has(std::string_view name) const noexcept { return checkpoint_.find(name).info != nullptr; }

  /// Appends tensor `name` to `unit` as `role`. `file_shape` is the shape expected in the file; a Conv1D weight
  /// kept input-major is given as [in, out] with transpose = true. Errors: kMissingField, kInvalidFormat.
  Result<void> add(Unit& unit, WeightRole role, const std::string& name, tensor_core::Shape file_shape,
                   bool transpose = false);

 private:
  const std::filesystem::path& model_dir_;
  const ModelConfig& config_;
  const Checkpoint& checkpoint_;
};

// Pre-norm attention with separate Q/K/V projections and RoPE (Llama, Mistral).
inline constexpr Step kLlamaAttention[] = {
    {StepOp::kNorm, Value::kResidual, Value::kNormed, WeightRole::kAttnNorm, {}, true, false},
    {StepOp::kMatmul, Value::kNormed, Value::kQuery, WeightRole::kQ, {}, true, false},
    {StepOp::kMatmul, Value::kNormed, Value::kKNew, WeightRole::kK, {}, true, false},
    {StepOp::kMatmul, Value::kNormed, Value::kVNew, WeightRole::kV, {}, true, false},
    {StepOp::kRope, Value::kQuery, Value::kQuery},
    {StepOp::kRope, Value::kKNew, Value::kKNew},
    {StepOp::kAttention, Value::kQuery, Value::kAttnOut},
    {StepOp::kMatmul, Value::kAttnOut, Value::kNormed, WeightRole::kAttnOut, {}, true, false},
    {StepOp::kAdd, Value::kNormed, Value::kResidual},
};

// SwiGLU (Shazeer 2020), shared by the Llama-layout families.
inline constexpr Step kLlamaFeedForward[] = {
    {StepOp::kNorm, Value::kResidual, Value::kNormed, WeightRole::kFfnNorm, {}, true, false},
    {StepOp::kMatmul, Value::kNormed, Value::kFfnA, WeightRole::kFfnGate, {}, true, false},
    {StepOp::kMatmul, Value::kNormed, Value::kFfnB, WeightRole::kFfnUp, {}, true, false},
    {StepOp::kSwiglu, Value::kFfnB, Value::kFfnA},
    {StepOp::kMatmul, Value::kFfnA, Value::kNormed, WeightRole::kFfnDown, {}, true, false},
    {StepOp::kAdd, Value::kNormed, Value::kResidual},
};

/// What the Qwen families add to the Llama tensors.
struct LlamaExtras {
  bool qkv_bias = false;  ///< self_attn.{q,k,v}_proj.bias (Qwen2)
  bool qk_norm = false;   ///< self_attn.{q,k}_norm.weight, [head_dim] (Qwen3)
};
/// The embedding unit of the Llama-layout families: model.embed_tokens.weight [vocab, d_model].
Result<Unit> llama_embedding_unit(UnitBuilder& b);
/// Their head: model.norm.weight (loaded with `norm_offset` added: Gemma) and lm_head.weight, or the embedding
/// when it is absent and tie_word_embeddings is set (kMissingField otherwise).
Result<Unit> llama_head_unit(UnitBuilder& b, float norm_offset = 0.0f);
/// The units of a Llama-layout checkpoint (names as transformers saves LlamaForCausalLM), plus `extras`.
Result<std::vector<Unit>> build_llama_units(UnitBuilder& b, LlamaExtras extras);
/// The config.json keys that decide the Llama tensor shapes, with their values.
std::string llama_shape_keys(const ModelConfig& c);

}  // namespace edge_rt::model_ir::detail
