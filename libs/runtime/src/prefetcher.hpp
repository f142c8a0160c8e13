#pragma once
// A background I/O thread that loads the streamed groups of a plan, in their cyclic forward order, up to `depth`
// groups ahead of the compute thread.

#include "weights.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace edge_rt::runtime::detail {

/// Neither copy nor move (the thread points at it). The destructor cancels and joins: no load is left running and
/// every loaded block is returned to the pool.
class Prefetcher final {
 public:
  using LoadFn = std::function<Result<LoadedGroup>(std::size_t group_index)>;

  /// `order`: the streamed group indices of one forward pass (non-empty); `depth` >= 1 loads in flight or waiting.
  /// `load` runs on the I/O thread and must be thread-safe with respect to the compute thread.
  Prefetcher(std::vector<std::size_t> order, std::size_t depth, LoadFn load);
  Prefetcher(const Prefetcher&) = delete;
  Prefetcher& operator=(const Prefetcher&) = delete;
  ~Prefetcher();

  /// The next group in the order, waiting for it if needed; `stall_ms` gets the time waited. An I/O error
  /// surfaces here, once, for the group that failed; the thread stops loading after it.
  Result<LoadedGroup> next(std::size_t expected_index, double& stall_ms);

  /// Starts over at the first group of the order: drops the loads waiting and the one in flight (its block goes
  /// back to the pool when it finishes). For a forward pass that stopped part way (cancelled), so that the next
  /// pass finds its first group next.
  void restart();

 private:
  void run();

  const std::vector<std::size_t> order_;
  const std::size_t depth_;
  const LoadFn load_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<std::pair<std::size_t, Result<LoadedGroup>>> ready_;
  bool stop_ = false;
  bool failed_ = false;
  std::size_t cursor_ = 0;        // position in order_ of the next load
  std::uint64_t generation_ = 0;  // bumped by restart(): a load started before it is dropped
  std::thread thread_;            // last: starts after every other member is built
};

}  // namespace edge_rt::runtime::detail
