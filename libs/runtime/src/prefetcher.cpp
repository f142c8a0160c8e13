#include "prefetcher.hpp"

#include <chrono>

namespace edge_rt::runtime::detail {

Prefetcher::Prefetcher(std::vector<std::size_t> order, std::size_t depth, LoadFn load)
    : order_(std::move(order)), depth_(depth), load_(std::move(load)), thread_([this] { run(); }) {
  EDGE_RT_CHECK(!order_.empty() && depth_ >= 1, "prefetcher needs groups and a depth");
}

Prefetcher::~Prefetcher() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

void Prefetcher::run() {
  while (true) {
    std::size_t index = 0;
    std::uint64_t generation = 0;
    {
      std::unique_lock lock(mutex_);
      changed_.wait(lock, [&] { return stop_ || (!failed_ && ready_.size() < depth_); });
      if (stop_) return;
      index = order_[cursor_];
      cursor_ = (cursor_ + 1) % order_.size();
      generation = generation_;
    }
    Result<LoadedGroup> loaded = load_(index);
    {
      std::lock_guard lock(mutex_);
      if (generation != generation_) continue;  // restarted meanwhile: `loaded` goes back to the pool here
      failed_ = !loaded.has_value();
      ready_.emplace_back(index, std::move(loaded));
    }
    changed_.notify_all();
  }
}

void Prefetcher::restart() {
  std::deque<std::pair<std::size_t, Result<LoadedGroup>>> dropped;
  {
    std::lock_guard lock(mutex_);
    ++generation_;
    cursor_ = 0;
    failed_ = false;
    dropped.swap(ready_);
  }
  changed_.notify_all();
}

Result<LoadedGroup> Prefetcher::next(std::size_t expected_index, double& stall_ms) {
  const auto start = std::chrono::steady_clock::now();
  std::unique_lock lock(mutex_);
  changed_.wait(lock, [&] { return !ready_.empty(); });
  stall_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  auto [index, loaded] = std::move(ready_.front());
  ready_.pop_front();
  lock.unlock();
  changed_.notify_all();
  EDGE_RT_CHECK(index == expected_index, "prefetcher out of step with the forward pass");
  return std::move(loaded);
}

}  // namespace edge_rt::runtime::detail
