#pragma once
// Pieces shared by the tokenizer implementations: vocabulary tables, the BPE merge loop, added-token splitting and
// the tokenizer.json readers. Private to the library.

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <boost/json.hpp>

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace edge_rt::tokenizer::detail {

/// Token strings by id and ids by string. Ids may have holes (empty strings); the first id of a string wins.
/// Copyable value type.
struct VocabTable {
  std::vector<std::string> by_id;
  std::unordered_map<std::string, TokenId> ids;

  std::optional<TokenId> find(std::string_view piece) const;
};

/// A token matched verbatim in the raw text before any other processing (HF "added_tokens").
struct AddedToken {
  std::string content;
  TokenId id = 0;
  bool special = false;      ///< Special tokens decode to "".
  bool lstrip = false;       ///< A match takes the whitespace before it.
  bool rstrip = false;       ///< A match takes the whitespace after it.
  bool single_word = false;  ///< Matches only where no word character touches it.
  bool normalized = false;   ///< Matched in normalized text rather than the raw text (tokenizer.json).
};

/// The byte a "<0xXX>" piece stands for (SentencePiece byte fallback), or -1.
int byte_piece_value(std::string_view piece);

/// Adjacent pair (left id, right id) -> rank (lower merges first) and the id of the merged token. Copyable value type.
class MergeTable final {
 public:
  struct Rule {
    std::uint32_t rank;
    TokenId merged;
  };
  /// Keeps the existing rule when the pair is already present.
  void insert(TokenId left, TokenId right, Rule rule);
  const Rule* find(TokenId left, TokenId right) const;
  std::size_t size() const { return rules_.size(); }

 private:
  static std::uint64_t key(TokenId left, TokenId right) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(left)) << 32) | static_cast<std::uint32_t>(right);
  }
  std::unordered_map<std::uint64_t, Rule> rules_;
};

/// Repeatedly merges the adjacent pair with the lowest rank, leftmost on ties, until no pair has a rule.
/// O(n log n) with a heap over a linked list of symbols.
void apply_merges(std::vector<TokenId>& symbols, const MergeTable& merges);

/// Splits text at added tokens, leftmost-longest (HF AddedVocabulary). Copyable value type.
class AddedTokenSplitter final {
 public:
  AddedTokenSplitter() = default;
  explicit AddedTokenSplitter(std::vector<AddedToken> tokens);

  /// Calls on_text(std::string_view) for each non-empty stretch of plain text and on_token(TokenId) for each match.
  template <class OnText, class OnToken>
  void split(std::string_view text, OnText&& on_text, OnToken&& on_token) const {
    std::size_t start = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
      const AddedToken* match = match_at(text, pos);
      if (match == nullptr) {
        ++pos;
        continue;
      }
      std::size_t begin = pos;
      std::size_t end = pos + match->content.size();
      if (match->lstrip) begin = skip_space_back(text, start, begin);
      if (match->rstrip) end = skip_space(text, end);
      if (begin > start) on_text(text.substr(start, begin - start));
      on_token(match->id);
      pos = end;
      start = pos;
    }
    if (start < text.size()) on_text(text.substr(start));
  }

  const std::vector<AddedToken>& tokens() const { return tokens_; }

 private:
  /// The longest token at `pos` (single_word ones only between non-word characters), or nullptr.
  const AddedToken* match_at(std::string_view text, std::size_t pos) const;
  static std::size_t skip_space_back(std::string_view text, std::size_t floor, std::size_t pos);
  static std::size_t skip_space(std::string_view text, std::size_t pos);

  std::vector<AddedToken> tokens_;                        // longest first
  std::array<std::vector<std::uint32_t>, 256> by_first_;  // indices into tokens_, by first byte
};

// ---- Files and tokenizer.json ----

/// Whole file as bytes: a regular file of at most kMaxTokenizerBytes (core/file.hpp). kIoError / kInvalidFormat.
Result<std::string> read_file_bytes(const std::filesystem::path& path);
/// Parses JSON text whose top level must be an object (depth <= 64). kInvalidFormat ("not valid JSON").
Result<boost::json::value> parse_json_text(std::string_view text, const std::string& file);
/// read_file_bytes + parse_json_text.
Result<boost::json::value> read_json_file(const std::filesystem::path& path);

/// Object member `key` of `parent` (an object), or nullptr.
const boost::json::value* member(const boost::json::value& parent, std::string_view key);
/// True when `v` is non-null and the string `s`.
bool is_string(const boost::json::value* v, std::string_view s);
/// True when `v` is non-null and the boolean `b`.
bool is_bool(const boost::json::value* v, bool b);

/// `model.vocab`: {"piece": id, ...}. Rejects non-integer, negative, duplicate and absurdly large ids.
Result<VocabTable> vocab_from_json(const boost::json::value& vocab, const std::string& file, std::string_view field);

/// `added_tokens`: [{"id", "content", "special"}, ...], entered into `vocab` (extending it past its end if needed).
Result<std::vector<AddedToken>> added_tokens_from_json(const boost::json::value* added, VocabTable& vocab,
                                                       const std::string& file);

/// A TemplateProcessing post_processor whose "single" template is prefix + $A + suffix (tokens as content and id);
/// null when both are empty.
boost::json::value template_processing(const std::vector<std::pair<std::string, TokenId>>& prefix,
                                       const std::vector<std::pair<std::string, TokenId>>& suffix);

/// `model.merges`: ["a b", ...] or [["a", "b"], ...].
Result<std::vector<std::pair<std::string, std::string>>> merges_from_json(const boost::json::value& merges,
                                                                          const std::string& file);

enum class MergeRank : std::uint8_t {
  kByIndex,        ///< rank = position in the list (GPT-2, HF BPE)
  kByMergedPiece,  ///< rank = first position producing the same merged token (SentencePiece: by piece score)
};
/// Resolves merges against `vocab`. kInvalidFormat when a merge names an unknown token or a merged token that is
/// not in the vocabulary. `field` names the source in messages ("model.merges", "merges.txt line").
Result<MergeTable> build_merge_table(const std::vector<std::pair<std::string, std::string>>& merges,
                                     const VocabTable& vocab, MergeRank rank, const std::string& file,
                                     std::string_view field);

// ---- Tokenizer builders ----

/// Metaspace prepend_scheme (tokenizers): never, only at the start of the text, or before every segment.
enum class PrependScheme : std::uint8_t { kNever, kFirst, kAlways };

/// SentencePiece-style BPE over pieces that use U+2581 for spaces.
struct SentencePieceModel {
  VocabTable vocab;
  MergeTable merges;
  std::vector<AddedToken> added;     ///< Split out of the text first (GGUF control tokens); empty for llama2.c.
  std::vector<TokenId> control_ids;  ///< Decode to "" (<unk>, <s>, </s>, special added tokens).
  std::optional<TokenId> unk_id;
  std::optional<TokenId> bos_id;
  std::optional<TokenId> eos_id;
  bool byte_fallback = true;
  bool add_space_prefix = true;         ///< Dummy "▁" before each plain-text segment; ' ' becomes "▁" either way.
  std::vector<TokenId> prefix, suffix;  ///< Tokenizer::special_prefix() / special_suffix()
};
std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(SentencePieceModel model);

/// Appends to vocab.merges every split of each piece (ids from first_id) into two pieces of the vocabulary, pieces
/// by descending score: SentencePiece BPE merges the pair whose merged piece scores highest.
void add_score_merges(SentencePieceVocab& vocab, std::size_t first_id);
/// The vocabulary, ids (pieces from first_id on, as add_score_merges was given) and merge table (ranked by the
/// merged piece's score) of `vocab`; the caller sets the rest.
SentencePieceModel sentencepiece_model_of(SentencePieceVocab vocab, std::size_t first_id);

/// A tokenizer.json tokenizer (load_tokenizer_json); `config` is tokenizer_config.json or nullptr.
Result<std::unique_ptr<Tokenizer>> hf_tokenizer_from_json(const boost::json::value& root,
                                                          const boost::json::value* config, const std::string& file,
                                                          const std::string& config_file);

}  // namespace edge_rt::tokenizer::detail
