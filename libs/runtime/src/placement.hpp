#pragma once
// Placement: starts the backends the options ask for, decides which device runs each unit and each op of its
// program (applying the fallback policy), and reports the result as a Coverage.

#include "weights.hpp"

#include <edge_rt/backend/backend.hpp>
#include <edge_rt/backend/cpu_backend.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <memory>
#include <vector>

namespace edge_rt::runtime::detail {

/// Where one unit runs. Copyable value.
struct UnitPlacement {
  /// Device per step of the unit's program: the recipe's attention or feed-forward program; for the head,
  /// [0] its norm and [1] its LM head matmul; for the embedding, [0] its row gather (always the CPU).
  std::vector<partition_planner::DeviceIndex> step_device;
  WeightDevices weight_device{};  ///< Who reads (and prepares) each weight.
};

/// Move-only: owns the backends.
struct DevicePlacement {
  std::vector<std::unique_ptr<backend::Backend>> backends;  ///< [0] the CPU; the plan's DeviceIndex.
  partition_planner::PlanRequest request;
  std::vector<UnitPlacement> units;  ///< Per unit.
  Coverage coverage;                 ///< Fallbacks and the requested device; complete after finish_coverage.
};

/// Starts the CPU backend (the host `budget`, n_threads) and the requested device, and places every unit and op.
/// Errors: kInvalidArgument (unknown device, a budget for an unknown device, bad gpu_layers); with
/// FallbackPolicy::kFail, kUnsupported listing every unit and op that cannot run on the device and why (including
/// device memory short and a device that fails to start).
/// `geometry` sizes units for the device-memory check (the planner uses the same); a unit stays on the device
/// when `min_slots` loads of it fit the device budget (the planner then keeps it resident or streams it).
Result<DevicePlacement> place(const model_ir::ModelGraph<model_ir::Validated>& graph, const DeviceOptions& options,
                              memory_manager::MemoryBudget budget, std::size_t n_threads,
                              const partition_planner::BufferGeometry& geometry, std::size_t min_slots);

/// Fills the per-device counts, splits and bytes crossing devices from the plan.
void finish_coverage(DevicePlacement& placement, const model_ir::ModelGraph<model_ir::Validated>& graph,
                     const partition_planner::ExecutionPlan& plan);

}  // namespace edge_rt::runtime::detail
