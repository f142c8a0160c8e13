#pragma once
// The CPU backend: tensor-core's Highway kernels split across a ThreadPool, with the process's host memory pool.

#include <edge_rt/backend/backend.hpp>

namespace edge_rt::backend {

/// PreparedWeight::layout codes of the CPU backend.
inline constexpr std::uint8_t kCpuLayoutRows = 0;
/// Rows interleaved by cpu::interleaved_rows(dtype) (cpu::interleave_rows), read by cpu::matmul_interleaved: Q4_0 by 8
/// with the x86 AVX2 kernels; Q4_0, Q5_0, Q8_0, Q4_K, Q5_K and Q6_K by 16 with the AVX512-VNNI kernels.
inline constexpr std::uint8_t kCpuLayoutInterleaved = 1;

/// Name "cpu", kind kCpu, memory_total the machine's RAM; `options.budget` is the host budget (every pool byte
/// the runtime allocates on the host counts against it). Starts n_threads - 1 kernel workers.
/// Errors: kInvalidArgument for n_threads 0.
Result<std::unique_ptr<Backend>> make_cpu_backend(const BackendOptions& options);

}  // namespace edge_rt::backend
