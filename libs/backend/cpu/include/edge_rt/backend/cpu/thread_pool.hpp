#pragma once
// A fixed set of worker threads that run the chunks of one parallel loop at a time (GEMV/GEMM columns, attention
// heads). The calling thread works too, so a pool of N threads starts N - 1 workers.
//
// Chunks are handed out one at a time from a shared counter, so a thread slowed by another process on its core
// simply takes fewer chunks. Kernels make each output element's arithmetic independent of which thread runs it,
// so results are identical for any thread count.
//
// Waiting is bounded: a worker spins for about kSpinMicros after its last chunk (decode issues ~50 short loops
// per token, and a futex wake costs 5-50 us), then sleeps on a condition variable. Nothing spins unboundedly, so
// a core shared with another process is given back.

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace edge_rt::backend::cpu {

/// Neither copy nor move (workers point to it). parallel_for may be called from one thread at a time.
class ThreadPool final {
 public:
  /// How long an idle thread polls before sleeping.
  static constexpr std::int64_t kSpinMicros = 50;

  /// `n_threads` >= 1 threads in all, the caller included. n_threads == 1 starts none and runs loops inline.
  explicit ThreadPool(std::size_t n_threads);
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;
  ~ThreadPool();

  std::size_t size() const noexcept { return workers_.size() + 1; }

  /// Calls fn(chunk) for every chunk in [0, n_chunks), on the caller and the workers, and returns when all are
  /// done. `fn` must not throw and must not call parallel_for on the same pool.
  template <class Fn>
  void parallel_for(std::size_t n_chunks, Fn&& fn) {
    using F = std::remove_reference_t<Fn>;
    run(n_chunks, &fn, [](void* f, std::size_t chunk) { (*static_cast<F*>(f))(chunk); });
  }

 private:
  using Trampoline = void (*)(void*, std::size_t);
  void run(std::size_t n_chunks, void* fn, Trampoline call);
  void worker_main();
  // Claims and runs chunks of loop `generation` until none are left or a newer loop started.
  void work(std::uint32_t generation);

  std::vector<std::thread> workers_;
  // The current loop's function. Written by the caller before it publishes state_; read only by a thread that
  // claimed a chunk of that loop, and the caller does not return (or rewrite it) before every claimed chunk ends.
  void* fn_ = nullptr;
  Trampoline call_ = nullptr;
  // generation (24 bits) | n_chunks (20 bits) | next chunk (20 bits): claiming is one compare-exchange that also
  // proves the loop is still the one the thread woke for.
  alignas(64) std::atomic<std::uint64_t> state_{0};
  alignas(64) std::atomic<std::uint32_t> chunks_done_{0};
  alignas(64) std::atomic<std::uint32_t> generation_{0};
  std::atomic<bool> stop_{false};
  // Sleeping. A sleeper registers (seq_cst) before re-checking its condition under the mutex; a waker changes the
  // condition (seq_cst) before reading the registration, so one of the two always sees the other.
  std::mutex mutex_;
  std::condition_variable wake_workers_;
  std::condition_variable wake_caller_;
  std::atomic<std::uint32_t> sleeping_workers_{0};
  std::atomic<bool> caller_sleeping_{false};
};

/// Splits [0, n) into chunks of `grain` (the last may be shorter) and runs fn(begin, end) for each on `pool`
/// (inline when pool is null or there is a single chunk).
template <class Fn>
void parallel_ranges(ThreadPool* pool, std::size_t n, std::size_t grain, Fn&& fn) {
  if (grain == 0) grain = 1;
  const std::size_t n_chunks = (n + grain - 1) / grain;
  if (pool == nullptr || pool->size() == 1 || n_chunks <= 1) {
    for (std::size_t c = 0; c < n_chunks; ++c) fn(c * grain, c * grain + grain < n ? c * grain + grain : n);
    return;
  }
  pool->parallel_for(n_chunks, [&](std::size_t c) {
    const std::size_t begin = c * grain;
    fn(begin, begin + grain < n ? begin + grain : n);
  });
}

}  // namespace edge_rt::backend::cpu
