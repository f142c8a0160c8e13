#include "host_device.hpp"

#include <edge_rt/backend/cpu/kernels.hpp>
#include <edge_rt/backend/cpu_backend.hpp>

#include <unistd.h>

#include <limits>

namespace edge_rt::backend::detail {

DeviceInfo host_device_info(std::string name, DeviceKind kind, memory_manager::MemoryBudget budget) {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page = sysconf(_SC_PAGESIZE);
  DeviceInfo info;
  info.name = std::move(name);
  info.kind = kind;
  info.memory_total_bytes =
      pages > 0 && page > 0 ? static_cast<std::uint64_t>(pages) * static_cast<std::uint64_t>(page) : 0;
  info.budget = budget;
  info.unified_memory = true;
  info.max_allocation_bytes = std::numeric_limits<std::uint64_t>::max();
  info.max_binding_bytes = std::numeric_limits<std::uint64_t>::max();
  return info;
}

HostDevice::HostDevice(DeviceInfo info, std::size_t n_threads)
    : info_(std::move(info)),
      pool_(info_.budget),
      configured_threads_(std::max<std::size_t>(1, n_threads)),
      threads_(std::make_unique<cpu::ThreadPool>(configured_threads_)) {}

Result<memory_manager::BufferGuard> HostDevice::allocate(std::uint64_t bytes, BufferUsage /*usage*/,
                                                         std::size_t alignment) {
  if (bytes > info_.max_allocation_bytes) {
    return fail(ErrorCode::kBudgetExceeded, "[" + info_.name + "] an allocation of " + std::to_string(bytes) +
                                                " bytes passes the device's largest allocation of " +
                                                std::to_string(info_.max_allocation_bytes));
  }
  auto block = pool_.allocate(static_cast<std::size_t>(bytes), alignment);
  if (!block && info_.kind != DeviceKind::kCpu) {
    return fail(block.error().code, "[" + info_.name + "] " + block.error().message);
  }
  return block;
}

std::size_t HostDevice::limit_threads(std::size_t n) {
  const std::size_t want = n == 0 ? configured_threads_ : std::min(n, configured_threads_);
  // A new pool costs a few thread starts; it happens only when a monitor changes its mind.
  if (want != threads_->size()) threads_ = std::make_unique<cpu::ThreadPool>(want);
  return threads_->size();
}

PreparedWeight HostDevice::prepare_host_weight(std::span<std::byte> bytes, tensor_core::DType dtype,
                                               const tensor_core::Shape& shape, bool input_major, WeightUse use) {
  PreparedWeight w;
  w.view = tensor_core::TensorView::contiguous(bytes.data(), dtype, shape);
  w.input_major = input_major;
  // Only matmul operands change layout: the embedding is read by rows. Done on every load, streamed groups
  // included: one pass over data already in cache. (Quantized matrices are never input-major.)
  if (use == WeightUse::kMatmul && !input_major && cpu::interleaved_rows(dtype) != 0) {
    cpu::interleave_rows(dtype, bytes.data(), static_cast<std::size_t>(shape[0]), static_cast<std::size_t>(shape[1]));
    w.layout = kCpuLayoutInterleaved;
  }
  return w;
}

void HostDevice::host_matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w,
                             std::span<const float> bias, std::span<float> out) {
  if (w.layout == kCpuLayoutInterleaved) {
    cpu::matmul_interleaved(x, n, w.view, bias, out, threads());
  } else if (w.input_major) {
    cpu::matmul_in_out(x, n, w.view, bias, out, threads());
  } else {
    cpu::matmul(x, n, w.view, bias, out, threads());
  }
}

}  // namespace edge_rt::backend::detail
