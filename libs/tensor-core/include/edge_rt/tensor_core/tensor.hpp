#pragma once
// Shape and non-owning strided tensor views. Storage is owned elsewhere (a mapping, a pool buffer).

#include <edge_rt/tensor_core/dtype.hpp>

#include <array>
#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>

namespace edge_rt::tensor_core {

/// Copyable value: up to kMaxRank dimensions, outermost first (row-major).
class Shape final {
 public:
  static constexpr std::size_t kMaxRank = 4;

  Shape() = default;
  /// Precondition: dims.size() <= kMaxRank.
  Shape(std::initializer_list<std::int64_t> dims);
  /// Errors: kInvalidArgument for more than kMaxRank dimensions or a negative dimension.
  static Result<Shape> from(std::span<const std::int64_t> dims);

  std::size_t rank() const noexcept { return rank_; }
  std::int64_t operator[](std::size_t axis) const noexcept { return dims_[axis]; }
  /// Product of the dimensions (1 for rank 0). Errors are impossible once constructed: from() rejects overflow.
  std::int64_t numel() const noexcept;
  std::span<const std::int64_t> dims() const noexcept { return {dims_.data(), rank_}; }
  /// "[768, 2304]".
  std::string to_string() const;
  friend bool operator==(const Shape& a, const Shape& b) noexcept;

 private:
  std::array<std::int64_t, kMaxRank> dims_{};
  std::size_t rank_ = 0;
};

/// Bytes of a contiguous tensor: numel x element size, or for quantized dtypes whole blocks along the last
/// dimension (precondition: that dimension is a multiple of 32).
inline std::uint64_t storage_bytes(DType dtype, const Shape& shape) noexcept {
  if (!is_quantized(dtype)) return static_cast<std::uint64_t>(shape.numel()) * dtype_size(dtype);
  if (shape.rank() == 0) return 0;
  const auto last = static_cast<std::uint64_t>(shape[shape.rank() - 1]);
  const std::uint64_t outer = last == 0 ? 0 : static_cast<std::uint64_t>(shape.numel()) / last;
  return outer * row_bytes(dtype, static_cast<std::size_t>(last));
}

/// Copyable, non-owning view of a tensor: data pointer, dtype, shape and element strides.
/// The storage must outlive the view. Views made by contiguous() have row-major strides.
class TensorView final {
 public:
  TensorView() = default;
  /// A row-major view over `data`; precondition: the storage holds shape.numel() elements of dtype.
  static TensorView contiguous(const std::byte* data, DType dtype, Shape shape) noexcept;

  const std::byte* data() const noexcept { return data_; }
  DType dtype() const noexcept { return dtype_; }
  const Shape& shape() const noexcept { return shape_; }
  /// Stride of `axis` in elements.
  std::int64_t stride(std::size_t axis) const noexcept { return strides_[axis]; }
  std::size_t size_bytes() const noexcept { return static_cast<std::size_t>(storage_bytes(dtype_, shape_)); }
  bool is_contiguous() const noexcept;
  /// Row `i` of a rank-2 view (a rank-1 view). Precondition: rank 2, 0 <= i < shape[0].
  TensorView row(std::int64_t i) const noexcept;
  /// Rows [begin, end) of a rank-2 view.
  TensorView rows(std::int64_t begin, std::int64_t end) const noexcept;
  /// Elements as float when dtype is F32 (nullptr otherwise).
  const float* f32() const noexcept { return dtype_ == DType::kF32 ? reinterpret_cast<const float*>(data_) : nullptr; }

 private:
  // Byte offset of row i of a rank-2 view (quantized rows are whole blocks).
  std::size_t row_offset(std::int64_t i) const noexcept {
    return is_quantized(dtype_) ? static_cast<std::size_t>(i) * row_bytes(dtype_, static_cast<std::size_t>(shape_[1]))
                                : static_cast<std::size_t>(i * strides_[0]) * dtype_size(dtype_);
  }
  const std::byte* data_ = nullptr;
  DType dtype_ = DType::kF32;
  Shape shape_;
  std::array<std::int64_t, Shape::kMaxRank> strides_{};
};

}  // namespace edge_rt::tensor_core
