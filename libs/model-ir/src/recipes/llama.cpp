// Llama (Touvron et al. 2023; Hugging Face LlamaForCausalLM): RMSNorm before each sub-layer, separate Q/K/V
// projections with GQA, RoPE in the rotate-half layout, SwiGLU FFN, no biases, LM head tied or not.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

using R = WeightRole;
using V = Value;

}  // namespace

std::string llama_shape_keys(const ModelConfig& c) {
  return "hidden_size " + std::to_string(c.d_model) + ", intermediate_size " + std::to_string(c.d_ff) +
         ", num_attention_heads " + std::to_string(c.n_heads) + ", num_key_value_heads " +
         std::to_string(c.n_kv_heads) + ", head_dim " + std::to_string(c.head_dim) + ", vocab_size " +
         std::to_string(c.vocab_size);
}

Result<Unit> llama_embedding_unit(UnitBuilder& b) {
  const ModelConfig& c = b.config();
  Unit emb{UnitKind::kEmbedding, -1, "embedding", {}, 0};
  EDGE_RT_TRY(b.add(emb, R::kTokenEmbedding, "model.embed_tokens.weight", {c.vocab_size, c.d_model}));
  return emb;
}

Result<Unit> llama_head_unit(UnitBuilder& b, float norm_offset) {
  const ModelConfig& c = b.config();
  Unit head{UnitKind::kHead, -1, "head", {}, 0};
  EDGE_RT_TRY(b.add(head, R::kFinalNorm, "model.norm.weight", {c.d_model}));
  head.weights.back().value_offset = norm_offset;
  const bool has_head = b.has("lm_head.weight");
  if (!has_head && !c.tie_embeddings) {
    return fail(ErrorCode::kMissingField, "[model] " + b.model_dir().string() +
                                              ": tensor 'lm_head.weight' is missing and tie_word_embeddings is false");
  }
  EDGE_RT_TRY(
      b.add(head, R::kLmHead, has_head ? "lm_head.weight" : "model.embed_tokens.weight", {c.vocab_size, c.d_model}));
  return head;
}

Result<std::vector<Unit>> build_llama_units(UnitBuilder& b, LlamaExtras extras) {
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
    EDGE_RT_TRY(b.add(attn, R::kQ, l + "self_attn.q_proj.weight", {q_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kK, l + "self_attn.k_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kV, l + "self_attn.v_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, R::kAttnOut, l + "self_attn.o_proj.weight", {d, q_dim}));
    if (extras.qkv_bias) {
      EDGE_RT_TRY(b.add(attn, R::kQBias, l + "self_attn.q_proj.bias", {q_dim}));
      EDGE_RT_TRY(b.add(attn, R::kKBias, l + "self_attn.k_proj.bias", {kv_dim}));
      EDGE_RT_TRY(b.add(attn, R::kVBias, l + "self_attn.v_proj.bias", {kv_dim}));
    }
    if (extras.qk_norm) {
      EDGE_RT_TRY(b.add(attn, R::kQNorm, l + "self_attn.q_norm.weight", {c.head_dim}));
      EDGE_RT_TRY(b.add(attn, R::kKNorm, l + "self_attn.k_norm.weight", {c.head_dim}));
    }
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(b.add(ffn, R::kFfnNorm, l + "post_attention_layernorm.weight", {d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnGate, l + "mlp.gate_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnUp, l + "mlp.up_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, R::kFfnDown, l + "mlp.down_proj.weight", {d, c.d_ff}));
    units.push_back(std::move(ffn));
  }
  EDGE_RT_TRY(Unit head, llama_head_unit(b));
  units.push_back(std::move(head));
  return units;
}

namespace {
Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  return build_llama_units(b, {});
}
}  // namespace

extern const Recipe kLlamaRecipe{
    .family = "llama",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = true,
    .attention = kLlamaAttention,
    .feed_forward = kLlamaFeedForward,
    .build_units = build_units,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
