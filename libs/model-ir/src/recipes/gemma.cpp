// Gemma 2 (Gemma Team 2024; Hugging Face Gemma2ForCausalLM, modeling_gemma2.py) and Gemma 3 text (Gemma3ForCausalLM,
// modeling_gemma3.py). Against Llama: embeddings times sqrt(hidden_size); RMSNorm weights stored as w - 1 and
// applied as (1 + w) (ModelConfig::norm_weight_offset, folded in when loaded); a norm after attention and after the
// MLP as well as before each (post_attention_layernorm, pre_feedforward_layernorm, post_feedforward_layernorm);
// GeGLU with tanh GELU; scores scaled by query_pre_attn_scalar^-1/2; sliding-window layers alternating with
// global ones. Gemma 2 soft-caps attention and final logits; Gemma 3 instead normalises each query and key head
// (q_norm, k_norm) and gives its sliding layers their own RoPE base. BOS before prompts.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

constexpr Step kGemma2Attention[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kAttnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kQuery, R::kQ, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kKNew, R::kK, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kVNew, R::kV, {}, true, false},
    {StepOp::kRope, V::kQuery, V::kQuery},
    {StepOp::kRope, V::kKNew, V::kKNew},
    {StepOp::kAttention, V::kQuery, V::kAttnOut},
    {StepOp::kMatmul, V::kAttnOut, V::kNormed, R::kAttnOut, {}, true, false},
    {StepOp::kNorm, V::kNormed, V::kNormed, R::kPostAttnNorm, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

constexpr Step kGemma3Attention[] = {
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
    {StepOp::kNorm, V::kNormed, V::kNormed, R::kPostAttnNorm, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

constexpr Step kGemmaFeedForward[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kFfnNorm, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kFfnA, R::kFfnGate, {}, true, false},
    {StepOp::kMatmul, V::kNormed, V::kFfnB, R::kFfnUp, {}, true, false},
    {StepOp::kGeglu, V::kFfnB, V::kFfnA},
    {StepOp::kMatmul, V::kFfnA, V::kNormed, R::kFfnDown, {}, true, false},
    {StepOp::kNorm, V::kNormed, V::kNormed, R::kPostFfnNorm, {}, true, false},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

Result<std::vector<Unit>> build_gemma_units(UnitBuilder& b, bool qk_norm) {
  const ModelConfig& c = b.config();
  const std::int64_t d = c.d_model;
  const std::int64_t q_dim = c.n_heads * c.head_dim;
  const std::int64_t kv_dim = c.n_kv_heads * c.head_dim;
  // RMSNorm weights: stored as w - 1 in Hugging Face folders, so loaded with the config's offset.
  const auto norm = [&](Unit& unit, R role, const std::string& name, std::int64_t size) -> Result<void> {
    EDGE_RT_TRY(b.add(unit, role, name, {size}));
    unit.weights.back().value_offset = c.norm_weight_offset;
    return boost::outcome_v2::success();
  };
  std::vector<Unit> units;
  EDGE_RT_TRY(Unit emb, llama_embedding_unit(b));
  units.push_back(std::move(emb));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const std::string name = "layer." + std::to_string(i);
    Unit attn{UnitKind::kAttention, i, name + ".attn", {}, 0};
    EDGE_RT_TRY(norm(attn, R::kAttnNorm, l + "input_layernorm.weight", d));
    EDGE_RT_TRY(b.add(attn, R::kQ, l + "self_attn.q_proj.weight", {q_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kK, l + "self_attn.k_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kV, l + "self_attn.v_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kAttnOut, l + "self_attn.o_proj.weight", {d, q_dim}));
    if (qk_norm) {
      EDGE_RT_TRY(norm(attn, R::kQNorm, l + "self_attn.q_norm.weight", c.head_dim));
      EDGE_RT_TRY(norm(attn, R::kKNorm, l + "self_attn.k_norm.weight", c.head_dim));
    }
    EDGE_RT_TRY(norm(attn, R::kPostAttnNorm, l + "post_attention_layernorm.weight", d));
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(norm(ffn, R::kFfnNorm, l + "pre_feedforward_layernorm.weight", d));
    EDGE_RT_TRY(b.add(ffn, R::kFfnGate, l + "mlp.gate_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnUp, l + "mlp.up_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnDown, l + "mlp.down_proj.weight", {d, c.d_ff}));
    EDGE_RT_TRY(norm(ffn, R::kPostFfnNorm, l + "post_feedforward_layernorm.weight", d));
    units.push_back(std::move(ffn));
  }
  EDGE_RT_TRY(Unit head, llama_head_unit(b, c.norm_weight_offset));
  units.push_back(std::move(head));
  return units;
}

Result<std::vector<Unit>> build_gemma2(UnitBuilder& b) {
  return build_gemma_units(b, false);
}
Result<std::vector<Unit>> build_gemma3(UnitBuilder& b) {
  return build_gemma_units(b, true);
}

}  // namespace

extern const Recipe kGemma2Recipe{
    .family = "gemma2",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = true,
    .attention = kGemma2Attention,
    .feed_forward = kGemmaFeedForward,
    .build_units = build_gemma2,
    .shape_keys = llama_shape_keys,
};

extern const Recipe kGemma3Recipe{
    .family = "gemma3",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = true,
    .attention = kGemma3Attention,
    .feed_forward = kGemmaFeedForward,
    .build_units = build_gemma3,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
