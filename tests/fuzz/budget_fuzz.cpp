// libFuzzer harness: --memory-budget sizes ("512M", "1.5G", "64MiB", "unlimited") and comma lists of integers
// ("1,2,4", as in benchmark's --threads).

#include "fuzz_util.hpp"
#include "preset.hpp"

#include <edge_rt/memory_manager/budget.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  const std::string_view text = fuzz::as_text(data, size);

  auto budget = memory_manager::MemoryBudget::parse(text);
  if (budget) {
    EDGE_RT_FUZZ_EXPECT(budget.value().bytes() > 0);  // documented: 0 is an error
    (void)budget.value().to_string();
  }

  constexpr std::int64_t kMin = 0;
  constexpr std::int64_t kMax = 1024;
  auto list = cli::parse_int_list(text, "--fuzz", kMin, kMax);
  if (list) {
    for (const std::int64_t v : list.value()) EDGE_RT_FUZZ_EXPECT(v >= kMin && v <= kMax);
  }
  return 0;
}
