#pragma once
// What the tokenizer harnesses do with a tokenizer that parsed: encode text (BPE merges, byte fallback, added
// tokens), decode the ids in one go and through StreamingDecoder, and check the results against each other.

#include "fuzz_util.hpp"

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <algorithm>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::fuzz {

inline bool valid_id(const tokenizer::Tokenizer& tok, tokenizer::TokenId id) {
  return id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size();
}

/// Encodes a fixed sentence followed by the last (at most) 256 bytes of `input`, then decodes the ids.
inline void exercise_tokenizer(const tokenizer::Tokenizer& tok, std::string_view input) {
  if (const auto bos = tok.bos_id()) EDGE_RT_FUZZ_EXPECT(valid_id(tok, *bos));
  if (const auto eos = tok.eos_id()) EDGE_RT_FUZZ_EXPECT(valid_id(tok, *eos));

  // Every token's bytes (bounded, so that a huge vocabulary stays fast).
  const std::size_t shown = std::min<std::size_t>(tok.vocab_size(), 1024);
  for (std::size_t id = 0; id < shown; ++id) (void)tok.token_bytes(static_cast<tokenizer::TokenId>(id));

  // ASCII words, digits, punctuation, a contraction, two-, three- and four-byte UTF-8, "▁", a control token's text.
  std::string text = "Once upon a time, Lily's cat ate 123 fish!\n  caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 <s>";
  const std::size_t tail = std::min<std::size_t>(input.size(), 256);
  text.append(input.substr(input.size() - tail));

  const std::vector<tokenizer::TokenId> ids = tok.encode(text);
  for (const tokenizer::TokenId id : ids) EDGE_RT_FUZZ_EXPECT(valid_id(tok, id));
  const std::string decoded = tok.decode(ids);

  tokenizer::StreamingDecoder stream(tok);
  std::string streamed;
  for (const tokenizer::TokenId id : ids) streamed += stream.push(id);
  streamed += stream.flush();
  EDGE_RT_FUZZ_EXPECT(streamed == decoded);

  (void)tok.encode(std::string_view());
}

}  // namespace edge_rt::fuzz
