#include <edge_rt/backend/cpu/probe.hpp>

#include "simd_kernels.hpp"
#include "vnni_kernels.hpp"

#include <hwy/aligned_allocator.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstring>

namespace edge_rt::backend::cpu {

using namespace ::edge_rt::tensor_core;  // dtypes and views

namespace {
using Clock = std::chrono::steady_clock;
std::atomic<float> sink{0.0f};  // keeps the probes' results alive
}  // namespace

double probe_read_bandwidth(ThreadPool& pool, std::size_t bytes, int repeats) {
  const std::size_t n = bytes / sizeof(float) / 1024 * 1024;
  auto buffer = hwy::AllocateAligned<float>(n);
  const std::size_t parts = pool.size();
  const std::size_t part = n / parts / 1024 * 1024;
  pool.parallel_for(parts, [&](std::size_t t) {  // first touch by the thread that reads it
    std::fill(buffer.get() + t * part, buffer.get() + (t + 1) * part, 1.0f);
  });
  // Two access patterns, the best counts: each thread streams its own half, or the threads take 1 MiB blocks
  // in turn and so read neighbouring memory at the same time (as the kernels' column splits do).
  constexpr std::size_t kBlock = (std::size_t{1} << 20) / sizeof(float);
  const std::size_t blocks = part * parts / kBlock;
  double best = 0;
  for (int r = 0; r < repeats; ++r) {
    auto start = Clock::now();
    pool.parallel_for(parts, [&](std::size_t t) { sink = sink + simd::read_sum(buffer.get() + t * part, part); });
    double s = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, static_cast<double>(part * parts * sizeof(float)) / s);
    start = Clock::now();
    pool.parallel_for(blocks, [&](std::size_t b) { sink = sink + simd::read_sum(buffer.get() + b * kBlock, kBlock); });
    s = std::chrono::duration<double>(Clock::now() - start).count();
    best = std::max(best, static_cast<double>(blocks * kBlock * sizeof(float)) / s);
  }
  return best;
}

double probe_fma_peak(ThreadPool& pool, std::size_t iterations) {
  simd::fma_chains(iterations / 10);  // warm up (frequency ramps)
  const auto start = Clock::now();
  pool.parallel_for(pool.size(), [&](std::size_t) { sink = sink + simd::fma_chains(iterations); });
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  const double flops = 2.0 * 12 * static_cast<double>(simd::float_lanes()) * static_cast<double>(iterations) *
                       static_cast<double>(pool.size());
  return flops / s;
}

namespace {
// Multiply-adds per second of `chains(n)`, 12 vpdpbusd chains of n steps (64 multiply-adds each), on every thread
// of the pool after a warm-up on this one (the 512-bit units power up).
template <typename Chains>
double int8_rate(ThreadPool& pool, std::size_t iterations, Chains chains) {
  std::atomic<std::int32_t> keep{0};
  chains(iterations / 10);
  const auto start = Clock::now();
  pool.parallel_for(pool.size(), [&](std::size_t) { keep += chains(iterations); });
  const double s = std::chrono::duration<double>(Clock::now() - start).count();
  sink = sink + static_cast<float>(keep.load());
  return 12.0 * 64.0 * static_cast<double>(iterations) * static_cast<double>(pool.size()) / s;
}
}  // namespace

double probe_int8_peak(ThreadPool& pool, std::size_t iterations) {
  if (!vnni::available()) return 0.0;
  return int8_rate(pool, iterations, [](std::size_t n) { return vnni::dpbusd_chains(n); });
}

double probe_int8_peak_broadcast(ThreadPool& pool, std::size_t iterations, std::size_t per_broadcast) {
  if (!vnni::available()) return 0.0;
  std::array<std::int8_t, 768> x{};
  for (std::size_t i = 0; i < x.size(); ++i) x[i] = static_cast<std::int8_t>(i * 37);
  return int8_rate(pool, iterations,
                   [&](std::size_t n) { return vnni::dpbusd_chains_broadcast(n, x.data(), per_broadcast); });
}

}  // namespace edge_rt::backend::cpu
