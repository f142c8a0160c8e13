// llama2.c tokenizer.bin (Karpathy, llama2.c run.c `build_tokenizer` / `encode`) and its conversion to an HF
// SentencePiece-style tokenizer.json.

#include "internal.hpp"

#include <boost/json/serialize.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <tuple>

namespace edge_rt::tokenizer {
namespace {
namespace json = boost::json;

constexpr std::string_view kMetaspace = "\xE2\x96\x81";  // U+2581 "▁"
constexpr std::array<std::string_view, 3> kControlPieces = {"<unk>", "<s>", "</s>"};

std::int32_t read_i32(std::string_view bytes, std::size_t pos) {
  std::int32_t v = 0;
  std::memcpy(&v, bytes.data() + pos, sizeof v);
  return v;
}

float read_f32(std::string_view bytes, std::size_t pos) {
  float v = 0;
  std::memcpy(&v, bytes.data() + pos, sizeof v);
  return v;
}

std::string spaces_to_metaspace(std::string_view piece) {
  std::string out;
  for (const char c : piece) {
    if (c == ' ') {
      out.append(kMetaspace);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

/// Piece -> first id, from `first_id` on (llama2.c: without the control tokens 0..2, which it never produces from
/// text).
std::unordered_map<std::string, TokenId> text_piece_ids(const std::vector<std::string>& pieces, std::size_t first_id) {
  std::unordered_map<std::string, TokenId> ids;
  for (std::size_t id = first_id; id < pieces.size(); ++id) {
    ids.try_emplace(pieces[id], static_cast<TokenId>(id));
  }
  return ids;
}

}  // namespace

Result<SentencePieceVocab> read_llama2c_vocab(const std::filesystem::path& tokenizer_bin) {
  EDGE_RT_TRY(const std::string bytes, detail::read_file_bytes(tokenizer_bin));
  return parse_llama2c_vocab(bytes, tokenizer_bin.string());
}

Result<SentencePieceVocab> parse_llama2c_vocab(std::string_view bytes, const std::string& label) {
  const std::string where = "[tokenizer] " + label + ": ";
  if (bytes.size() < 4) return fail(ErrorCode::kInvalidFormat, where + "truncated before max_token_length");
  const std::int32_t max_token_length = read_i32(bytes, 0);
  if (max_token_length <= 0 || max_token_length > kMaxLlama2cPieceBytes) {
    return fail(ErrorCode::kInvalidFormat, where + "max_token_length is " + std::to_string(max_token_length) +
                                               ", expected 1.." + std::to_string(kMaxLlama2cPieceBytes));
  }
  SentencePieceVocab vocab;
  for (std::size_t pos = 4; pos < bytes.size();) {
    const std::string token = "token " + std::to_string(vocab.pieces.size());
    if (bytes.size() - pos < 8) return fail(ErrorCode::kInvalidFormat, where + token + ": truncated score/length");
    const float score = read_f32(bytes, pos);
    const std::int32_t length = read_i32(bytes, pos + 4);
    pos += 8;
    if (std::isnan(score)) return fail(ErrorCode::kInvalidFormat, where + token + ": score is NaN");
    if (length < 0 || length > max_token_length) {
      return fail(ErrorCode::kInvalidFormat, where + token + ": length " + std::to_string(length) +
                                                 ", expected 0..max_token_length (" + std::to_string(max_token_length) +
                                                 ")");
    }
    if (static_cast<std::size_t>(length) > bytes.size() - pos) {
      return fail(ErrorCode::kInvalidFormat,
                  where + token + ": length " + std::to_string(length) + " runs past the end of the file");
    }
    vocab.pieces.push_back(spaces_to_metaspace(bytes.substr(pos, static_cast<std::size_t>(length))));
    vocab.scores.push_back(score);
    pos += static_cast<std::size_t>(length);
  }
  if (vocab.pieces.size() < kControlPieces.size()) {
    return fail(ErrorCode::kInvalidFormat,
                where + std::to_string(vocab.pieces.size()) + " tokens, expected at least <unk>, <s>, </s>");
  }
  // llama2.c stores "\n<s>\n" and "\n</s>\n"; ids 0/1/2 mean <unk>/<s>/</s> whatever their text.
  for (std::size_t id = 0; id < kControlPieces.size(); ++id) vocab.pieces[id] = std::string(kControlPieces[id]);

  detail::add_score_merges(vocab, kControlPieces.size());
  return vocab;
}

namespace detail {

void add_score_merges(SentencePieceVocab& vocab, std::size_t first_id) {
  // Merges: every split of a piece into two pieces, pieces by descending score (ties by id), splits by (left, right).
  const std::unordered_map<std::string, TokenId> ids = text_piece_ids(vocab.pieces, first_id);
  std::vector<std::size_t> order;
  for (std::size_t id = first_id; id < vocab.pieces.size(); ++id) order.push_back(id);
  std::ranges::stable_sort(order, [&](std::size_t a, std::size_t b) { return vocab.scores[a] > vocab.scores[b]; });
  std::vector<std::tuple<TokenId, TokenId, std::size_t>> splits;
  for (const std::size_t id : order) {
    const std::string& piece = vocab.pieces[id];
    if (ids.at(piece) != static_cast<TokenId>(id)) continue;  // a duplicate piece merges as its first id
    splits.clear();
    for (std::size_t k = 1; k < piece.size(); ++k) {
      const auto left = ids.find(piece.substr(0, k));
      const auto right = ids.find(piece.substr(k));
      if (left != ids.end() && right != ids.end()) splits.emplace_back(left->second, right->second, k);
    }
    std::ranges::sort(splits);
    for (const auto& [left, right, k] : splits) vocab.merges.emplace_back(piece.substr(0, k), piece.substr(k));
  }
}

SentencePieceModel sentencepiece_model_of(SentencePieceVocab vocab, std::size_t first_id) {
  SentencePieceModel model;
  model.vocab.ids = text_piece_ids(vocab.pieces, first_id);
  // Rank of a merge = rank of the merged piece's score among distinct scores (higher score first), so equal scores
  // tie and the leftmost pair wins, as in run.c `encode` and llama.cpp's llm_tokenizer_spm.
  std::vector<float> distinct = vocab.scores;
  std::ranges::sort(distinct, std::greater<>());
  distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  const auto score_rank = [&](float score) {
    const auto it = std::lower_bound(distinct.begin(), distinct.end(), score, std::greater<>());
    return static_cast<std::uint32_t>(it - distinct.begin());
  };
  for (const auto& [left, right] : vocab.merges) {
    const TokenId merged = model.vocab.ids.at(left + right);
    model.merges.insert(model.vocab.ids.at(left), model.vocab.ids.at(right),
                        {score_rank(vocab.scores[static_cast<std::size_t>(merged)]), merged});
  }
  model.vocab.by_id = std::move(vocab.pieces);
  return model;
}

}  // namespace detail

Result<std::unique_ptr<Tokenizer>> load_llama2c_tokenizer(const std::filesystem::path& tokenizer_bin) {
  EDGE_RT_TRY(const std::string bytes, detail::read_file_bytes(tokenizer_bin));
  return parse_llama2c_tokenizer(bytes, tokenizer_bin.string());
}

Result<std::unique_ptr<Tokenizer>> parse_llama2c_tokenizer(std::string_view bytes, const std::string& label) {
  EDGE_RT_TRY(SentencePieceVocab vocab, parse_llama2c_vocab(bytes, label));
  detail::SentencePieceModel model = detail::sentencepiece_model_of(std::move(vocab), kControlPieces.size());
  model.control_ids = {0, 1, 2};
  model.unk_id = 0;
  model.bos_id = 1;
  model.eos_id = 2;
  model.prefix = {1};  // llama2.c's run.c encodes prompts with BOS
  model.byte_fallback = true;
  model.add_space_prefix = true;
  return detail::make_sentencepiece_tokenizer(std::move(model));
}

std::string sentencepiece_tokenizer_json(const SentencePieceVocab& vocab, bool add_bos) {
  const auto string_pattern = [](std::string_view s) { return json::object{{"String", s}}; };
  json::array added;
  json::object pieces;
  for (std::size_t id = 0; id < vocab.pieces.size(); ++id) {
    const std::string& piece = vocab.pieces[id];
    pieces.emplace(piece, static_cast<std::int64_t>(id));  // a duplicate piece keeps its first id
    if (std::ranges::find(kControlPieces, piece) != kControlPieces.end()) {
      added.push_back(json::object{{"id", id},
                                   {"content", piece},
                                   {"single_word", false},
                                   {"lstrip", false},
                                   {"rstrip", false},
                                   {"normalized", false},
                                   {"special", true}});
    }
  }
  json::array merges;
  merges.reserve(vocab.merges.size());
  for (const auto& [left, right] : vocab.merges) merges.push_back(json::array{left, right});

  json::object root;
  root["version"] = "1.0";
  root["truncation"] = nullptr;
  root["padding"] = nullptr;
  root["added_tokens"] = std::move(added);
  root["normalizer"] = json::object{
      {"type", "Sequence"},
      {"normalizers",
       json::array{json::object{{"type", "Prepend"}, {"prepend", kMetaspace}},
                   json::object{{"type", "Replace"}, {"pattern", string_pattern(" ")}, {"content", kMetaspace}}}}};
  root["pre_tokenizer"] = nullptr;
  root["post_processor"] =
      detail::template_processing(add_bos ? std::vector<std::pair<std::string, TokenId>>{{"<s>", 1}}
                                          : std::vector<std::pair<std::string, TokenId>>{},
                                  {});
  root["decoder"] = json::object{
      {"type", "Sequence"},
      {"decoders",
       json::array{json::object{{"type", "Replace"}, {"pattern", string_pattern(kMetaspace)}, {"content", " "}},
                   json::object{{"type", "ByteFallback"}}, json::object{{"type", "Fuse"}},
                   json::object{{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}}}}};
  json::object model;
  model["type"] = "BPE";
  model["dropout"] = nullptr;
  model["unk_token"] = "<unk>";
  model["continuing_subword_prefix"] = nullptr;
  model["end_of_word_suffix"] = nullptr;
  model["fuse_unk"] = true;
  model["byte_fallback"] = true;
  model["ignore_merges"] = false;
  model["vocab"] = std::move(pieces);
  model["merges"] = std::move(merges);
  root["model"] = std::move(model);
  return json::serialize(root);
}

}  // namespace edge_rt::tokenizer
