#pragma once
// MemoryPool: every byte the runtime allocates for weights, KV cache, activations and scratch comes from here, so
// the budget is a hard ceiling on them.

#include <edge_rt/core/result.hpp>
#include <edge_rt/memory_manager/budget.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <span>
#include <vector>

namespace edge_rt::memory_manager {

class MemoryPool;

/// Counters since the pool was made. Bytes are the rounded size-class bytes that count against the budget.
struct PoolStats {
  std::uint64_t reserved_bytes = 0;       ///< In use + cached: what counts against the budget now.
  std::uint64_t in_use_bytes = 0;         ///< Held by live BufferGuards.
  std::uint64_t cached_bytes = 0;         ///< Free blocks kept for reuse.
  std::uint64_t peak_reserved_bytes = 0;  ///< Highest reserved_bytes ever; never above the budget.
  std::uint64_t hits = 0;                 ///< Allocations served from the cache.
  std::uint64_t misses = 0;               ///< Allocations that needed fresh memory.
  std::uint64_t failed_allocations = 0;   ///< Allocations refused with kBudgetExceeded.
  std::uint64_t trims = 0;                ///< Times the cache was emptied to make room.
};

/// Move-only owner of one pool block; returns it to the pool exactly once, on destruction or reset().
/// The pool must outlive every guard. A moved-from guard is empty (data() == nullptr).
class BufferGuard final {
 public:
  BufferGuard() noexcept = default;
  BufferGuard(BufferGuard&& other) noexcept;
  BufferGuard& operator=(BufferGuard&& other) noexcept;
  BufferGuard(const BufferGuard&) = delete;
  BufferGuard& operator=(const BufferGuard&) = delete;
  ~BufferGuard();

  /// Start of the block; aligned to at least 64 bytes; nullptr when empty.
  std::byte* data() const noexcept { return data_; }
  /// Bytes the caller asked for (the block may be larger).
  std::size_t size_bytes() const noexcept { return size_bytes_; }
  std::span<std::byte> bytes() const noexcept { return {data_, size_bytes_}; }
  /// The block viewed as `count` objects of T; precondition: count * sizeof(T) <= size_bytes().
  template <class T>
  std::span<T> as(std::size_t count) const noexcept {
    return {reinterpret_cast<T*>(data_), count};
  }
  template <class T>
  std::span<T> as() const noexcept {
    return {reinterpret_cast<T*>(data_), size_bytes_ / sizeof(T)};
  }
  /// Returns the block to the pool now.
  void reset() noexcept;

 private:
  friend class MemoryPool;
  BufferGuard(MemoryPool* pool, std::byte* data, std::size_t size_bytes, std::size_t class_bytes) noexcept
      : pool_(pool), data_(data), size_bytes_(size_bytes), class_bytes_(class_bytes) {}
  MemoryPool* pool_ = nullptr;
  std::byte* data_ = nullptr;
  std::size_t size_bytes_ = 0;
  std::size_t class_bytes_ = 0;
};

/// Where a pool's fresh blocks come from when they are not the process's own memory: a device's host-visible
/// memory, mapped (the Vulkan backend). The pool calls it under its lock; it must outlive the pool.
class BlockSource {
 public:
  virtual ~BlockSource() = default;
  /// `class_bytes` of host-addressable memory aligned to `alignment` (<= 4096), or nullptr when the device refuses.
  virtual std::byte* acquire(std::size_t class_bytes, std::size_t alignment) noexcept = 0;
  /// Gives back a block acquire() returned, with the same class_bytes.
  virtual void release(std::byte* data, std::size_t class_bytes) noexcept = 0;
};

/// A budgeted allocator with a cache of free blocks per size class. Neither copy nor move (guards point to it).
/// Thread-safe: check-and-reserve is one critical section, so concurrent allocations never pass the budget together.
class MemoryPool final {
 public:
  static constexpr std::size_t kMinAlignment = 64;

  /// `source`: where fresh blocks come from; nullptr for the process's heap and anonymous mappings.
  explicit MemoryPool(MemoryBudget budget, BlockSource* source = nullptr);
  MemoryPool(const MemoryPool&) = delete;
  MemoryPool& operator=(const MemoryPool&) = delete;
  ~MemoryPool();  ///< Precondition: no live BufferGuard.

  /// Size class a request is rounded to: multiples of 64 bytes up to 4 KiB, four classes per power of two up to
  /// 64 KiB (<= 25% waste), whole 4 KiB pages from 64 KiB up (those blocks are mapped directly and unmapped when
  /// freed). The rounded bytes are what count against the budget.
  static std::size_t size_class(std::size_t size_bytes) noexcept;

  /// A block of at least `size_bytes` (> 0), aligned to max(alignment, 64) (a power of two <= 4096).
  /// Reuses a cached block of the same class; when fresh memory would pass the budget, frees the cache first.
  /// Errors: kBudgetExceeded (message gives requested, reserved and budget bytes); kInvalidArgument for size 0 or a
  /// bad alignment.
  Result<BufferGuard> allocate(std::size_t size_bytes, std::size_t alignment = kMinAlignment);
  /// allocate(count * element_bytes), with the multiplication checked for overflow (kInvalidArgument).
  Result<BufferGuard> allocate_array(std::size_t count, std::size_t element_bytes,
                                     std::size_t alignment = kMinAlignment);

  /// Frees every cached block.
  void trim() noexcept;

  const MemoryBudget& budget() const noexcept { return budget_; }
  PoolStats stats() const;

 private:
  friend class BufferGuard;
  void release(std::byte* data, std::size_t class_bytes) noexcept;

  MemoryBudget budget_;
  BlockSource* source_;
  mutable std::mutex mutex_;
  PoolStats stats_;
  std::multimap<std::size_t, std::byte*> cache_;  // class bytes -> free blocks
};

}  // namespace edge_rt::memory_manager
