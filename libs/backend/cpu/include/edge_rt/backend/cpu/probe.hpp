#pragma once
// Machine probes that benchmarks compare kernels against: memory read bandwidth and FMA peak, measured with the
// same SIMD target and thread pool the kernels use.

#include <edge_rt/backend/cpu/thread_pool.hpp>

#include <cstddef>

namespace edge_rt::backend::cpu {

/// Best of `repeats` passes that read a `bytes` buffer (filled first, so its pages are resident) with SIMD loads
/// (8 independent accumulators), split across `pool` two ways: a contiguous part per thread, and 1 MiB blocks
/// taken in turn. Returns bytes per second. bytes >= 64 MiB keeps it out of the caches.
double probe_read_bandwidth(ThreadPool& pool, std::size_t bytes, int repeats);

/// Peak of fused multiply-adds: every thread runs 12 independent accumulator chains (enough to cover FMA latency
/// on every target) for `iterations` steps. Returns floating-point operations per second (an FMA counts 2).
double probe_fma_peak(ThreadPool& pool, std::size_t iterations);

/// Peak of 8-bit integer multiply-adds as the quantized kernels issue them: every thread runs 12 independent
/// 512-bit vpdpbusd chains (64 multiply-adds each) for `iterations` steps. Returns multiply-adds per second, or 0
/// where the CPU lacks AVX-512 VNNI (the only int8 kernels probed; the vpmaddubsw ones are not).
double probe_int8_peak(ThreadPool& pool, std::size_t iterations);

/// The same with each vpdpbusd's activation operand a 4-byte broadcast from memory, as the interleaved GEMM tiles
/// (16 rows per vector) issue it: one broadcast per vpdpbusd (`per_broadcast` 1), or shared by 2 or 4 (tiles of
/// 32 or 64 rows). The gap between this and probe_int8_peak is the ceiling a tile with that sharing meets.
/// Returns multiply-adds per second, or 0 without AVX-512 VNNI. per_broadcast: 1, 2 or 4 (others read as 1).
double probe_int8_peak_broadcast(ThreadPool& pool, std::size_t iterations, std::size_t per_broadcast);

}  // namespace edge_rt::backend::cpu
