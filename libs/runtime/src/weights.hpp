#pragma once
// Loading a plan group's weights from the checkpoint mapping into one pool block.

#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <array>
#include <vector>

namespace edge_rt::runtime::detail {

inline constexpr std::size_t kRoleCount = static_cast<std::size_t>(model_ir::WeightRole::kLmHead) + 1;

/// Views of one unit's weights inside a LoadedGroup block, indexed by WeightRole (empty view when absent).
struct LoadedUnit {
  const model_ir::Unit* unit = nullptr;
  std::array<tensor_core::TensorView, kRoleCount> views{};

  const tensor_core::TensorView& matrix(model_ir::WeightRole role) const noexcept {
    return views[static_cast<std::size_t>(role)];
  }
  /// F32 vector (norm or bias); empty span when the unit has none.
  std::span<const float> vector(model_ir::WeightRole role) const noexcept {
    const tensor_core::TensorView& v = views[static_cast<std::size_t>(role)];
    if (!v.data()) return {};
    return {v.f32(), static_cast<std::size_t>(v.shape().numel())};
  }
};

/// Move-only: owns the pool block (returned on destruction).
struct LoadedGroup {
  memory_manager::BufferGuard block;
  std::vector<LoadedUnit> units;
};

/// Copies (transposing Conv1D matrices, converting vectors to F32) the weights of `group` into one pool block.
/// Errors: kBudgetExceeded from the pool.
Result<LoadedGroup> load_group(std::span<const model_ir::Unit> units, const partition_planner::Group& group,
                               memory_manager::MemoryPool& pool);

}  // namespace edge_rt::runtime::detail
