#include "weights.hpp"

#include <edge_rt/tensor_core/dtype.hpp>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace edge_rt::runtime::detail {

namespace {

using model_ir::WeightRef;

Result<void> read_range(const WeightRef& w, std::uint64_t offset, std::span<std::byte> out,
                        const model_ir::WeightSource& source, std::span<std::byte> bounce, IoStats& stats) {
  EDGE_RT_TRY(source.read(*w.file, *w.source, offset, out, bounce));
  stats.bytes_read += out.size();
  return boost::outcome_v2::success();
}

// A vector (norm or bias) converted to F32.
Result<void> load_vector(const WeightRef& w, std::byte* dst, const model_ir::WeightSource& io,
                         std::span<std::byte> staging, IoStats& stats) {
  const auto n = static_cast<std::size_t>(w.shape.numel());
  const std::size_t es = tensor_core::dtype_size(w.source->dtype);
  const std::size_t step = staging.size() / 2 / es;  // the other half is the O_DIRECT bounce
  for (std::size_t i = 0; i < n; i += step) {
    const std::size_t m = std::min(step, n - i);
    EDGE_RT_TRY(read_range(w, i * es, staging.first(m * es), io, staging.subspan(staging.size() / 2), stats));
    float* out = reinterpret_cast<float*>(dst) + i;
    tensor_core::to_f32(w.source->dtype, staging.data(), m, out);
    if (w.value_offset != 0.0f) {
      for (std::size_t j = 0; j < m; ++j) out[j] += w.value_offset;
    }
  }
  return boost::outcome_v2::success();
}

backend::WeightUse use_of(const WeightRef& w) {
  if (w.shape.rank() < 2) return backend::WeightUse::kVector;
  const bool table =
      w.role == model_ir::WeightRole::kTokenEmbedding || w.role == model_ir::WeightRole::kPositionEmbedding;
  return table ? backend::WeightUse::kRows : backend::WeightUse::kMatmul;
}

}  // namespace

void Staging::Free::operator()(std::byte* p) const noexcept {
  std::free(p);
}

Result<std::span<std::byte>> Staging::bytes() {
  if (!data_) {
    void* p = nullptr;
    if (posix_memalign(&p, 4096, kBytes) != 0) {
      return fail(ErrorCode::kBudgetExceeded, "[weights] no memory for the 2 MiB staging buffer");
    }
    data_.reset(static_cast<std::byte*>(p));
  }
  return std::span<std::byte>(data_.get(), kBytes);
}

Result<LoadedGroup> load_group(std::span<const model_ir::Unit> units, const partition_planner::Group& group,
                               std::uint64_t block_bytes, std::span<backend::Backend* const> backends,
                               std::span<const WeightDevices> weight_devices, const model_ir::WeightSource& io,
                               const partition_planner::BufferGeometry& geometry, Staging& staging_buffer,
                               IoStats& stats) {
  EDGE_RT_TRY(std::span<std::byte> staging, staging_buffer.bytes());
  const auto start = std::chrono::steady_clock::now();
  LoadedGroup loaded;
  EDGE_RT_TRY(loaded.block, backends[group.device]->allocate(std::max(group.weight_bytes, block_bytes),
                                                             backend::BufferUsage::kWeights));
  std::byte* cursor = loaded.block.data();
  for (std::size_t u = group.first_unit; u < group.last_unit; ++u) {
    LoadedUnit lu;
    lu.unit = &units[u];
    lu.row_begin = group.row_begin;
    for (const WeightRef& w : units[u].weights) {
      if (group.lm_head_shared && w.role == model_ir::WeightRole::kLmHead) continue;  // the embedding's copy serves
      tensor_core::Shape shape = w.shape;
      std::uint64_t bytes = w.resident_bytes;
      std::byte* data = cursor;
      const bool matrix = w.shape.rank() >= 2;
      if (!matrix) {
        EDGE_RT_TRY(load_vector(w, cursor, io, staging, stats));
      } else {
        std::uint64_t offset = 0;
        // Input-major matrices (GPT-2 Conv1D) are read as stored, no transpose; matmul_in_out consumes them.
        if (w.transpose) shape = w.source->shape;
        if (group.is_head_chunk() && w.role == model_ir::WeightRole::kLmHead) {
          const std::uint64_t row_bytes = partition_planner::weight_row_bytes(w);
          shape = tensor_core::Shape{group.row_end - group.row_begin, w.shape[1]};
          bytes = static_cast<std::uint64_t>(shape[0]) * row_bytes;
          offset = static_cast<std::uint64_t>(group.row_begin) * row_bytes;
        }
        if (partition_planner::has_direct_slot(bytes, /*matrix=*/true, geometry)) {
          // Direct-read slot: the data lands at its file offset modulo the alignment past an aligned boundary.
          const std::uint64_t slot = partition_planner::weight_slot_bytes(bytes, /*matrix=*/true, geometry);
          const std::uint64_t align = geometry.direct_alignment;
          const auto at = reinterpret_cast<std::uintptr_t>(cursor);
          std::byte* base = cursor + ((align - at % align) % align);
          const std::span window(base, static_cast<std::size_t>(cursor + slot - base));
          EDGE_RT_TRY(data, io.read_in_place(*w.file, *w.source, offset, bytes, window, staging));
          EDGE_RT_CHECK(data == base + (w.source->offset_bytes + offset) % align,
                        "direct read placed the data off its slot");
          stats.bytes_read += bytes;
        } else {
          EDGE_RT_TRY(read_range(w, offset, std::span(data, static_cast<std::size_t>(bytes)), io, staging, stats));
        }
      }
      const auto role = static_cast<std::size_t>(w.role);
      backend::Backend& reader = *backends[weight_devices[u][role]];
      lu.weights[role] = reader.prepare_weight(std::span(data, static_cast<std::size_t>(bytes)), w.dtype, shape,
                                               w.transpose, use_of(w));
      cursor += partition_planner::weight_slot_bytes(bytes, matrix, geometry);
    }
    loaded.units.push_back(lu);
  }
  EDGE_RT_CHECK(static_cast<std::uint64_t>(cursor - loaded.block.data()) == group.weight_bytes,
                "group bytes disagree with the plan");
  stats.io_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  return loaded;
}

}  // namespace edge_rt::runtime::detail
