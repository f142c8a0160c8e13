// Public kernel entry points. They forward to the reference kernels until SIMD variants land (issue: fast CPU
// inference); callers never change.
#include <edge_rt/tensor_core/kernels.hpp>

#include <algorithm>

namespace edge_rt::tensor_core {

void matmul(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
            std::span<float> out) {
  reference::matmul(x, n, w, bias, out);
}
void matmul_in_out(std::span<const float> x, std::size_t n, const TensorView& w, std::span<const float> bias,
                   std::span<float> out) {
  reference::matmul_in_out(x, n, w, bias, out);
}
void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                float eps, std::span<float> out) {
  reference::layer_norm(x, d, gamma, beta, eps, out);
}
void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps, std::span<float> out) {
  reference::rms_norm(x, d, w, eps, out);
}
void gelu_tanh(std::span<float> x) {
  reference::gelu_tanh(x);
}
void swiglu(std::span<float> gate, std::span<const float> up) {
  reference::swiglu(gate, up);
}
void softmax(std::span<float> x) {
  reference::softmax(x);
}
void add(std::span<const float> x, std::span<float> out) {
  reference::add(x, out);
}
void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
          float theta) {
  reference::rope(x, n_tokens, n_heads, head_dim, pos0, theta);
}
void attention(const AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
               std::span<const float> v_cache, std::span<float> scratch, std::span<float> out) {
  reference::attention(args, q, k_cache, v_cache, scratch, out);
}

std::size_t argmax(std::span<const float> x) {
  EDGE_RT_CHECK(!x.empty(), "argmax of an empty span");
  return static_cast<std::size_t>(std::max_element(x.begin(), x.end()) - x.begin());
}

}  // namespace edge_rt::tensor_core
