// load_tokenizer() dispatch over a GGUF file or the files of an HF-layout model folder, and Tokenizer::decode.

#include "internal.hpp"

#include <edge_rt/core/file.hpp>
#include <edge_rt/model_ir/gguf.hpp>

namespace edge_rt::tokenizer {
Result<std::unique_ptr<Tokenizer>> parse_tokenizer_json(std::string_view text, const std::string& label,
                                                        std::optional<std::string_view> config_text,
                                                        const std::string& config_label) {
  EDGE_RT_TRY(const boost::json::value root, detail::parse_json_text(text, label));
  std::optional<boost::json::value> config;
  if (config_text) {
    EDGE_RT_TRY(config, detail::parse_json_text(*config_text, config_label));
  }
  return detail::hf_tokenizer_from_json(root, config ? &*config : nullptr, label, config_label);
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer_json(const std::filesystem::path& tokenizer_json) {
  EDGE_RT_TRY(const std::string text, detail::read_file_bytes(tokenizer_json));
  const std::filesystem::path config_path = tokenizer_json.parent_path() / "tokenizer_config.json";
  if (!path_present(config_path)) return parse_tokenizer_json(text, tokenizer_json.string());
  EDGE_RT_TRY(const std::string config, detail::read_file_bytes(config_path));
  return parse_tokenizer_json(text, tokenizer_json.string(), config, config_path.string());
}

bool has_tokenizer_files(const std::filesystem::path& model_dir) noexcept {
  auto gguf = model_ir::find_gguf(model_dir);
  if (!gguf) return true;  // a broken folder reports itself
  if (gguf.value()) {
    // A GGUF file without tokenizer.ggml.* (weights only) has no tokenizer; one that fails to open reports itself.
    auto file = model_ir::GgufFile::open(*gguf.value());
    return !file || file.value().value("tokenizer.ggml.model") != nullptr;
  }
  for (const char* name : {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer.bin"}) {
    if (path_present(model_dir / name)) return true;
  }
  return false;
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& model_dir) {
  EDGE_RT_TRY(const auto gguf, model_ir::find_gguf(model_dir));
  if (gguf) {
    EDGE_RT_TRY(const model_ir::GgufFile file, model_ir::GgufFile::open(*gguf));
    EDGE_RT_TRY(const GgmlVocab vocab, ggml_vocab_of(file));
    return tokenizer_from_ggml(vocab, gguf->string());
  }
  if (path_present(model_dir / "tokenizer.json")) return load_tokenizer_json(model_dir / "tokenizer.json");
  if (path_present(model_dir / "vocab.json") || path_present(model_dir / "merges.txt")) {
    return load_gpt2_vocab_merges(model_dir / "vocab.json", model_dir / "merges.txt");
  }
  if (path_present(model_dir / "tokenizer.bin")) {
    return load_llama2c_tokenizer(model_dir / "tokenizer.bin");
  }
  return fail(ErrorCode::kIoError,
              "[tokenizer] " + model_dir.string() + ": no tokenizer.json, vocab.json+merges.txt or tokenizer.bin");
}

Result<GgmlVocab> ggml_vocab_of(const model_ir::GgufFile& file) {
  const std::string label = file.path().string();
  GgmlVocab v;
  EDGE_RT_TRY(v.model, file.string("tokenizer.ggml.model"));
  if (file.value("tokenizer.ggml.pre")) {
    EDGE_RT_TRY(v.pre, file.string("tokenizer.ggml.pre"));
  }
  const auto array = [&](std::string_view key, model_ir::GgufType element,
                         bool required) -> Result<const model_ir::GgufValue*> {
    const model_ir::GgufValue* value = file.value(key);
    if (!value) {
      if (!required) return value;
      return fail(ErrorCode::kMissingField,
                  "[tokenizer] " + label + ": metadata '" + std::string(key) + "' is missing");
    }
    const bool numeric = element != model_ir::GgufType::kString;
    const bool element_ok = numeric ? value->element_type != model_ir::GgufType::kString &&
                                          value->element_type != model_ir::GgufType::kArray
                                    : value->element_type == model_ir::GgufType::kString;
    if (value->type != model_ir::GgufType::kArray || !element_ok) {
      return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + label + ": metadata '" + std::string(key) + "' is a " +
                                                 std::string(model_ir::gguf_type_name(value->type)) +
                                                 ", expected an array of " + (numeric ? "numbers" : "strings"));
    }
    return value;
  };
  EDGE_RT_TRY(const auto* tokens, array("tokenizer.ggml.tokens", model_ir::GgufType::kString, true));
  v.tokens = tokens->strings;
  EDGE_RT_TRY(const auto* scores, array("tokenizer.ggml.scores", model_ir::GgufType::kFloat32, false));
  if (scores) v.scores.assign(scores->numbers.begin(), scores->numbers.end());
  EDGE_RT_TRY(const auto* types, array("tokenizer.ggml.token_type", model_ir::GgufType::kInt32, false));
  if (types) {
    for (const double t : types->numbers) v.token_types.push_back(static_cast<std::int32_t>(t));
  }
  EDGE_RT_TRY(const auto* merges, array("tokenizer.ggml.merges", model_ir::GgufType::kString, false));
  if (merges) v.merges = merges->strings;
  const auto id = [&](std::string_view key) -> Result<std::optional<TokenId>> {
    if (!file.value(key)) return std::optional<TokenId>();
    EDGE_RT_TRY(const std::int64_t i, file.integer(key, 0, static_cast<std::int64_t>(v.tokens.size()) - 1));
    return std::optional<TokenId>(static_cast<TokenId>(i));
  };
  EDGE_RT_TRY(v.bos_id, id("tokenizer.ggml.bos_token_id"));
  EDGE_RT_TRY(v.eos_id, id("tokenizer.ggml.eos_token_id"));
  EDGE_RT_TRY(v.unk_id, id("tokenizer.ggml.unknown_token_id"));
  v.add_space_prefix = v.model == "llama";
  if (file.value("tokenizer.ggml.add_space_prefix")) {
    EDGE_RT_TRY(const std::int64_t b, file.integer("tokenizer.ggml.add_space_prefix", 0, 1));
    v.add_space_prefix = b != 0;
  }
  for (const auto& [key, out] :
       {std::pair{"tokenizer.ggml.add_bos_token", &v.add_bos}, std::pair{"tokenizer.ggml.add_eos_token", &v.add_eos}}) {
    if (!file.value(key)) continue;
    EDGE_RT_TRY(const std::int64_t b, file.integer(key, 0, 1));
    *out = b != 0;
  }
  return v;
}

std::vector<TokenId> Tokenizer::encode_with_special(std::string_view text) const {
  std::vector<TokenId> ids = special_prefix();
  const std::vector<TokenId> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  const std::vector<TokenId> suffix = special_suffix();
  ids.insert(ids.end(), suffix.begin(), suffix.end());
  return ids;
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string text;
  for (const TokenId id : ids) text += token_bytes(id);
  if (strips_leading_space() && text.starts_with(' ')) text.erase(0, 1);
  return text;
}

}  // namespace edge_rt::tokenizer
