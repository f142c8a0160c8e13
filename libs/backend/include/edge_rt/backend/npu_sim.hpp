#pragma once
// npu-sim: a test delegate standing for an int8/int4 NPU (as ONNX Runtime's internal testing execution provider
// stands for a real one). A separate device with its own budget that supports only matmuls with Q8_0 or Q4_0
// weights stored output-major, computed on the CPU with the same kernels (so its results are the CPU's, bit for
// bit). It exists to test partitioning, the fallback policy, fail-closed refusal and the coverage report in CI,
// where no accelerator is present. Never picked by `--device auto`.

#include <edge_rt/backend/backend.hpp>

namespace edge_rt::backend {

/// Name "npu-sim", kind kNpu, unified memory. memory_total is the host's RAM; `options.budget` its budget
/// (--device-budget npu-sim=SIZE). Runs matmuls on options.n_threads host threads.
/// Errors: kInvalidArgument for index > 0 (there is one) or n_threads 0.
Result<std::unique_ptr<Backend>> make_npu_sim_backend(const BackendOptions& options);

}  // namespace edge_rt::backend
