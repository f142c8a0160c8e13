#include <edge_rt/backend/backend.hpp>
#include <edge_rt/backend/cpu_backend.hpp>
#include <edge_rt/backend/npu_sim.hpp>
#include <edge_rt/backend/vulkan.hpp>

namespace edge_rt::backend {

std::string_view kind_name(DeviceKind kind) noexcept {
  switch (kind) {
    case DeviceKind::kCpu: return "cpu";
    case DeviceKind::kGpu: return "gpu";
    case DeviceKind::kNpu: return "npu";
  }
  return "?";
}

std::string_view op_name(Op op) noexcept {
  switch (op) {
    case Op::kMatmul: return "matmul";
    case Op::kLayerNorm: return "layer_norm";
    case Op::kRmsNorm: return "rms_norm";
    case Op::kRope: return "rope";
    case Op::kAttention: return "attention";
    case Op::kGeluTanh: return "gelu_tanh";
    case Op::kSwiglu: return "swiglu";
    case Op::kGeglu: return "geglu";
    case Op::kAdd: return "add";
    case Op::kEmbeddingRows: return "embedding_rows";
    case Op::kCopy: return "copy";
  }
  return "?";
}

std::string_view reason_name(Reason reason) noexcept {
  switch (reason) {
    case Reason::kSupported: return "supported";
    case Reason::kOp: return "op";
    case Reason::kDType: return "dtype";
    case Reason::kShape: return "shape";
    case Reason::kLayout: return "layout";
    case Reason::kMemory: return "memory";
    case Reason::kInit: return "init";
  }
  return "?";
}

Result<void> Registry::add(Entry entry) {
  if (entry.name.empty() || !entry.factory || find(entry.name)) {
    return fail(ErrorCode::kInvalidArgument,
                "[backend] cannot register '" + entry.name + "': empty, without a factory, or already registered");
  }
  entries_.push_back(std::move(entry));
  return boost::outcome_v2::success();
}

const Registry::Entry* Registry::find(std::string_view name) const noexcept {
  for (const Entry& e : entries_) {
    if (e.name == name) return &e;
  }
  return nullptr;
}

Result<void> register_builtin_backends(Registry& registry) {
  EDGE_RT_TRY(registry.add({"cpu", DeviceKind::kCpu, make_cpu_backend, /*automatic=*/false}));
  EDGE_RT_TRY(registry.add({"npu-sim", DeviceKind::kNpu, make_npu_sim_backend, /*automatic=*/false}));
  EDGE_RT_TRY(registry.add({"vulkan", DeviceKind::kGpu, make_vulkan_backend, /*automatic=*/true}));
  return boost::outcome_v2::success();
}

}  // namespace edge_rt::backend
