#include <edge_rt/memory_manager/pool.hpp>

#include <sys/mman.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <string>
#include <utility>

namespace edge_rt::memory_manager {
namespace {

constexpr std::size_t kSmallClassLimit = 4096;  // classes up to here are multiples of 64 bytes
constexpr std::size_t kPageAlignment = 4096;    // alignment of blocks whose class is >= 4 KiB; also the max request

// Alignment a fresh block of class `class_bytes` gets, so that any cached block of that class serves every request
// up to it: 64 below 4 KiB, 4096 from 4 KiB up.
std::size_t class_alignment(std::size_t class_bytes) {
  return class_bytes < kSmallClassLimit ? MemoryPool::kMinAlignment : kPageAlignment;
}

bool is_aligned(const std::byte* data, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(data) % alignment == 0;
}

// Blocks from this size up are mapped directly, so that freeing one returns its pages to the system at once:
// glibc's malloc keeps freed heap memory (and raises its own mmap threshold after each large free), which would
// let the process's resident set grow past the budget while the pool's accounting stays within it.
constexpr std::size_t kMapThreshold = 64 * 1024;

std::byte* allocate_block(BlockSource* source, std::size_t class_bytes, std::size_t alignment) noexcept {
  if (source != nullptr) return source->acquire(class_bytes, alignment);
  if (class_bytes >= kMapThreshold) {  // page-aligned, and no request asks for more than a page
    void* p = ::mmap(nullptr, class_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? nullptr : static_cast<std::byte*>(p);
  }
  // posix_memalign rather than std::aligned_alloc: the latter requires the size to be a multiple of the
  // alignment, which 5 KiB-style classes with 4 KiB alignment are not (and AddressSanitizer enforces it).
  void* memory = nullptr;
  return posix_memalign(&memory, alignment, class_bytes) == 0 ? static_cast<std::byte*>(memory) : nullptr;
}

void free_block(BlockSource* source, std::byte* data, std::size_t class_bytes) noexcept {
  if (source != nullptr) {
    source->release(data, class_bytes);
    return;
  }
  if (class_bytes >= kMapThreshold) {
    ::munmap(data, class_bytes);
  } else {
    std::free(data);
  }
}

// Frees every cached block and takes its bytes off the reservation. The caller holds the pool's mutex.
void free_cache(BlockSource* source, std::multimap<std::size_t, std::byte*>& cache, PoolStats& stats) noexcept {
  for (const auto& [class_bytes, data] : cache) free_block(source, data, class_bytes);
  cache.clear();
  stats.reserved_bytes -= stats.cached_bytes;
  stats.cached_bytes = 0;
}

}  // namespace

// ---- BufferGuard ----

BufferGuard::BufferGuard(BufferGuard&& other) noexcept
    : pool_(std::exchange(other.pool_, nullptr)),
      data_(std::exchange(other.data_, nullptr)),
      size_bytes_(std::exchange(other.size_bytes_, 0)),
      class_bytes_(std::exchange(other.class_bytes_, 0)) {}

BufferGuard& BufferGuard::operator=(BufferGuard&& other) noexcept {
  if (this != &other) {
    reset();
    pool_ = std::exchange(other.pool_, nullptr);
    data_ = std::exchange(other.data_, nullptr);
    size_bytes_ = std::exchange(other.size_bytes_, 0);
    class_bytes_ = std::exchange(other.class_bytes_, 0);
  }
  return *this;
}

BufferGuard::~BufferGuard() {
  reset();
}

void BufferGuard::reset() noexcept {
  if (pool_ != nullptr && data_ != nullptr) pool_->release(data_, class_bytes_);
  pool_ = nullptr;
  data_ = nullptr;
  size_bytes_ = 0;
  class_bytes_ = 0;
}

// ---- MemoryPool ----

MemoryPool::MemoryPool(MemoryBudget budget, BlockSource* source) : budget_(budget), source_(source) {}

MemoryPool::~MemoryPool() {
  const std::lock_guard lock(mutex_);
  EDGE_RT_CHECK(stats_.in_use_bytes == 0, "MemoryPool destroyed while a BufferGuard still holds one of its blocks");
  free_cache(source_, cache_, stats_);
}

std::size_t MemoryPool::size_class(std::size_t size_bytes) noexcept {
  if (size_bytes <= kSmallClassLimit) {
    if (size_bytes == 0) return kMinAlignment;
    return (size_bytes + kMinAlignment - 1) / kMinAlignment * kMinAlignment;
  }
  // Mapped blocks round to whole pages: a quarter-power class would waste up to 25% of a large weight block.
  if (size_bytes >= kMapThreshold) {
    if (size_bytes > SIZE_MAX - (kPageAlignment - 1)) return SIZE_MAX;
    return (size_bytes + kPageAlignment - 1) / kPageAlignment * kPageAlignment;
  }
  // Four classes per power of two: round up to a quarter of the largest power of two <= size_bytes.
  const std::size_t step = std::bit_floor(size_bytes) / 4;
  if (size_bytes > SIZE_MAX - (step - 1)) return SIZE_MAX;  // saturates: no budget or allocator can serve it
  return (size_bytes + step - 1) / step * step;
}

Result<BufferGuard> MemoryPool::allocate(std::size_t size_bytes, std::size_t alignment) {
  if (size_bytes == 0) return fail(ErrorCode::kInvalidArgument, "[memory-pool] allocate: size_bytes must be positive");
  if (!std::has_single_bit(alignment) || alignment > kPageAlignment) {
    return fail(ErrorCode::kInvalidArgument, "[memory-pool] allocate: alignment " + std::to_string(alignment) +
                                                 " is not a power of two between 1 and 4096");
  }
  const std::size_t request_alignment = std::max(alignment, kMinAlignment);
  const std::size_t class_bytes = size_class(size_bytes);

  const std::lock_guard lock(mutex_);

  // A cached block of the same class; every one satisfies alignments up to its class alignment, and a stricter
  // request takes only a block whose address happens to satisfy it.
  const auto [first, last] = cache_.equal_range(class_bytes);
  for (auto it = first; it != last; ++it) {
    if (!is_aligned(it->second, request_alignment)) continue;
    std::byte* data = it->second;
    cache_.erase(it);
    stats_.cached_bytes -= class_bytes;
    stats_.in_use_bytes += class_bytes;
    ++stats_.hits;
    return BufferGuard(this, data, size_bytes, class_bytes);
  }

  // Fresh memory: check-and-reserve under the lock, dropping the cache first when that makes room.
  const auto fits = [&] { return class_bytes <= budget_.bytes() - stats_.reserved_bytes; };
  if (!fits() && stats_.cached_bytes > 0) {
    free_cache(source_, cache_, stats_);
    ++stats_.trims;
  }
  if (!fits()) {
    ++stats_.failed_allocations;
    return fail(ErrorCode::kBudgetExceeded, "[memory-pool] cannot allocate " + format_bytes(size_bytes) + " (" +
                                                format_bytes(class_bytes) +
                                                " size class): " + format_bytes(stats_.reserved_bytes) +
                                                " already reserved of a " + budget_.to_string() + " budget");
  }

  const std::size_t block_alignment = std::max(request_alignment, class_alignment(class_bytes));
  std::byte* memory = allocate_block(source_, class_bytes, block_alignment);
  if (memory == nullptr && stats_.cached_bytes > 0) {
    // The system is short of memory: give back what the cache holds, try once more.
    free_cache(source_, cache_, stats_);
    ++stats_.trims;
    memory = allocate_block(source_, class_bytes, block_alignment);
  }
  if (memory == nullptr) {
    ++stats_.failed_allocations;
    return fail(ErrorCode::kBudgetExceeded, "[memory-pool] the system allocator refused " + format_bytes(class_bytes) +
                                                " within the budget: " + format_bytes(stats_.reserved_bytes) +
                                                " reserved of a " + budget_.to_string() + " budget");
  }
  stats_.reserved_bytes += class_bytes;
  stats_.in_use_bytes += class_bytes;
  stats_.peak_reserved_bytes = std::max(stats_.peak_reserved_bytes, stats_.reserved_bytes);
  ++stats_.misses;
  return BufferGuard(this, memory, size_bytes, class_bytes);
}

Result<BufferGuard> MemoryPool::allocate_array(std::size_t count, std::size_t element_bytes, std::size_t alignment) {
  if (element_bytes != 0 && count > SIZE_MAX / element_bytes) {
    return fail(ErrorCode::kInvalidArgument, "[memory-pool] allocate_array: " + std::to_string(count) + " x " +
                                                 std::to_string(element_bytes) + " bytes overflows size_t");
  }
  return allocate(count * element_bytes, alignment);
}

void MemoryPool::trim() noexcept {
  const std::lock_guard lock(mutex_);
  free_cache(source_, cache_, stats_);
}

PoolStats MemoryPool::stats() const {
  const std::lock_guard lock(mutex_);
  return stats_;
}

void MemoryPool::release(std::byte* data, std::size_t class_bytes) noexcept {
  const std::lock_guard lock(mutex_);
  stats_.in_use_bytes -= class_bytes;
  try {
    cache_.emplace(class_bytes, data);
    stats_.cached_bytes += class_bytes;
  } catch (...) {  // no memory for a cache node: free the block instead of keeping it
    free_block(source_, data, class_bytes);
    stats_.reserved_bytes -= class_bytes;
  }
}

}  // namespace edge_rt::memory_manager
