#pragma once
// Runs a kernel test once per Highway target (hwy/tests/hwy_gtest.h) instead of only on the target dispatched for
// this CPU. Per suite, at global scope (the Highway macro spells `testing::` unqualified, which inside
// edge_rt::backend::cpu would name the namespace below):
//
//   namespace {
//   class MyKernels : public edge_rt::backend::cpu::testing::PerTargetTest {};
//   HWY_TARGET_INSTANTIATE_TEST_SUITE_P(MyKernels);
//   }  // namespace
//   ... TEST_P(MyKernels, Name) { ... }
//
// The instantiation lists hwy::SupportedAndGeneratedTargets(): the targets this CPU supports among HWY_TARGETS as this
// test file sees it. The test target is compiled with the library's HWY_DISABLED_TARGETS (tests/CMakeLists.txt) so
// that list is the library's; a target the library did not compile would silently dispatch to its EMU128 fallback,
// which SimdKernelsPerTarget.DispatchesTheTargetUnderTest catches.

#include <edge_rt/backend/cpu/kernels.hpp>

#include <hwy/targets.h>
#include <hwy/tests/hwy_gtest.h>

#include <cstddef>
#include <vector>

namespace edge_rt::backend::cpu::testing {

/// SetUp points every HWY_DYNAMIC_DISPATCH of the library at GetParam() (hwy::SetSupportedTargetsForTest, which also
/// resets the dispatch cache); TearDown checks that the test dispatched at all and restores the CPU's own choice.
class PerTargetTest : public hwy::TestWithParamTarget {
 public:
  /// kernels.cpp sizes each thread's GEMM panel for the target of that thread's first GEMM and keeps it, so a wider
  /// target after a narrower one would overrun it. One GEMM on this CPU's best (widest) target before the suite's
  /// tests allocates the panel at full size whatever the test order (--gtest_shuffle).
  static void SetUpTestSuite() {
    const std::vector<float> x(2, 1.0f), w(1, 1.0f);
    std::vector<float> out(2);
    matmul(x, 2, TensorView::contiguous(reinterpret_cast<const std::byte*>(w.data()), DType::kF32, Shape{1, 1}), {},
           out);
  }
};

}  // namespace edge_rt::backend::cpu::testing
