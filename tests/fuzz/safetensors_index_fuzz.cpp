// libFuzzer harness: model.safetensors.index.json (the "weight_map" of a sharded checkpoint).

#include "fuzz_util.hpp"

#include <edge_rt/model_ir/safetensors.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  static const std::string label = "fuzz.index.json";
  auto index = model_ir::parse_safetensors_index(fuzz::as_text(data, size), label);
  if (!index) return 0;
  // Documented: shard names are plain file names, so the checkpoint never opens a file outside the model folder.
  for (const auto& [tensor, shard] : index.value()) {
    EDGE_RT_FUZZ_EXPECT(shard.find('/') == std::string::npos);
    EDGE_RT_FUZZ_EXPECT(shard.find("..") == std::string::npos);
  }
  return 0;
}
