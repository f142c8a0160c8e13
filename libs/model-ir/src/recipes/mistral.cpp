// Mistral (Jiang et al. 2023; Hugging Face MistralForCausalLM, modeling_mistral.py): the Llama layout and tensors
// with sliding-window attention, each position attending to the sliding_window positions ending at its own
// (ModelConfig::sliding_window; Mistral-7B-v0.1: 4096, later versions: none). BOS before prompts.

#include "../unit_builder.hpp"

namespace edge_rt::model_ir::detail {
namespace {

Result<std::vector<Unit>> build_units(UnitBuilder& b) {
  return build_llama_units(b, {});
}

}  // namespace

extern const Recipe kMistralRecipe{
    .family = "mistral",
    .norm = NormKind::kRmsNorm,
    .position_embedding = false,
    .prepends_bos = true,
    .attention = kLlamaAttention,
    .feed_forward = kLlamaFeedForward,
    .build_units = build_units,
    .shape_keys = llama_shape_keys,
};

}  // namespace edge_rt::model_ir::detail
