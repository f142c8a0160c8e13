// UTF-8 decoding and encoding; Unicode classes through utf8proc.

#include "unicode.hpp"

#include <utf8proc.h>

namespace edge_rt::tokenizer::detail {
namespace {

bool is_continuation(unsigned char byte) noexcept {
  return (byte & 0xC0U) == 0x80U;
}

}  // namespace

Utf8Step decode_utf8(std::string_view text, std::size_t pos) noexcept {
  const auto lead = static_cast<unsigned char>(text[pos]);
  if (lead < 0x80U) return {Utf8Status::kComplete, 1, lead};
  std::size_t length = 0;
  char32_t cp = 0;
  unsigned char min_second = 0x80U;
  unsigned char max_second = 0xBFU;
  if (lead >= 0xC2U && lead <= 0xDFU) {
    length = 2;
    cp = lead & 0x1FU;
  } else if (lead >= 0xE0U && lead <= 0xEFU) {
    length = 3;
    cp = lead & 0x0FU;
    if (lead == 0xE0U) min_second = 0xA0U;  // no overlongs
    if (lead == 0xEDU) max_second = 0x9FU;  // no surrogates
  } else if (lead >= 0xF0U && lead <= 0xF4U) {
    length = 4;
    cp = lead & 0x07U;
    if (lead == 0xF0U) min_second = 0x90U;  // no overlongs
    if (lead == 0xF4U) max_second = 0x8FU;  // nothing past U+10FFFF
  } else {
    return {Utf8Status::kInvalid, 1, 0};
  }
  for (std::size_t i = 1; i < length; ++i) {
    if (pos + i >= text.size()) return {Utf8Status::kIncomplete, i, 0};
    const auto byte = static_cast<unsigned char>(text[pos + i]);
    const bool ok = i == 1 ? (byte >= min_second && byte <= max_second) : is_continuation(byte);
    if (!ok) return {Utf8Status::kInvalid, 1, 0};
    cp = (cp << 6) | (byte & 0x3FU);
  }
  return {Utf8Status::kComplete, length, cp};
}

void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80U) {
    out.push_back(static_cast<char>(cp));
  } else if (cp < 0x800U) {
    out.push_back(static_cast<char>(0xC0U | (cp >> 6)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else if (cp < 0x10000U) {
    out.push_back(static_cast<char>(0xE0U | (cp >> 12)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  } else {
    out.push_back(static_cast<char>(0xF0U | (cp >> 18)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 12) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | ((cp >> 6) & 0x3FU)));
    out.push_back(static_cast<char>(0x80U | (cp & 0x3FU)));
  }
}

bool is_letter(char32_t cp) noexcept {
  if (cp < 0x80U) return (cp >= U'a' && cp <= U'z') || (cp >= U'A' && cp <= U'Z');
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO: return true;
    default: return false;
  }
}

bool is_number(char32_t cp) noexcept {
  if (cp < 0x80U) return cp >= U'0' && cp <= U'9';
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_ND:
    case UTF8PROC_CATEGORY_NL:
    case UTF8PROC_CATEGORY_NO: return true;
    default: return false;
  }
}

bool is_whitespace(char32_t cp) noexcept {
  switch (cp) {
    case U'\t':
    case U'\n':
    case U'\v':
    case U'\f':
    case U'\r':
    case U' ':
    case 0x85:
    case 0xA0:
    case 0x1680:
    case 0x2028:
    case 0x2029:
    case 0x202F:
    case 0x205F:
    case 0x3000: return true;
    default: return cp >= 0x2000U && cp <= 0x200AU;
  }
}

}  // namespace edge_rt::tokenizer::detail
