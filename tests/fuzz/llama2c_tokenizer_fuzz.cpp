// libFuzzer harness: llama2.c tokenizer.bin (max_token_length, then score, length and bytes per piece), then
// encoding and decoding with the tokenizer it describes. Input: the file's bytes.

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
  static const std::string label = "fuzz.tokenizer.bin";
  const std::string_view bytes = fuzz::as_text(data, size);
  auto tok = tokenizer::parse_llama2c_tokenizer(bytes, label);
  if (!tok) return 0;
  EDGE_RT_FUZZ_EXPECT(tok.value() != nullptr);
  // Documented: ids 0/1/2 are <unk>/<s>/</s>, so a parsed vocabulary has at least three.
  EDGE_RT_FUZZ_EXPECT(tok.value()->vocab_size() >= 3);
  fuzz::exercise_tokenizer(*tok.value(), bytes);
  return 0;
}
