#pragma once
// The GPT-2 pre-tokenizer pattern, matched by hand. Private to the library.

#include <functional>
#include <string_view>

namespace edge_rt::tokenizer::detail {

/// Splits text as the GPT-2 regex does (Radford et al. 2019, encoder.py; HF ByteLevel pre-tokenizer):
///   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
/// Bytes that are not well-formed UTF-8 count one by one as "other" (neither \s, \p{L} nor \p{N}).
/// Calls on_piece for each match, in order; the pieces concatenate to `text`.
void gpt2_pretokenize(std::string_view text, const std::function<void(std::string_view)>& on_piece);

}  // namespace edge_rt::tokenizer::detail
