#pragma once
// Argument checks shared by the reference and the dispatched kernels (a mismatch is a programmer error).

#include <edge_rt/tensor_core/kernels.hpp>

namespace edge_rt::tensor_core::detail {

inline void check_attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
                            std::span<const float> v_cache, std::span<float> scratch, std::span<float> out) {
  const std::size_t hd = args.head_dim;
  const std::size_t n_ctx = args.pos0 + args.n_tokens;
  EDGE_RT_CHECK(args.n_kv_heads > 0 && args.n_heads % args.n_kv_heads == 0, "attention: heads not a multiple");
  EDGE_RT_CHECK(q.size() >= args.n_tokens * args.n_heads * hd && out.size() >= q.size(), "attention: q/out size");
  EDGE_RT_CHECK(k_cache.size() >= n_ctx * args.n_kv_heads * hd && v_cache.size() >= n_ctx * args.n_kv_heads * hd,
                "attention: cache smaller than pos0 + n_tokens");
  EDGE_RT_CHECK(scratch.size() >= n_ctx, "attention: scratch too small");
}

}  // namespace edge_rt::tensor_core::detail
