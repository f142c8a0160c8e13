// GPT-2 (Radford et al. 2019; Hugging Face GPT2LMHeadModel): LayerNorm before each sub-layer, fused QKV and
// Conv1D weights stored input-major, learned absolute positions, GELU (tanh), tied LM head, biases everywhere.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

constexpr Step kAttention[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kAttnNorm, R::kAttnNormBias, true, true},
    {StepOp::kMatmul, V::kNormed, V::kQkv, R::kQkv, R::kQkvBias, true, true},
    {StepOp::kSplitQkv, V::kQkv, V::kQuery},
    {StepOp::kAttention, V::kQuery, V::kAttnOut},
    {StepOp::kMatmul, V::kAttnOut, V::kNormed, R::kAttnOut, R::kAttnOutBias, true, true},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

constexpr Step kFeedForward[] = {
    {StepOp::kNorm, V::kResidual, V::kNormed, R::kFfnNorm, R::kFfnNormBias, true, true},
    {StepOp::kMatmul, V::kNormed, V::kFfnA, R::kFfnUp, R::kFfnUpBias, true, true},
    {StepOp::kGeluTanh, V::kFfnA, V::kFfnA},
    {StepOp::kMatmul, V::kFfnA, V::kNormed, R::kFfnDown, R::kFfnDownBias, true, true},
    {StepOp::kAdd, V::kNormed, V::kResidual},
};

std::string shape_keys(const ModelConfig& c) {
  return "n_embd " + std::to_string(c.d_model) + ", n_inner " + std::to_string(c.d_ff) + ", n_head " +
         std::to_string(c.n_heads) + ", vocab_size " + std::to_string(c.vocab_size) + ", n_positions " +
         std::to_string(c.max_context);
}

// Tensor names as transformers saves GPT2LMHeadModel (with or without the "transformer." prefix).
Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  const ModelConfig& c = b.config();
  const std::string p = b.has("wte.weight") ? "" : "transformer.";
  const std::int64_t d = c.d_model;
  std::vector<Unit> units;
  Unit emb{UnitKind::kEmbedding, -1, "embedding", {}, 0};
  EDGE_RT_TRY(b.add(emb, R::kTokenEmbedding, p + "wte.weight", {c.vocab_size, d}));
  EDGE_RT_TRY(b.add(emb, R::kPositionEmbedding, p + "wpe.weight", {c.max_context, d}));
  units.push_back(std::move(emb));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string h = p + "h." + std::to_string(i) + ".";
    const std::string name = "layer." + std::to_string(i);
    Unit attn{UnitKind::kAttention, i, name + ".attn", {}, 0};
    EDGE_RT_TRY(b.add(attn, R::kAttnNorm, h + "ln_1.weight", {d}));
    EDGE_RT_TRY(b.add(attn, R::kAttnNormBias, h + "ln_1.bias", {d}));
    EDGE_RT_TRY(b.add(attn, R::kQkv, h + "attn.c_attn.weight", {d, 3 * d}, true));
    EDGE_RT_TRY(b.add(attn, R::kQkvBias, h + "attn.c_attn.bias", {3 * d}));
    EDGE_RT_TRY(b.add(attn, R::kAttnOut, h + "attn.c_proj.weight", {d, d}, true));
    EDGE_RT_TRY(b.add(attn, R::kAttnOutBias, h + "attn.c_proj.bias", {d}));
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(b.add(ffn, R::kFfnNorm, h + "ln_2.weight", {d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnNormBias, h + "ln_2.bias", {d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnUp, h + "mlp.c_fc.weight", {d, c.d_ff}, true));
    EDGE_RT_TRY(b.add(ffn, R::kFfnUpBias, h + "mlp.c_fc.bias", {c.d_ff}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnDown, h + "mlp.c_proj.weight", {c.d_ff, d}, true));
    EDGE_RT_TRY(b.add(ffn, R::kFfnDownBias, h + "mlp.c_proj.bias", {d}));
    units.push_back(std::move(ffn));
  }
  Unit head{UnitKind::kHead, -1, "head", {}, 0};
  EDGE_RT_TRY(b.add(head, R::kFinalNorm, p + "ln_f.weight", {d}));
  EDGE_RT_TRY(b.add(head, R::kFinalNormBias, p + "ln_f.bias", {d}));
  const bool untied = b.has("lm_head.weight");
  EDGE_RT_TRY(b.add(head, R::kLmHead, untied ? "lm_head.weight" : p + "wte.weight", {c.vocab_size, d}));
  units.push_back(std::move(head));
  return units;
}

}  // namespace

extern const Recipe kGpt2Recipe{
    .family = "gpt2",
    .norm = NormKind::kLayerNorm,
    .position_embedding = true,
    .prepends_bos = false,
    .attention = kAttention,
    .feed_forward = kFeedForward,
    .build_units = build_units,
    .shape_keys = shape_keys,
};

}  // namespace edge_rt::model_ir::detail
