// Plain reference kernels: the specification. Clear loops, float accumulation, no SIMD.
#include <edge_rt/backend/cpu/kernels.hpp>

#include "checks.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

namespace edge_rt::backend::cpu::reference {

using namespace ::edge_rt::tensor_core;  // dtypes and views

namespace {
template <class Convert>
void matmul_rows(std::span<const float> x, std::size_t n, std::size_t k, std::size_t m, const std::byte* w,
                 std::size_t elem_bytes, std::span<const float> bias, std::span<float> out, Convert convert) {
  for (std::size_t j = 0; j < m; ++j) {
    const std::byte* row = w + j * k * elem_bytes;
    const float b = bias.empty() ? 0.0f : bias[j];
    for (std::size_t i = 0; i < n; ++i) {
      const float* xi = x.data() + i * k;
      float acc = 0.0f;
      for (std::size_t c = 0; c < k; ++c) acc += xi[c] * convert(row + c * elem_bytes);
      out[i * m + j] = acc + b;
    }
  }
}
// The integer path: x rows quantized to 8 bits per block, integer dot per block, scaled sum over blocks.
void matmul_quantized(std::span<const float> x, std::size_t n, std::size_t k, std::size_t m, const TensorView& w,
                      std::span<const float> bias, std::span<float> out) {
  const std::size_t nb = k / kQuantBlock;
  std::vector<float> xd(n * nb);
  std::vector<float> xd_raw(n * nb);  // before F16 rounding: ggml's Q8_1 sum term F16(d * sum q) uses it
  std::vector<std::int8_t> xq(n * k);
  for (std::size_t i = 0; i < n * nb; ++i) {
    const float* xb = x.data() + i * kQuantBlock;
    float amax = 0.0f;
    bool finite = true;  // a block holding NaN or infinity gets a NaN scale and zeros, so its products are NaN
    for (std::size_t j = 0; j < kQuantBlock; ++j) {
      amax = std::max(amax, std::fabs(xb[j]));
      finite = finite && std::isfinite(xb[j]);
    }
    const float d = finite ? amax / 127.0f : std::numeric_limits<float>::quiet_NaN();
    const float id = amax != 0.0f && finite ? 127.0f / amax : 0.0f;
    xd[i] = f16_to_f32(f32_to_f16(d));  // stored as F16, as in ggml's block_q8_0
    xd_raw[i] = d;
    for (std::size_t j = 0; j < kQuantBlock; ++j)
      xq[i * kQuantBlock + j] = static_cast<std::int8_t>(std::nearbyint(xb[j] * id));  // ties to even
  }
  // Each 32-weight sub-block in integer form (decode_sub_block): w = scale[j / 16] * q + offset, so its dot with an
  // activation block is scale * d_x * (integer dot) + offset * d_x * sum q_x. Q6_K has a scale per 16 weights.
  // Q4_1 and Q5_1 meet Q8_1 activations in ggml, whose sum term is F16(d * sum q); elsewhere it is exact.
  const bool split = w.dtype() == DType::kQ6_K;
  const bool q8_1_sum = w.dtype() == DType::kQ4_1 || w.dtype() == DType::kQ5_1;
  const std::size_t be = block_elems(w.dtype());
  const std::size_t block_bytes = quant_block_bytes(w.dtype());
  SubBlock sb;
  for (std::size_t r = 0; r < m; ++r) {
    const std::byte* row = w.data() + r * (k / be) * block_bytes;
    for (std::size_t i = 0; i < n; ++i) {
      float acc = 0.0f;
      for (std::size_t b = 0; b < nb; ++b) {
        decode_sub_block(w.dtype(), row + b / (be / kQuantBlock) * block_bytes, b % (be / kQuantBlock), sb);
        const std::int8_t* q = xq.data() + (i * nb + b) * kQuantBlock;
        std::int32_t isum[2] = {0, 0};
        std::int32_t xsum = 0;
        for (std::size_t j = 0; j < kQuantBlock; ++j) {
          isum[j / 16] += sb.q[j] * q[j];
          xsum += q[j];
        }
        const float d = xd[i * nb + b];
        if (split) {
          acc += static_cast<float>(isum[0]) * (sb.scale[0] * d) + static_cast<float>(isum[1]) * (sb.scale[1] * d);
        } else {
          acc += static_cast<float>(isum[0] + isum[1]) * (sb.scale[0] * d);
        }
        const float sum_term = q8_1_sum ? f16_to_f32(f32_to_f16(xd_raw[i * nb + b] * static_cast<float>(xsum)))
                                        : d * static_cast<float>(xsum);
        if (sb.offset != 0.0f) acc += sb.offset * sum_term;
      }
      out[i * m + r] = acc + (bias.empty() ? 0.0f : bias[r]);
    }
  }
}

}  // namespace

void matmul(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
            std::span<float> out) {
  const detail::MatmulShape shape = detail::check_matmul(x, n, w, bias, out, false);
  const std::size_t k = shape.k;
  const std::size_t m = shape.m;
  switch (w.dtype()) {
    case DType::kF32:
      matmul_rows(x, n, k, m, w.data(), 4, bias, out, [](const std::byte* p) {
        float v;
        std::memcpy(&v, p, 4);
        return v;
      });
      return;
    case DType::kF16:
      matmul_rows(x, n, k, m, w.data(), 2, bias, out, [](const std::byte* p) {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        return f16_to_f32(h);
      });
      return;
    case DType::kBF16:
      matmul_rows(x, n, k, m, w.data(), 2, bias, out, [](const std::byte* p) {
        std::uint16_t h;
        std::memcpy(&h, p, 2);
        return bf16_to_f32(h);
      });
      return;
    default: matmul_quantized(x, n, k, m, w, bias, out); return;
  }
}

void matmul_in_out(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                   std::span<float> out) {
  const detail::MatmulShape shape = detail::check_matmul(x, n, w, bias, out, true);
  const std::size_t k = shape.k;
  const std::size_t m = shape.m;
  for (std::size_t i = 0; i < n; ++i) {
    for (std::size_t j = 0; j < m; ++j) out[i * m + j] = bias.empty() ? 0.0f : bias[j];
  }
  // One input row of w at a time, converted once and applied to every x row: w is read once per call.
  std::vector<float> row(m);
  for (std::size_t c = 0; c < k; ++c) {
    to_f32(w.dtype(), w.data() + c * m * dtype_size(w.dtype()), m, row.data());
    for (std::size_t i = 0; i < n; ++i) {
      const float xv = x[i * k + c];
      float* oi = out.data() + i * m;
      for (std::size_t j = 0; j < m; ++j) oi[j] += xv * row[j];
    }
  }
}

void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                float eps, std::span<float> out) {
  EDGE_RT_CHECK(d > 0 && x.size() % d == 0 && out.size() >= x.size(), "layer_norm: bad sizes");
  EDGE_RT_CHECK(gamma.size() == d && beta.size() == d, "layer_norm: gamma/beta size != d");
  for (std::size_t r = 0; r < x.size() / d; ++r) {
    const float* xr = x.data() + r * d;
    float* yr = out.data() + r * d;
    double mean = 0.0;
    for (std::size_t c = 0; c < d; ++c) mean += xr[c];
    mean /= static_cast<double>(d);
    double var = 0.0;
    for (std::size_t c = 0; c < d; ++c) var += (xr[c] - mean) * (xr[c] - mean);
    var /= static_cast<double>(d);
    const auto inv = static_cast<float>(1.0 / std::sqrt(var + eps));
    const auto meanf = static_cast<float>(mean);
    for (std::size_t c = 0; c < d; ++c) yr[c] = (xr[c] - meanf) * inv * gamma[c] + beta[c];
  }
}

void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps, std::span<float> out) {
  EDGE_RT_CHECK(d > 0 && x.size() % d == 0 && out.size() >= x.size(), "rms_norm: bad sizes");
  EDGE_RT_CHECK(w.size() == d, "rms_norm: weight size != d");
  for (std::size_t r = 0; r < x.size() / d; ++r) {
    const float* xr = x.data() + r * d;
    float* yr = out.data() + r * d;
    double ss = 0.0;
    for (std::size_t c = 0; c < d; ++c) ss += static_cast<double>(xr[c] * xr[c]);
    const auto mean = static_cast<float>(ss / static_cast<double>(d));
    const float inv = 1.0f / std::sqrt(mean + eps);
    for (std::size_t c = 0; c < d; ++c) yr[c] = xr[c] * inv * w[c];
  }
}

void gelu_tanh(std::span<float> x) {
  constexpr float kSqrt2OverPi = 0.7978845608028654f;
  for (float& v : x) v = 0.5f * v * (1.0f + std::tanh(kSqrt2OverPi * (v + 0.044715f * v * v * v)));
}

void geglu(std::span<float> gate, std::span<const float> up) {
  EDGE_RT_CHECK(gate.size() == up.size(), "geglu: size mismatch");
  gelu_tanh(gate);
  for (std::size_t i = 0; i < gate.size(); ++i) gate[i] *= up[i];
}
void swiglu(std::span<float> gate, std::span<const float> up) {
  EDGE_RT_CHECK(gate.size() == up.size(), "swiglu: size mismatch");
  for (std::size_t i = 0; i < gate.size(); ++i) gate[i] = gate[i] / (1.0f + std::exp(-gate[i])) * up[i];
}

void softmax(std::span<float> x) {
  if (x.empty()) return;
  const float max = *std::max_element(x.begin(), x.end());
  float sum = 0.0f;
  for (float& v : x) {
    v = std::exp(v - max);
    sum += v;
  }
  for (float& v : x) v /= sum;
}

void add(std::span<const float> x, std::span<float> out) {
  EDGE_RT_CHECK(x.size() == out.size(), "add: size mismatch");
  for (std::size_t i = 0; i < x.size(); ++i) out[i] += x[i];
}

namespace {

// The ratio of a geometric table (plain RoPE, or one scaled by a constant: each entry the previous times the same
// ratio, within float rounding), or 0 for a table that is not (Llama 3's, per-pair factors).
float geometric_ratio(std::span<const float> inv_freq) {
  if (inv_freq.size() < 2 || inv_freq[0] <= 0.0f) return 0.0f;
  const double ratio = static_cast<double>(inv_freq[1]) / inv_freq[0];
  double want = inv_freq[0];
  for (float f : inv_freq) {
    if (std::fabs(f - want) > 1e-5 * want) return 0.0f;
    want *= ratio;
  }
  return static_cast<float>(ratio);
}

}  // namespace

void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
          std::span<const float> inv_freq, bool interleaved) {
  EDGE_RT_CHECK(head_dim % 2 == 0 && x.size() >= n_tokens * n_heads * head_dim, "rope: bad sizes");
  EDGE_RT_CHECK(inv_freq.size() == head_dim / 2, "rope: inv_freq size != head_dim / 2");
  const std::size_t half = head_dim / 2;
  const float ratio = geometric_ratio(inv_freq);
  for (std::size_t t = 0; t < n_tokens; ++t) {
    const auto pos = static_cast<float>(pos0 + t);
    float angle = pos * inv_freq[0];
    for (std::size_t i = 0; i < half; ++i) {
      // A geometric table's angles advance pair to pair by one float multiplication, as llama.cpp's rope cache
      // does (so a GGUF model's q and k keep its bits; one rounding per pair, about i / 2 ulp at pair i).
      if (i > 0) angle = ratio != 0.0f ? angle * ratio : pos * inv_freq[i];
      const float c = std::cos(angle);
      const float s = std::sin(angle);
      for (std::size_t h = 0; h < n_heads; ++h) {
        float* v = x.data() + (t * n_heads + h) * head_dim;
        const std::size_t first = interleaved ? 2 * i : i;
        const std::size_t second = interleaved ? 2 * i + 1 : i + half;
        const float a = v[first];
        const float b = v[second];
        // One rounding for a * c (and a * s) inside a fused multiply-add, as ggml's compiled rotation has it.
        v[first] = std::fma(a, c, -(b * s));
        v[second] = std::fma(a, s, b * c);
      }
    }
  }
}

void attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, std::span<float> scratch, std::span<float> out) {
  detail::check_attention(args, q, k_cache, v_cache, scratch, out);
  const std::size_t hd = args.head_dim;
  const std::size_t group = args.n_heads / args.n_kv_heads;
  const std::size_t kv_stride = args.n_kv_heads * hd;
  for (std::size_t t = 0; t < args.n_tokens; ++t) {
    const std::size_t first = args.first_key(t);
    const std::size_t n_keys = args.pos0 + t + 1 - first;
    for (std::size_t h = 0; h < args.n_heads; ++h) {
      const float* qh = q.data() + (t * args.n_heads + h) * hd;
      const std::size_t kvh = h / group;
      std::span<float> scores = scratch.first(n_keys);
      for (std::size_t p = 0; p < n_keys; ++p) {
        const float* kp = k_cache.data() + (first + p) * kv_stride + kvh * hd;
        float dot = 0.0f;
        for (std::size_t c = 0; c < hd; ++c) dot += qh[c] * kp[c];
        scores[p] = dot * args.scale;
        if (args.softcap > 0.0f) scores[p] = args.softcap * std::tanh(scores[p] / args.softcap);
      }
      softmax(scores);
      float* oh = out.data() + (t * args.n_heads + h) * hd;
      std::fill(oh, oh + hd, 0.0f);
      for (std::size_t p = 0; p < n_keys; ++p) {
        const float* vp = v_cache.data() + (first + p) * kv_stride + kvh * hd;
        for (std::size_t c = 0; c < hd; ++c) oh[c] += scores[p] * vp[c];
      }
    }
  }
}

}  // namespace edge_rt::backend::cpu::reference
