#pragma once
// The CPU backend's kernels for GPT-2 and Llama inference. Activations are F32; weight matrices may be F32, F16, BF16
// or any block format of tensor_core::DType (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K).
//
// Every op has a plain reference kernel in `edge_rt::backend::cpu::reference` (the specification). The public entry
// points run Google Highway kernels chosen at run time for the CPU (AVX-512/AVX2/SSE4, SVE2/SVE/NEON) and, given a
// ThreadPool, split the work across it. Splits never change an element's arithmetic, so results are identical
// for any thread count; they differ from the reference only in summation order (and, for exp/tanh, by a few ulp).
//
// Matrix products: one row (decode) runs a GEMV that streams the weights once; more rows (prefill) run a
// cache-blocked GEMM over packed F32 panels (up to kGemmDepth deep, two vectors wide, 6 rows per register tile).
// Quantized weights multiply activations quantized on the fly to 8 bits (one F16-rounded scale per 32 values, as
// llama.cpp's Q8_0/Q8_1) with integer dot products; the reference kernels follow the same definition. Prefill
// of the Q8_0/Q4_1/Q5_x/K-quant formats runs tiles of 4 rows x 4 tokens, each weight sub-block unpacked once per
// tile; every element gets the operations it gets alone, so batching never changes results.
//
// Fixed memory outside any budget, per thread that runs kernels: a GEMM panel (kGemmDepth x 2 vectors of floats,
// 64 KiB with AVX2), the quantized activations (n x k x 44/32 bytes), one attention score row (n_ctx floats) and
// the partial sums of the input-major GEMV (k / 64 x m floats: 147 KiB for GPT-2 124M, 625 KiB for 1.5B).
// Kernels check their arguments once at entry (EDGE_RT_CHECK: a mismatch is a programmer error), then loop.

#include <edge_rt/backend/cpu/thread_pool.hpp>
#include <edge_rt/tensor_core/attention.hpp>
#include <edge_rt/tensor_core/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <span>

namespace edge_rt::backend::cpu {

using tensor_core::AttentionArgs;
using tensor_core::DType;
using tensor_core::Shape;
using tensor_core::TensorView;

/// The Highway target chosen for this CPU ("AVX2", "AVX3", "NEON", "SVE2"...).
const char* simd_target();

/// The kernels that multiply quantized weights with 8-bit activations: "AVX512-VNNI" (vpdpbusd tiles, where the
/// target is AVX3 and the CPU has VNNI), else simd_target()'s.
const char* int8_kernels();

/// How many rows this CPU's kernels read `dtype` interleaved by (interleave_rows), 0 when they read the rows as
/// stored. A loader should interleave the matrices it hands to matmul_interleaved where this is non-zero:
/// - 16 for Q4_0, Q5_0, Q8_0, Q4_K, Q5_K and Q6_K with the AVX512-VNNI kernels: one 512-bit vector holds 16 rows, one
/// per
///   lane, so scales and float work happen once per 16 rows instead of per two; ~2x the row layout's prefill
///   (~50-60% of the vpdpbusd peak), and each tile reads one contiguous stream, which decode needs. These are the
///   formats llama.cpp runs through GEMM tiles of its own (tinyBLAS, repacked Q4_0x8/Q4_Kx8) or that Q4_K_M files
///   are made of; Q4_1 and Q5_1 keep the row layout, whose tiles sum each row in ggml's vec_dot order, which
///   llama.cpp uses for them in prefill and decode alike (SmolLM2-Q4_1 agrees with llama.cpp at 395/406 positions
///   that way, 389 with Q4_1 interleaved).
/// - 8 for Q4_0 with the AVX2 kernels (x86 AVX2/AVX-512 without VNNI): the eight-row integer GEMV reads a group as
///   one stream; 5-17% faster on GPT-2's layer matrices (`edge_rt_bench layout`).
/// - 0 elsewhere (NEON, SVE, scalar, the other formats).
std::size_t interleaved_rows(DType dtype) noexcept;

/// One field of a block as interleaving regroups it: `bytes` bytes at `at` in the row layout's block. A 2-byte field
/// (an F16 scale) becomes the group's values side by side; a longer one (a multiple of 4) becomes bytes / 4 runs of
/// 4-byte words, run j holding bytes 4j..4j+3 of each row of the group in row order.
struct InterleaveField {
  std::size_t at = 0;
  std::size_t bytes = 0;
};
/// The fields of `dtype`'s block in record order (count 0 for formats that are never interleaved), and where each
/// lies in the record of a group of `group` rows.
struct InterleaveLayout {
  InterleaveField fields[5];
  std::size_t count = 0;
  constexpr std::size_t offset(std::size_t f, std::size_t group) const noexcept {
    std::size_t at = 0;
    for (std::size_t i = 0; i < f; ++i) at += group * fields[i].bytes;
    return at;
  }
};
constexpr InterleaveLayout interleave_layout(DType dtype) noexcept {
  switch (dtype) {
    case DType::kQ4_0: return {{{0, 2}, {2, 16}}, 2};                               // d, qs
    case DType::kQ5_0: return {{{0, 2}, {2, 4}, {6, 16}}, 3};                       // d, qh, qs
    case DType::kQ8_0: return {{{0, 2}, {2, 32}}, 2};                               // d, qs
    case DType::kQ4_K: return {{{0, 2}, {2, 2}, {4, 12}, {16, 128}}, 4};            // d, dmin, scales, qs
    case DType::kQ5_K: return {{{0, 2}, {2, 2}, {4, 12}, {16, 32}, {48, 128}}, 5};  // d, dmin, scales, qh, qs
    case DType::kQ6_K: return {{{208, 2}, {192, 16}, {128, 64}, {0, 128}}, 4};      // d, scales, qh, ql
    default: return {};
  }
}

/// Rewrites a `rows` x `k` matrix of `dtype` (k a whole number of blocks) in place, interleaved by G =
/// interleaved_rows(dtype) rows (a precondition: non-zero): within each whole group of G rows, block b of the group
/// becomes one record holding the G rows' block b, field by field (interleave_layout). Q4_0 by 8 is the Q4_0x8 layout.
/// The last rows % G rows keep the row layout. Same size and the same values: matmul_interleaved on it gives matmul's
/// results on the rows (the same bits for the AVX2 kernels' Q4_0; within rounding for AVX512-VNNI's, which sum in
/// another order). Not undone; the view over it keeps its DType (the layout is the caller's to remember: the CPU
/// backend's prepared weight).
void interleave_rows(DType dtype, std::byte* data, std::size_t rows, std::size_t k);

/// out[n, m] = x[n, k] . w[m, k]^T (+ bias[m] when non-empty). w: rank-2 contiguous, any DType (quantized: k % 32
/// == 0), rows as in the file. x and out must not alias. `pool`: threads to split across (null: the calling
/// thread).
void matmul(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
            std::span<float> out, ThreadPool* pool = nullptr);
/// matmul for a matrix that interleave_rows rewrote; same contract. Only where interleaved_rows(its dtype) != 0.
void matmul_interleaved(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                        std::span<float> out, ThreadPool* pool = nullptr);
/// out[n, m] = x[n, k] . w[k, m] (+ bias[m] when non-empty): the weight stored input-major, as GPT-2's Conv1D
/// keeps it, so it streams from storage without a transpose. w: rank-2 contiguous [k, m], F32/F16/BF16.
void matmul_in_out(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                   std::span<float> out, ThreadPool* pool = nullptr);
/// LayerNorm over rows of d (Ba et al. 2016): out = (x - mean) / sqrt(var + eps) * gamma + beta.
/// x, out: [n, d]; may alias.
void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                float eps, std::span<float> out);
/// RMSNorm over rows of d (Zhang & Sennrich 2019): out = x / sqrt(mean(x^2) + eps) * w. x, out may alias.
void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps, std::span<float> out);
/// In place GELU, tanh approximation (GPT-2 "gelu_new"): 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x^3))).
void gelu_tanh(std::span<float> x, ThreadPool* pool = nullptr);
/// gate = silu(gate) * up, elementwise (Llama's SwiGLU FFN, Shazeer 2020).
void swiglu(std::span<float> gate, std::span<const float> up, ThreadPool* pool = nullptr);
/// gate = gelu_tanh(gate) * up (Gemma's GeGLU).
void geglu(std::span<float> gate, std::span<const float> up, ThreadPool* pool = nullptr);
/// In place softmax of one row; numerically stable (max subtracted).
void softmax(std::span<float> x);
/// out += x.
void add(std::span<const float> x, std::span<float> out);
/// RoPE (Su et al. 2021) in HF Llama's rotate-half layout: in each head, the pair (i, i + head_dim/2) of
/// x[t, h, :] rotates by angle (pos0 + t) * inv_freq[i] (tensor_core::rope_inv_freq: theta^(-2i/head_dim), scaled
/// for Llama 3). x: [n_tokens, n_heads, head_dim]; inv_freq: [head_dim / 2]. A geometric table (each entry the last
/// times one ratio) gives its angles as llama.cpp computes them: pos * inv_freq[0], then one float multiplication
/// by the ratio per pair; others take (pos0 + t) * inv_freq[i].
/// `interleaved`: the pair is (2i, 2i + 1) instead (Meta's order, ggml's GGML_ROPE_TYPE_NORM).
void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
          std::span<const float> inv_freq, bool interleaved = false);
/// Causal scaled dot-product attention with GQA. q: [n_tokens, n_heads, head_dim]; k_cache, v_cache:
/// [>= pos0 + n_tokens, n_kv_heads, head_dim] with the new rows already written; scratch: >= pos0 + n_tokens
/// floats; out: [n_tokens, n_heads, head_dim], must not alias q. Heads are split across `pool`.
void attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, std::span<float> scratch, std::span<float> out,
               ThreadPool* pool = nullptr);

/// The plain kernels: the specification every optimised variant is tested against. Same contracts as above,
/// single-threaded. For quantized weights, matmul quantizes each row of x to 8 bits per 32-value block
/// (d = max|x| / 127, q = x * 127 / max|x| rounded half to even, d then rounded to F16: llama.cpp's Q8_0/Q8_1
/// activations) and sums, over 32-weight sub-blocks in order, scale_w * d_x * (integer dot) + offset_w * sum_x
/// (tensor_core::SubBlock), sum_x = d_x * sum q_x, or F16(d * sum q_x) for Q4_1/Q5_1 as ggml's block_q8_1 has it.
namespace reference {
void matmul(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
            std::span<float> out);
void matmul_in_out(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                   std::span<float> out);
void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                float eps, std::span<float> out);
void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps, std::span<float> out);
void gelu_tanh(std::span<float> x);
void swiglu(std::span<float> gate, std::span<const float> up);
void geglu(std::span<float> gate, std::span<const float> up);
void softmax(std::span<float> x);
void add(std::span<const float> x, std::span<float> out);
void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
          std::span<const float> inv_freq, bool interleaved = false);
void attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, std::span<float> scratch, std::span<float> out);
}  // namespace reference

/// Index of the largest element (first on ties). Precondition: x non-empty.
std::size_t argmax(std::span<const float> x);

}  // namespace edge_rt::backend::cpu
