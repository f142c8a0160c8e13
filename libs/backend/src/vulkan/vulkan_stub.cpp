// The Vulkan entry points of a build without Vulkan (EDGE_RT_WITH_VULKAN=OFF): every call says so.
#include <edge_rt/backend/vulkan.hpp>

namespace edge_rt::backend {

namespace {
Error not_built() {
  return Error{ErrorCode::kUnsupported,
               "[vulkan] this build has no Vulkan backend (configure with "
               "-DEDGE_RT_WITH_VULKAN=ON; needs libvulkan-dev and glslc)"};
}
}  // namespace

bool vulkan_built() noexcept {
  return false;
}

Result<std::vector<VulkanDeviceReport>> list_vulkan_devices() {
  return not_built();
}

Result<std::unique_ptr<Backend>> make_vulkan_backend(const BackendOptions& /*options*/) {
  return not_built();
}

std::uint64_t vulkan_validation_messages() noexcept {
  return 0;
}

}  // namespace edge_rt::backend
