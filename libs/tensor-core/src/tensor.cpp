#include <edge_rt/tensor_core/tensor.hpp>

#include <limits>

namespace edge_rt::tensor_core {

Shape::Shape(std::initializer_list<std::int64_t> dims) {
  EDGE_RT_CHECK(dims.size() <= kMaxRank, "Shape rank above kMaxRank");
  for (std::int64_t d : dims) {
    EDGE_RT_CHECK(d >= 0, "negative dimension");
    dims_[rank_++] = d;
  }
}

Result<Shape> Shape::from(std::span<const std::int64_t> dims) {
  if (dims.size() > kMaxRank) {
    return fail(ErrorCode::kInvalidArgument,
                "rank " + std::to_string(dims.size()) + ", expected at most " + std::to_string(kMaxRank));
  }
  Shape shape;
  std::int64_t numel = 1;
  for (std::int64_t d : dims) {
    if (d < 0) return fail(ErrorCode::kInvalidArgument, "negative dimension " + std::to_string(d));
    if (d != 0 && numel > std::numeric_limits<std::int64_t>::max() / 8 / d) {
      return fail(ErrorCode::kInvalidArgument, "shape element count overflows");
    }
    numel *= d;
    shape.dims_[shape.rank_++] = d;
  }
  return shape;
}

std::int64_t Shape::numel() const noexcept {
  std::int64_t n = 1;
  for (std::size_t i = 0; i < rank_; ++i) n *= dims_[i];
  return n;
}

std::string Shape::to_string() const {
  std::string s = "[";
  for (std::size_t i = 0; i < rank_; ++i) {
    if (i) s += ", ";
    s += std::to_string(dims_[i]);
  }
  return s + "]";
}

bool operator==(const Shape& a, const Shape& b) noexcept {
  if (a.rank_ != b.rank_) return false;
  for (std::size_t i = 0; i < a.rank_; ++i) {
    if (a.dims_[i] != b.dims_[i]) return false;
  }
  return true;
}

TensorView TensorView::contiguous(const std::byte* data, DType dtype, Shape shape) noexcept {
  TensorView view;
  view.data_ = data;
  view.dtype_ = dtype;
  view.shape_ = shape;
  std::int64_t stride = 1;
  for (std::size_t i = shape.rank(); i-- > 0;) {
    view.strides_[i] = stride;
    stride *= shape[i];
  }
  return view;
}

bool TensorView::is_contiguous() const noexcept {
  std::int64_t stride = 1;
  for (std::size_t i = shape_.rank(); i-- > 0;) {
    if (shape_[i] != 1 && strides_[i] != stride) return false;
    stride *= shape_[i];
  }
  return true;
}

TensorView TensorView::row(std::int64_t i) const noexcept {
  EDGE_RT_CHECK(shape_.rank() == 2 && i >= 0 && i < shape_[0], "row index out of range");
  TensorView view = *this;
  view.data_ = data_ + row_offset(i);
  view.shape_ = Shape{shape_[1]};
  view.strides_[0] = strides_[1];
  return view;
}

TensorView TensorView::rows(std::int64_t begin, std::int64_t end) const noexcept {
  EDGE_RT_CHECK(shape_.rank() == 2 && 0 <= begin && begin <= end && end <= shape_[0], "row range out of range");
  TensorView view = *this;
  view.data_ = data_ + row_offset(begin);
  view.shape_ = Shape{end - begin, shape_[1]};
  return view;
}

}  // namespace edge_rt::tensor_core
