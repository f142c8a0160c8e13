#pragma once
// Argument checks shared by the reference and the dispatched kernels (a mismatch is a programmer error).

#include <edge_rt/backend/cpu/kernels.hpp>

namespace edge_rt::backend::cpu::detail {

using tensor_core::is_quantized;

/// The [rows, cols] of a matmul weight after checking the call: w rank-2 contiguous, x and out large enough for n
/// rows, bias empty or one per output. `in_out`: w is [k, m] (matmul_in_out, unquantized), else [m, k] (matmul).
struct MatmulShape {
  std::size_t k;
  std::size_t m;
};
inline MatmulShape check_matmul(std::span<const float> x, std::size_t n, const TensorView& w,
                                std::span<const float> bias, std::span<float> out, bool in_out) {
  EDGE_RT_CHECK(w.shape().rank() == 2 && w.is_contiguous(), "matmul: weight must be rank-2 contiguous");
  EDGE_RT_CHECK(!in_out || !is_quantized(w.dtype()), "matmul_in_out: quantized weights are stored output-major");
  const auto rows = static_cast<std::size_t>(w.shape()[0]);
  const auto cols = static_cast<std::size_t>(w.shape()[1]);
  const MatmulShape shape = in_out ? MatmulShape{rows, cols} : MatmulShape{cols, rows};
  EDGE_RT_CHECK(x.size() >= n * shape.k && out.size() >= n * shape.m, "matmul: x or out too small");
  EDGE_RT_CHECK(bias.empty() || bias.size() == shape.m, "matmul: bias size != outputs of w");
  EDGE_RT_CHECK(shape.k % tensor_core::block_elems(w.dtype()) == 0, "matmul: quantized weight with k % block != 0");
  return shape;
}

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

}  // namespace edge_rt::backend::cpu::detail
