#pragma once
// UTF-8 decoding and the Unicode classes the tokenizers need (\p{L}, \p{N}, \s). Private to the library.

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace edge_rt::tokenizer::detail {

enum class Utf8Status : std::uint8_t {
  kComplete,    ///< A well-formed sequence (RFC 3629: no overlongs, no surrogates, at most U+10FFFF).
  kIncomplete,  ///< A well-formed prefix cut off by the end of the input; more bytes could complete it.
  kInvalid,     ///< A byte that can never start or continue a well-formed sequence here.
};

struct Utf8Step {
  Utf8Status status;
  std::size_t length_bytes;  ///< kComplete: the sequence; kIncomplete: the prefix present; kInvalid: 1.
  char32_t code_point;       ///< Valid only for kComplete.
};

/// Decodes the sequence starting at text[pos]. Precondition: pos < text.size().
Utf8Step decode_utf8(std::string_view text, std::size_t pos) noexcept;

/// Appends the UTF-8 encoding of `cp` (< 0x110000) to `out`.
void append_utf8(char32_t cp, std::string& out);

/// Unicode general category L* (letters), as regex \p{L}.
bool is_letter(char32_t cp) noexcept;
/// Unicode general category N* (numbers), as regex \p{N}.
bool is_number(char32_t cp) noexcept;
/// Unicode White_Space property, as \s in Rust regex and Oniguruma.
bool is_whitespace(char32_t cp) noexcept;

}  // namespace edge_rt::tokenizer::detail
