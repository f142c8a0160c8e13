// GPT-2 vocab.json + merges.txt (Radford et al. 2019, encoder.py): byte-level BPE with the GPT-2 pattern.

#include "hf_pipeline.hpp"
#include "internal.hpp"

namespace edge_rt::tokenizer {

namespace {
constexpr std::string_view kEndOfText = "<|endoftext|>";
}  // namespace

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
  // vocab.json carries no added_tokens; GPT-2's only special token is <|endoftext|>, its BOS and EOS.
  HfParts parts;
  if (const std::optional<TokenId> eot = vocab.find(kEndOfText)) {
    AddedToken token;
    token.content = std::string(kEndOfText);
    token.id = *eot;
    token.special = true;
    parts.added.push_back(std::move(token));
    parts.bos = parts.eos = eot;
  }
  bool ignore_merges = false;
  EDGE_RT_TRY(parts.pre_tokenizer, ggml_pre_tokenizer("gpt2", ignore_merges, "[tokenizer] " + vocab_label));
  parts.decoder.steps.push_back({DecodeSteps::Step::Kind::kByteLevel, {}});
  parts.model.vocab = std::move(vocab);
  parts.model.merges = std::move(merges);
  return make_hf_tokenizer(std::move(parts));
}

}  // namespace edge_rt::tokenizer
