// libFuzzer harness: device presets (TOML through toml++: syntax, key types, unknown keys, value ranges).

#include "fuzz_util.hpp"
#include "preset.hpp"

#include <edge_rt/memory_manager/budget.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace {

bool finite_or_absent(const std::optional<double>& v) {
  return !v || std::isfinite(*v);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  static const std::string label = "fuzz.toml";
  auto parsed = cli::parse_preset(fuzz::as_text(data, size), label);
  if (!parsed) return 0;
  // Documented: every value is range-checked when the preset is parsed (NaN never passes), so a parsed preset
  // never hands a command a value its flag would refuse.
  const cli::Preset& p = parsed.value();
  EDGE_RT_FUZZ_EXPECT(p.adapt_policy().has_value());
  if (p.num_threads) EDGE_RT_FUZZ_EXPECT(*p.num_threads >= 0 && *p.num_threads <= cli::kMaxThreads);
  EDGE_RT_FUZZ_EXPECT(finite_or_absent(p.temperature) && finite_or_absent(p.top_p) && finite_or_absent(p.min_p) &&
                      finite_or_absent(p.repeat_penalty) && finite_or_absent(p.thermal_margin_c));
  if (p.memory_budget && *p.memory_budget != "auto") {
    EDGE_RT_FUZZ_EXPECT(memory_manager::MemoryBudget::parse(*p.memory_budget).has_value());
  }
  return 0;
}
