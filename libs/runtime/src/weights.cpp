#include "weights.hpp"

#include <cstring>

namespace edge_rt::runtime::detail {

namespace {

// dst [cols, rows] <- src [rows, cols], element size es; blocked so both sides stay in cache.
void transpose(const std::byte* src, std::size_t rows, std::size_t cols, std::size_t es, std::byte* dst) {
  constexpr std::size_t kBlock = 32;
  for (std::size_t r0 = 0; r0 < rows; r0 += kBlock) {
    for (std::size_t c0 = 0; c0 < cols; c0 += kBlock) {
      const std::size_t r1 = std::min(rows, r0 + kBlock);
      const std::size_t c1 = std::min(cols, c0 + kBlock);
      for (std::size_t r = r0; r < r1; ++r) {
        for (std::size_t c = c0; c < c1; ++c) std::memcpy(dst + (c * rows + r) * es, src + (r * cols + c) * es, es);
      }
    }
  }
}

}  // namespace

Result<LoadedGroup> load_group(std::span<const model_ir::Unit> units, const partition_planner::Group& group,
                               memory_manager::MemoryPool& pool) {
  LoadedGroup loaded;
  EDGE_RT_TRY(loaded.block, pool.allocate(group.weight_bytes));
  std::byte* cursor = loaded.block.data();
  for (std::size_t u = group.first_unit; u < group.last_unit; ++u) {
    LoadedUnit lu;
    lu.unit = &units[u];
    for (const model_ir::WeightRef& w : units[u].weights) {
      const std::span<const std::byte> src = w.file->bytes(*w.source);
      if (w.shape.rank() == 1) {
        tensor_core::to_f32(w.source->dtype, src.data(), static_cast<std::size_t>(w.shape.numel()),
                            reinterpret_cast<float*>(cursor));
      } else if (w.transpose) {
        transpose(src.data(), static_cast<std::size_t>(w.source->shape[0]),
                  static_cast<std::size_t>(w.source->shape[1]), tensor_core::dtype_size(w.dtype), cursor);
      } else {
        std::memcpy(cursor, src.data(), src.size());
      }
      lu.views[static_cast<std::size_t>(w.role)] = tensor_core::TensorView::contiguous(cursor, w.dtype, w.shape);
      cursor += (w.resident_bytes + 63) & ~std::uint64_t{63};
    }
    loaded.units.push_back(lu);
  }
  EDGE_RT_CHECK(static_cast<std::uint64_t>(cursor - loaded.block.data()) == group.weight_bytes,
                "group bytes disagree with the plan");
  return loaded;
}

}  // namespace edge_rt::runtime::detail
