// Phi-3 (Abdin et al. 2024; Hugging Face Phi3ForCausalLM, modeling_phi3.py): Llama with the Q/K/V projections
// fused into qkv_proj ([q | k | v] rows) and gate and up fused into gate_up_proj ([gate | up] rows), a sliding
// window where sliding_window is set, and "longrope" RoPE scaling in the 128k variants (RopeScaling::kLongRope).
// BOS before prompts.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

constexpr Step kAttention[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kAttnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kQkv, R::kQkv, {}, true, false},
    {StepOp::kSplitQkv, V::kQkv, V::kQuery},
    {StepOp::kRope, V::kQuery, V::kQuery},
    {StepOp::kRope, V::kKNew, V::kKNew},
    {StepOp::kAttention, V::kQuery, V::kAttnOut},
    {StepOp::kMatmul, V::kAttnOut, V::kNormed, R::kAttnOut, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

constexpr Step kFeedForward[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kFfnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kFfnA, R::kFfnGateUp, {}, true, false},
    {StepOp::kSplitGateUp, V::kFfnA, V::kFfnB},
    {StepOp::kSwiglu, V::kFfnB, V::kFfnA},
    {StepOp::kMatmul, V::kFfnA, V::kNormed, R::kFfnDown, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  const ModelConfig& c = b.config();
  const std::int64_t d = c.d_model;
  const std::int64_t q_dim = c.n_heads * c.head_dim;
  const std::int64_t kv_dim = c.n_kv_heads * c.head_dim;
  std::vector<Unit> units;
  EDGE_RT_TRY(Unit emb, llama_embedding_unit(b));
  units.push_back(std::move(emb));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const std::string name = "layer." + std::to_string(i);
    Unit attn{UnitKind::kAttention, i, name + ".attn", {}, 0};
    EDGE_RT_TRY(b.add(attn, R::kAttnNorm, l + "input_layernorm.weight", {d}));
    EDGE_RT_TRY(b.add(attn, R::kQkv, l + "self_attn.qkv_proj.weight", {q_dim + 2 * kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kAttnOut, l + "self_attn.o_proj.weight", {d, q_dim}));
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(b.add(ffn, R::kFfnNorm, l + "post_attention_layernorm.weight", {d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnGateUp, l + "mlp.gate_up_proj.weight", {2 * c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnDown, l + "mlp.down_proj.weight", {d, c.d_ff}));
    units.push_back(std::move(ffn));
  }
  EDGE_RT_TRY(Unit head, llama_head_unit(b));
  units.push_back(std::move(head));
  return units;
}

}  // namespace

extern const Recipe kPhi3Recipe{
    .family = "phi3",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = true,
    .attention = kAttention,
    .feed_forward = kFeedForward,
    .build_units = build_units,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
