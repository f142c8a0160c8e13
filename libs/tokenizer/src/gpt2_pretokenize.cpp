#include "gpt2_pretokenize.hpp"

#include "unicode.hpp"

#include <cstdint>
#include <vector>

namespace edge_rt::tokenizer::detail {
namespace {

enum class CharClass : std::uint8_t { kLetter, kNumber, kSpace, kOther };

struct Char {
  std::size_t offset_bytes;
  char32_t cp;  // kInvalidByte for a byte that is not part of well-formed UTF-8
  CharClass cls;
};

constexpr char32_t kInvalidByte = 0xFFFFFFFFU;

std::vector<Char> classify(std::string_view text) {
  std::vector<Char> chars;
  chars.reserve(text.size());
  std::size_t pos = 0;
  while (pos < text.size()) {
    const Utf8Step step = decode_utf8(text, pos);
    if (step.status != Utf8Status::kComplete) {
      chars.push_back({pos, kInvalidByte, CharClass::kOther});
      ++pos;
      continue;
    }
    const char32_t cp = step.code_point;
    const CharClass cls = is_letter(cp)       ? CharClass::kLetter
                          : is_number(cp)     ? CharClass::kNumber
                          : is_whitespace(cp) ? CharClass::kSpace
                                              : CharClass::kOther;
    chars.push_back({pos, cp, cls});
    pos += step.length_bytes;
  }
  return chars;
}

}  // namespace

void gpt2_pretokenize(std::string_view text, const std::function<void(std::string_view)>& on_piece) {
  const std::vector<Char> chars = classify(text);
  const std::size_t n = chars.size();
  const auto cls_at = [&](std::size_t i) { return chars[i].cls; };
  const auto cp_at = [&](std::size_t i) { return i < n ? chars[i].cp : kInvalidByte; };
  const auto run_end = [&](std::size_t i, CharClass cls) {
    while (i < n && cls_at(i) == cls) ++i;
    return i;
  };
  // Length in chars of the match starting at i; always >= 1.
  const auto match_length = [&](std::size_t i) -> std::size_t {
    const char32_t c = cp_at(i);
    if (c == U'\'') {  // 's|'t|'re|'ve|'m|'ll|'d
      const char32_t c1 = cp_at(i + 1);
      const char32_t c2 = cp_at(i + 2);
      if (c1 == U's' || c1 == U't' || c1 == U'm' || c1 == U'd') return 2;
      if ((c1 == U'r' && c2 == U'e') || (c1 == U'v' && c2 == U'e') || (c1 == U'l' && c2 == U'l')) return 3;
    }
    const CharClass cls = cls_at(i);
    if (cls != CharClass::kSpace) return run_end(i, cls) - i;  // \p{L}+ | \p{N}+ | [^\s\p{L}\p{N}]+
    if (c == U' ' && i + 1 < n && cls_at(i + 1) != CharClass::kSpace) {
      return run_end(i + 1, cls_at(i + 1)) - i;  // " ?" before a letter, number or other run
    }
    const std::size_t end = run_end(i, CharClass::kSpace);
    if (end == n) return end - i;          // \s+(?!\S) at the end of the text: the whole run
    if (end - i >= 2) return end - i - 1;  // \s+(?!\S): leave the last space for the next word
    return 1;                              // \s+
  };
  std::size_t i = 0;
  while (i < n) {
    const std::size_t end = i + match_length(i);
    const std::size_t begin_bytes = chars[i].offset_bytes;
    const std::size_t end_bytes = end < n ? chars[end].offset_bytes : text.size();
    on_piece(text.substr(begin_bytes, end_bytes - begin_bytes));
    i = end;
  }
}

}  // namespace edge_rt::tokenizer::detail
