// A tokenizer.json tokenizer: added tokens, normalizer, pre-tokenizer, BPE model, post-processor and decoder, in
// the order of huggingface/tokenizers' TokenizerImpl::encode (src/tokenizer/mod.rs, added_vocabulary.rs,
// models/bpe/model.rs). tokenizer_config.json gives BOS/EOS and add_bos_token/add_eos_token.

#include "hf_pipeline.hpp"
#include "internal.hpp"
#include "unicode.hpp"

#include <array>
#include <cstdio>

namespace edge_rt::tokenizer {
namespace detail {
namespace {
namespace json = boost::json;

/// Immutable after construction; neither copy nor move (see Tokenizer).
class HfTokenizer final : public Tokenizer {
 public:
  explicit HfTokenizer(HfParts parts) : p_(std::move(parts)), special_(p_.model.vocab.by_id.size()) {
    std::vector<AddedToken> raw, normalized;
    for (const AddedToken& t : p_.added) {
      (t.normalized && !p_.normalizer.empty() ? normalized : raw).push_back(t);
      if (t.special) special_[static_cast<std::size_t>(t.id)] = true;
    }
    raw_added_ = AddedTokenSplitter(std::move(raw));
    normalized_added_ = AddedTokenSplitter(std::move(normalized));
  }

  std::vector<TokenId> encode(std::string_view text) const override {
    std::vector<TokenId> ids;
    std::vector<TokenId> scratch;
    std::vector<Piece> pieces;
    const auto on_token = [&](TokenId id) { ids.push_back(id); };
    raw_added_.split(
        text,
        [&](std::string_view segment) {
          const bool at_start = segment.data() == text.data();
          const std::string normalized = normalize(p_.normalizer, segment);
          normalized_added_.split(
              normalized,
              [&](std::string_view part) {
                pieces.clear();
                pieces.push_back({std::string(part), at_start && part.data() == normalized.data()});
                pre_tokenize(p_.pre_tokenizer, pieces);
                for (const Piece& piece : pieces) p_.model.encode(piece.text, scratch, ids);
              },
              on_token);
        },
        on_token);
    return ids;
  }

  // Decoded per call rather than held: a second copy of the vocabulary would sit outside the memory budget.
  std::string token_bytes(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < special_.size(), "token id out of range");
    const auto i = static_cast<std::size_t>(id);
    return special_[i] ? std::string() : decode_piece(p_.decoder, p_.model.vocab.by_id[i]);
  }
  std::string piece(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < special_.size(), "token id out of range");
    return p_.model.vocab.by_id[static_cast<std::size_t>(id)];
  }
  std::size_t vocab_size() const override { return special_.size(); }
  std::optional<TokenId> bos_id() const override { return p_.bos; }
  std::optional<TokenId> eos_id() const override { return p_.eos; }
  bool strips_leading_space() const override { return p_.decoder.strips_leading_space; }
  std::vector<TokenId> special_prefix() const override { return p_.prefix; }
  std::vector<TokenId> special_suffix() const override { return p_.suffix; }

 private:
  HfParts p_;
  AddedTokenSplitter raw_added_;
  AddedTokenSplitter normalized_added_;
  std::vector<bool> special_;  ///< by id: special added tokens decode to ""
};

/// A token named in tokenizer_config.json: "text" or {"content": "text", ...}; nullopt when null or absent.
Result<std::optional<TokenId>> config_token(const json::value* config, std::string_view key, const VocabTable& vocab,
                                            const std::string& where) {
  const json::value* v = config != nullptr ? member(*config, key) : nullptr;
  if (v == nullptr || v->is_null()) return std::optional<TokenId>();
  const json::value* content = v->is_object() ? member(*v, "content") : v;
  if (content == nullptr || !content->is_string()) {
    return fail(ErrorCode::kInvalidFormat,
                where + ": " + std::string(key) + " is neither a string nor {\"content\": string}");
  }
  const std::optional<TokenId> id = vocab.find(content->get_string());
  if (!id) {
    return fail(ErrorCode::kInvalidFormat,
                where + ": " + std::string(key) + " " + json::serialize(*content) + " is not in the vocabulary");
  }
  return id;
}

/// post_processor: the ids TemplateProcessing's "single" template puts before and after $A (also inside a
/// Sequence); Roberta/Bert processors: cls before, sep after; ByteLevel and null: none.
Result<void> read_post_processor(const json::value* v, const VocabTable& vocab, const std::string& where,
                                 std::vector<TokenId>& prefix, std::vector<TokenId>& suffix) {
  if (v == nullptr || v->is_null()) return boost::outcome_v2::success();
  const json::value* type = member(*v, "type");
  if (is_string(type, "Sequence")) {
    const json::value* list = member(*v, "processors");
    if (list == nullptr || !list->is_array()) {
      return fail(ErrorCode::kInvalidFormat, where + ".processors is not an array");
    }
    for (std::size_t i = 0; i < list->as_array().size(); ++i) {
      EDGE_RT_TRY(read_post_processor(&list->as_array()[i], vocab, where + ".processors[" + std::to_string(i) + "]",
                                      prefix, suffix));
    }
    return boost::outcome_v2::success();
  }
  if (is_string(type, "ByteLevel")) return boost::outcome_v2::success();
  if (is_string(type, "TemplateProcessing")) {
    const json::value* single = member(*v, "single");
    if (single == nullptr || !single->is_array()) {
      return fail(ErrorCode::kInvalidFormat, where + ".single is not an array");
    }
    const json::value* specials = member(*v, "special_tokens");
    bool after = false;
    for (std::size_t i = 0; i < single->as_array().size(); ++i) {
      const json::value& item = single->as_array()[i];
      const std::string at = where + ".single[" + std::to_string(i) + "]";
      if (member(item, "Sequence") != nullptr) {
        after = true;
        continue;
      }
      const json::value* special = member(item, "SpecialToken");
      const json::value* name = special != nullptr ? member(*special, "id") : nullptr;
      if (name == nullptr || !name->is_string()) {
        return fail(ErrorCode::kInvalidFormat, at + " is neither {\"Sequence\"} nor {\"SpecialToken\": {\"id\"}}");
      }
      const json::value* entry = specials != nullptr ? member(*specials, name->get_string()) : nullptr;
      const json::value* ids = entry != nullptr ? member(*entry, "ids") : nullptr;
      if (ids == nullptr || !ids->is_array()) {
        return fail(ErrorCode::kInvalidFormat,
                    where + ".special_tokens lacks " + json::serialize(*name) + " with an \"ids\" array");
      }
      for (const json::value& id : ids->as_array()) {
        if (!id.is_int64() || id.get_int64() < 0 || id.get_int64() >= static_cast<std::int64_t>(vocab.by_id.size())) {
          return fail(ErrorCode::kInvalidFormat,
                      where + ".special_tokens[" + json::serialize(*name) + "].ids holds an id outside the vocabulary");
        }
        (after ? suffix : prefix).push_back(static_cast<TokenId>(id.get_int64()));
      }
    }
    return boost::outcome_v2::success();
  }
  if (is_string(type, "RobertaProcessing") || is_string(type, "BertProcessing")) {
    for (const auto& [key, out] : {std::pair{"cls", &prefix}, std::pair{"sep", &suffix}}) {
      const json::value* pair = member(*v, key);
      if (pair == nullptr || !pair->is_array() || pair->as_array().size() != 2 || !pair->as_array()[1].is_int64()) {
        return fail(ErrorCode::kInvalidFormat, where + "." + key + " is not [token, id]");
      }
      const std::int64_t id = pair->as_array()[1].get_int64();
      if (id < 0 || id >= static_cast<std::int64_t>(vocab.by_id.size())) {
        return fail(ErrorCode::kInvalidFormat, where + "." + key + " names an id outside the vocabulary");
      }
      out->push_back(static_cast<TokenId>(id));
    }
    return boost::outcome_v2::success();
  }
  return fail(ErrorCode::kUnsupported,
              where + ": type " + (type ? json::serialize(*type) : "(none)") + " is not supported");
}

}  // namespace

void BpeModel::encode(std::string_view word, std::vector<TokenId>& symbols, std::vector<TokenId>& out) const {
  if (ignore_merges) {
    if (const std::optional<TokenId> whole = vocab.find(word)) {
      out.push_back(*whole);
      return;
    }
  }
  symbols.clear();
  bool last_unk = false;
  for (std::size_t pos = 0; pos < word.size();) {
    const Utf8Step step = decode_utf8(word, pos);
    const std::size_t length = step.status == Utf8Status::kComplete ? step.length_bytes : 1;
    const std::string_view ch = word.substr(pos, length);
    pos += length;
    if (const std::optional<TokenId> id = vocab.find(ch)) {
      symbols.push_back(*id);
      last_unk = false;
      continue;
    }
    if (byte_fallback &&
        std::ranges::all_of(ch, [&](char b) { return byte_ids[static_cast<unsigned char>(b)] >= 0; })) {
      for (const char b : ch) symbols.push_back(byte_ids[static_cast<unsigned char>(b)]);
      last_unk = false;
      continue;
    }
    if (!unk_id) continue;  // tokenizers drops a character it cannot represent when there is no unk_token
    if (!(fuse_unk && last_unk)) symbols.push_back(*unk_id);
    last_unk = true;
  }
  apply_merges(symbols, merges);
  out.insert(out.end(), symbols.begin(), symbols.end());
}

std::unique_ptr<Tokenizer> make_hf_tokenizer(HfParts parts) {
  for (unsigned b = 0; b < 256; ++b) {
    std::array<char, 8> name{};
    std::snprintf(name.data(), name.size(), "<0x%02X>", b);
    parts.model.byte_ids[b] = parts.model.vocab.find(name.data()).value_or(-1);
  }
  return std::make_unique<HfTokenizer>(std::move(parts));
}

Result<std::unique_ptr<Tokenizer>> hf_tokenizer_from_json(const json::value& root, const json::value* config,
                                                          const std::string& file, const std::string& config_file) {
  const std::string where = "[tokenizer] " + file;
  const json::value* model = member(root, "model");
  if (model == nullptr) return fail(ErrorCode::kMissingField, where + ": no \"model\"");
  const json::value* type = member(*model, "type");
  if (type != nullptr && !is_string(type, "BPE")) {
    return fail(ErrorCode::kUnsupported, where + ": model.type is " + json::serialize(*type) +
                                             ", expected \"BPE\" (WordPiece and Unigram models are not supported)");
  }
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    const json::value* v = member(*model, key);
    if (v != nullptr && !v->is_null() && !is_string(v, "")) {
      return fail(ErrorCode::kUnsupported, where + ": model." + key + " " + json::serialize(*v) + " is not supported");
    }
  }
  if (const json::value* dropout = member(*model, "dropout");
      dropout != nullptr && !dropout->is_null() && !(dropout->is_double() && dropout->get_double() == 0.0)) {
    return fail(ErrorCode::kUnsupported, where + ": model.dropout (BPE dropout is for training)");
  }
  const json::value* vocab_json = member(*model, "vocab");
  if (vocab_json == nullptr) return fail(ErrorCode::kMissingField, where + ": no \"model.vocab\"");
  const json::value* merges_json = member(*model, "merges");
  if (merges_json == nullptr) return fail(ErrorCode::kMissingField, where + ": no \"model.merges\"");

  HfParts parts;
  BpeModel& bpe = parts.model;
  EDGE_RT_TRY(bpe.vocab, vocab_from_json(*vocab_json, file, "model.vocab"));
  EDGE_RT_TRY(parts.added, added_tokens_from_json(member(root, "added_tokens"), bpe.vocab, file));
  EDGE_RT_TRY(const auto merge_list, merges_from_json(*merges_json, file));
  EDGE_RT_TRY(bpe.merges, build_merge_table(merge_list, bpe.vocab, MergeRank::kByIndex, file, "model.merges"));
  const auto flag = [&](std::string_view key) { return is_bool(member(*model, key), true); };
  bpe.fuse_unk = flag("fuse_unk");
  bpe.byte_fallback = flag("byte_fallback");
  bpe.ignore_merges = flag("ignore_merges");
  if (const json::value* unk = member(*model, "unk_token"); unk != nullptr && !unk->is_null()) {
    if (!unk->is_string()) return fail(ErrorCode::kInvalidFormat, where + ": model.unk_token is not a string");
    bpe.unk_id = bpe.vocab.find(unk->get_string());
    if (!bpe.unk_id) {
      return fail(ErrorCode::kInvalidFormat,
                  where + ": model.unk_token " + json::serialize(*unk) + " is not in the vocab");
    }
  }
  EDGE_RT_TRY(parts.normalizer, parse_normalizer(member(root, "normalizer"), where + ": normalizer"));
  EDGE_RT_TRY(parts.pre_tokenizer, parse_pre_tokenizer(member(root, "pre_tokenizer"), where + ": pre_tokenizer"));
  EDGE_RT_TRY(parts.decoder, parse_decoder(member(root, "decoder"), where + ": decoder"));
  EDGE_RT_TRY(read_post_processor(member(root, "post_processor"), bpe.vocab, where + ": post_processor", parts.prefix,
                                  parts.suffix));

  // BOS/EOS: tokenizer_config.json's bos_token/eos_token, else the conventional names.
  const std::string config_where = "[tokenizer] " + config_file;
  EDGE_RT_TRY(parts.bos, config_token(config, "bos_token", bpe.vocab, config_where));
  EDGE_RT_TRY(parts.eos, config_token(config, "eos_token", bpe.vocab, config_where));
  const bool named = config != nullptr && (member(*config, "bos_token") || member(*config, "eos_token"));
  if (!named) {
    parts.bos = bpe.vocab.find("<s>");
    parts.eos = bpe.vocab.find("</s>");
    if (!parts.bos && !parts.eos) parts.bos = parts.eos = bpe.vocab.find("<|endoftext|>");
  }
  // add_bos_token / add_eos_token override the template, as transformers' Llama and Gemma tokenizers do
  // (update_post_processor) and as llama.cpp's converter records them.
  for (const auto& [key, id, out] :
       {std::tuple{"add_bos_token", parts.bos, &parts.prefix}, std::tuple{"add_eos_token", parts.eos, &parts.suffix}}) {
    const json::value* add = config != nullptr ? member(*config, key) : nullptr;
    if (add == nullptr || add->is_null()) continue;
    if (!add->is_bool()) return fail(ErrorCode::kInvalidFormat, config_where + ": " + key + " is not a boolean");
    out->clear();
    if (add->get_bool()) {
      if (!id) {
        return fail(ErrorCode::kInvalidFormat, config_where + ": " + key + " is true but the token is not named");
      }
      out->push_back(*id);
    }
  }
  return make_hf_tokenizer(std::move(parts));
}

}  // namespace detail
}  // namespace edge_rt::tokenizer
