// Public kernel entry points: choose the SIMD kernel for the shape and dtype, and split it across the pool.
// Splits fall on multiples of the vector width (columns) or of whole rows, so every output element is computed
// by the same instructions whatever the thread count: results are identical for 1 and N threads.
#include <edge_rt/backend/cpu/kernels.hpp>

#include "checks.hpp"

#include "simd_kernels.hpp"
#include "vnni_kernels.hpp"

#include <hwy/aligned_allocator.h>

#include <algorithm>
#include <cmath>
#include <vector>

namespace edge_rt::backend::cpu {

using namespace ::edge_rt::tensor_core;  // dtypes and views

namespace {

std::size_t threads_of(ThreadPool* pool) noexcept {
  return pool ? pool->size() : 1;
}

std::size_t round_up(std::size_t v, std::size_t multiple) noexcept {
  return (v + multiple - 1) / multiple * multiple;
}

// Per-thread GEMM panel buffer: kGemmDepth x 2 vectors of floats (64 KiB with AVX2, 128 KiB with AVX-512). Sized
// for the dispatched target, which tests switch (hwy::SetSupportedTargetsForTest): it grows when vectors widen.
float* pack_buffer() {
  thread_local hwy::AlignedFreeUniquePtr<float[]> buffer;
  thread_local std::size_t size = 0;
  const std::size_t need = simd::kGemmDepth * 2 * simd::float_lanes();
  if (size < need) {
    buffer = hwy::AllocateAligned<float>(need);
    size = need;
  }
  return buffer.get();
}

// Input-major GEMV: rows of w per partial sum.
constexpr std::size_t kInOutRowBlock = 64;

// Partial outputs of the input-major GEMV (k / 64 x m floats); grows to the largest seen on this thread.
std::span<float> partial_buffer(std::size_t n) {
  thread_local std::vector<float> buffer;
  if (buffer.size() < n) buffer.resize(n);
  return {buffer.data(), n};
}

// Activation rows quantized for the integer path; grows to the largest n x k seen on this thread.
std::span<simd::ActBlock> act_buffer(std::size_t blocks) {
  thread_local std::vector<simd::ActBlock> buffer;
  if (buffer.size() < blocks) buffer.resize(blocks);
  return {buffer.data(), blocks};
}

// The same rows packed for the VNNI tiles (vnni::pack_act).
std::span<vnni::ActVnni> vnni_buffer(std::size_t blocks) {
  thread_local std::vector<vnni::ActVnni> buffer;
  if (buffer.size() < blocks) buffer.resize(blocks);
  return {buffer.data(), blocks};
}

// 16-token groups of activation rows for the panel tiles (vnni::quantize_panels).
std::span<vnni::ActPanel> panel_buffer(std::size_t blocks) {
  thread_local std::vector<vnni::ActPanel> buffer;
  if (buffer.size() < blocks) buffer.resize(blocks);
  return {buffer.data(), blocks};
}

void matmul_quant(std::span<const float> x, std::size_t n, std::size_t k, std::size_t m, const TensorView& w,
                  bool interleaved, std::span<const float> bias, std::span<float> out, ThreadPool* pool) {
  const std::size_t nb = k / kQuantBlock;
  const float* b = bias.empty() ? nullptr : bias.data();
  const bool vnni = simd::int8_vnni();
  // Long batches on interleaved weights: the panel tiles read 16 tokens per vector, quantized straight into that
  // layout. The rows' ActBlock/ActVnni are then needed only for the tail rows that keep the row layout.
  const bool panels = vnni && (interleaved || vnni::row_layout_panels(w.dtype())) && n >= vnni::kPanelTokens && m >= 16;
  const std::size_t groups = panels ? (n + 15) / 16 : 0;
  std::span<vnni::ActPanel> xp = panel_buffer(groups * nb);
  if (panels) {
    parallel_ranges(pool, groups, 1, [&](std::size_t g0, std::size_t g1) {
      vnni::quantize_panels(w.dtype(), x.data(), n, k, g0, g1, xp.data());
    });
  }
  const bool rows = !panels || m % 16 != 0;
  std::span<simd::ActBlock> xq = act_buffer(rows ? n * nb : 0);
  std::span<vnni::ActVnni> xv = vnni_buffer(rows && vnni ? n * nb : 0);
  const auto prepare = [&](std::size_t i0, std::size_t i1) {
    for (std::size_t i = i0; i < i1; ++i) {
      simd::quantize_act(x.data() + i * k, k, xq.data() + i * nb);
      if (vnni) vnni::pack_act(w.dtype(), xq.data() + i * nb, nb, xv.data() + i * nb);
    }
  };
  // Prefill's rows of activations are quantized in parallel too (serial, they were a tenth of a 2-thread prefill).
  if (rows && n > 1) {
    parallel_ranges(pool, n, std::max<std::size_t>(1, n / (4 * threads_of(pool))), prepare);
  } else if (rows) {
    prepare(0, n);
  }
  // Whole groups of 16 rows per chunk: interleaved matrices are laid out by groups of 8 or 16 rows from row 0.
  const std::size_t grain = round_up(std::max<std::size_t>(16, m / (4 * threads_of(pool))), 16);
  parallel_ranges(pool, m, grain, [&](std::size_t r0, std::size_t r1) {
    if (!vnni) {
      simd::gemv_quant(w.dtype(), interleaved, xq.data(), n, k, w.data(), r0, r1, b, out.data(), m);
    } else if (interleaved) {
      vnni::gemv_interleaved(w.dtype(), xv.data(), xp.data(), n, k, w.data(), r0, r1, b, out.data(), m);
    } else {
      vnni::gemv(w.dtype(), xv.data(), xp.data(), n, k, w.data(), r0, r1, b, out.data(), m);
    }
  });
}

void gemm(std::span<const float> x, std::size_t n, std::size_t k, std::size_t m, const TensorView& w, bool in_out,
          std::span<const float> bias, std::span<float> out, ThreadPool* pool) {
  const std::size_t nr = 2 * simd::float_lanes();
  const std::size_t panels = (m + nr - 1) / nr;
  const std::size_t grain = std::max<std::size_t>(1, panels / (4 * threads_of(pool))) * nr;
  parallel_ranges(pool, m, grain, [&](std::size_t j0, std::size_t j1) {
    simd::gemm(w.dtype(), x.data(), n, k, w.data(), in_out, m, j0, j1, bias.empty() ? nullptr : bias.data(), out.data(),
               pack_buffer());
  });
}

}  // namespace

const char* simd_target() {
  return simd::target_name();
}

const char* int8_kernels() {
  return simd::int8_vnni() ? "AVX512-VNNI" : simd::target_name();
}

std::size_t interleaved_rows(DType dtype) noexcept {
  switch (dtype) {
    case DType::kQ4_0: return simd::int8_vnni() ? 16 : simd::has_interleaved_q4_0() ? 8 : 0;
    case DType::kQ8_0:
    case DType::kQ5_0:
    case DType::kQ4_K:
    case DType::kQ5_K:
    case DType::kQ6_K: return simd::int8_vnni() ? 16 : 0;
    default: return 0;
  }
}

void interleave_rows(DType dtype, std::byte* data, std::size_t rows, std::size_t k) {
  const std::size_t group = interleaved_rows(dtype);
  const InterleaveLayout layout = interleave_layout(dtype);
  EDGE_RT_CHECK(group != 0 && layout.count != 0, "interleave_rows: a format this CPU's kernels read as rows");
  EDGE_RT_CHECK(k % block_elems(dtype) == 0, "interleave_rows: k must be a whole number of blocks");
  const std::size_t block = quant_block_bytes(dtype);
  const std::size_t nb = k / block_elems(dtype);
  const std::size_t group_bytes = group * nb * block;
  // Streamed groups are interleaved on every load: keep the scratch instead of allocating it per matrix.
  thread_local std::vector<std::byte> scratch;
  if (scratch.size() < group_bytes) scratch.resize(group_bytes);
  for (std::size_t r = 0; r + group <= rows; r += group) {
    std::byte* rows_at = data + r * nb * block;
    std::copy(rows_at, rows_at + group_bytes, scratch.begin());
    for (std::size_t b = 0; b < nb; ++b) {
      for (std::size_t f = 0; f < layout.count; ++f) {
        const InterleaveField field = layout.fields[f];
        std::byte* out = rows_at + b * group * block + layout.offset(f, group);
        for (std::size_t g = 0; g < group; ++g) {
          const std::byte* in = scratch.data() + (g * nb + b) * block + field.at;
          if (field.bytes == 2) {
            std::copy(in, in + 2, out + 2 * g);
            continue;
          }
          for (std::size_t j = 0; j < field.bytes / 4; ++j) {
            std::copy(in + 4 * j, in + 4 * j + 4, out + 4 * group * j + 4 * g);
          }
        }
      }
    }
  }
}

void matmul(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
            std::span<float> out, ThreadPool* pool) {
  const detail::MatmulShape shape = detail::check_matmul(x, n, w, bias, out, false);
  const std::size_t k = shape.k;  // plain variables: lambdas below capture them
  const std::size_t m = shape.m;
  if (n == 0 || m == 0) return;
  if (is_quantized(w.dtype())) return matmul_quant(x, n, k, m, w, /*interleaved=*/false, bias, out, pool);
  if (n == 1) {
    const std::size_t grain = std::max<std::size_t>(16, round_up(m / (4 * threads_of(pool)), 4));
    parallel_ranges(pool, m, grain, [&](std::size_t r0, std::size_t r1) {
      simd::gemv_rows(w.dtype(), x.data(), k, w.data(), r0, r1, bias.empty() ? nullptr : bias.data(), out.data());
    });
    return;
  }
  gemm(x, n, k, m, w, false, bias, out, pool);
}

void matmul_interleaved(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                        std::span<float> out, ThreadPool* pool) {
  const detail::MatmulShape shape = detail::check_matmul(x, n, w, bias, out, false);
  EDGE_RT_CHECK(interleaved_rows(w.dtype()) != 0,
                "matmul_interleaved: weights of a format this CPU's kernels read as rows");
  if (n == 0 || shape.m == 0) return;
  matmul_quant(x, n, shape.k, shape.m, w, /*interleaved=*/true, bias, out, pool);
}

void matmul_in_out(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                   std::span<float> out, ThreadPool* pool) {
  const detail::MatmulShape shape = detail::check_matmul(x, n, w, bias, out, true);
  const std::size_t k = shape.k;  // plain variables: lambdas below capture them
  const std::size_t m = shape.m;
  if (n == 0 || m == 0) return;
  if (n == 1) {
    // Each chunk streams whole rows (contiguous memory) into its own partial output; the partials are then summed
    // in block order. Blocks have a fixed size, so results do not depend on the thread count.
    const std::size_t blocks = (k + kInOutRowBlock - 1) / kInOutRowBlock;
    std::span<float> partial = partial_buffer(blocks * m);
    const std::size_t row_bytes = m * dtype_size(w.dtype());
    parallel_ranges(pool, k, kInOutRowBlock, [&](std::size_t c0, std::size_t c1) {
      simd::gemv_in_out(w.dtype(), x.data() + c0, c1 - c0, w.data() + c0 * row_bytes, m,
                        partial.data() + c0 / kInOutRowBlock * m);
    });
    const std::size_t lanes = simd::float_lanes();
    parallel_ranges(pool, m, std::max(16 * lanes, round_up(m / (2 * threads_of(pool)), 4 * lanes)),
                    [&](std::size_t j0, std::size_t j1) {
                      simd::sum_rows(partial.data(), blocks, m, j0, j1, bias.empty() ? nullptr : bias.data(),
                                     out.data());
                    });
    return;
  }
  gemm(x, n, k, m, w, true, bias, out, pool);
}

void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                float eps, std::span<float> out) {
  reference::layer_norm(x, d, gamma, beta, eps, out);
}
void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps, std::span<float> out) {
  reference::rms_norm(x, d, w, eps, out);
}
void gelu_tanh(std::span<float> x, ThreadPool* pool) {
  parallel_ranges(pool, x.size(), std::max<std::size_t>(4096, round_up(x.size() / (4 * threads_of(pool)), 64)),
                  [&](std::size_t b, std::size_t e) { simd::gelu_tanh(x.data() + b, e - b); });
}
void geglu(std::span<float> gate, std::span<const float> up, ThreadPool* pool) {
  EDGE_RT_CHECK(gate.size() == up.size(), "geglu: size mismatch");
  parallel_ranges(pool, gate.size(), std::max<std::size_t>(4096, round_up(gate.size() / (4 * threads_of(pool)), 64)),
                  [&](std::size_t b, std::size_t e) {
                    simd::gelu_tanh(gate.data() + b, e - b);
                    for (std::size_t i = b; i < e; ++i) gate[i] *= up[i];
                  });
}
void swiglu(std::span<float> gate, std::span<const float> up, ThreadPool* pool) {
  EDGE_RT_CHECK(gate.size() == up.size(), "swiglu: size mismatch");
  parallel_ranges(pool, gate.size(), std::max<std::size_t>(4096, round_up(gate.size() / (4 * threads_of(pool)), 64)),
                  [&](std::size_t b, std::size_t e) { simd::swiglu(gate.data() + b, up.data() + b, e - b); });
}
void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float max = *std::max_element(x.begin(), x.end());
  const double sum = simd::exp_shifted(x.data(), x.size(), max);
  simd::scale(x.data(), x.size(), static_cast<float>(1.0 / sum));
}
void add(std::span<const float> x, std::span<float> out) {
  reference::add(x, out);
}
void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
          std::span<const float> inv_freq, bool interleaved) {
  reference::rope(x, n_tokens, n_heads, head_dim, pos0, inv_freq, interleaved);
}

void attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, std::span<float> scratch, std::span<float> out, ThreadPool* pool) {
  detail::check_attention(args, q, k_cache, v_cache, scratch, out);
  const std::size_t hd = args.head_dim;
  const std::size_t n_ctx = args.pos0 + args.n_tokens;
  const std::size_t group = args.n_heads / args.n_kv_heads;
  const std::size_t kv_stride = args.n_kv_heads * hd;
  // One chunk per head; the caller's scratch serves the calling thread, workers use their own row.
  auto run_head = [&](std::size_t h) {
    thread_local std::vector<float> own;
    std::span<float> row = scratch;
    if (pool && pool->size() > 1) {
      if (own.size() < n_ctx) own.resize(n_ctx);
      row = own;
    }
    const std::size_t kvh = h / group;
    for (std::size_t t = 0; t < args.n_tokens; ++t) {
      const std::size_t first = args.first_key(t);
      const std::size_t n_keys = args.pos0 + t + 1 - first;
      const float* qh = q.data() + (t * args.n_heads + h) * hd;
      float* scores = row.data();
      simd::attn_scores(qh, k_cache.data() + first * kv_stride + kvh * hd, kv_stride, n_keys, hd, args.scale, scores);
      if (args.softcap > 0.0f) {
        for (std::size_t p = 0; p < n_keys; ++p) scores[p] = args.softcap * std::tanh(scores[p] / args.softcap);
      }
      softmax(row.first(n_keys));
      simd::attn_values(scores, v_cache.data() + first * kv_stride + kvh * hd, kv_stride, n_keys, hd,
                        out.data() + (t * args.n_heads + h) * hd);
    }
  };
  if (pool && pool->size() > 1) {
    pool->parallel_for(args.n_heads, run_head);
  } else {
    for (std::size_t h = 0; h < args.n_heads; ++h) run_head(h);
  }
}

std::size_t argmax(std::span<const float> x) {
  EDGE_RT_CHECK(!x.empty(), "argmax of an empty span");
  return static_cast<std::size_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

}  // namespace edge_rt::backend::cpu
