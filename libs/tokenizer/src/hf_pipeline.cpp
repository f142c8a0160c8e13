// tokenizer.json normalizers, pre-tokenizers and decoders (huggingface/tokenizers: src/normalizers,
// src/pre_tokenizers, src/decoders; the split behaviours of src/tokenizer/normalizer.rs). Unicode normalization
// through utf8proc.

#include "hf_pipeline.hpp"
#include "unicode.hpp"

#include <utf8proc.h>

#include <array>
#include <cstdlib>
#include <memory>

namespace edge_rt::tokenizer::detail {
namespace json = boost::json;

namespace {

// ---- The GPT-2 byte alphabet ----

constexpr std::array<char32_t, 256> bytes_to_unicode() {
  std::array<char32_t, 256> table{};
  const auto printable = [](unsigned b) { return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
  char32_t next = 256;
  for (unsigned b = 0; b < 256; ++b) table[b] = printable(b) ? static_cast<char32_t>(b) : next++;
  return table;
}
constexpr std::array<char32_t, 256> kByteToUnicode = bytes_to_unicode();

constexpr std::array<std::int16_t, 512> unicode_to_byte() {
  std::array<std::int16_t, 512> table{};
  for (auto& t : table) t = -1;
  for (unsigned b = 0; b < 256; ++b) table[kByteToUnicode[b]] = static_cast<std::int16_t>(b);
  return table;
}
constexpr std::array<std::int16_t, 512> kUnicodeToByte = unicode_to_byte();

// The GPT-2 pattern, as ByteLevel's use_regex applies it (tokenizers src/pre_tokenizers/byte_level.rs).
constexpr std::string_view kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
// llama.cpp's pre-tokenizer regexes (llama-vocab.cpp), which are those of the families' tokenizer.json files.
constexpr std::string_view kLlama3Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Pattern =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
// The Whitespace pre-tokenizer's pattern; its matches are kept, the whitespace between them removed.
constexpr std::string_view kWordsPattern = R"(\w+|[^\w\s]+)";

// ---- JSON helpers ----

std::string type_of(const json::value& v) {
  const json::value* t = member(v, "type");
  return t != nullptr && t->is_string() ? std::string(t->get_string()) : std::string();
}

Result<std::string> string_field(const json::value& v, std::string_view key, const std::string& where,
                                 std::optional<std::string> fallback = std::nullopt) {
  const json::value* f = member(v, key);
  if (f == nullptr || f->is_null()) {
    if (fallback) return *fallback;
    return fail(ErrorCode::kMissingField, where + " lacks \"" + std::string(key) + "\"");
  }
  if (!f->is_string()) return fail(ErrorCode::kInvalidFormat, where + "." + std::string(key) + " is not a string");
  return std::string(f->get_string());
}

Result<bool> bool_field(const json::value& v, std::string_view key, bool fallback, const std::string& where) {
  const json::value* f = member(v, key);
  if (f == nullptr || f->is_null()) return fallback;
  if (!f->is_bool()) return fail(ErrorCode::kInvalidFormat, where + "." + std::string(key) + " is not a boolean");
  return f->get_bool();
}

/// {"String": "..."} or {"Regex": "..."}.
Result<Pattern> parse_pattern(const json::value& v, const std::string& where) {
  const json::value* p = member(v, "pattern");
  if (p == nullptr) return fail(ErrorCode::kMissingField, where + " lacks \"pattern\"");
  Pattern pattern;
  if (const json::value* s = member(*p, "String"); s != nullptr && s->is_string()) {
    pattern.literal = std::string(s->get_string());
    if (pattern.literal.empty()) return fail(ErrorCode::kInvalidFormat, where + ".pattern.String is empty");
    return pattern;
  }
  if (const json::value* r = member(*p, "Regex"); r != nullptr && r->is_string()) {
    EDGE_RT_TRY(Regex regex, Regex::compile(r->get_string(), where + ".pattern.Regex"));
    pattern.regex.emplace(std::move(regex));
    return pattern;
  }
  return fail(ErrorCode::kInvalidFormat, where + ".pattern is neither {\"String\": ...} nor {\"Regex\": ...}");
}

Result<SplitBehavior> parse_behavior(const json::value& v, const std::string& where, SplitBehavior fallback) {
  const json::value* b = member(v, "behavior");
  if (b == nullptr || b->is_null()) return fallback;
  static constexpr std::array<std::pair<std::string_view, SplitBehavior>, 5> kNames{{
      {"Removed", SplitBehavior::kRemoved},
      {"Isolated", SplitBehavior::kIsolated},
      {"MergedWithPrevious", SplitBehavior::kMergedWithPrevious},
      {"MergedWithNext", SplitBehavior::kMergedWithNext},
      {"Contiguous", SplitBehavior::kContiguous},
  }};
  for (const auto& [name, behavior] : kNames) {
    if (is_string(b, name)) return behavior;
  }
  return fail(ErrorCode::kInvalidFormat, where + ".behavior is " + json::serialize(*b) +
                                             ", expected Removed, Isolated, MergedWithPrevious, MergedWithNext or "
                                             "Contiguous");
}

Result<PrependScheme> parse_prepend_scheme(const json::value& v, const std::string& where) {
  const json::value* scheme = member(v, "prepend_scheme");
  if (scheme == nullptr || scheme->is_null()) {  // files before tokenizers 0.14: add_prefix_space
    EDGE_RT_TRY(const bool add, bool_field(v, "add_prefix_space", true, where));
    return add ? PrependScheme::kAlways : PrependScheme::kNever;
  }
  if (is_string(scheme, "always")) return PrependScheme::kAlways;
  if (is_string(scheme, "first")) return PrependScheme::kFirst;
  if (is_string(scheme, "never")) return PrependScheme::kNever;
  return fail(ErrorCode::kInvalidFormat,
              where + ".prepend_scheme is " + json::serialize(*scheme) + ", expected always, first or never");
}

/// A component and the members of a Sequence (key `list`), in order.
template <class Visit>
Result<void> flatten(const json::value& v, std::string_view list, const std::string& where, Visit&& visit) {
  if (type_of(v) == "Sequence") {
    const json::value* items = member(v, list);
    if (items == nullptr || !items->is_array()) {
      return fail(ErrorCode::kInvalidFormat, where + "." + std::string(list) + " is not an array");
    }
    for (std::size_t i = 0; i < items->as_array().size(); ++i) {
      EDGE_RT_TRY(
          flatten(items->as_array()[i], list, where + "." + std::string(list) + "[" + std::to_string(i) + "]", visit));
    }
    return boost::outcome_v2::success();
  }
  return visit(v, where);
}

Result<void> unsupported(const json::value& v, const std::string& where) {
  const json::value* type = member(v, "type");
  if (type == nullptr) return fail(ErrorCode::kMissingField, where + " lacks \"type\"");
  return fail(ErrorCode::kUnsupported, where + ": type " + json::serialize(*type) + " is not supported");
}

// ---- Splitting ----

struct Segment {
  std::size_t begin, end;
  bool is_match;
};

/// Splits `piece` at `matches` (sorted, non-overlapping) as tokenizers' NormalizedString::split does.
void split_into(const Piece& piece, const std::vector<std::pair<std::size_t, std::size_t>>& matches,
                SplitBehavior behavior, bool invert, std::vector<Piece>& out) {
  std::vector<Segment> segments;
  std::size_t pos = 0;
  for (const auto& [begin, end] : matches) {
    if (begin > pos) segments.push_back({pos, begin, invert});
    segments.push_back({begin, end, !invert});
    pos = end;
  }
  if (pos < piece.text.size()) segments.push_back({pos, piece.text.size(), invert});

  std::vector<Segment> merged;  // is_match of the results is unused
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kRemoved:
      for (const Segment& s : segments) {
        if (!s.is_match) merged.push_back(s);
      }
      break;
    case SplitBehavior::kIsolated: merged = segments; break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Segment& s : segments) {
        if (s.is_match && !previous_match && !merged.empty()) {
          merged.back().end = s.end;
        } else {
          merged.push_back(s);
        }
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext:
      for (auto it = segments.rbegin(); it != segments.rend(); ++it) {
        if (it->is_match && !previous_match && !merged.empty()) {
          merged.back().begin = it->begin;
        } else {
          merged.push_back(*it);
        }
        previous_match = it->is_match;
      }
      std::reverse(merged.begin(), merged.end());
      break;
    case SplitBehavior::kContiguous:
      for (std::size_t i = 0; i < segments.size(); ++i) {
        if (i > 0 && segments[i].is_match == previous_match) {
          merged.back().end = segments[i].end;
        } else {
          merged.push_back(segments[i]);
        }
        previous_match = segments[i].is_match;
      }
      break;
  }
  for (const Segment& s : merged) {
    if (s.end > s.begin) out.push_back({piece.text.substr(s.begin, s.end - s.begin), piece.at_start && s.begin == 0});
  }
}

/// Every character (one byte where the text is not UTF-8) for which pred(code point) holds, as its own match.
template <class Pred>
std::vector<std::pair<std::size_t, std::size_t>> char_matches(std::string_view text, Pred&& pred) {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  for (std::size_t pos = 0; pos < text.size();) {
    const Utf8Step step = decode_utf8(text, pos);
    const std::size_t length = step.status == Utf8Status::kComplete ? step.length_bytes : 1;
    if (step.status == Utf8Status::kComplete && pred(step.code_point)) matches.emplace_back(pos, pos + length);
    pos += length;
  }
  return matches;
}

std::vector<std::pair<std::size_t, std::size_t>> pattern_matches(const Pattern& pattern, std::string_view text) {
  std::vector<std::pair<std::size_t, std::size_t>> matches;
  pattern.for_each_match(text, [&](std::size_t b, std::size_t e) { matches.emplace_back(b, e); });
  return matches;
}

bool is_punctuation(char32_t cp) {
  if (cp < 0x80)
    return (cp >= 0x21 && cp <= 0x2F) || (cp >= 0x3A && cp <= 0x40) || (cp >= 0x5B && cp <= 0x60) ||
           (cp >= 0x7B && cp <= 0x7E);
  switch (utf8proc_category(static_cast<utf8proc_int32_t>(cp))) {
    case UTF8PROC_CATEGORY_PC:
    case UTF8PROC_CATEGORY_PD:
    case UTF8PROC_CATEGORY_PS:
    case UTF8PROC_CATEGORY_PE:
    case UTF8PROC_CATEGORY_PI:
    case UTF8PROC_CATEGORY_PF:
    case UTF8PROC_CATEGORY_PO: return true;
    default: return false;
  }
}

/// Calls on_run(run, valid) over maximal stretches of well-formed and of ill-formed UTF-8.
template <class OnRun>
void for_each_utf8_run(std::string_view text, OnRun&& on_run) {
  std::size_t start = 0;
  bool valid = true;
  for (std::size_t pos = 0; pos < text.size();) {
    const Utf8Step step = decode_utf8(text, pos);
    const bool ok = step.status == Utf8Status::kComplete;
    if (ok != valid && pos > start) {
      on_run(text.substr(start, pos - start), valid);
      start = pos;
    }
    valid = ok;
    pos += ok ? step.length_bytes : 1;
  }
  if (start < text.size()) on_run(text.substr(start), valid);
}

std::string unicode_normalize(std::string_view text, utf8proc_option_t options) {
  std::string out;
  for_each_utf8_run(text, [&](std::string_view run, bool valid) {
    utf8proc_uint8_t* mapped = nullptr;
    const utf8proc_ssize_t n = valid ? utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(run.data()),
                                                    static_cast<utf8proc_ssize_t>(run.size()), &mapped, options)
                                     : -1;
    const std::unique_ptr<utf8proc_uint8_t, decltype(&std::free)> owner(mapped, &std::free);
    if (n < 0) {
      out.append(run);  // ill-formed bytes (or no memory) stay as they are
    } else {
      out.append(reinterpret_cast<const char*>(mapped), static_cast<std::size_t>(n));
    }
  });
  return out;
}

}  // namespace

const std::string& byte_level_char(unsigned char b) {
  static const std::array<std::string, 256> table = [] {
    std::array<std::string, 256> t;
    for (unsigned i = 0; i < 256; ++i) append_utf8(kByteToUnicode[i], t[i]);
    return t;
  }();
  return table[b];
}

std::string byte_level_to_bytes(std::string_view symbols) {
  std::string out;
  for (std::size_t pos = 0; pos < symbols.size();) {
    const Utf8Step step = decode_utf8(symbols, pos);
    if (step.status == Utf8Status::kComplete && step.code_point < kUnicodeToByte.size() &&
        kUnicodeToByte[step.code_point] >= 0) {
      out.push_back(static_cast<char>(kUnicodeToByte[step.code_point]));
      pos += step.length_bytes;
      continue;
    }
    const std::size_t length = step.status == Utf8Status::kComplete ? step.length_bytes : 1;
    out.append(symbols.substr(pos, length));
    pos += length;
  }
  return out;
}

Result<std::vector<std::string_view>> ggml_pre_patterns(std::string_view pre, bool& ignore_merges,
                                                        const std::string& where) {
  ignore_merges = false;
  if (pre.empty() || pre == "default" || pre == "gpt-2" || pre == "gpt2") return std::vector{kGpt2Pattern};
  if (pre == "smollm") return std::vector<std::string_view>{R"(\p{N})", kGpt2Pattern};
  if (pre == "llama3" || pre == "llama-v3" || pre == "llama-bpe") {
    ignore_merges = true;
    return std::vector{kLlama3Pattern};
  }
  if (pre == "qwen2") return std::vector{kQwen2Pattern};
  return fail(ErrorCode::kUnsupported, where + ": tokenizer.ggml.pre is '" + std::string(pre) +
                                           "', a pre-tokenizer edge-rt does not have yet; expected default, gpt-2, "
                                           "smollm, llama-bpe (llama3) or qwen2");
}

Result<PreTokenizer> ggml_pre_tokenizer(std::string_view pre, bool& ignore_merges, const std::string& where) {
  EDGE_RT_TRY(const std::vector<std::string_view> patterns, ggml_pre_patterns(pre, ignore_merges, where));
  PreTokenizer out;
  for (const std::string_view pattern : patterns) {
    PreTokenizeStep step;
    step.kind = PreTokenizeStep::Kind::kSplit;
    EDGE_RT_TRY(Regex regex, Regex::compile(pattern, where + ": tokenizer.ggml.pre"));
    step.pattern.regex.emplace(std::move(regex));
    out.push_back(std::move(step));
  }
  PreTokenizeStep byte_level;
  byte_level.kind = PreTokenizeStep::Kind::kByteLevel;
  out.push_back(std::move(byte_level));
  return out;
}

void Pattern::for_each_match(std::string_view text,
                             const std::function<void(std::size_t, std::size_t)>& on_match) const {
  if (regex) return regex->for_each_match(text, on_match);
  for (std::size_t pos = text.find(literal); pos != std::string_view::npos; pos = text.find(literal, pos)) {
    on_match(pos, pos + literal.size());
    pos += literal.size();
  }
}

Result<Normalizer> parse_normalizer(const json::value* v, const std::string& where) {
  Normalizer out;
  if (v == nullptr || v->is_null()) return out;
  EDGE_RT_TRY(flatten(*v, "normalizers", where, [&](const json::value& n, const std::string& at) -> Result<void> {
    const std::string type = type_of(n);
    NormalizeStep step;
    if (type == "NFC" || type == "NFD" || type == "NFKC" || type == "NFKD") {
      step.kind = type == "NFC"    ? NormalizeStep::Kind::kNfc
                  : type == "NFD"  ? NormalizeStep::Kind::kNfd
                  : type == "NFKC" ? NormalizeStep::Kind::kNfkc
                                   : NormalizeStep::Kind::kNfkd;
    } else if (type == "Lowercase") {
      step.kind = NormalizeStep::Kind::kLowercase;
    } else if (type == "Prepend") {
      step.kind = NormalizeStep::Kind::kPrepend;
      EDGE_RT_TRY(step.content, string_field(n, "prepend", at));
    } else if (type == "Replace") {
      step.kind = NormalizeStep::Kind::kReplace;
      EDGE_RT_TRY(step.pattern, parse_pattern(n, at));
      EDGE_RT_TRY(step.content, string_field(n, "content", at));
    } else if (type == "Strip") {
      step.kind = NormalizeStep::Kind::kStrip;
      EDGE_RT_TRY(step.strip_left, bool_field(n, "strip_left", true, at));
      EDGE_RT_TRY(step.strip_right, bool_field(n, "strip_right", true, at));
    } else {
      return unsupported(n, at);
    }
    out.push_back(std::move(step));
    return boost::outcome_v2::success();
  }));
  return out;
}

Result<PreTokenizer> parse_pre_tokenizer(const json::value* v, const std::string& where) {
  PreTokenizer out;
  if (v == nullptr || v->is_null()) return out;
  EDGE_RT_TRY(flatten(*v, "pretokenizers", where, [&](const json::value& p, const std::string& at) -> Result<void> {
    const std::string type = type_of(p);
    PreTokenizeStep step;
    if (type == "Split") {
      step.kind = PreTokenizeStep::Kind::kSplit;
      EDGE_RT_TRY(step.pattern, parse_pattern(p, at));
      EDGE_RT_TRY(step.behavior, parse_behavior(p, at, SplitBehavior::kIsolated));
      EDGE_RT_TRY(step.invert, bool_field(p, "invert", false, at));
    } else if (type == "ByteLevel") {
      step.kind = PreTokenizeStep::Kind::kByteLevel;
      EDGE_RT_TRY(step.add_prefix_space, bool_field(p, "add_prefix_space", true, at));
      EDGE_RT_TRY(const bool use_regex, bool_field(p, "use_regex", true, at));
      if (use_regex) {
        EDGE_RT_TRY(Regex regex, Regex::compile(kGpt2Pattern, at));
        step.pattern.regex.emplace(std::move(regex));
      }
    } else if (type == "Metaspace") {
      step.kind = PreTokenizeStep::Kind::kMetaspace;
      EDGE_RT_TRY(step.replacement, string_field(p, "replacement", at, "\xE2\x96\x81"));
      EDGE_RT_TRY(step.prepend, parse_prepend_scheme(p, at));
      EDGE_RT_TRY(step.split, bool_field(p, "split", true, at));
      if (step.replacement.empty()) return fail(ErrorCode::kInvalidFormat, at + ".replacement is empty");
    } else if (type == "Digits") {
      step.kind = PreTokenizeStep::Kind::kDigits;
      EDGE_RT_TRY(step.individual_digits, bool_field(p, "individual_digits", false, at));
    } else if (type == "Whitespace") {
      step.kind = PreTokenizeStep::Kind::kWhitespace;
      EDGE_RT_TRY(Regex regex, Regex::compile(kWordsPattern, at));
      step.pattern.regex.emplace(std::move(regex));
    } else if (type == "WhitespaceSplit") {
      step.kind = PreTokenizeStep::Kind::kWhitespaceSplit;
    } else if (type == "Punctuation") {
      step.kind = PreTokenizeStep::Kind::kPunctuation;
      EDGE_RT_TRY(step.behavior, parse_behavior(p, at, SplitBehavior::kIsolated));
    } else {
      return unsupported(p, at);
    }
    out.push_back(std::move(step));
    return boost::outcome_v2::success();
  }));
  return out;
}

Result<DecodeSteps> parse_decoder(const json::value* v, const std::string& where) {
  DecodeSteps out;
  if (v == nullptr || v->is_null()) return out;
  bool fused = false;
  EDGE_RT_TRY(flatten(*v, "decoders", where, [&](const json::value& d, const std::string& at) -> Result<void> {
    const std::string type = type_of(d);
    using Kind = DecodeSteps::Step::Kind;
    if (type == "ByteLevel") {
      out.steps.push_back({Kind::kByteLevel, {}});
    } else if (type == "ByteFallback") {
      out.steps.push_back({Kind::kByteFallback, {}});
    } else if (type == "Fuse") {
      fused = true;
    } else if (type == "Replace") {
      EDGE_RT_TRY(Pattern pattern, parse_pattern(d, at));
      if (pattern.regex) return fail(ErrorCode::kUnsupported, at + ": a Replace decoder with a Regex pattern");
      EDGE_RT_TRY(std::string content, string_field(d, "content", at));
      out.steps.push_back({Kind::kReplace, {std::move(pattern.literal), std::move(content)}});
    } else if (type == "Metaspace") {
      EDGE_RT_TRY(std::string replacement, string_field(d, "replacement", at, "\xE2\x96\x81"));
      EDGE_RT_TRY(const PrependScheme scheme, parse_prepend_scheme(d, at));
      out.steps.push_back({Kind::kReplace, {std::move(replacement), " "}});
      out.strips_leading_space = scheme != PrependScheme::kNever;
    } else if (type == "Strip") {
      // Only the form real files use: after Fuse, one leading space of the whole text (Llama's dummy prefix).
      EDGE_RT_TRY(const std::string content, string_field(d, "content", at));
      const json::value* start = member(d, "start");
      const json::value* stop = member(d, "stop");
      const bool one_leading = content == " " && start != nullptr && start->is_int64() && start->get_int64() == 1 &&
                               (stop == nullptr || (stop->is_int64() && stop->get_int64() == 0));
      if (!one_leading || !fused) {
        return fail(ErrorCode::kUnsupported, at + ": only Strip(\" \", start 1, stop 0) after Fuse is supported");
      }
      out.strips_leading_space = true;
    } else {
      return unsupported(d, at);
    }
    return boost::outcome_v2::success();
  }));
  return out;
}

std::string normalize(const Normalizer& normalizer, std::string_view text) {
  std::string s(text);
  for (const NormalizeStep& step : normalizer) {
    switch (step.kind) {
      case NormalizeStep::Kind::kNfc:
        s = unicode_normalize(s, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        break;
      case NormalizeStep::Kind::kNfd:
        s = unicode_normalize(s, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE));
        break;
      case NormalizeStep::Kind::kNfkc:
        s = unicode_normalize(s, static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_COMPOSE | UTF8PROC_COMPAT));
        break;
      case NormalizeStep::Kind::kNfkd:
        s = unicode_normalize(s,
                              static_cast<utf8proc_option_t>(UTF8PROC_STABLE | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT));
        break;
      case NormalizeStep::Kind::kLowercase: {
        std::string lower;
        for (std::size_t pos = 0; pos < s.size();) {
          const Utf8Step u = decode_utf8(s, pos);
          if (u.status != Utf8Status::kComplete) {
            lower.push_back(s[pos++]);
            continue;
          }
          append_utf8(static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(u.code_point))), lower);
          pos += u.length_bytes;
        }
        s = std::move(lower);
        break;
      }
      case NormalizeStep::Kind::kPrepend:
        if (!s.empty()) s.insert(0, step.content);
        break;
      case NormalizeStep::Kind::kReplace: {
        std::string replaced;
        std::size_t pos = 0;
        step.pattern.for_each_match(s, [&](std::size_t b, std::size_t e) {
          replaced.append(s, pos, b - pos);
          replaced += step.content;
          pos = e;
        });
        replaced.append(s, pos);
        s = std::move(replaced);
        break;
      }
      case NormalizeStep::Kind::kStrip: {
        std::size_t begin = 0;
        std::size_t end = s.size();
        const auto whitespace_at = [&](std::size_t pos) {
          const Utf8Step u = decode_utf8(s, pos);
          return u.status == Utf8Status::kComplete && is_whitespace(u.code_point) ? u.length_bytes : 0;
        };
        while (step.strip_left && begin < end) {
          const std::size_t n = whitespace_at(begin);
          if (n == 0) break;
          begin += n;
        }
        while (step.strip_right && end > begin) {
          std::size_t start = end - 1;  // back to the first byte of the last character
          while (start > begin && (static_cast<unsigned char>(s[start]) & 0xC0) == 0x80) --start;
          if (whitespace_at(start) != end - start) break;
          end = start;
        }
        s = s.substr(begin, end - begin);
        break;
      }
    }
  }
  return s;
}

void pre_tokenize(const PreTokenizer& pre, std::vector<Piece>& pieces) {
  std::vector<Piece> next;
  for (const PreTokenizeStep& step : pre) {
    next.clear();
    for (Piece& piece : pieces) {
      switch (step.kind) {
        case PreTokenizeStep::Kind::kSplit:
          split_into(piece, pattern_matches(step.pattern, piece.text), step.behavior, step.invert, next);
          break;
        case PreTokenizeStep::Kind::kByteLevel: {
          if (step.add_prefix_space && !piece.text.starts_with(' ')) piece.text.insert(0, 1, ' ');
          const std::size_t first = next.size();
          if (step.pattern.regex) {
            split_into(piece, pattern_matches(step.pattern, piece.text), SplitBehavior::kIsolated, false, next);
          } else {
            next.push_back(std::move(piece));
          }
          for (std::size_t i = first; i < next.size(); ++i) {
            std::string mapped;
            mapped.reserve(next[i].text.size() * 2);
            for (const char c : next[i].text) mapped += byte_level_char(static_cast<unsigned char>(c));
            next[i].text = std::move(mapped);
          }
          break;
        }
        case PreTokenizeStep::Kind::kMetaspace: {
          std::string replaced;
          for (const char c : piece.text) {
            if (c == ' ') {
              replaced += step.replacement;
            } else {
              replaced.push_back(c);
            }
          }
          const bool prepend =
              step.prepend == PrependScheme::kAlways || (step.prepend == PrependScheme::kFirst && piece.at_start);
          if (prepend && !replaced.starts_with(step.replacement)) replaced.insert(0, step.replacement);
          piece.text = std::move(replaced);
          if (!step.split) {
            next.push_back(std::move(piece));
            break;
          }
          Pattern literal{step.replacement, std::nullopt};
          split_into(piece, pattern_matches(literal, piece.text), SplitBehavior::kMergedWithNext, false, next);
          break;
        }
        case PreTokenizeStep::Kind::kDigits:
          split_into(piece, char_matches(piece.text, [](char32_t c) { return c >= U'0' && c <= U'9'; }),
                     step.individual_digits ? SplitBehavior::kIsolated : SplitBehavior::kContiguous, false, next);
          break;
        case PreTokenizeStep::Kind::kWhitespace:
          split_into(piece, pattern_matches(step.pattern, piece.text), SplitBehavior::kRemoved, true, next);
          break;
        case PreTokenizeStep::Kind::kWhitespaceSplit:
          split_into(piece, char_matches(piece.text, is_whitespace), SplitBehavior::kRemoved, false, next);
          break;
        case PreTokenizeStep::Kind::kPunctuation:
          split_into(piece, char_matches(piece.text, is_punctuation), step.behavior, false, next);
          break;
      }
    }
    pieces.swap(next);
  }
}

std::string decode_piece(const DecodeSteps& decoder, std::string_view piece) {
  std::string s(piece);
  for (const DecodeSteps::Step& step : decoder.steps) {
    switch (step.kind) {
      case DecodeSteps::Step::Kind::kByteLevel: s = byte_level_to_bytes(s); break;
      case DecodeSteps::Step::Kind::kReplace: {
        std::string out;
        std::size_t pos = 0;
        for (std::size_t hit = s.find(step.replace.from); hit != std::string::npos;
             hit = s.find(step.replace.from, pos)) {
          out.append(s, pos, hit - pos);
          out += step.replace.to;
          pos = hit + step.replace.from.size();
        }
        out.append(s, pos);
        s = std::move(out);
        break;
      }
      case DecodeSteps::Step::Kind::kByteFallback:
        if (const int byte = byte_piece_value(s); byte >= 0) s = std::string(1, static_cast<char>(byte));
        break;
    }
  }
  return s;
}

}  // namespace edge_rt::tokenizer::detail
