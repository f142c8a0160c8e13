#pragma once
// The SPIR-V modules compiled from libs/backend/vulkan/shaders at build time (generated shaders.cpp).

#include <cstdint>
#include <span>
#include <string_view>

namespace edge_rt::backend::vulkan::detail {

struct Shader {
  std::string_view name;  ///< "matmul_q4_0_sg": source, weight type, sg (subgroup) or sh (shared-memory) variant
  std::span<const std::uint32_t> code;
};

std::span<const Shader> shaders() noexcept;

}  // namespace edge_rt::backend::vulkan::detail
