#pragma once
// The CPU backend: tensor-core's Highway kernels split across a ThreadPool, with the process's host memory pool.

#include <edge_rt/backend/backend.hpp>

namespace edge_rt::backend {

/// PreparedWeight::layout codes of the CPU backend.
inline constexpr std::uint8_t kCpuLayoutRows = 0;
/// Q4_0 rows interleaved eight at a time (tensor_core::interleave_q4_0), read by matmul_q4_0x8: x86 AVX2/AVX-512.
inline constexpr std::uint8_t kCpuLayoutQ4_0x8 = 1;

/// Name "cpu", kind kCpu, memory_total the machine's RAM; `options.budget` is the host budget (every pool byte
/// the runtime allocates on the host counts against it). Starts n_threads - 1 kernel workers.
/// Errors: kInvalidArgument for n_threads 0.
Result<std::unique_ptr<Backend>> make_cpu_backend(const BackendOptions& options);

}  // namespace edge_rt::backend
