// libFuzzer harness: a GGUF file's header (metadata of every value type, nested arrays, tensor infos, alignment,
// data bounds) and, when it parses, the tokenizer its tokenizer.ggml.* keys describe. Input: the file's bytes.

#include "exercise_tokenizer.hpp"
#include "fuzz_util.hpp"

#include <edge_rt/model_ir/gguf.hpp>
#include <edge_rt/tensor_core/tensor.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  static const std::string label = "fuzz.gguf";
  const auto bytes = std::as_bytes(std::span(data, size));
  auto parsed = model_ir::parse_gguf_header(bytes, size, label);
  if (!parsed) return 0;
  // Documented: every tensor inside the file, sized by its dtype and shape, none overlapping another.
  for (const model_ir::TensorInfo& t : parsed.value().first) {
    EDGE_RT_FUZZ_EXPECT(t.size_bytes <= size && t.offset_bytes <= size - t.size_bytes);
    EDGE_RT_FUZZ_EXPECT(tensor_core::storage_bytes(t.dtype, t.shape) == t.size_bytes);
  }
  // The tokenizer metadata, as tokenizer::load_tokenizer reads it from a file.
  const auto& meta = parsed.value().second;
  const auto find = [&](const char* key) -> const model_ir::GgufValue* {
    const auto it = meta.find(key);
    return it == meta.end() ? nullptr : &it->second;
  };
  const model_ir::GgufValue* model = find("tokenizer.ggml.model");
  const model_ir::GgufValue* tokens = find("tokenizer.ggml.tokens");
  if (!model || model->type != model_ir::GgufType::kString || !tokens) return 0;
  tokenizer::GgmlVocab v;
  v.model = model->string;
  v.tokens = tokens->strings;
  if (const auto* pre = find("tokenizer.ggml.pre"); pre) v.pre = pre->string;
  if (const auto* merges = find("tokenizer.ggml.merges"); merges) v.merges = merges->strings;
  if (const auto* scores = find("tokenizer.ggml.scores"); scores)
    v.scores.assign(scores->numbers.begin(), scores->numbers.end());
  if (const auto* types = find("tokenizer.ggml.token_type"); types) {
    for (double t : types->numbers) v.token_types.push_back(static_cast<std::int32_t>(t));
  }
  if (const auto* bos = find("tokenizer.ggml.bos_token_id"); bos && bos->is_integer()) {
    v.bos_id = static_cast<tokenizer::TokenId>(bos->integer);
  }
  auto tok = tokenizer::tokenizer_from_ggml(v, label);
  if (!tok) return 0;
  fuzz::exercise_tokenizer(*tok.value(), "Hello world 123 <|im_start|>\xff");
  return 0;
}
