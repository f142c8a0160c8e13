#pragma once
// The Hugging Face config.json of the architectures edge-rt runs.

#include <edge_rt/core/result.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace edge_rt::model_ir {

/// kQwen2 and kQwen3 are Llama with Q/K/V biases (Qwen2, Qwen2.5) or per-head Q/K RMSNorm (Qwen3); kMistral is
/// Llama with sliding-window attention; kGemma2 / kGemma3 are Google's Gemma 2 and 3 (text) decoders; kPhi3 is
/// Llama with fused QKV and gate/up projections.
enum class Architecture { kGpt2, kLlama, kQwen2, kQwen3, kMistral, kGemma2, kGemma3, kPhi3 };
enum class Activation { kGeluTanh, kSilu };

/// RoPE frequency scaling (rope_scaling in config.json). Copyable value.
struct RopeScaling {
  enum class Kind : std::uint8_t {
    kNone,
    kLinear,   ///< every inverse frequency / factor (position interpolation, Chen et al. 2023)
    kLlama3,   ///< Llama 3.1+: long wavelengths / factor, short kept, a smooth ramp between (modeling_rope_utils.py)
    kFactors,  ///< per-frequency divisors from the file: GGUF's rope_freqs.weight (llama.cpp's form of llama3)
    /// Phi-3 "longrope" / "su": per-frequency divisors, short_factor within original_context and long_factor
    /// beyond it, and attention_factor on cos and sin (so on attention scores, squared).
    kLongRope,
  };
  Kind kind = Kind::kNone;
  float factor = 1.0f;
  float low_freq_factor = 1.0f;          ///< kLlama3
  float high_freq_factor = 4.0f;         ///< kLlama3
  std::int64_t original_context = 8192;  ///< kLlama3, kLongRope: original_max_position_embeddings, tokens
  std::vector<float> freq_factors;       ///< kFactors, kLongRope (short_factor): [head_dim / 2]
  std::vector<float> long_factors;       ///< kLongRope: [head_dim / 2]
  float attention_factor = 1.0f;         ///< kLongRope: multiplies RoPE's cos and sin
};

/// Copyable value: the hyper-parameters the runtime needs, in one vocabulary for both architectures.
struct ModelConfig {
  Architecture architecture = Architecture::kLlama;
  std::string architecture_name;  ///< As in config.json: "GPT2LMHeadModel", "LlamaForCausalLM", ...
  std::int64_t d_model = 0;       ///< n_embd / hidden_size.
  std::int64_t n_layers = 0;      ///< n_layer / num_hidden_layers.
  std::int64_t n_heads = 0;       ///< n_head / num_attention_heads.
  std::int64_t n_kv_heads = 0;    ///< num_key_value_heads (GQA); n_heads for GPT-2.
  std::int64_t head_dim = 0;      ///< d_model / n_heads unless config.json says head_dim.
  std::int64_t d_ff = 0;          ///< n_inner (null: 4 x n_embd) / intermediate_size.
  std::int64_t vocab_size = 0;
  std::int64_t max_context = 0;  ///< n_positions / max_position_embeddings, in tokens.
  float norm_eps = 1e-5f;        ///< layer_norm_epsilon / rms_norm_eps.
  float rope_theta = 10000.0f;   ///< Llama-layout families only.
  RopeScaling rope_scaling;
  /// RoPE rotates adjacent pairs (2i, 2i + 1), Meta's original order that llama GGUF files keep; false: HF's
  /// rotate-half pairs (i, i + head_dim / 2).
  bool rope_interleaved = false;
  /// Whether prompts start with BOS: GGUF's tokenizer.ggml.add_bos_token; unset: the recipe decides
  /// (Recipe::prepends_bos).
  std::optional<bool> add_bos;
  bool tie_embeddings = false;  ///< LM head shares the token embedding (always for GPT-2).
  /// Sliding-window attention: positions a windowed layer attends to, its own included (Mistral's sliding_window,
  /// GGUF *.attention.sliding_window); 0: none.
  std::int64_t sliding_window = 0;
  /// Per layer, whether it attends through the window; empty: every layer when sliding_window > 0.
  std::vector<bool> sliding_layers;
  float attn_softcap = 0;   ///< Attention logits soft-capped at this (Gemma-2's attn_logit_softcapping); 0: not.
  float final_softcap = 0;  ///< Output logits soft-capped at this (Gemma-2's final_logit_softcapping); 0: not.
  /// Attention score scale; 0: 1/sqrt(head_dim). Gemma: query_pre_attn_scalar^-1/2.
  float attn_scale = 0;
  /// Token embeddings are multiplied by this (Gemma: sqrt(hidden_size)); 0: not scaled.
  float embedding_scale = 0;
  /// RoPE base of the sliding-window layers when it differs from rope_theta, without rope_scaling (Gemma-3's
  /// rope_local_base_freq); 0: every layer uses rope_theta and rope_scaling.
  float rope_theta_local = 0;
  /// Added to RMSNorm weights when loaded (WeightRef::value_offset): 1 for Hugging Face Gemma folders.
  float norm_weight_offset = 0;
  /// The window of layer `layer` (0: full causal attention).
  std::int64_t window_of(std::int64_t layer) const noexcept {
    if (sliding_window == 0) return 0;
    if (sliding_layers.empty()) return sliding_window;
    return sliding_layers[static_cast<std::size_t>(layer)] ? sliding_window : 0;
  }
  Activation activation = Activation::kSilu;
  std::optional<std::int32_t> bos_id;  ///< Only when inside the vocabulary (the first, when a list).
  std::vector<std::int32_t> eos_ids;   ///< eos_token_id, an id or a list (generation stops at any); in vocabulary.
};

/// Bounds on config.json values. They exceed every released model by a wide margin and keep every size computed
/// from them (d_ff x d_model, vocab x d_model, n_heads x head_dim, context x KV width) far from 2^63.
inline constexpr std::int64_t kMaxModelWidth = std::int64_t{1} << 20;  ///< hidden, FFN and attention widths.
inline constexpr std::int64_t kMaxLayers = 4096;
inline constexpr std::int64_t kMaxHeads = 4096;
inline constexpr std::int64_t kMaxHeadDim = 4096;
inline constexpr std::int64_t kMaxVocab = std::int64_t{1} << 24;
inline constexpr std::int64_t kMaxContext = std::int64_t{1} << 24;  ///< tokens

/// Parses config.json. `architectures[0]` (or `model_type`) selects GPT-2 ("GPT2LMHeadModel", "gpt2"), Llama
/// ("LlamaForCausalLM", "llama"), Qwen2 ("Qwen2ForCausalLM", "qwen2"; use_sliding_window must be false) or Qwen3
/// ("Qwen3ForCausalLM", "qwen3") or Mistral ("MistralForCausalLM", "mistral"; sliding_window: null or tokens);
/// the last four read the Llama keys. attention_bias / mlp_bias true is
/// kUnsupported (Qwen2's Q/K/V biases come with its architecture). GPT-2 keys: n_embd, n_layer, n_head, n_positions (or
/// n_ctx), vocab_size, layer_norm_epsilon, activation_function ("gelu_new" | "gelu_pytorch_tanh"), n_inner. Llama keys:
/// hidden_size, num_hidden_layers, num_attention_heads, num_key_value_heads (default num_attention_heads),
/// intermediate_size, vocab_size, max_position_embeddings, rms_norm_eps, rope_theta (default 10000),
/// hidden_act ("silu"), tie_word_embeddings (default false), head_dim (optional).
/// Every integer is range-checked against the bounds above, epsilons must lie in (0, 1] and rope_theta in (0, 1e12]
/// (finite: 1e300 is not a float); bos_token_id / eos_token_id may be an id or a list of ids.
/// Errors: kIoError (unreadable), kInvalidFormat (not a regular file, over 16 MiB, not JSON, wrong type, values
/// out of range such as n_heads % n_kv_heads != 0), kMissingField (a required key), kUnsupported (another
/// architecture or activation, a rope_scaling type other than linear and llama3). Messages name the file, the key, its
/// value and the valid range.
Result<ModelConfig> parse_hf_config(const std::filesystem::path& config_json);

/// RoPE's inverse frequencies for `config`, [head_dim / 2]: tensor_core::rope_inv_freq(rope_theta, head_dim) with
/// rope_scaling applied (for kLlama3 as transformers' _compute_llama3_parameters). Thread-safe.
std::vector<float> rope_inv_freq(const ModelConfig& config);
/// Those of layer `layer` for a KV cache of n_ctx tokens: rope_inv_freq(config), or for a sliding-window layer of a
/// model with rope_theta_local, tensor_core::rope_inv_freq(rope_theta_local, head_dim) unscaled; kLongRope takes
/// its long factors when n_ctx > original_context (llama.cpp's choice; transformers switches per sequence length).
std::vector<float> rope_inv_freq(const ModelConfig& config, std::int64_t layer, std::size_t n_ctx);

/// Same, from text; `label` names the source in messages.
Result<ModelConfig> parse_hf_config_text(std::string_view text, const std::string& label);

}  // namespace edge_rt::model_ir
