#pragma once
// Loading a plan group's weights from storage into one pool block through the run's WeightSource, converting
// vectors to F32 on the way. With a direct-I/O source (cold cache), large matrices are read straight into their
// direct-read slots (partition_planner::weight_slot_bytes); the rest go through the staging buffer.

#include <edge_rt/backend/backend.hpp>
#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/model_ir/weight_source.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <array>
#include <memory>
#include <vector>

namespace edge_rt::runtime::detail {

inline constexpr std::size_t kRoleCount = static_cast<std::size_t>(model_ir::WeightRole::kLmHead) + 1;

/// Which backend reads each of a unit's weights (the device of the op that reads it; it prepares the weight).
using WeightDevices = std::array<partition_planner::DeviceIndex, kRoleCount>;

/// One unit's weights inside a LoadedGroup block, prepared by their backends, indexed by WeightRole (empty view
/// when absent). For a head chunk, the LM head holds rows [row_begin, row_end) only.
struct LoadedUnit {
  const model_ir::Unit* unit = nullptr;
  std::int64_t row_begin = 0;
  std::array<backend::PreparedWeight, kRoleCount> weights{};

  const backend::PreparedWeight& matrix(model_ir::WeightRole role) const noexcept {
    return weights[static_cast<std::size_t>(role)];
  }
  /// F32 vector (norm or bias); empty span when the unit has none.
  std::span<const float> vector(model_ir::WeightRole role) const noexcept {
    const tensor_core::TensorView& v = weights[static_cast<std::size_t>(role)].view;
    if (!v.data()) return {};
    return {v.f32(), static_cast<std::size_t>(v.shape().numel())};
  }
};

/// Move-only: owns the pool block (returned on destruction).
struct LoadedGroup {
  memory_manager::BufferGuard block;
  std::vector<LoadedUnit> units;
};

/// Move-only: a 4096-aligned scratch buffer for one loading thread (conversions, O_DIRECT bounce). Lives outside
/// the pool: part of the process's fixed overhead.
class Staging final {
 public:
  static constexpr std::size_t kBytes = 2u << 20;
  /// Empty until first use; bytes() allocates. Errors: kBudgetExceeded when the system has no memory for it.
  Result<std::span<std::byte>> bytes();

 private:
  struct Free {
    void operator()(std::byte* p) const noexcept;
  };
  std::unique_ptr<std::byte, Free> data_;
};

/// What loading cost. Copyable value.
struct IoStats {
  std::uint64_t bytes_read = 0;
  double io_ms = 0;  ///< Wall time spent reading and converting.
};

/// Reads the weights of `group` into one block of max(group.weight_bytes, block_bytes) bytes from the pool of
/// backends[group.device], and has each matrix prepared by the backend that reads it (weight_devices, per unit).
/// Bytes come through `io` and sit in the block as `geometry` (the plan's) lays them out. `staging` is a scratch
/// buffer for conversions and direct-read bounces. Errors: kBudgetExceeded from the pool, kIoError from storage.
Result<LoadedGroup> load_group(std::span<const model_ir::Unit> units, const partition_planner::Group& group,
                               std::uint64_t block_bytes, std::span<backend::Backend* const> backends,
                               std::span<const WeightDevices> weight_devices, const model_ir::WeightSource& io,
                               const partition_planner::BufferGeometry& geometry, Staging& staging, IoStats& stats);

}  // namespace edge_rt::runtime::detail
