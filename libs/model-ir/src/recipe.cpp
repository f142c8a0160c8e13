#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/model_ir/recipe.hpp>

namespace edge_rt::model_ir {

namespace detail {
extern const Recipe kGpt2Recipe;     // recipes/gpt2.cpp
extern const Recipe kLlamaRecipe;    // recipes/llama.cpp
extern const Recipe kQwen2Recipe;    // recipes/qwen2.cpp
extern const Recipe kQwen3Recipe;    // recipes/qwen3.cpp
extern const Recipe kMistralRecipe;  // recipes/mistral.cpp
extern const Recipe kGemma2Recipe;   // recipes/gemma.cpp
extern const Recipe kGemma3Recipe;
extern const Recipe kPhi3Recipe;  // recipes/phi3.cpp
}  // namespace detail

std::string_view value_name(Value v) noexcept {
  switch (v) {
    case Value::kResidual: return "residual";
    case Value::kNormed: return "normed";
    case Value::kQuery: return "query";
    case Value::kAttnOut: return "attn_out";
    case Value::kQkv: return "qkv";
    case Value::kFfnA: return "ffn_a";
    case Value::kFfnB: return "ffn_b";
    case Value::kKNew: return "k_new";
    case Value::kVNew: return "v_new";
    case Value::kCount: break;
  }
  return "?";
}

std::string_view step_name(StepOp op) noexcept {
  switch (op) {
    case StepOp::kNorm: return "norm";
    case StepOp::kMatmul: return "matmul";
    case StepOp::kSplitQkv: return "split_qkv";
    case StepOp::kHeadNorm: return "head_norm";
    case StepOp::kRope: return "rope";
    case StepOp::kAttention: return "attention";
    case StepOp::kGeluTanh: return "gelu_tanh";
    case StepOp::kSwiglu: return "swiglu";
    case StepOp::kGeglu: return "geglu";
    case StepOp::kSplitGateUp: return "split_gate_up";
    case StepOp::kAdd: return "add";
  }
  return "?";
}

std::array<std::uint64_t, static_cast<std::size_t>(Value::kCount)> Recipe::value_widths(
    const ModelConfig& c) const noexcept {
  const auto d = static_cast<std::uint64_t>(c.d_model);
  const auto q_dim = static_cast<std::uint64_t>(c.n_heads * c.head_dim);
  const auto kv_dim = static_cast<std::uint64_t>(c.n_kv_heads * c.head_dim);
  const auto ff = static_cast<std::uint64_t>(c.d_ff);
  auto width = [&](Value v) -> std::uint64_t {
    switch (v) {
      case Value::kResidual:
      case Value::kNormed: return d;
      case Value::kQuery:
      case Value::kAttnOut: return q_dim;
      case Value::kQkv: return q_dim + 2 * kv_dim;
      case Value::kFfnA:
      case Value::kFfnB: return ff;
      case Value::kKNew:  // the KV cache, not a scratch buffer
      case Value::kVNew:
      case Value::kCount: break;
    }
    return 0;
  };
  std::array<std::uint64_t, static_cast<std::size_t>(Value::kCount)> widths{};
  auto use = [&](Value v) { widths[static_cast<std::size_t>(v)] = width(v); };
  use(Value::kResidual);  // the embedding writes it, the head reads it
  use(Value::kNormed);    // the head's normalised rows
  for (std::span<const Step> program : {attention, feed_forward}) {
    for (const Step& s : program) {
      use(s.in);
      use(s.out);
      if (s.op == StepOp::kSplitQkv) use(Value::kQuery);
      if (s.op == StepOp::kAttention) use(Value::kAttnOut);
    }
  }
  // The fused gate/up projection writes [gate | up] rows into kFfnA before kSplitGateUp moves them apart.
  for (const Step& s : feed_forward) {
    if (s.op == StepOp::kSplitGateUp) widths[static_cast<std::size_t>(Value::kFfnA)] = 2 * ff;
  }
  return widths;
}

const Recipe& recipe_for(Architecture architecture) noexcept {
  switch (architecture) {
    case Architecture::kGpt2: return detail::kGpt2Recipe;
    case Architecture::kLlama: return detail::kLlamaRecipe;
    case Architecture::kQwen2: return detail::kQwen2Recipe;
    case Architecture::kQwen3: return detail::kQwen3Recipe;
    case Architecture::kMistral: return detail::kMistralRecipe;
    case Architecture::kGemma2: return detail::kGemma2Recipe;
    case Architecture::kGemma3: return detail::kGemma3Recipe;
    case Architecture::kPhi3: return detail::kPhi3Recipe;
  }
  return detail::kLlamaRecipe;
}

}  // namespace edge_rt::model_ir
