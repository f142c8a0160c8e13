// libFuzzer harness: HF tokenizer.json (its normalizers, pre-tokenizers with PCRE2 regexes, BPE model, post-processor
// and decoders), then encoding and decoding with the tokenizer it describes.

#include "exercise_tokenizer.hpp"
#include "fuzz_util.hpp"

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  static const std::string label = "fuzz.tokenizer.json";
  const std::string_view text = fuzz::as_text(data, size);
  auto tok = tokenizer::parse_tokenizer_json(text, label);
  if (!tok) return 0;
  EDGE_RT_FUZZ_EXPECT(tok.value() != nullptr);
  fuzz::exercise_tokenizer(*tok.value(), text);
  return 0;
}
