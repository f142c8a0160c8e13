// SentencePiece-style BPE with byte fallback (Kudo & Richardson 2018; HF tokenizers BPE with byte_fallback, as in
// Llama's tokenizer.json; llama2.c run.c `encode`).

#include "internal.hpp"
#include "unicode.hpp"

#include <algorithm>
#include <array>
#include <cstdio>

namespace edge_rt::tokenizer {
namespace detail {
namespace {
namespace json = boost::json;

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 "▁"

int hex_digit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

/// The byte a "<0xXX>" piece stands for, or -1.
int byte_piece_value(std::string_view piece) {
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  const int hi = hex_digit(piece[3]);
  const int lo = hex_digit(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

/// Immutable after construction; neither copy nor move (see Tokenizer).
class SentencePieceTokenizer final : public Tokenizer {
 public:
  explicit SentencePieceTokenizer(SentencePieceModel model)
      : model_(std::move(model)), splitter_(model_.added), token_bytes_(model_.vocab.by_id.size()) {
    for (unsigned b = 0; b < 256; ++b) {
      std::array<char, 8> name{};
      std::snprintf(name.data(), name.size(), "<0x%02X>", b);
      byte_ids_[b] = model_.byte_fallback ? model_.vocab.find(name.data()).value_or(-1) : -1;
    }
    for (std::size_t id = 0; id < token_bytes_.size(); ++id) {
      const std::string& piece = model_.vocab.by_id[id];
      const int byte = model_.byte_fallback ? byte_piece_value(piece) : -1;
      if (byte >= 0) {
        token_bytes_[id] = std::string(1, static_cast<char>(byte));
        continue;
      }
      std::string& out = token_bytes_[id];
      for (std::size_t pos = 0; pos < piece.size();) {
        if (std::string_view(piece).substr(pos).starts_with(kMetaspace)) {
          out.push_back(' ');
          pos += kMetaspace.size();
        } else {
          out.push_back(piece[pos++]);
        }
      }
    }
    for (const TokenId id : model_.control_ids) token_bytes_[static_cast<std::size_t>(id)].clear();
  }

  std::vector<TokenId> encode(std::string_view text) const override {
    std::vector<TokenId> ids;
    std::vector<TokenId> symbols;
    std::string normalized;
    const auto encode_piece = [&](std::string_view piece) {
      symbols.clear();
      for (std::size_t pos = 0; pos < piece.size();) {
        const Utf8Step step = decode_utf8(piece, pos);
        const std::size_t length = step.status == Utf8Status::kComplete ? step.length_bytes : 1;
        const std::string_view ch = piece.substr(pos, length);
        pos += length;
        if (step.status == Utf8Status::kComplete) {
          if (const std::optional<TokenId> id = model_.vocab.find(ch)) {
            symbols.push_back(*id);
            continue;
          }
        }
        // Byte fallback when every byte has a <0xXX> token, else <unk>, else the character is dropped.
        const bool all_bytes =
            std::ranges::all_of(ch, [&](char b) { return byte_ids_[static_cast<unsigned char>(b)] >= 0; });
        if (all_bytes) {
          for (const char b : ch) symbols.push_back(byte_ids_[static_cast<unsigned char>(b)]);
        } else if (model_.unk_id) {
          symbols.push_back(*model_.unk_id);
        }
      }
      apply_merges(symbols, model_.merges);
      ids.insert(ids.end(), symbols.begin(), symbols.end());
    };
    const auto encode_plain = [&](std::string_view plain) {
      normalized.clear();
      const bool first = plain.data() == text.data();
      if (model_.prepend == PrependScheme::kAlways || (model_.prepend == PrependScheme::kFirst && first)) {
        normalized.append(kMetaspace);
      }
      for (const char c : plain) {
        if (c == ' ' && model_.replace_spaces) {
          normalized.append(kMetaspace);
        } else {
          normalized.push_back(c);
        }
      }
      if (!model_.split_at_spaces) return encode_piece(normalized);
      // Metaspace split: each piece starts at a "▁" and runs to the next one.
      std::size_t start = 0;
      while (start < normalized.size()) {
        std::size_t next = normalized.find(kMetaspace, start + 1);
        if (next == std::string::npos) next = normalized.size();
        encode_piece(std::string_view(normalized).substr(start, next - start));
        start = next;
      }
    };
    splitter_.split(text, encode_plain, [&](TokenId id) { ids.push_back(id); });
    return ids;
  }

  std::string token_bytes(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < token_bytes_.size(), "token id out of range");
    return token_bytes_[static_cast<std::size_t>(id)];
  }
  std::size_t vocab_size() const override { return token_bytes_.size(); }
  std::optional<TokenId> bos_id() const override { return model_.bos_id; }
  std::optional<TokenId> eos_id() const override { return model_.eos_id; }
  bool strips_leading_space() const override { return model_.prepend != PrependScheme::kNever; }

 private:
  SentencePieceModel model_;
  AddedTokenSplitter splitter_;
  std::array<TokenId, 256> byte_ids_{};
  std::vector<std::string> token_bytes_;
};

/// Calls visit(object) for `v` and every object nested in it (Sequence normalizers, pre-tokenizers, decoders).
template <class Visit>
void for_each_object(const json::value& v, Visit&& visit) {
  if (const json::object* obj = v.if_object()) {
    visit(*obj);
    for (const auto& [key, child] : *obj) for_each_object(child, visit);
  } else if (const json::array* arr = v.if_array()) {
    for (const json::value& child : *arr) for_each_object(child, visit);
  }
}

bool has_type(const json::object& obj, std::string_view type) {
  const json::value* t = obj.if_contains("type");
  return t != nullptr && t->is_string() && t->get_string() == type;
}

/// Reads the normalizer (Prepend, Replace) and pre-tokenizer (Metaspace) into `model`.
Result<void> read_space_handling(const json::value& root, const std::string& file, SentencePieceModel& model) {
  const json::value* normalizer = member(root, "normalizer");
  const json::value* pre_tokenizer = member(root, "pre_tokenizer");
  const bool has_normalizer = normalizer != nullptr && !normalizer->is_null();
  const bool has_pre_tokenizer = pre_tokenizer != nullptr && !pre_tokenizer->is_null();
  if (!has_normalizer && !has_pre_tokenizer)
    return boost::outcome_v2::success();  // Llama defaults: prepend "▁", spaces to "▁"
  model.prepend = PrependScheme::kNever;
  model.replace_spaces = false;
  std::string unsupported;
  if (has_normalizer) {
    for_each_object(*normalizer, [&](const json::object& obj) {
      if (has_type(obj, "Prepend")) {
        const json::value* prepend = obj.if_contains("prepend");
        if (is_string(prepend, kMetaspace)) {
          model.prepend = PrependScheme::kAlways;
        } else {
          unsupported = "normalizer Prepend other than \"\u2581\"";
        }
      } else if (has_type(obj, "Replace")) {
        const json::value* pattern = obj.if_contains("pattern");
        const json::value* from = pattern != nullptr ? member(*pattern, "String") : nullptr;
        const json::value* content = obj.if_contains("content");
        if (is_string(from, " ") && is_string(content, kMetaspace)) {
          model.replace_spaces = true;
        } else {
          unsupported = "normalizer Replace other than \" \" -> \"\u2581\"";
        }
      }
    });
  }
  if (has_pre_tokenizer) {
    for_each_object(*pre_tokenizer, [&](const json::object& obj) {
      if (!has_type(obj, "Metaspace")) return;
      const json::value* replacement = obj.if_contains("replacement");
      if (replacement != nullptr && !is_string(replacement, kMetaspace))
        unsupported = "Metaspace replacement other than \"\u2581\"";
      model.replace_spaces = true;
      model.prepend = PrependScheme::kAlways;
      const json::value* scheme = obj.if_contains("prepend_scheme");
      const json::value* add_prefix_space = obj.if_contains("add_prefix_space");
      if (is_string(scheme, "first")) model.prepend = PrependScheme::kFirst;
      if (is_string(scheme, "never")) model.prepend = PrependScheme::kNever;
      if (scheme == nullptr && is_bool(add_prefix_space, false)) {
        model.prepend = PrependScheme::kNever;
      }
      const json::value* split = obj.if_contains("split");
      model.split_at_spaces = !is_bool(split, false);
    });
  }
  if (!unsupported.empty()) return fail(ErrorCode::kUnsupported, "[tokenizer] " + file + ": " + unsupported);
  return boost::outcome_v2::success();
}

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(SentencePieceModel model) {
  return std::make_unique<SentencePieceTokenizer>(std::move(model));
}

Result<std::unique_ptr<Tokenizer>> sentencepiece_from_json(const json::value& root, const std::string& file) {
  const json::value* model_json = member(root, "model");
  if (model_json == nullptr) return fail(ErrorCode::kMissingField, "[tokenizer] " + file + ": no \"model\"");
  if (const json::value* type = member(*model_json, "type"); type != nullptr && !is_string(type, "BPE")) {
    return fail(ErrorCode::kUnsupported,
                "[tokenizer] " + file + ": model.type is " + json::serialize(*type) + ", expected \"BPE\"");
  }
  const json::value* vocab_json = member(*model_json, "vocab");
  if (vocab_json == nullptr) return fail(ErrorCode::kMissingField, "[tokenizer] " + file + ": no \"model.vocab\"");
  const json::value* merges_json = member(*model_json, "merges");
  if (merges_json == nullptr) return fail(ErrorCode::kMissingField, "[tokenizer] " + file + ": no \"model.merges\"");

  SentencePieceModel model;
  EDGE_RT_TRY(model.vocab, vocab_from_json(*vocab_json, file, "model.vocab"));
  EDGE_RT_TRY(model.added, added_tokens_from_json(member(root, "added_tokens"), model.vocab, file));
  EDGE_RT_TRY(const auto merge_list, merges_from_json(*merges_json, file));
  // SentencePiece merges by the merged piece's score; HF lists merges in that order, so every split of one piece
  // shares the rank of its first listing and ties go to the leftmost pair.
  EDGE_RT_TRY(model.merges,
              build_merge_table(merge_list, model.vocab, MergeRank::kByMergedPiece, file, "model.merges"));
  const json::value* byte_fallback = member(*model_json, "byte_fallback");
  model.byte_fallback = is_bool(byte_fallback, true);
  if (const json::value* unk = member(*model_json, "unk_token"); unk != nullptr && unk->is_string()) {
    model.unk_id = model.vocab.find(unk->get_string());
    if (!model.unk_id) {
      return fail(ErrorCode::kInvalidFormat,
                  "[tokenizer] " + file + ": model.unk_token " + json::serialize(*unk) + " is not in the vocab");
    }
    model.control_ids.push_back(*model.unk_id);
  }
  for (const AddedToken& t : model.added) {
    if (t.special) model.control_ids.push_back(t.id);
  }
  model.bos_id = model.vocab.find("<s>");
  model.eos_id = model.vocab.find("</s>");
  EDGE_RT_TRY(read_space_handling(root, file, model));
  return make_sentencepiece_tokenizer(std::move(model));
}

}  // namespace detail

Result<std::unique_ptr<Tokenizer>> load_sentencepiece_tokenizer_json(const std::filesystem::path& tokenizer_json) {
  EDGE_RT_TRY(const boost::json::value root, detail::read_json_file(tokenizer_json));
  return detail::sentencepiece_from_json(root, tokenizer_json.string());
}

}  // namespace edge_rt::tokenizer
