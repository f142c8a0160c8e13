// PCRE2 behind detail::Regex.

#include "regex.hpp"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#include <array>
#include <cstdint>

namespace edge_rt::tokenizer::detail {

namespace {
struct CodeDeleter {
  void operator()(pcre2_code* c) const noexcept { pcre2_code_free(c); }
};
struct MatchDataDeleter {
  void operator()(pcre2_match_data* m) const noexcept { pcre2_match_data_free(m); }
};
struct ContextDeleter {
  void operator()(pcre2_match_context* c) const noexcept { pcre2_match_context_free(c); }
};

// Backtracking steps one match attempt may take. Real pre-tokenizer patterns need a few per byte; a hostile file's
// nested quantifiers would otherwise run to PCRE2's default of ten million on every attempt.
constexpr std::uint32_t kMatchLimit = 200'000;
}  // namespace

struct Regex::Impl {
  std::unique_ptr<pcre2_code, CodeDeleter> code;
  std::unique_ptr<pcre2_match_context, ContextDeleter> context;  // read-only once made: shared by threads
};

Regex::Regex(std::unique_ptr<Impl> impl) noexcept : impl_(std::move(impl)) {}
Regex::Regex(Regex&&) noexcept = default;
Regex& Regex::operator=(Regex&&) noexcept = default;
Regex::~Regex() = default;

Result<Regex> Regex::compile(std::string_view pattern, const std::string& where) {
  int error = 0;
  PCRE2_SIZE offset = 0;
  pcre2_code* code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(),
                                   PCRE2_UTF | PCRE2_UCP | PCRE2_MATCH_INVALID_UTF, &error, &offset, nullptr);
  if (code == nullptr) {
    std::array<PCRE2_UCHAR, 256> message{};
    pcre2_get_error_message(error, message.data(), message.size());
    return fail(ErrorCode::kInvalidFormat, where + ": regex does not compile at offset " + std::to_string(offset) +
                                               ": " + reinterpret_cast<const char*>(message.data()));
  }
  // JIT is an optimisation only: where it is unavailable the interpreter runs the same pattern.
  (void)pcre2_jit_compile(code, PCRE2_JIT_COMPLETE);
  auto impl = std::make_unique<Impl>();
  impl->code.reset(code);
  impl->context.reset(pcre2_match_context_create(nullptr));
  if (!impl->context) return fail(ErrorCode::kInternal, where + ": PCRE2 could not allocate a match context");
  pcre2_set_match_limit(impl->context.get(), kMatchLimit);
  return Regex(std::move(impl));
}

void Regex::for_each_match(std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const {
  const std::unique_ptr<pcre2_match_data, MatchDataDeleter> data(
      pcre2_match_data_create_from_pattern(impl_->code.get(), nullptr));
  if (!data) return;
  const auto* subject = reinterpret_cast<PCRE2_SPTR>(text.data());
  std::size_t start = 0;
  while (start < text.size()) {
    const int rc = pcre2_match(impl_->code.get(), subject, text.size(), start, 0, data.get(), impl_->context.get());
    if (rc < 0) return;  // PCRE2_ERROR_NOMATCH, or a resource limit: the rest stays unmatched
    const PCRE2_SIZE* ovector = pcre2_get_ovector_pointer(data.get());
    const std::size_t begin = ovector[0];
    const std::size_t end = ovector[1];
    if (end > begin) {
      on_match(begin, end);
      start = end;
      continue;
    }
    // An empty match: step over one character (one byte where the text is not UTF-8).
    start = begin + 1;
    while (start < text.size() && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) ++start;
  }
}

}  // namespace edge_rt::tokenizer::detail
