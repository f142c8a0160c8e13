#pragma once
// Highway kernels with runtime dispatch (AVX-512, AVX2, SSE4 on x86; SVE2, SVE, NEON on Arm; scalar otherwise).
// Internal to tensor-core: kernels.cpp splits work across threads and calls these on one range each.
//
// Every function computes each output element with a fixed sequence of operations that does not depend on the
// range it is given, so any split across threads gives bit-identical results.

#include <edge_rt/tensor_core/dtype.hpp>

#include <cstddef>
#include <cstdint>

namespace edge_rt::backend::cpu::simd {

using namespace ::edge_rt::tensor_core;  // DType and the block layouts

/// An activation block quantized on the fly for integer dot products: 32 int8 values with a scale rounded to F16
/// (ggml's block_q8_0 / block_q8_1), held as F32.
struct ActBlock {
  float d;
  float d_sum;  ///< d * sum of qs: Q4_0's offset of 8 applied once per block instead of per value.
  /// F16(d * sum of qs) with d before rounding: ggml's block_q8_1 `s`, which llama.cpp multiplies with the min
  /// of Q4_1/Q5_1. Its rounding shows in the logits (the min term is large and cancels), so using it keeps greedy
  /// tokens with llama.cpp's.
  float s16;
  std::int8_t qs[kQuantBlock];
};

/// Rows of the GEMM register tile; columns are two vectors of the selected target.
inline constexpr std::size_t kGemmRows = 6;
/// Depth of one packed weight panel (elements of the reduction dimension).
inline constexpr std::size_t kGemmDepth = 1024;

/// The Highway target the dispatcher chose on this CPU ("AVX2", "NEON"...).
const char* target_name();
/// Float lanes of that target's vectors (the GEMM panel is 2x this wide).
std::size_t float_lanes();

/// out[r] = dot(x, w row r) + bias[r] for r in [r0, r1). w: F32/F16/BF16, row-major [rows, k]. bias may be null.
void gemv_rows(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t r0, std::size_t r1,
               const float* bias, float* out);
/// out[j] = sum_c x[c] * w[c, j] for j < m; w: F32/F16/BF16, row-major [k, m]. Each element accumulates the
/// rows in order, in passes of eight (two chains of four fused multiply-adds), then four, then one.
void gemv_in_out(DType dtype, const float* x, std::size_t k, const std::byte* w, std::size_t m, float* out);
/// out[j] = bias[j] + rows[0, j] + rows[1, j] + ... (in row order) for j in [j0, j1); rows: [n_rows, m].
void sum_rows(const float* rows, std::size_t n_rows, std::size_t m, std::size_t j0, std::size_t j1, const float* bias,
              float* out);
/// out[i, j] = bias[j] + sum_c x[i, c] * W(c, j) for i < n, j in [j0, j1): W is w [k, m] when in_out, else w^T
/// with w [m, k]. F32/F16/BF16. Each element accumulates c in order with fused multiply-adds. `pack` is
/// kGemmDepth * 2 * float_lanes() floats, aligned to the vector size. out rows have stride m.
void gemm(DType dtype, const float* x, std::size_t n, std::size_t k, const std::byte* w, bool in_out, std::size_t m,
          std::size_t j0, std::size_t j1, const float* bias, float* out, float* pack);
/// Integer path for Q8_0/Q4_0 weights [rows, k]: out[i * m + r] = bias[r] + sum over blocks b of
/// d_w[b] * xq[i][b].d * sum_j q_w[j] * xq[i][b].qs[j], for i < n, r in [r0, r1). `interleaved`: Q4_0 in the
/// Q4_0x8 layout of interleave_rows (only where has_interleaved_q4_0()).
void gemv_quant(DType dtype, bool interleaved, const ActBlock* xq, std::size_t n, std::size_t k, const std::byte* w,
                std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m);
/// True when the dispatched target is AVX3 and the CPU has AVX-512 VNNI: quantized matmuls then run the
/// vnni_kernels.hpp tiles instead of gemv_quant (x86 only; tests that select another target get gemv_quant).
bool int8_vnni();
/// True when gemv_quant takes interleaved Q4_0 on this CPU (the x86 AVX2/AVX-512 targets); there r0 and r1 must be
/// multiples of 8 or r1 == rows.
bool has_interleaved_q4_0();
/// Quantizes k floats (k % 32 == 0) into k / 32 ActBlocks: d = max|x| / 127, q = x * 127 / max|x| rounded half to
/// even, then d rounded to F16 (ggml's AVX2 quantize_row_q8_0 / q8_1).
void quantize_act(const float* x, std::size_t k, ActBlock* out);

/// scores[p] = dot(q, k + p * stride, hd) * scale for p < n_keys; each dot sums two vector accumulators, then the
/// scalar tail.
void attn_scores(const float* q, const float* k, std::size_t stride, std::size_t n_keys, std::size_t hd, float scale,
                 float* scores);
/// out[j] = sum over p < n_keys of probs[p] * v[p * stride + j] for j < hd, accumulated in key order with fused
/// multiply-adds from 0.
void attn_values(const float* probs, const float* v, std::size_t stride, std::size_t n_keys, std::size_t hd,
                 float* out);
/// x = exp(x - max); returns the sum (a vector's lanes summed, then the vectors in double).
double exp_shifted(float* x, std::size_t n, float max);
void scale(float* x, std::size_t n, float s);
void gelu_tanh(float* x, std::size_t n);
/// gate = silu(gate) * up.
void swiglu(float* gate, const float* up, std::size_t n);

/// Sum of n floats (p aligned, n a multiple of 4 vectors): the read-bandwidth probe.
float read_sum(const float* p, std::size_t n);
/// 12 independent FMA chains of `iterations` steps, one vector each; returns a value that depends on all.
float fma_chains(std::size_t iterations);

}  // namespace edge_rt::backend::cpu::simd
