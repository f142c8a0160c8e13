#pragma once
// The Vulkan compute backend ("vulkan"): GPUs on phones (Adreno, Mali), Raspberry Pi 5 (v3dv), Jetson and
// desktops, and Mesa's lavapipe on the CPU, where CI tests it. GLSL compute shaders are compiled into SPIR-V at
// build time (libs/backend/vulkan/shaders) and embedded; pipelines are created on first use and kept for the
// backend's life (one backend per model).
//
// Memory model: unified. Every buffer is host-visible, host-coherent device memory (device-local as well where a
// memory type is both, as on integrated GPUs, Jetson and lavapipe), mapped for the backend's life, so that the
// loader reads weights straight into it: on these devices that read is the upload. Activations and the KV cache
// stay in the host's buffers; an op stages the ones it reads into a host-visible ring and copies what it writes
// back when the work completes. Ops are recorded into one command buffer and submitted when a later op needs a
// result the device has not produced yet, when the ring or descriptor pool is full, and at synchronize().
//
// Weights are read in their file layouts through 16-bit storage (F16, BF16 by a 16-bit shift, Q8_0 and Q4_0 with
// F16 scales); a device without storageBuffer16BitAccess runs F32 only. Reductions use subgroup arithmetic when
// the device has it for compute shaders, shared memory when not. A weight larger than maxStorageBufferRange is
// bound in row ranges.
//
// EDGE_RT_VULKAN_SUBGROUPS=0 makes the reductions take the shared-memory path even where subgroups exist (tests).
// Set EDGE_RT_VULKAN_VALIDATION=1 to run with the Khronos validation layer: its warnings and errors go to stderr
// and are counted (vulkan_validation_messages()); a missing layer is then an init error.

#include <edge_rt/backend/backend.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace edge_rt::backend {

/// Whether this build has the Vulkan backend (CMake option EDGE_RT_WITH_VULKAN).
bool vulkan_built() noexcept;

/// One Vulkan physical device, for `edge-rt status`. Copyable value.
struct VulkanDeviceReport {
  struct Heap {
    std::uint64_t bytes = 0;
    bool device_local = false;
    std::uint64_t budget_bytes = 0;  ///< VK_EXT_memory_budget's heapBudget; 0 when the device lacks it.
  };
  std::size_t index = 0;  ///< What --device vulkan:INDEX names.
  std::string name;
  std::string type;         ///< "integrated-gpu", "discrete-gpu", "virtual-gpu", "cpu" or "other".
  std::string api_version;  ///< "1.3.230"
  std::vector<Heap> heaps;
  bool storage_16bit = false;  ///< storageBuffer16BitAccess: F16/BF16/Q8_0/Q4_0 weights run here.
  bool storage_8bit = false;   ///< storageBuffer8BitAccess
  bool shader_float16 = false;
  bool shader_int8 = false;
  bool subgroup_arithmetic = false;  ///< In compute shaders.
  std::uint32_t subgroup_size = 0;
  bool cooperative_matrix = false;             ///< VK_KHR_cooperative_matrix (not used yet).
  bool memory_budget = false;                  ///< VK_EXT_memory_budget
  std::uint64_t max_storage_buffer_range = 0;  ///< Bytes one binding may span.
  std::uint64_t max_allocation_bytes = 0;      ///< maxMemoryAllocationSize
  bool usable = false;  ///< Has what the backend needs (Vulkan 1.1, a compute queue, host-visible coherent memory).
  std::string why_not;  ///< When not usable.
};

/// The Vulkan devices the loader finds, in the loader's order.
/// Errors: kUnsupported when the build has no Vulkan, when no driver (ICD) is installed (vkCreateInstance fails
/// with VK_ERROR_INCOMPATIBLE_DRIVER, or the loader lists no device), or when the loader is older than 1.1.
Result<std::vector<VulkanDeviceReport>> list_vulkan_devices();

/// Name "vulkan", kind kGpu (DeviceInfo::software for a device of type CPU, such as lavapipe, which
/// `--device auto` passes over), unified memory. options.index picks the physical device. The device budget is
/// options.budget when limited, else 80% of the largest device-local heap (of its VK_EXT_memory_budget
/// heapBudget where present). Ops record into one command buffer; synchronize() submits and waits. Errors:
/// kUnsupported naming the reason (no Vulkan in this build, no driver, no such index, no compute queue, no
/// host-visible coherent memory, the validation layer asked for but missing, a Vulkan call failing).
Result<std::unique_ptr<Backend>> make_vulkan_backend(const BackendOptions& options);

/// Warnings and errors the validation layer reported since the process started (EDGE_RT_VULKAN_VALIDATION=1).
std::uint64_t vulkan_validation_messages() noexcept;

}  // namespace edge_rt::backend
