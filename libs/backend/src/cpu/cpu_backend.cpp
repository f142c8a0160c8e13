#include <edge_rt/backend/cpu_backend.hpp>

#include "../host_device.hpp"

#include <edge_rt/backend/cpu/kernels.hpp>

#include <cstring>

namespace edge_rt::backend {

namespace tc = tensor_core;

namespace {

class CpuBackend final : public detail::HostDevice {
 public:
  using HostDevice::HostDevice;

  // Every op, dtype and layout the kernels take; the graph has already checked shapes (k % 32 for quantized).
  Support supports(const OpDesc& /*op*/) const noexcept override { return {}; }

  PreparedWeight prepare_weight(std::span<std::byte> bytes, tc::DType dtype, const tc::Shape& shape, bool input_major,
                                WeightUse use) override {
    return prepare_host_weight(bytes, dtype, shape, input_major, use);
  }

  void matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w, std::span<const float> bias,
              std::span<float> out) override {
    host_matmul(x, n, w, bias, out);
  }
  void layer_norm(std::span<const float> x, std::size_t d, std::span<const float> gamma, std::span<const float> beta,
                  float eps, std::span<float> out) override {
    cpu::layer_norm(x, d, gamma, beta, eps, out);
  }
  void rms_norm(std::span<const float> x, std::size_t d, std::span<const float> w, float eps,
                std::span<float> out) override {
    cpu::rms_norm(x, d, w, eps, out);
  }
  void rope(std::span<float> x, std::size_t n_tokens, std::size_t n_heads, std::size_t head_dim, std::size_t pos0,
            std::span<const float> inv_freq, bool interleaved) override {
    cpu::rope(x, n_tokens, n_heads, head_dim, pos0, inv_freq, interleaved);
  }
  void attention(const tc::AttentionArgs& args, std::span<const float> q, std::span<const float> k_cache,
                 std::span<const float> v_cache, std::span<float> scratch, std::span<float> out) override {
    cpu::attention(args, q, k_cache, v_cache, scratch, out, threads());
  }
  void gelu_tanh(std::span<float> x) override { cpu::gelu_tanh(x, threads()); }
  void swiglu(std::span<float> gate, std::span<const float> up) override { cpu::swiglu(gate, up, threads()); }
  void geglu(std::span<float> gate, std::span<const float> up) override { cpu::geglu(gate, up, threads()); }
  void add(std::span<const float> x, std::span<float> out) override { cpu::add(x, out); }
  void embedding_rows(const PreparedWeight& table, std::span<const std::int64_t> rows, std::span<float> out,
                      bool accumulate) override {
    const auto d = static_cast<std::size_t>(table.view.shape()[1]);
    EDGE_RT_CHECK(table.layout == kCpuLayoutRows && out.size() >= rows.size() * d, "embedding_rows: bad arguments");
    thread_local std::vector<float> row;  // accumulate: convert, then add, as the executor always did
    for (std::size_t i = 0; i < rows.size(); ++i) {
      const tc::TensorView r = table.view.row(rows[i]);
      float* dst = out.data() + i * d;
      if (!accumulate) {
        tc::to_f32(r.dtype(), r.data(), d, dst);
        continue;
      }
      row.resize(d);
      tc::to_f32(r.dtype(), r.data(), d, row.data());
      cpu::add(row, std::span<float>(dst, d));
    }
  }
  void copy(std::span<const float> from, std::span<float> to) override {
    EDGE_RT_CHECK(to.size() >= from.size(), "copy: destination too small");
    std::memcpy(to.data(), from.data(), from.size_bytes());
  }
};

}  // namespace

Result<std::unique_ptr<Backend>> make_cpu_backend(const BackendOptions& options) {
  if (options.n_threads == 0 || options.index != 0) {
    return fail(ErrorCode::kInvalidArgument, "[cpu] expected device index 0 and at least one thread");
  }
  return std::unique_ptr<Backend>(std::make_unique<CpuBackend>(
      detail::host_device_info("cpu", DeviceKind::kCpu, options.budget), options.n_threads));
}

}  // namespace edge_rt::backend
