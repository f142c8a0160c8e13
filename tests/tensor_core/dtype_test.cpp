#include <edge_rt/tensor_core/dtype.hpp>
#include <edge_rt/tensor_core/tensor.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace edge_rt::tensor_core {
namespace {

TEST(DType, SizesAndNames) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  for (DType d : {DType::kF32, DType::kF16, DType::kBF16}) {
    auto parsed = parse_dtype(dtype_name(d));
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed.value(), d);
  }
  auto bad = parse_dtype("F8_E4M3");
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kUnsupported);
}

// Every finite half converts to float and back to the same bits.
TEST(DType, F16RoundTripsEveryFiniteValue) {
  for (std::uint32_t h = 0; h < 0x10000; ++h) {
    const auto bits = static_cast<std::uint16_t>(h);
    if ((bits & 0x7c00u) == 0x7c00u) continue;  // inf / NaN below
    const float f = f16_to_f32(bits);
    ASSERT_EQ(f32_to_f16(f), bits) << "half 0x" << std::hex << h << " -> " << f;
  }
  EXPECT_TRUE(std::isinf(f16_to_f32(0x7c00)));
  EXPECT_TRUE(std::isnan(f16_to_f32(0x7e00)));
}

TEST(DType, F16KnownValuesAndRounding) {
  EXPECT_EQ(f16_to_f32(0x3c00), 1.0f);
  EXPECT_EQ(f16_to_f32(0xc000), -2.0f);
  EXPECT_EQ(f16_to_f32(0x7bff), 65504.0f);
  EXPECT_EQ(f16_to_f32(0x0001), std::ldexp(1.0f, -24));         // smallest subnormal
  EXPECT_EQ(f32_to_f16(65520.0f), 0x7c00);                      // rounds past the largest half: inf
  EXPECT_EQ(f32_to_f16(1.0f + std::ldexp(1.0f, -11)), 0x3c00);  // tie goes to even
  EXPECT_EQ(f32_to_f16(std::ldexp(1.0f, -25)), 0x0000);         // tie between 0 and the smallest subnormal
  EXPECT_EQ(f32_to_f16(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(f32_to_f16(std::numeric_limits<float>::quiet_NaN()) & 0x7c00, 0x7c00);
}

TEST(DType, BF16RoundsToNearestEven) {
  EXPECT_EQ(bf16_to_f32(0x3f80), 1.0f);
  EXPECT_EQ(f32_to_bf16(1.0f), 0x3f80);
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(f32_to_bf16(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_TRUE(std::isnan(bf16_to_f32(f32_to_bf16(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(DType, ToF32ConvertsUnalignedInput) {
  alignas(4) std::byte raw[9] = {};
  const std::uint16_t h[4] = {0x3c00, 0x4000, 0xbc00, 0x0000};
  std::memcpy(raw + 1, h, sizeof(h));
  float out[4];
  to_f32(DType::kF16, raw + 1, 4, out);
  EXPECT_EQ(out[0], 1.0f);
  EXPECT_EQ(out[1], 2.0f);
  EXPECT_EQ(out[2], -1.0f);
  EXPECT_EQ(out[3], 0.0f);
}

TEST(Shape, NumelRankAndErrors) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.rank(), 3u);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.to_string(), "[2, 3, 4]");
  EXPECT_EQ(Shape{}.numel(), 1);
  const std::int64_t too_many[] = {1, 2, 3, 4, 5};
  auto r = Shape::from(too_many);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  const std::int64_t negative[] = {2, -1};
  EXPECT_FALSE(Shape::from(negative));
  const std::int64_t huge[] = {INT64_MAX / 2, 16};
  EXPECT_FALSE(Shape::from(huge));
}

TEST(TensorView, RowsAreStridedViews) {
  float data[6] = {0, 1, 2, 3, 4, 5};
  auto v = TensorView::contiguous(reinterpret_cast<const std::byte*>(data), DType::kF32, Shape{3, 2});
  EXPECT_TRUE(v.is_contiguous());
  EXPECT_EQ(v.size_bytes(), 24u);
  EXPECT_EQ(v.row(2).f32()[1], 5.0f);
  auto r = v.rows(1, 3);
  EXPECT_EQ(r.shape(), (Shape{2, 2}));
  EXPECT_EQ(r.f32()[0], 2.0f);
}

}  // namespace
}  // namespace edge_rt::tensor_core
