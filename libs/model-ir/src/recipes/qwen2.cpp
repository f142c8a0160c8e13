// Qwen2 and Qwen2.5 (Yang et al. 2024; Hugging Face Qwen2ForCausalLM, modeling_qwen2.py): Llama with biases on the
// Q, K and V projections. No BOS before prompts.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

constexpr Step kAttention[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kAttnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kQuery, R::kQ, R::kQBias, true, true},
    {StepOp::kMatmul, V::kNormed, V::kKNew, R::kK, R::kKBias, true, true},
    {StepOp::kMatmul, V::kNormed, V::kVNew, R::kV, R::kVBias, true, true},
    {StepOp::kRope, V::kQuery, V::kQuery},
    {StepOp::kRope, V::kKNew, V::kKNew},
    {StepOp::kAttention, V::kQuery, V::kAttnOut},
    {StepOp::kMatmul, V::kAttnOut, V::kNormed, R::kAttnOut, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  return build_llama_units(b, {.qkv_bias = true});
}

}  // namespace

extern const Recipe kQwen2Recipe{
    .family = "qwen2",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = false,
    .attention = kAttention,
    .feed_forward = kLlamaFeedForward,
    .build_units = build_units,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
