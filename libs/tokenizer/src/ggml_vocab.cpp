// Tokenizers from GGUF metadata (tokenizer.ggml.*): byte-level BPE ("gpt2") and SentencePiece BPE ("llama").

#include "hf_pipeline.hpp"
#include "internal.hpp"

#include <boost/json.hpp>

namespace edge_rt::tokenizer {

namespace {

constexpr std::int32_t kTypeUnknown = 2;
constexpr std::int32_t kTypeControl = 3;
constexpr std::int32_t kTypeUserDefined = 4;

Error invalid(const std::string& label, const std::string& what) {
  return Error{ErrorCode::kInvalidFormat, "[tokenizer] " + label + ": " + what};
}

// BOS / EOS around a text with special tokens added; absent keys take llama.cpp's defaults.
void special_affixes(const GgmlVocab& v, std::vector<TokenId>& prefix, std::vector<TokenId>& suffix) {
  if (v.add_bos.value_or(v.model == "llama") && v.bos_id) prefix.push_back(*v.bos_id);
  if (v.add_eos.value_or(false) && v.eos_id) suffix.push_back(*v.eos_id);
}

// Control and user-defined tokens, matched in the raw text before any other processing.
std::vector<detail::AddedToken> added_tokens(const GgmlVocab& v) {
  std::vector<detail::AddedToken> added;
  for (std::size_t id = 0; id < v.token_types.size(); ++id) {
    const std::int32_t type = v.token_types[id];
    if ((type == kTypeControl || type == kTypeUserDefined) && !v.tokens[id].empty()) {
      detail::AddedToken token;
      token.content = v.tokens[id];
      token.id = static_cast<TokenId>(id);
      token.special = type == kTypeControl;
      added.push_back(std::move(token));
    }
  }
  return added;
}

Result<std::unique_ptr<Tokenizer>> gpt2_from_ggml(const GgmlVocab& v, const std::string& label) {
  detail::HfParts parts;
  EDGE_RT_TRY(parts.pre_tokenizer,
              detail::ggml_pre_tokenizer(v.pre, parts.model.ignore_merges, "[tokenizer] " + label));
  parts.decoder.steps.push_back({detail::DecodeSteps::Step::Kind::kByteLevel, {}});
  detail::VocabTable& vocab = parts.model.vocab;
  vocab.by_id = v.tokens;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) vocab.ids.emplace(v.tokens[id], static_cast<TokenId>(id));
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(v.merges.size());
  for (std::size_t i = 0; i < v.merges.size(); ++i) {
    const std::string& m = v.merges[i];
    const std::size_t space = m.find(' ');
    if (space == std::string::npos || space == 0 || space + 1 == m.size() || m.find(' ', space + 1) != m.npos) {
      return invalid(label, "tokenizer.ggml.merges[" + std::to_string(i) + "] is '" + m + "', expected \"left right\"");
    }
    merges.emplace_back(m.substr(0, space), m.substr(space + 1));
  }
  EDGE_RT_TRY(parts.model.merges,
              detail::build_merge_table(merges, vocab, detail::MergeRank::kByIndex, label, "tokenizer.ggml.merges"));
  parts.added = added_tokens(v);
  parts.bos = v.bos_id;
  parts.eos = v.eos_id;
  if (!parts.bos && !parts.eos) parts.bos = parts.eos = vocab.find("<|endoftext|>");  // GPT-2 files name neither
  special_affixes(v, parts.prefix, parts.suffix);
  return detail::make_hf_tokenizer(std::move(parts));
}

Result<std::unique_ptr<Tokenizer>> sentencepiece_from_ggml(const GgmlVocab& v, const std::string& label) {
  if (v.scores.size() != v.tokens.size()) {
    return invalid(label, "tokenizer.ggml.scores has " + std::to_string(v.scores.size()) + " entries for " +
                              std::to_string(v.tokens.size()) + " tokens, expected one per token");
  }
  SentencePieceVocab pieces{v.tokens, v.scores, {}};
  detail::add_score_merges(pieces, 0);
  detail::SentencePieceModel model = detail::sentencepiece_model_of(std::move(pieces), 0);
  model.added = added_tokens(v);
  for (std::size_t id = 0; id < v.token_types.size(); ++id) {
    if (v.token_types[id] == kTypeControl || v.token_types[id] == kTypeUnknown) {
      model.control_ids.push_back(static_cast<TokenId>(id));
    }
  }
  model.unk_id = v.unk_id;
  model.bos_id = v.bos_id;
  model.eos_id = v.eos_id;
  model.byte_fallback = true;
  model.add_space_prefix = v.add_space_prefix;
  special_affixes(v, model.prefix, model.suffix);
  return detail::make_sentencepiece_tokenizer(std::move(model));
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> tokenizer_from_ggml(const GgmlVocab& v, const std::string& label) {
  if (v.tokens.empty()) return invalid(label, "tokenizer.ggml.tokens is empty");
  if (!v.token_types.empty() && v.token_types.size() != v.tokens.size()) {
    return invalid(label, "tokenizer.ggml.token_type has " + std::to_string(v.token_types.size()) + " entries for " +
                              std::to_string(v.tokens.size()) + " tokens, expected one per token");
  }
  const auto check_id = [&](const std::optional<TokenId>& id, const char* key) -> Result<void> {
    if (id && (*id < 0 || static_cast<std::size_t>(*id) >= v.tokens.size())) {
      return invalid(label, std::string(key) + " is " + std::to_string(*id) + ", expected 0.." +
                                std::to_string(v.tokens.size() - 1));
    }
    return boost::outcome_v2::success();
  };
  EDGE_RT_TRY(check_id(v.bos_id, "tokenizer.ggml.bos_token_id"));
  EDGE_RT_TRY(check_id(v.eos_id, "tokenizer.ggml.eos_token_id"));
  EDGE_RT_TRY(check_id(v.unk_id, "tokenizer.ggml.unknown_token_id"));
  if (v.model == "gpt2") return gpt2_from_ggml(v, label);
  if (v.model == "llama") return sentencepiece_from_ggml(v, label);
  return fail(ErrorCode::kUnsupported, "[tokenizer] " + label + ": tokenizer.ggml.model is '" + v.model +
                                           "', expected gpt2 (byte-level BPE) or llama (SentencePiece BPE)");
}

Result<std::string> ggml_tokenizer_json(const GgmlVocab& v, const std::string& label) {
  EDGE_RT_TRY(tokenizer_from_ggml(v, label));  // the same checks, and a vocabulary it accepts
  namespace json = boost::json;
  if (v.model == "llama") {
    static constexpr std::string_view kControl[] = {"<unk>", "<s>", "</s>"};
    for (std::size_t id = 0; id < std::size(kControl); ++id) {
      if (v.tokens.size() <= id || v.tokens[id] != kControl[id]) {
        return fail(ErrorCode::kUnsupported, "[tokenizer] " + label + ": token " + std::to_string(id) + " is '" +
                                                 (id < v.tokens.size() ? v.tokens[id] : std::string()) +
                                                 "'; a SentencePiece vocabulary converts to tokenizer.json only with "
                                                 "<unk>, <s>, </s> as ids 0, 1, 2");
      }
    }
    SentencePieceVocab pieces{v.tokens, v.scores, {}};
    detail::add_score_merges(pieces, std::size(kControl));
    return sentencepiece_tokenizer_json(pieces, v.add_bos.value_or(true));
  }
  json::object vocab;
  for (std::size_t id = 0; id < v.tokens.size(); ++id) {
    if (!vocab.contains(v.tokens[id])) vocab[v.tokens[id]] = id;
  }
  json::array merges;
  for (const std::string& m : v.merges) merges.push_back(json::string(m));
  json::array added;
  for (const detail::AddedToken& t : added_tokens(v)) {
    added.push_back({{"id", t.id},
                     {"content", t.content},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", t.special}});
  }
  bool ignore_merges = false;
  EDGE_RT_TRY(const auto patterns, detail::ggml_pre_patterns(v.pre, ignore_merges, "[tokenizer] " + label));
  json::array pre_tokenizers;
  for (const std::string_view pattern : patterns) {
    pre_tokenizers.push_back(json::object{
        {"type", "Split"}, {"pattern", json::object{{"Regex", pattern}}}, {"behavior", "Isolated"}, {"invert", false}});
  }
  const json::object byte_level{
      {"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}};
  pre_tokenizers.push_back(byte_level);
  std::vector<TokenId> prefix, suffix;
  special_affixes(v, prefix, suffix);
  const auto named = [&](const std::vector<TokenId>& ids) {
    std::vector<std::pair<std::string, TokenId>> out;
    for (const TokenId id : ids) out.emplace_back(v.tokens[static_cast<std::size_t>(id)], id);
    return out;
  };
  const json::object root{
      {"version", "1.0"},
      {"added_tokens", std::move(added)},
      {"normalizer", nullptr},
      {"pre_tokenizer", json::object{{"type", "Sequence"}, {"pretokenizers", std::move(pre_tokenizers)}}},
      {"post_processor", detail::template_processing(named(prefix), named(suffix))},
      {"decoder", byte_level},
      {"model", json::object{{"type", "BPE"},
                             {"vocab", std::move(vocab)},
                             {"merges", std::move(merges)},
                             {"ignore_merges", ignore_merges}}}};
  return json::serialize(root) + "\n";
}

}  // namespace edge_rt::tokenizer
