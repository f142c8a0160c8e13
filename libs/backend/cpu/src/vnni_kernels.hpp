#pragma once
// Integer GEMM tiles for x86 CPUs with AVX-512 VNNI (vpdpbusd): every block format's weights against 8-bit
// activations, 64 values per 512-bit vector: one 32-value sub-block of two rows (the row layout), or four values of
// each of 16 rows (the layout interleave_rows makes). Internal to the CPU backend:
// kernels.cpp uses them in place of the AVX3 target's vpmaddubsw kernels where the CPU has VNNI (simd::int8_vnni()),
// for decode and prefill alike, so that a token's outputs are the same bits in a batch and alone.
//
// Why a file of its own: Highway 1.0.3 has no portable 8-bit dot product, and its AVX3_DL target enables the VEX
// AVX-VNNI extension (absent on Ice Lake and Zen 4) rather than AVX512-VNNI. This file is compiled for
// AVX-512F/BW/DQ/VL + VNNI through a target pragma that covers only its own functions (all headers are included
// before it), and is called only after available() checked the CPU.

#include "simd_kernels.hpp"

#include <cstddef>
#include <cstdint>

namespace edge_rt::backend::cpu::vnni {

using namespace ::edge_rt::tensor_core;  // DType and the block layouts

/// One 32-value activation block as the VNNI tiles read it.
struct alignas(32) ActVnni {
  std::int8_t qs[32];     ///< ActBlock::qs, signed.
  std::int32_t init[8];   ///< -bias * (sum of qs[4i..4i+3]): the weights' unsigned bias removed in int32 lane i.
  float d;                ///< ActBlock::d.
  float sum;              ///< the mins' sum term: ActBlock::s16 for Q4_1/Q5_1, d_sum otherwise.
  std::int32_t init_sum;  ///< -bias * (sum of qs): the interleaved tiles', one lane per row.
  std::int32_t
      init_half[2];  ///< -bias * (sum of qs[0..15]), and of qs[16..31]: interleaved Q6_K's, one scale per half.
};

/// One 32-value block of 16 tokens, as the panel tiles of gemv_interleaved read it: token t in 32-bit lane t, so that
/// a vector holds 16 tokens and each weight word is the broadcast operand (shared by the tile's token vectors).
/// Lanes past the last token repeat it.
struct alignas(64) ActPanel {
  std::int8_t words[8][64];       ///< words[w]: ActVnni::qs[4w..4w+3] of each token.
  float d[16];                    ///< ActVnni::d.
  float sum[16];                  ///< ActVnni::sum.
  std::int32_t init_sum[16];      ///< ActVnni::init_sum.
  std::int32_t init_half[2][16];  ///< ActVnni::init_half.
};

/// gemv_interleaved runs panel tiles (rows x 32 tokens) from this many tokens on, and tiles of 16 rows x 8 tokens
/// below it. Both give every element the same operations, so a token's outputs are the same bits either way.
inline constexpr std::size_t kPanelTokens = 32;

/// Formats whose weights keep the row layout but still run panel tiles from kPanelTokens tokens on: Q4_1 and Q5_1,
/// whose panels keep ggml's summation order (gemv's), one row at a time.
constexpr bool row_layout_panels(DType dtype) noexcept {
  return dtype == DType::kQ4_1 || dtype == DType::kQ5_1;
}

/// True when this CPU runs these kernels (x86-64 with AVX-512 F/BW/DQ/VL and VNNI, state enabled by the OS).
bool available() noexcept;

/// Packs nb ActBlocks into nb ActVnni for weights of `dtype`, whose unsigned bias (8 for Q4_0, 16 for Q5_0, 32 for
/// Q6_K, 128 for Q8_0, 0 otherwise) fills init and init_sum.
void pack_act(DType dtype, const simd::ActBlock* xq, std::size_t nb, ActVnni* out);

/// Groups [g0, g1) of 16 tokens of x (n rows of k floats, k a multiple of 32) into out[g * (k / 32) + b]: quantized
/// as simd::quantize_act does it and packed for weights of `dtype` as pack_act would, the same bits (a NaN scale is
/// the same NaN), in one pass that works on 16 tokens per vector (quantize_act, pack_act and a repacking had cost
/// a third of the panel tiles' time where m is 576). The last group repeats token n - 1 in its unused lanes.
/// Precondition: available().
void quantize_panels(DType dtype, const float* x, std::size_t n, std::size_t k, std::size_t g0, std::size_t g1,
                     ActPanel* out);

/// out[i * m + r] = bias[r] + sum over sub-blocks of scale_w * d_x * (integer dot) + offset_w * sum term, for
/// i < n and r in [r0, r1): the reference kernels' quantized matmul, each row summed in ggml's order (8 lanes per
/// block, blocks in order, its 8-lane sum, then the mins' terms). xv: n rows of k / 32 ActVnni from pack_act with
/// the same dtype. w: [rows, k] of a quantized dtype. For row_layout_panels formats from kPanelTokens tokens on, xp
/// must hold quantize_panels of the n rows and r0 be a multiple of 16: whole groups of 16 rows then run panel tiles
/// (xv is read only for the m % 16 tail rows); xp is unused otherwise. Each element sees the same operations
/// whatever n, r0 and r1, so results do not depend on the batch or the thread split. Precondition: available().
void gemv(DType dtype, const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k, const std::byte* w,
          std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m);

/// The same for weights interleave_rows rewrote by 16 rows (Q8_0, Q4_0, Q5_0, Q4_K, Q5_K, Q6_K; whole groups of 16
/// rows, then the m % 16 last rows in the row layout). r0 a multiple of 16. Below kPanelTokens tokens, tiles of 16
/// rows (one per lane) x 8 tokens read the records directly, with xv from pack_act with the same dtype. From it on,
/// xp must hold quantize_panels of all the n rows (xv is then read only for the tail rows): each group of 16 rows is
/// decoded once into a thread-local buffer (16 x k bytes and its scales), and panels of 5-6 rows x 32 tokens (one
/// token per lane) broadcast each weight word to two token vectors. Each element sees the same operations either
/// way, whatever n, r0 and r1 (but not the same as gemv's on the row layout). Precondition: available().
void gemv_interleaved(DType dtype, const ActVnni* xv, const ActPanel* xp, std::size_t n, std::size_t k,
                      const std::byte* w, std::size_t r0, std::size_t r1, const float* bias, float* out, std::size_t m);

/// The int8 peak probe: 12 independent vpdpbusd chains (512-bit) of `iterations` steps; returns a value that
/// depends on all of them. Each step is 64 multiply-adds. Precondition: available().
std::int32_t dpbusd_chains(std::size_t iterations);

/// The same chains as the interleaved tiles issue them: each vpdpbusd's second operand is four bytes broadcast from
/// memory (`x`, at least 768 bytes, read in a cycle of 16 rows of 48), one broadcast per vpdpbusd when
/// `per_broadcast` is 1, or one shared by 2 or 4 of them (then the first operand alternates between two registers).
/// Precondition: available(), per_broadcast in {1, 2, 4}.
std::int32_t dpbusd_chains_broadcast(std::size_t iterations, const std::int8_t* x, std::size_t per_broadcast);

}  // namespace edge_rt::backend::cpu::vnni
