#pragma once
// Unicode regular expressions for tokenizer.json pre-tokenizers and normalizers, through PCRE2 (Perl-compatible,
// UTF + Unicode properties, JIT where the platform has it). Hugging Face tokenizers uses Oniguruma; the patterns
// real files use (\p{L}, \p{N}, \s, (?i:...), lookahead) mean the same in both. Private to the library.

#include <edge_rt/core/result.hpp>

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace edge_rt::tokenizer::detail {

/// A compiled pattern. Move-only; matching is const and thread-safe (match data is per call).
class Regex final {
 public:
  /// Compiles `pattern` (UTF-8, Unicode classes for \s \w \d and \p{..}). kInvalidFormat names `where` and the
  /// offset of the error in the pattern.
  static Result<Regex> compile(std::string_view pattern, const std::string& where);

  Regex(Regex&&) noexcept;
  Regex& operator=(Regex&&) noexcept;
  ~Regex();

  /// Calls on_match(begin, end) (byte offsets) for each non-empty, non-overlapping match in `text`, left to right.
  /// Bytes that are not well-formed UTF-8 never match (PCRE2_MATCH_INVALID_UTF). A match attempt that exceeds
  /// 200,000 backtracking steps (only a pathological pattern does) ends the search: the rest is then unmatched.
  void for_each_match(std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const;

 private:
  struct Impl;
  explicit Regex(std::unique_ptr<Impl> impl) noexcept;
  std::unique_ptr<Impl> impl_;
};

}  // namespace edge_rt::tokenizer::detail
