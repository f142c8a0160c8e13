#pragma once
// The shape of one layer's causal attention over a KV cache: what every backend's attention op takes.

#include <cmath>
#include <cstddef>
#include <vector>

namespace edge_rt::tensor_core {

/// Arguments of causal attention over a KV cache, for one layer.
struct AttentionArgs {
  std::size_t n_tokens = 0;    ///< Query rows.
  std::size_t pos0 = 0;        ///< Position of the first query row; row i attends to cache positions [0, pos0+i].
  std::size_t n_heads = 0;     ///< Query heads.
  std::size_t n_kv_heads = 0;  ///< KV heads; n_heads % n_kv_heads == 0 (GQA: query head h reads KV head h / group).
  std::size_t head_dim = 0;
  float scale = 1.0f;  ///< Usually 1/sqrt(head_dim).
  /// > 0: sliding-window attention (Mistral, Gemma's local layers): row i sees only the `window` positions ending
  /// at its own, (pos0 + i - window, pos0 + i], as transformers' sliding mask (kv_idx > q_idx - window).
  std::size_t window = 0;
  /// > 0: scores soft-capped to cap * tanh(score / cap) after scaling, before softmax (Gemma-2).
  float softcap = 0.0f;

  /// The first cache position row `i` attends to.
  std::size_t first_key(std::size_t i) const noexcept {
    const std::size_t p = pos0 + i;
    return window > 0 && p + 1 > window ? p + 1 - window : 0;
  }
};

/// RoPE's inverse frequencies theta^(-2i/head_dim) for i < head_dim/2 (Su et al. 2021), in float as every kernel
/// has computed them; model_ir::rope_inv_freq applies a model's frequency scaling on top. Thread-safe.
inline std::vector<float> rope_inv_freq(float theta, std::size_t head_dim) {
  std::vector<float> freq(head_dim / 2);
  for (std::size_t i = 0; i < freq.size(); ++i) {
    freq[i] = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(head_dim));
  }
  return freq;
}

}  // namespace edge_rt::tensor_core
