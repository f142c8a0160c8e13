#pragma once
// What the host-memory backends (cpu, npu-sim) share: a budgeted pool of host memory and a kernel ThreadPool.

#include <edge_rt/backend/backend.hpp>
#include <edge_rt/backend/cpu/thread_pool.hpp>

#include <memory>

namespace edge_rt::backend::detail {

/// A device in host memory: the machine's RAM, unified, no allocation or binding limit but the budget's.
DeviceInfo host_device_info(std::string name, DeviceKind kind, memory_manager::MemoryBudget budget);

class HostDevice : public Backend {
 public:
  HostDevice(DeviceInfo info, std::size_t n_threads);

  const DeviceInfo& info() const noexcept final { return info_; }
  Result<memory_manager::BufferGuard> allocate(std::uint64_t bytes, BufferUsage usage, std::size_t alignment) final;
  memory_manager::PoolStats pool_stats() const final { return pool_.stats(); }
  void synchronize() final {}  // kernels return when done
  std::size_t limit_threads(std::size_t n) final;

 protected:
  cpu::ThreadPool* threads() noexcept { return threads_.get(); }
  /// The host kernels' layout of a weight: matmul operands are interleaved in place eight rows at a time
  /// (kCpuLayoutInterleaved) where the CPU's kernels prefer it for their dtype; everything else keeps the file's rows.
  static PreparedWeight prepare_host_weight(std::span<std::byte> bytes, tensor_core::DType dtype,
                                            const tensor_core::Shape& shape, bool input_major, WeightUse use);
  /// matmul on a weight from prepare_host_weight, on this device's threads.
  void host_matmul(std::span<const float> x, std::size_t n, const PreparedWeight& w, std::span<const float> bias,
                   std::span<float> out);

 private:
  DeviceInfo info_;
  memory_manager::MemoryPool pool_;
  std::size_t configured_threads_;
  std::unique_ptr<cpu::ThreadPool> threads_;
};

}  // namespace edge_rt::backend::detail
