#include <edge_rt/backend/cpu/thread_pool.hpp>

#include <edge_rt/core/result.hpp>

#include <chrono>

namespace edge_rt::backend::cpu {

namespace {

constexpr int kGenShift = 40;
constexpr int kCountShift = 20;
constexpr std::uint64_t kFieldMask = (std::uint64_t{1} << 20) - 1;
constexpr std::uint32_t kGenMask = (1u << 24) - 1;

inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `ready` for up to ThreadPool::kSpinMicros; true when it became true.
template <class Ready>
bool spin_until(Ready ready) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(ThreadPool::kSpinMicros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() >= deadline) return ready();
  }
}

}  // namespace

ThreadPool::ThreadPool(std::size_t n_threads) {
  EDGE_RT_CHECK(n_threads >= 1, "ThreadPool needs at least one thread");
  workers_.reserve(n_threads - 1);
  for (std::size_t i = 1; i < n_threads; ++i) workers_.emplace_back([this] { worker_main(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard lock(mutex_);
    stop_.store(true);
    generation_.fetch_add(1);
  }
  wake_workers_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work(std::uint32_t generation) {
  std::uint64_t s = state_.load(std::memory_order_acquire);
  for (;;) {
    if (static_cast<std::uint32_t>(s >> kGenShift) != (generation & kGenMask)) return;  // a newer loop
    const std::uint64_t n = (s >> kCountShift) & kFieldMask;
    const std::uint64_t next = s & kFieldMask;
    if (next >= n) return;
    if (!state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire)) continue;
    call_(fn_, static_cast<std::size_t>(next));
    if (chunks_done_.fetch_add(1) + 1 == n && caller_sleeping_.load()) {
      std::lock_guard lock(mutex_);
      wake_caller_.notify_one();
    }
    s = state_.load(std::memory_order_acquire);
  }
}

void ThreadPool::worker_main() {
  std::uint32_t seen = generation_.load(std::memory_order_acquire);
  for (;;) {
    // stop_ is checked too: a worker that starts after the destructor bumped the generation saw that value.
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen || stop_.load(); })) {
      std::unique_lock lock(mutex_);
      sleeping_workers_.fetch_add(1);
      wake_workers_.wait(lock, [&] { return generation_.load() != seen || stop_.load(); });
      sleeping_workers_.fetch_sub(1);
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    work(seen);
  }
}

void ThreadPool::run(std::size_t n_chunks, void* fn, Trampoline call) {
  if (n_chunks == 0) return;
  if (workers_.empty() || n_chunks == 1) {
    for (std::size_t c = 0; c < n_chunks; ++c) call(fn, c);
    return;
  }
  EDGE_RT_CHECK(n_chunks <= kFieldMask, "parallel_for: too many chunks");
  fn_ = fn;
  call_ = call;
  chunks_done_.store(0, std::memory_order_relaxed);
  const std::uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
  state_.store(static_cast<std::uint64_t>(generation & kGenMask) << kGenShift | static_cast<std::uint64_t>(n_chunks)
                                                                                    << kCountShift,
               std::memory_order_release);
  generation_.store(generation);
  if (sleeping_workers_.load() > 0) {
    std::lock_guard lock(mutex_);
    wake_workers_.notify_all();
  }
  work(generation);
  const auto n = static_cast<std::uint32_t>(n_chunks);
  if (!spin_until([&] { return chunks_done_.load(std::memory_order_acquire) == n; })) {
    std::unique_lock lock(mutex_);
    caller_sleeping_.store(true);
    wake_caller_.wait(lock, [&] { return chunks_done_.load() == n; });
    caller_sleeping_.store(false);
  }
}

}  // namespace edge_rt::backend::cpu
