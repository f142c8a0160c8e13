#include "host_device.hpp"

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

}  // namespace edge_rt::backend::detail
