// libFuzzer harness: GPT-2 vocab.json + merges.txt, then encoding and decoding with the tokenizer they describe.
// Input: vocab.json, a '\0' byte, merges.txt (no '\0': all of it is vocab.json and merges.txt is empty).

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
  static const std::string vocab_label = "fuzz.vocab.json";
  static const std::string merges_label = "fuzz.merges.txt";
  const std::string_view text = fuzz::as_text(data, size);
  const std::size_t split = text.find('\0');
  const std::string_view vocab = text.substr(0, split);
  const std::string_view merges = split == std::string_view::npos ? std::string_view() : text.substr(split + 1);
  auto tok = tokenizer::parse_gpt2_vocab_merges(vocab, merges, vocab_label, merges_label);
  if (!tok) return 0;
  EDGE_RT_FUZZ_EXPECT(tok.value() != nullptr);
  fuzz::exercise_tokenizer(*tok.value(), text);
  return 0;
}
