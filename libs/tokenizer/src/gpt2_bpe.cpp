// GPT-2 byte-level BPE (Radford et al. 2019; HF tokenizers ByteLevel pre-tokenizer/decoder and BPE model).

#include "gpt2_pretokenize.hpp"
#include "hf_pipeline.hpp"
#include "internal.hpp"
#include "unicode.hpp"

#include <array>

namespace edge_rt::tokenizer {
namespace detail {
namespace {
namespace json = boost::json;

constexpr std::string_view kEndOfText = "<|endoftext|>";

/// Immutable after construction; neither copy nor move (see Tokenizer).
class Gpt2Tokenizer final : public Tokenizer {
 public:
  Gpt2Tokenizer(VocabTable vocab, MergeTable merges, std::vector<AddedToken> added, Gpt2Options options)
      : merges_(std::move(merges)),
        splitter_(std::move(added)),
        token_bytes_(vocab.by_id.size()),
        split_digits_(options.split_digits),
        prefix_(std::move(options.prefix)),
        suffix_(std::move(options.suffix)) {
    for (unsigned b = 0; b < 256; ++b) {
      byte_ids_[b] = vocab.find(byte_level_char(static_cast<unsigned char>(b))).value_or(-1);
    }
    for (std::size_t id = 0; id < vocab.by_id.size(); ++id) token_bytes_[id] = byte_level_to_bytes(vocab.by_id[id]);
    std::optional<TokenId> end_of_text;
    for (const AddedToken& t : splitter_.tokens()) {
      token_bytes_[static_cast<std::size_t>(t.id)] = t.special ? std::string() : t.content;
      if (t.content == kEndOfText) end_of_text = t.id;
    }
    if (!end_of_text) end_of_text = vocab.find(kEndOfText);
    const bool named = options.bos_id || options.eos_id;
    bos_ = named ? options.bos_id : end_of_text;
    eos_ = named ? options.eos_id : end_of_text;
    pieces_ = std::move(vocab.by_id);
  }

  std::vector<TokenId> encode(std::string_view text) const override {
    std::vector<TokenId> ids;
    std::vector<TokenId> word;
    const auto encode_word = [&](std::string_view piece) {
      word.clear();
      for (const char c : piece) {
        const TokenId id = byte_ids_[static_cast<unsigned char>(c)];
        if (id >= 0) word.push_back(id);  // a vocabulary without this byte symbol drops it, as HF does without unk
      }
      apply_merges(word, merges_);
      ids.insert(ids.end(), word.begin(), word.end());
    };
    const auto pretokenize = [&](std::string_view plain) {
      if (!split_digits_) return gpt2_pretokenize(plain, encode_word);
      // Each number character alone, the stretches between them through the GPT-2 pattern.
      std::size_t start = 0, pos = 0;
      while (pos < plain.size()) {
        const Utf8Step step = decode_utf8(plain, pos);
        const std::size_t length = step.status == Utf8Status::kComplete ? step.length_bytes : 1;
        if (step.status == Utf8Status::kComplete && is_number(step.code_point)) {
          if (pos > start) gpt2_pretokenize(plain.substr(start, pos - start), encode_word);
          encode_word(plain.substr(pos, length));
          start = pos + length;
        }
        pos += length;
      }
      if (start < plain.size()) gpt2_pretokenize(plain.substr(start), encode_word);
    };
    splitter_.split(text, pretokenize, [&](TokenId id) { ids.push_back(id); });
    return ids;
  }

  std::string token_bytes(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < token_bytes_.size(), "token id out of range");
    return token_bytes_[static_cast<std::size_t>(id)];
  }
  std::size_t vocab_size() const override { return token_bytes_.size(); }
  std::optional<TokenId> bos_id() const override { return bos_; }
  std::optional<TokenId> eos_id() const override { return eos_; }
  bool strips_leading_space() const override { return false; }
  std::string piece(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < pieces_.size(), "token id out of range");
    return pieces_[static_cast<std::size_t>(id)];
  }
  std::vector<TokenId> special_prefix() const override { return prefix_; }
  std::vector<TokenId> special_suffix() const override { return suffix_; }

 private:
  MergeTable merges_;
  AddedTokenSplitter splitter_;
  std::array<TokenId, 256> byte_ids_{};
  std::vector<std::string> token_bytes_;
  std::optional<TokenId> bos_;
  std::optional<TokenId> eos_;
  bool split_digits_ = false;
  std::vector<TokenId> prefix_;
  std::vector<TokenId> suffix_;
  std::vector<std::string> pieces_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_gpt2_tokenizer(VocabTable vocab, MergeTable merges, std::vector<AddedToken> added,
                                               Gpt2Options options) {
  return std::make_unique<Gpt2Tokenizer>(std::move(vocab), std::move(merges), std::move(added), options);
}

}  // namespace detail

Result<std::unique_ptr<Tokenizer>> load_gpt2_vocab_merges(const std::filesystem::path& vocab_json,
                                                          const std::filesystem::path& merges_txt) {
  EDGE_RT_TRY(const std::string vocab_text, detail::read_file_bytes(vocab_json));
  EDGE_RT_TRY(const std::string merges_text, detail::read_file_bytes(merges_txt));
  return parse_gpt2_vocab_merges(vocab_text, merges_text, vocab_json.string(), merges_txt.string());
}

Result<std::unique_ptr<Tokenizer>> parse_gpt2_vocab_merges(std::string_view vocab_json, std::string_view merges_txt,
                                                           const std::string& vocab_label,
                                                           const std::string& merges_label) {
  using namespace detail;
  EDGE_RT_TRY(const boost::json::value root, parse_json_text(vocab_json, vocab_label));
  EDGE_RT_TRY(VocabTable vocab, vocab_from_json(root, vocab_label, "vocab"));
  const std::string_view text = merges_txt;
  std::vector<std::pair<std::string, std::string>> merge_list;
  std::size_t line_start = 0;
  for (std::size_t line_no = 1; line_start < text.size(); ++line_no) {
    std::size_t line_end = text.find('\n', line_start);
    if (line_end == std::string_view::npos) line_end = text.size();
    std::string_view line = text.substr(line_start, line_end - line_start);
    line_start = line_end + 1;
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.empty() || (line_no == 1 && line.starts_with("#version"))) continue;
    const std::size_t space = line.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == line.size() ||
        line.find(' ', space + 1) != std::string_view::npos) {
      return fail(ErrorCode::kInvalidFormat,
                  "[tokenizer] " + merges_label + ": line " + std::to_string(line_no) + " is not \"left right\"");
    }
    merge_list.emplace_back(line.substr(0, space), line.substr(space + 1));
  }
  EDGE_RT_TRY(MergeTable merges, build_merge_table(merge_list, vocab, MergeRank::kByIndex, merges_label, "merge"));
  // vocab.json carries no added_tokens; GPT-2's only special token is <|endoftext|>.
  std::vector<AddedToken> added;
  if (const std::optional<TokenId> eot = vocab.find(kEndOfText)) {
    added.push_back({std::string(kEndOfText), *eot, /*special=*/true});
  }
  return make_gpt2_tokenizer(std::move(vocab), std::move(merges), std::move(added));
}

}  // namespace edge_rt::tokenizer
