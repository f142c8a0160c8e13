#pragma once
// The stages of a Hugging Face tokenizer.json (huggingface/tokenizers, docs "The tokenization pipeline"):
// normalizer, pre-tokenizer and decoder, read from their JSON and applied to text. Private to the library.

#include "internal.hpp"
#include "regex.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::tokenizer::detail {

/// A stretch of text between pre-tokenizer splits. `at_start`: it begins at offset 0 of the encoded text
/// (Metaspace's prepend_scheme "first" prepends only there).
struct Piece {
  std::string text;
  bool at_start = false;
};

/// Where the matches of a Split pattern go (tokenizers SplitDelimiterBehavior).
enum class SplitBehavior : std::uint8_t { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

/// A literal string or a regex; matches are non-overlapping, left to right. Move-only.
struct Pattern {
  std::string literal;         ///< used when regex is empty
  std::optional<Regex> regex;  ///< {"Regex": "..."}
  void for_each_match(std::string_view text, const std::function<void(std::size_t, std::size_t)>& on_match) const;
};

/// One normalizer (a Sequence is flattened into a list of these). Move-only.
struct NormalizeStep {
  enum class Kind : std::uint8_t { kNfc, kNfd, kNfkc, kNfkd, kLowercase, kPrepend, kReplace, kStrip };
  Kind kind = Kind::kNfc;
  std::string content;  ///< Prepend: what is prepended; Replace: the replacement
  Pattern pattern;      ///< Replace
  bool strip_left = false, strip_right = false;
};
using Normalizer = std::vector<NormalizeStep>;

/// One pre-tokenizer (a Sequence is flattened). Move-only.
struct PreTokenizeStep {
  enum class Kind : std::uint8_t {
    kSplit,
    kByteLevel,
    kMetaspace,
    kDigits,
    kWhitespace,
    kWhitespaceSplit,
    kPunctuation
  };
  Kind kind = Kind::kSplit;
  Pattern pattern;  ///< Split; ByteLevel with use_regex (the GPT-2 pattern); Whitespace
  SplitBehavior behavior = SplitBehavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;  ///< ByteLevel
  std::string replacement;        ///< Metaspace
  PrependScheme prepend = PrependScheme::kAlways;
  bool split = true;               ///< Metaspace
  bool individual_digits = false;  ///< Digits
};
using PreTokenizer = std::vector<PreTokenizeStep>;

/// How one token's vocabulary string becomes bytes of decoded text (the decoder applied to a single token).
struct DecodeSteps {
  struct Replace {
    std::string from, to;
  };
  struct Step {
    enum class Kind : std::uint8_t { kByteLevel, kReplace, kByteFallback } kind;
    Replace replace;
  };
  std::vector<Step> steps;
  bool strips_leading_space = false;  ///< Strip(" ", start 1) after Fuse, or Metaspace with a prepend scheme
};

/// tokenizers' BPE model without dropout, continuing_subword_prefix or end_of_word_suffix. Copyable value.
struct BpeModel {
  VocabTable vocab;
  MergeTable merges;
  std::optional<TokenId> unk_id;
  bool fuse_unk = false;
  bool byte_fallback = false;
  bool ignore_merges = false;           ///< a pre-token that is itself in the vocabulary is taken whole (Llama-3)
  std::array<TokenId, 256> byte_ids{};  ///< <0xXX> tokens, -1 where absent

  /// Appends the ids of one pre-token; `symbols` is scratch space.
  void encode(std::string_view word, std::vector<TokenId>& symbols, std::vector<TokenId>& out) const;
};

/// Everything a tokenizer.json tokenizer is made of. Move-only (regexes).
struct HfParts {
  BpeModel model;
  std::vector<AddedToken> added;
  Normalizer normalizer;
  PreTokenizer pre_tokenizer;
  DecodeSteps decoder;
  std::vector<TokenId> prefix, suffix;  ///< Tokenizer::special_prefix() / special_suffix()
  std::optional<TokenId> bos, eos;
};
/// The tokenizer; fills model.byte_ids from the vocabulary's <0xXX> pieces.
std::unique_ptr<Tokenizer> make_hf_tokenizer(HfParts parts);

/// Pre-tokenizer steps for a GGUF tokenizer.ggml.pre of a "gpt2" vocabulary, as llama.cpp's llama-vocab.cpp splits
/// (its regexes, then ByteLevel without a prefix space); `ignore_merges` as llama.cpp sets it. kUnsupported
/// for a name it does not know.
Result<PreTokenizer> ggml_pre_tokenizer(std::string_view pre, bool& ignore_merges, const std::string& where);
/// The regex patterns behind ggml_pre_tokenizer (what ggml_tokenizer_json writes as Split pre-tokenizers).
Result<std::vector<std::string_view>> ggml_pre_patterns(std::string_view pre, bool& ignore_merges,
                                                        const std::string& where);

/// Parses `normalizer` (null, one normalizer or a Sequence). kUnsupported names a type it does not implement
/// (Precompiled, BertNormalizer, ...), kInvalidFormat a field of the wrong type; `where` prefixes messages.
Result<Normalizer> parse_normalizer(const boost::json::value* json, const std::string& where);
Result<PreTokenizer> parse_pre_tokenizer(const boost::json::value* json, const std::string& where);
Result<DecodeSteps> parse_decoder(const boost::json::value* json, const std::string& where);

std::string normalize(const Normalizer& normalizer, std::string_view text);
/// Applies the steps in order to `pieces` (in place).
void pre_tokenize(const PreTokenizer& pre, std::vector<Piece>& pieces);
/// The bytes a vocabulary string stands for in decoded text.
std::string decode_piece(const DecodeSteps& decoder, std::string_view piece);

/// GPT-2 byte alphabet (encoder.py bytes_to_unicode): byte b as the UTF-8 of its stand-in character.
const std::string& byte_level_char(unsigned char b);
/// Inverse of byte_level_char over a whole string; characters outside the alphabet stay as they are.
std::string byte_level_to_bytes(std::string_view symbols);

}  // namespace edge_rt::tokenizer::detail
