#include <edge_rt/backend/npu_sim.hpp>

#include "../host_device.hpp"

#include <edge_rt/backend/cpu/kernels.hpp>

namespace edge_rt::backend {

namespace tc = tensor_core;

namespace {

// Only matmul runs here; the executor never sends another op (supports() says no), so reaching one is a bug.
[[noreturn]] void unsupported(const char* op) {
  ::edge_rt::detail::check_failed("npu-sim", __FILE__, __LINE__, op);
}

class NpuSim final : public detail::HostDevice {
 public:
  using HostDevice::HostDevice;

  Support supports(const OpDesc& op) const noexcept override {
    if (op.op != Op::kMatmul) return {Reason::kOp, "npu-sim runs only matmuls"};
    if (op.dtype != tc::DType::kQ8_0 && op.dtype != tc::DType::kQ4_0) {
      return {Reason::kDType, "npu-sim takes Q8_0 or Q4_0 weights only"};
    }
    if (op.input_major) return {Reason::kLayout, "npu-sim takes output-major weights only"};
    return {};
  }

  // The simulated NPU runs the CPU's kernels on the CPU's layouts, so a model split across the two gives the bits
  // of a CPU-only run (with VNNI, rows and their x8 layout are summed in different orders).
  PreparedWeight prepare_weight(std::span<std::byte> bytes, tc::DType dtype, const tc::Shape& shape, bool input_major,
                                WeightUse use) override {
    return prepare_host_weight(bytes, dtype, shape, input_major, use);
  }

  void matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w, std::span<const float> bias,
              std::span<float> out) override {
    EDGE_RT_CHECK(supports({Op::kMatmul, w.view.dtype(), 0, 0, w.input_major}).ok(), "npu-sim: unsupported matmul");
    host_matmul(x, n, w, bias, out);
  }
  void layer_norm(std::span<const float>, std::size_t, std::span<const float>, std::span<const float>, float,
                  std::span<float>) override {
    unsupported("layer_norm");
  }
  void rms_norm(std::span<const float>, std::size_t, std::span<const float>, float, std::span<float>) override {
    unsupported("rms_norm");
  }
  void rope(std::span<float>, std::size_t, std::size_t, std::size_t, std::size_t, std::span<const float>,
            bool) override {
    unsupported("rope");
  }
  void attention(const tc::AttentionArgs&, std::span<const float>, std::span<const float>, std::span<const float>,
                 std::span<float>, std::span<float>) override {
    unsupported("attention");
  }
  void gelu_tanh(std::span<float>) override { unsupported("gelu_tanh"); }
  void swiglu(std::span<float>, std::span<const float>) override { unsupported("swiglu"); }
  void geglu(std::span<float>, std::span<const float>) override { unsupported("geglu"); }
  void add(std::span<const float>, std::span<float>) override { unsupported("add"); }
  void embedding_rows(const PreparedWeight&, std::span<const std::int64_t>, std::span<float>, bool) override {
    unsupported("embedding_rows");
  }
  void copy(std::span<const float>, std::span<float>) override { unsupported("copy"); }
};

}  // namespace

Result<std::unique_ptr<Backend>> make_npu_sim_backend(const BackendOptions& options) {
  if (options.n_threads == 0 || options.index != 0) {
    return fail(ErrorCode::kInvalidArgument,
                "[npu-sim] device index " + std::to_string(options.index) + ": there is one npu-sim device (index 0)");
  }
  return std::unique_ptr<Backend>(std::make_unique<NpuSim>(
      detail::host_device_info("npu-sim", DeviceKind::kNpu, options.budget), options.n_threads));
}

}  // namespace edge_rt::backend
