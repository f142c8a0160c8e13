// libFuzzer harness: Hugging Face config.json (GPT-2 and Llama keys, ranges, token ids).

#include "fuzz_util.hpp"

#include <edge_rt/model_ir/config.hpp>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  static const std::string label = "fuzz.config.json";
  auto parsed = model_ir::parse_hf_config_text(fuzz::as_text(data, size), label);
  if (!parsed) return 0;
  // Documented ranges: everything downstream sizes buffers from these without checking again.
  const model_ir::ModelConfig& c = parsed.value();
  EDGE_RT_FUZZ_EXPECT(c.d_model >= 1 && c.d_model <= model_ir::kMaxModelWidth);
  EDGE_RT_FUZZ_EXPECT(c.n_layers >= 1 && c.n_layers <= model_ir::kMaxLayers);
  EDGE_RT_FUZZ_EXPECT(c.n_heads >= 1 && c.n_heads <= model_ir::kMaxHeads);
  EDGE_RT_FUZZ_EXPECT(c.n_kv_heads >= 1 && c.n_heads % c.n_kv_heads == 0);
  EDGE_RT_FUZZ_EXPECT(c.head_dim >= 1 && c.head_dim <= model_ir::kMaxModelWidth);
  EDGE_RT_FUZZ_EXPECT(c.d_ff >= 1 && c.d_ff <= model_ir::kMaxModelWidth);
  EDGE_RT_FUZZ_EXPECT(c.vocab_size >= 1 && c.vocab_size <= model_ir::kMaxVocab);
  EDGE_RT_FUZZ_EXPECT(c.max_context >= 1 && c.max_context <= model_ir::kMaxContext);
  EDGE_RT_FUZZ_EXPECT(std::isfinite(c.norm_eps) && c.norm_eps > 0.0f && c.norm_eps <= 1.0f);
  EDGE_RT_FUZZ_EXPECT(std::isfinite(c.rope_theta) && c.rope_theta > 0.0f);
  if (c.bos_id) EDGE_RT_FUZZ_EXPECT(*c.bos_id >= 0 && *c.bos_id < c.vocab_size);
  for (const std::int32_t id : c.eos_ids) EDGE_RT_FUZZ_EXPECT(id >= 0 && id < c.vocab_size);
  return 0;
}
