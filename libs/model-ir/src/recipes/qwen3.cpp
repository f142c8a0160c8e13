// Qwen3 (Qwen team 2025; Hugging Face Qwen3ForCausalLM, modeling_qwen3.py): Llama without biases and with an
// RMSNorm over each query and key head (q_norm, k_norm, weight [head_dim]) between the projection and RoPE;
// head_dim is its own config key (128 for 0.6B, whose hidden size is 1024 over 16 heads). No BOS before prompts.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

constexpr Step kAttention[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kAttnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kQuery, R::kQ, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kKNew, R::kK, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kVNew, R::kV, {}, true, false},
    {StepOp::kHeadNorm, V::kQuery, V::kQuery, R::kQNorm, {}, true, false},
    {StepOp::kHeadNorm, V::kKNew, V::kKNew, R::kKNorm, {}, true, false},
    {StepOp::kRope, V::kQuery, V::kQuery},
    {StepOp::kRope, V::kKNew, V::kKNew},
    {StepOp::kAttention, V::kQuery, V::kAttnOut},
    {StepOp::kMatmul, V::kAttnOut, V::kNormed, R::kAttnOut, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  return build_llama_units(b, {.qk_norm = true});
}

}  // namespace

extern const Recipe kQwen3Recipe{
    .family = "qwen3",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = false,
    .attention = kAttention,
    .feed_forward = kLlamaFeedForward,
    .build_units = build_units,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
