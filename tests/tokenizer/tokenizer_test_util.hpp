#pragma once
// Helpers shared by the tokenizer tests.

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::tokenizer::test {

inline std::filesystem::path gpt2_dir() {
  return std::filesystem::path(EDGE_RT_SHARED_MODELS_DIR) / "tiny-random-gpt2";
}

/// A fresh file under the gtest temp dir holding `bytes`; returns its path.
inline std::filesystem::path write_temp_file(const std::string& name, std::string_view bytes) {
  const std::filesystem::path path = std::filesystem::path(::testing::TempDir()) / ("edge_rt_tok_" + name);
  std::ofstream(path, std::ios::binary | std::ios::trunc)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  return path;
}

inline void append_utf8(char32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xC0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xE0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    out += static_cast<char>(0xF0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    out += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

/// Random valid UTF-8 mixing ASCII words, whitespace runs, newlines, tabs, Latin, Cyrillic, Arabic, CJK, emoji
/// (with skin-tone modifiers and ZWJ), Unicode spaces and random code points from every plane.
inline std::string random_text(std::mt19937& rng, int max_chars) {
  static constexpr std::string_view kAscii =
      "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 .,;:!?'\"-()[]{}<>/\\@#$%^&*_+=|~`";
  static constexpr char32_t kPool[] = {
      U' ',    U' ',    U' ',   U'\n',  U'\t',  U'\r',   0x00A0,  0x3000,  0x2003,  0x2028, 0x0085, U'\'',
      0x00E9,  0x00FC,  0x00DF, 0x0301, 0x0416, 0x044F,  0x0627,  0x0644,  0x05D0,  0x0915, 0x093F, 0x0E01,
      0x65E5,  0x672C,  0x8A9E, 0x4E2D, 0xAC00, 0x3042,  0x30AB,  0xFF10,  0x0663,  0x00B2, 0x2160, 0x1F642,
      0x1F44D, 0x1F3FD, 0x200D, 0x2764, 0xFE0F, 0x1F600, 0x1F1FA, 0x1F1F8, 0x10348, 0xE000, 0xFFFD, 0x2581};
  std::string out;
  const int n = static_cast<int>(rng() % static_cast<unsigned>(max_chars + 1));
  for (int i = 0; i < n; ++i) {
    const auto kind = rng() % 10;
    if (kind < 5) {
      out += kAscii[rng() % kAscii.size()];
    } else if (kind < 9) {
      append_utf8(kPool[rng() % std::size(kPool)], out);
    } else {
      char32_t cp = 0;
      do {
        cp = static_cast<char32_t>(rng() % 0x110000);
      } while (cp >= 0xD800 && cp <= 0xDFFF);
      append_utf8(cp, out);
    }
  }
  return out;
}

/// Strict UTF-8 validity (no overlongs, surrogates, or code points past U+10FFFF; no truncated sequence).
inline bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t len = 0;
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    if (b < 0x80) {
      len = 1;
    } else if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if (k == 1 ? (c < lo || c > hi) : ((c & 0xC0) != 0x80)) return false;
    }
    i += len;
  }
  return true;
}

}  // namespace edge_rt::tokenizer::test
