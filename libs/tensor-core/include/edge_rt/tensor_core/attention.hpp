#pragma once
// The shape of one layer's causal attention over a KV cache: what every backend's attention op takes.

#include <cstddef>

namespace edge_rt::tensor_core {

/// Arguments of causal attention over a KV cache, for one layer.
struct AttentionArgs {
  std::size_t n_tokens = 0;    ///< Query rows.
  std::size_t pos0 = 0;        ///< Position of the first query row; row i attends to cache positions [0, pos0+i].
  std::size_t n_heads = 0;     ///< Query heads.
  std::size_t n_kv_heads = 0;  ///< KV heads; n_heads % n_kv_heads == 0 (GQA: query head h reads KV head h / group).
  std::size_t head_dim = 0;
  float scale = 1.0f;  ///< Usually 1/sqrt(head_dim).
};

}  // namespace edge_rt::tensor_core
