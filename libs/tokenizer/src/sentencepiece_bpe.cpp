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
      if (model_.add_space_prefix) normalized.append(kMetaspace);
      for (const char c : plain) {
        if (c == ' ') {
          normalized.append(kMetaspace);
        } else {
          normalized.push_back(c);
        }
      }
      encode_piece(normalized);
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
  bool strips_leading_space() const override { return model_.add_space_prefix; }
  std::string piece(TokenId id) const override {
    EDGE_RT_CHECK(id >= 0 && static_cast<std::size_t>(id) < token_bytes_.size(), "token id out of range");
    return model_.vocab.by_id[static_cast<std::size_t>(id)];
  }
  std::vector<TokenId> special_prefix() const override { return model_.prefix; }
  std::vector<TokenId> special_suffix() const override { return model_.suffix; }

 private:
  SentencePieceModel model_;
  AddedTokenSplitter splitter_;
  std::array<TokenId, 256> byte_ids_{};
  std::vector<std::string> token_bytes_;
};

}  // namespace

std::unique_ptr<Tokenizer> make_sentencepiece_tokenizer(SentencePieceModel model) {
  return std::make_unique<SentencePieceTokenizer>(std::move(model));
}

}  // namespace detail
}  // namespace edge_rt::tokenizer
