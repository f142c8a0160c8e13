#include <edge_rt/memory_manager/pool.hpp>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <random>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

namespace edge_rt::memory_manager {
namespace {

constexpr std::size_t kKiB = 1024;
constexpr std::size_t kMiB = 1024 * kKiB;

static_assert(std::is_nothrow_move_constructible_v<BufferGuard>);
static_assert(std::is_nothrow_move_assignable_v<BufferGuard>);
static_assert(!std::is_copy_constructible_v<BufferGuard>);
static_assert(!std::is_copy_assignable_v<BufferGuard>);
static_assert(!std::is_copy_constructible_v<MemoryPool>);
static_assert(!std::is_move_constructible_v<MemoryPool>);

MemoryBudget budget_of(std::uint64_t bytes) {
  return MemoryBudget::from_bytes(bytes).value();
}

bool is_aligned(const std::byte* data, std::size_t alignment) {
  return reinterpret_cast<std::uintptr_t>(data) % alignment == 0;
}

void expect_consistent(const PoolStats& stats, const MemoryBudget& budget) {
  EXPECT_EQ(stats.reserved_bytes, stats.in_use_bytes + stats.cached_bytes);
  EXPECT_LE(stats.reserved_bytes, budget.bytes());
  EXPECT_LE(stats.reserved_bytes, stats.peak_reserved_bytes);
  EXPECT_LE(stats.peak_reserved_bytes, budget.bytes());
}

// ---- size_class ----

TEST(MemoryPoolSizeClass, KnownValues) {
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/1), 64U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/64), 64U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/65), 128U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/4095), 4096U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/4096), 4096U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/4097), 5120U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/6000), 6144U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/8192), 8192U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/8193), 10240U);
  EXPECT_EQ(MemoryPool::size_class(/*size_bytes=*/std::numeric_limits<std::size_t>::max()),
            std::numeric_limits<std::size_t>::max());
}

TEST(MemoryPoolSizeClass, SmallClassesAreMultiplesOf64) {
  for (std::size_t size = 1; size <= 4096; ++size) {
    const std::size_t class_bytes = MemoryPool::size_class(size);
    ASSERT_EQ(class_bytes % 64, 0U) << size;
    ASSERT_GE(class_bytes, size);
    ASSERT_LT(class_bytes - size, 64U) << size;
  }
}

TEST(MemoryPoolSizeClass, LargeClassesWasteAtMostAQuarter) {
  std::vector<std::size_t> sizes;
  for (std::size_t power = 4096; power <= (std::size_t{1} << 50); power *= 2) {
    for (const std::size_t delta : {std::size_t{0}, std::size_t{1}, power / 4, power / 4 + 1, power - 1}) {
      sizes.push_back(power + delta);
    }
  }
  std::mt19937_64 rng(/*seed=*/7);
  std::uniform_int_distribution<std::size_t> any_large(4097, std::size_t{1} << 50);
  for (int i = 0; i < 10000; ++i) sizes.push_back(any_large(rng));

  for (const std::size_t size : sizes) {
    const std::size_t class_bytes = MemoryPool::size_class(size);
    ASSERT_GE(class_bytes, size) << size;
    ASSERT_LE(class_bytes / 5 * 4, size) << size << " -> " << class_bytes;  // class <= 1.25 x size
    ASSERT_EQ(class_bytes % 1024, 0U) << size;
    ASSERT_LE(MemoryPool::size_class(size - 1), class_bytes) << size;  // monotonic
  }
}

// ---- errors ----

TEST(MemoryPoolAllocate, ZeroBytesIsInvalidArgument) {
  MemoryPool pool(MemoryBudget::unlimited());
  const Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/0);
  ASSERT_FALSE(guard.has_value());
  EXPECT_EQ(guard.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(pool.stats().failed_allocations, 0U);  // only budget refusals count
}

TEST(MemoryPoolAllocate, BadAlignmentIsInvalidArgument) {
  MemoryPool pool(MemoryBudget::unlimited());
  for (const std::size_t alignment : {std::size_t{0}, std::size_t{3}, std::size_t{96}, std::size_t{8192}}) {
    const Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/64, alignment);
    ASSERT_FALSE(guard.has_value()) << alignment;
    EXPECT_EQ(guard.error().code, ErrorCode::kInvalidArgument) << alignment;
  }
}

TEST(MemoryPoolAllocateArray, OverflowIsInvalidArgument) {
  MemoryPool pool(MemoryBudget::unlimited());
  const std::size_t max = std::numeric_limits<std::size_t>::max();
  const Result<BufferGuard> guard = pool.allocate_array(/*count=*/max / 2 + 1, /*element_bytes=*/2);
  ASSERT_FALSE(guard.has_value());
  EXPECT_EQ(guard.error().code, ErrorCode::kInvalidArgument);

  const Result<BufferGuard> empty = pool.allocate_array(/*count=*/0, /*element_bytes=*/4);
  ASSERT_FALSE(empty.has_value());
  EXPECT_EQ(empty.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(pool.stats().reserved_bytes, 0U);
}

TEST(MemoryPoolAllocateArray, GivesCountTimesElementBytes) {
  MemoryPool pool(MemoryBudget::unlimited());
  Result<BufferGuard> guard = pool.allocate_array(/*count=*/10, /*element_bytes=*/sizeof(double));
  ASSERT_TRUE(guard.has_value()) << guard.error().message;
  EXPECT_EQ(guard.value().size_bytes(), 80U);
  const std::span<double> values = guard.value().as<double>();
  ASSERT_EQ(values.size(), 10U);
  std::fill(values.begin(), values.end(), 1.5);
  EXPECT_EQ(guard.value().as<double>(/*count=*/3).size(), 3U);
}

TEST(MemoryPoolAllocate, OverBudgetFailsWithCountsAndMessage) {
  const MemoryBudget budget = budget_of(8 * kKiB);
  MemoryPool pool(budget);
  Result<BufferGuard> held = pool.allocate(/*size_bytes=*/4096);
  ASSERT_TRUE(held.has_value());

  const Result<BufferGuard> refused = pool.allocate(/*size_bytes=*/6000);  // class 6 KiB; 4 + 6 > 8
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().code, ErrorCode::kBudgetExceeded);
  const std::string& message = refused.error().message;
  EXPECT_NE(message.find("[memory-pool]"), std::string::npos) << message;
  EXPECT_NE(message.find("5.9 KiB"), std::string::npos) << message;  // requested
  EXPECT_NE(message.find("4.0 KiB"), std::string::npos) << message;  // reserved
  EXPECT_NE(message.find("8.0 KiB"), std::string::npos) << message;  // budget

  const Result<BufferGuard> huge = pool.allocate(/*size_bytes=*/std::numeric_limits<std::size_t>::max());
  ASSERT_FALSE(huge.has_value());
  EXPECT_EQ(huge.error().code, ErrorCode::kBudgetExceeded);

  const PoolStats stats = pool.stats();
  EXPECT_EQ(stats.failed_allocations, 2U);
  EXPECT_EQ(stats.trims, 0U);  // nothing was cached, so nothing to trim
  EXPECT_EQ(stats.misses, 1U);
  EXPECT_EQ(stats.reserved_bytes, 4096U);
  expect_consistent(stats, budget);
}

TEST(MemoryPoolAllocate, ExactlyTheBudgetFits) {
  const MemoryBudget budget = budget_of(4096);
  MemoryPool pool(budget);
  Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/4090);
  ASSERT_TRUE(guard.has_value()) << guard.error().message;
  EXPECT_EQ(pool.stats().peak_reserved_bytes, 4096U);
  EXPECT_FALSE(pool.allocate(/*size_bytes=*/1).has_value());
}

// ---- cache ----

TEST(MemoryPoolCache, ReleasedBlockIsReusedForTheSameClass) {
  MemoryPool pool(MemoryBudget::unlimited());
  std::byte* first_data = nullptr;
  {
    Result<BufferGuard> first = pool.allocate(/*size_bytes=*/1000);
    ASSERT_TRUE(first.has_value());
    first_data = first.value().data();
  }
  PoolStats stats = pool.stats();
  EXPECT_EQ(stats.misses, 1U);
  EXPECT_EQ(stats.hits, 0U);
  EXPECT_EQ(stats.in_use_bytes, 0U);
  EXPECT_EQ(stats.cached_bytes, 1024U);
  EXPECT_EQ(stats.reserved_bytes, 1024U);

  Result<BufferGuard> same_class = pool.allocate(/*size_bytes=*/1010);
  ASSERT_TRUE(same_class.has_value());
  EXPECT_EQ(same_class.value().data(), first_data);
  EXPECT_EQ(same_class.value().size_bytes(), 1010U);
  Result<BufferGuard> other_class = pool.allocate(/*size_bytes=*/100);
  ASSERT_TRUE(other_class.has_value());

  stats = pool.stats();
  EXPECT_EQ(stats.hits, 1U);
  EXPECT_EQ(stats.misses, 2U);
  EXPECT_EQ(stats.cached_bytes, 0U);
  EXPECT_EQ(stats.in_use_bytes, 1024U + 128U);
  EXPECT_EQ(stats.peak_reserved_bytes, 1024U + 128U);
}

TEST(MemoryPoolCache, TrimsBeforeFailing) {
  const MemoryBudget budget = budget_of(8 * kKiB);
  MemoryPool pool(budget);
  {
    Result<BufferGuard> a = pool.allocate(/*size_bytes=*/4096);
    ASSERT_TRUE(a.has_value());
  }
  EXPECT_EQ(pool.stats().cached_bytes, 4096U);

  // 4 KiB cached + 6 KiB fresh > 8 KiB: fits only once the cache is dropped.
  Result<BufferGuard> b = pool.allocate(/*size_bytes=*/6000);
  ASSERT_TRUE(b.has_value()) << b.error().message;
  const PoolStats stats = pool.stats();
  EXPECT_EQ(stats.trims, 1U);
  EXPECT_EQ(stats.failed_allocations, 0U);
  EXPECT_EQ(stats.cached_bytes, 0U);
  EXPECT_EQ(stats.in_use_bytes, 6144U);
  EXPECT_EQ(stats.peak_reserved_bytes, 6144U);
  expect_consistent(stats, budget);
}

TEST(MemoryPoolCache, ExplicitTrimFreesTheCache) {
  MemoryPool pool(budget_of(1 * kMiB));
  Result<BufferGuard> kept = pool.allocate(/*size_bytes=*/64);
  ASSERT_TRUE(kept.has_value());
  { ASSERT_TRUE(pool.allocate(/*size_bytes=*/10000).has_value()); }
  EXPECT_EQ(pool.stats().cached_bytes, 10240U);
  pool.trim();
  const PoolStats stats = pool.stats();
  EXPECT_EQ(stats.cached_bytes, 0U);
  EXPECT_EQ(stats.reserved_bytes, 64U);
  EXPECT_EQ(stats.in_use_bytes, 64U);
}

// ---- alignment ----

TEST(MemoryPoolAlignment, AtLeast64AndPageForLargeClasses) {
  MemoryPool pool(MemoryBudget::unlimited());
  std::vector<BufferGuard> guards;
  for (const std::size_t size : {std::size_t{1}, std::size_t{63}, std::size_t{100}, std::size_t{4095}}) {
    Result<BufferGuard> guard = pool.allocate(size);
    ASSERT_TRUE(guard.has_value());
    EXPECT_TRUE(is_aligned(guard.value().data(), 64)) << size;
    guards.push_back(std::move(guard).value());
  }
  for (const std::size_t size : {std::size_t{4096}, std::size_t{4097}, std::size_t{70000}}) {
    Result<BufferGuard> guard = pool.allocate(size);
    ASSERT_TRUE(guard.has_value());
    EXPECT_TRUE(is_aligned(guard.value().data(), 4096)) << size;
    guards.push_back(std::move(guard).value());
  }
}

TEST(MemoryPoolAlignment, HonoursRequestsAboveTheClassAlignment) {
  MemoryPool pool(MemoryBudget::unlimited());
  std::vector<BufferGuard> guards;
  for (const std::size_t alignment : {std::size_t{1}, std::size_t{128}, std::size_t{1024}, std::size_t{4096}}) {
    for (int i = 0; i < 4; ++i) {
      Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/100, alignment);
      ASSERT_TRUE(guard.has_value());
      EXPECT_TRUE(is_aligned(guard.value().data(), std::max(alignment, std::size_t{64}))) << alignment;
      guards.push_back(std::move(guard).value());
    }
  }
  guards.clear();  // every block of class 128 is now cached, with mixed alignments
  for (int i = 0; i < 8; ++i) {
    Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/100, /*alignment=*/4096);
    ASSERT_TRUE(guard.has_value());
    EXPECT_TRUE(is_aligned(guard.value().data(), 4096));
    guards.push_back(std::move(guard).value());
  }
}

TEST(MemoryPoolAlignment, CachedPageBlockServesSmallerAlignment) {
  MemoryPool pool(MemoryBudget::unlimited());
  { ASSERT_TRUE(pool.allocate(/*size_bytes=*/5000, /*alignment=*/4096).has_value()); }
  Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/5000, /*alignment=*/64);
  ASSERT_TRUE(guard.has_value());
  EXPECT_EQ(pool.stats().hits, 1U);
  Result<BufferGuard> again = pool.allocate(/*size_bytes=*/5000, /*alignment=*/4096);
  ASSERT_TRUE(again.has_value());
  EXPECT_TRUE(is_aligned(again.value().data(), 4096));
}

// ---- BufferGuard ----

TEST(BufferGuard, DefaultIsEmpty) {
  BufferGuard guard;
  EXPECT_EQ(guard.data(), nullptr);
  EXPECT_EQ(guard.size_bytes(), 0U);
  EXPECT_TRUE(guard.bytes().empty());
  guard.reset();  // no pool: nothing to return
}

TEST(BufferGuard, MoveLeavesSourceEmptyAndReturnsOnce) {
  MemoryPool pool(MemoryBudget::unlimited());
  Result<BufferGuard> made = pool.allocate(/*size_bytes=*/100);
  ASSERT_TRUE(made.has_value());
  BufferGuard first = std::move(made).value();
  std::byte* const data = first.data();
  ASSERT_NE(data, nullptr);

  BufferGuard second(std::move(first));
  EXPECT_EQ(first.data(), nullptr);  // NOLINT(bugprone-use-after-move): moved-from state is specified
  EXPECT_EQ(first.size_bytes(), 0U);
  EXPECT_EQ(second.data(), data);
  EXPECT_EQ(second.size_bytes(), 100U);
  EXPECT_EQ(pool.stats().in_use_bytes, 128U);

  // Move-assigning over a live guard returns the overwritten block.
  Result<BufferGuard> other = pool.allocate(/*size_bytes=*/1000);
  ASSERT_TRUE(other.has_value());
  BufferGuard third = std::move(other).value();
  third = std::move(second);
  EXPECT_EQ(second.data(), nullptr);  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(third.data(), data);
  PoolStats stats = pool.stats();
  EXPECT_EQ(stats.in_use_bytes, 128U);
  EXPECT_EQ(stats.cached_bytes, 1024U);

  third.reset();
  third.reset();  // a second reset returns nothing
  first.reset();  // moved-from guards return nothing
  stats = pool.stats();
  EXPECT_EQ(stats.in_use_bytes, 0U);
  EXPECT_EQ(stats.cached_bytes, 1024U + 128U);
  EXPECT_EQ(stats.reserved_bytes, 1024U + 128U);
}

TEST(BufferGuard, BytesCoverTheRequest) {
  MemoryPool pool(MemoryBudget::unlimited());
  Result<BufferGuard> guard = pool.allocate(/*size_bytes=*/5000);
  ASSERT_TRUE(guard.has_value());
  const std::span<std::byte> bytes = guard.value().bytes();
  ASSERT_EQ(bytes.size(), 5000U);
  std::memset(bytes.data(), 0xAB, bytes.size());  // AddressSanitizer checks the whole request is addressable
}

TEST(MemoryPoolDeathTest, DestroyingWithLiveGuardAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        auto pool = std::make_unique<MemoryPool>(MemoryBudget::unlimited());
        Result<BufferGuard> guard = pool->allocate(/*size_bytes=*/64);
        pool.reset();
      },
      "BufferGuard");
}

// ---- budget ceiling under load ----

// Sizes from 1 byte to 256 KiB, log-uniform, so every class range is exercised.
std::size_t random_size(std::mt19937& rng) {
  std::uniform_int_distribution<int> log2(0, 18);
  const std::size_t upper = std::size_t{1} << log2(rng);
  return std::uniform_int_distribution<std::size_t>(1, upper)(rng);
}

TEST(MemoryPoolBudget, RandomSequenceNeverPassesTheBudget) {
  const MemoryBudget budget = budget_of(1 * kMiB);
  MemoryPool pool(budget);
  std::mt19937 rng(/*seed=*/12345);
  std::vector<BufferGuard> held;
  std::uint64_t held_class_bytes = 0;
  std::uint64_t successes = 0;
  std::uint64_t refusals = 0;

  for (int step = 0; step < 5000; ++step) {
    if (held.empty() || rng() % 3 != 0) {
      const std::size_t size = random_size(rng);
      Result<BufferGuard> guard = pool.allocate(size);
      if (guard.has_value()) {
        ++successes;
        std::memset(guard.value().data(), step & 0xFF, size);
        held_class_bytes += MemoryPool::size_class(size);
        held.push_back(std::move(guard).value());
      } else {
        ASSERT_EQ(guard.error().code, ErrorCode::kBudgetExceeded);
        ++refusals;
      }
    } else {
      const std::size_t index = rng() % held.size();
      held_class_bytes -= MemoryPool::size_class(held[index].size_bytes());
      std::swap(held[index], held.back());
      held.pop_back();
    }
    const PoolStats stats = pool.stats();
    ASSERT_EQ(stats.in_use_bytes, held_class_bytes) << "step " << step;
    ASSERT_LE(stats.reserved_bytes, budget.bytes()) << "step " << step;
    ASSERT_EQ(stats.reserved_bytes, stats.in_use_bytes + stats.cached_bytes) << "step " << step;
  }
  held.clear();
  const PoolStats stats = pool.stats();
  EXPECT_EQ(stats.hits + stats.misses, successes);
  EXPECT_EQ(stats.failed_allocations, refusals);
  EXPECT_GT(refusals, 0U);  // the sequence does press against the budget
  EXPECT_GT(stats.hits, 0U);
  EXPECT_GT(stats.trims, 0U);
  EXPECT_EQ(stats.in_use_bytes, 0U);
  expect_consistent(stats, budget);
}

TEST(MemoryPoolBudget, ConcurrentAllocationNeverPassesTheBudget) {
  const MemoryBudget budget = budget_of(2 * kMiB);
  MemoryPool pool(budget);
  constexpr int kThreads = 4;
  constexpr int kSteps = 2000;
  std::atomic<std::uint64_t> successes{0};
  std::atomic<std::uint64_t> refusals{0};
  std::atomic<int> corrupted{0};

  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(/*seed=*/1000 + static_cast<unsigned>(t));
      std::vector<BufferGuard> held;
      const auto tag = static_cast<unsigned char>(t + 1);
      const auto release_one = [&] {
        const std::size_t index = rng() % held.size();
        const std::span<std::byte> bytes = held[index].bytes();
        // Each thread stamps its blocks; another stamp means the pool handed one block out twice.
        if (std::any_of(bytes.begin(), bytes.end(), [&](std::byte b) { return b != std::byte{tag}; })) ++corrupted;
        std::swap(held[index], held.back());
        held.pop_back();
      };
      for (int step = 0; step < kSteps; ++step) {
        if (held.empty() || rng() % 3 != 0) {
          const std::size_t size = random_size(rng);
          Result<BufferGuard> guard = pool.allocate(size);
          if (guard.has_value()) {
            ++successes;
            std::memset(guard.value().data(), tag, size);
            held.push_back(std::move(guard).value());
          } else {
            if (guard.error().code == ErrorCode::kBudgetExceeded) ++refusals;
          }
        } else {
          release_one();
        }
      }
      while (!held.empty()) release_one();
    });
  }
  for (std::thread& thread : threads) thread.join();

  const PoolStats stats = pool.stats();
  EXPECT_EQ(corrupted.load(), 0);
  EXPECT_EQ(stats.hits + stats.misses, successes.load());
  EXPECT_EQ(stats.failed_allocations, refusals.load());
  EXPECT_EQ(stats.in_use_bytes, 0U);
  EXPECT_GT(stats.peak_reserved_bytes, 0U);
  expect_consistent(stats, budget);
}

// A device's memory behind the pool: fresh blocks come from the source, freed ones go back to it (on trim and
// destruction), the budget still decides, and a refusal is an error, not a crash.
class CountingSource final : public BlockSource {
 public:
  std::byte* acquire(std::size_t class_bytes, std::size_t alignment) noexcept override {
    if (refuse) return nullptr;
    void* p = nullptr;
    if (posix_memalign(&p, alignment, class_bytes) != 0) return nullptr;
    ++acquired;
    live_bytes += class_bytes;
    return static_cast<std::byte*>(p);
  }
  void release(std::byte* data, std::size_t class_bytes) noexcept override {
    ++released;
    live_bytes -= class_bytes;
    std::free(data);
  }
  bool refuse = false;
  int acquired = 0;
  int released = 0;
  std::size_t live_bytes = 0;
};

TEST(MemoryPoolBlockSource, FreshBlocksComeFromTheSourceAndGoBack) {
  CountingSource source;
  {
    MemoryPool pool(MemoryBudget::from_bytes(256 * kKiB).value(), &source);
    {
      auto a = pool.allocate(100 * kKiB, 4096);
      ASSERT_TRUE(a.has_value());
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(a.value().data()) % 4096, 0u);
      EXPECT_EQ(source.acquired, 1);
      EXPECT_EQ(source.live_bytes, MemoryPool::size_class(100 * kKiB));
    }
    EXPECT_EQ(source.released, 0);  // cached for reuse
    auto again = pool.allocate(100 * kKiB);
    ASSERT_TRUE(again.has_value());
    EXPECT_EQ(source.acquired, 1);  // served from the cache
    auto over = pool.allocate(200 * kKiB);
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, ErrorCode::kBudgetExceeded);
    again.value().reset();
    pool.trim();
    EXPECT_EQ(source.released, 1);
    source.refuse = true;
    auto refused = pool.allocate(8 * kKiB);
    ASSERT_FALSE(refused.has_value());
    EXPECT_EQ(refused.error().code, ErrorCode::kBudgetExceeded);
    source.refuse = false;
    auto kept = pool.allocate(8 * kKiB);
    ASSERT_TRUE(kept.has_value());
  }
  EXPECT_EQ(source.acquired, source.released);  // the pool's destructor gave the cached block back
  EXPECT_EQ(source.live_bytes, 0u);
}

}  // namespace
}  // namespace edge_rt::memory_manager
