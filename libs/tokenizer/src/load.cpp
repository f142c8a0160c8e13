// load_tokenizer() dispatch over the files of an HF-layout model folder, and Tokenizer::decode.

#include "internal.hpp"

#include <edge_rt/core/file.hpp>

namespace edge_rt::tokenizer {
namespace {
namespace json = boost::json;

/// True when `v` or any object nested in it has "type": `type`.
bool mentions_type(const json::value* v, std::string_view type) {
  if (v == nullptr) return false;
  if (const json::object* obj = v->if_object()) {
    if (const json::value* t = obj->if_contains("type"); detail::is_string(t, type)) return true;
    for (const auto& [key, child] : *obj) {
      if (mentions_type(&child, type)) return true;
    }
  } else if (const json::array* arr = v->if_array()) {
    for (const json::value& child : *arr) {
      if (mentions_type(&child, type)) return true;
    }
  }
  return false;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> parse_tokenizer_json(std::string_view text, const std::string& file) {
  EDGE_RT_TRY(const json::value root, detail::parse_json_text(text, file));
  const json::value* pre_tokenizer = detail::member(root, "pre_tokenizer");
  const json::value* decoder = detail::member(root, "decoder");
  if (mentions_type(pre_tokenizer, "ByteLevel") || mentions_type(decoder, "ByteLevel")) {
    return detail::gpt2_from_json(root, file);
  }
  const json::value* model = detail::member(root, "model");
  const json::value* byte_fallback = model != nullptr ? detail::member(*model, "byte_fallback") : nullptr;
  const json::value* normalizer = detail::member(root, "normalizer");
  const bool metaspace_normalizer =
      normalizer != nullptr && json::serialize(*normalizer).find("\xE2\x96\x81") != std::string::npos;
  if (detail::is_bool(byte_fallback, true) || metaspace_normalizer || mentions_type(pre_tokenizer, "Metaspace") ||
      mentions_type(decoder, "Metaspace")) {
    return detail::sentencepiece_from_json(root, file);
  }
  if (model == nullptr) return fail(ErrorCode::kMissingField, "[tokenizer] " + file + ": no \"model\"");
  return fail(ErrorCode::kUnsupported, "[tokenizer] " + file +
                                           ": neither byte-level (ByteLevel pre_tokenizer/decoder) nor SentencePiece "
                                           "(model.byte_fallback, \"\u2581\" normalizer, Metaspace)");
}

bool has_tokenizer_files(const std::filesystem::path& model_dir) noexcept {
  for (const char* name : {"tokenizer.json", "vocab.json", "merges.txt", "tokenizer.bin"}) {
    if (path_present(model_dir / name)) return true;
  }
  return false;
}

Result<std::unique_ptr<Tokenizer>> load_tokenizer(const std::filesystem::path& model_dir) {
  if (path_present(model_dir / "tokenizer.json")) {
    const std::filesystem::path path = model_dir / "tokenizer.json";
    EDGE_RT_TRY(const std::string text, detail::read_file_bytes(path));
    return parse_tokenizer_json(text, path.string());
  }
  if (path_present(model_dir / "vocab.json") || path_present(model_dir / "merges.txt")) {
    return load_gpt2_vocab_merges(model_dir / "vocab.json", model_dir / "merges.txt");
  }
  if (path_present(model_dir / "tokenizer.bin")) {
    return load_llama2c_tokenizer(model_dir / "tokenizer.bin");
  }
  return fail(ErrorCode::kIoError,
              "[tokenizer] " + model_dir.string() + ": no tokenizer.json, vocab.json+merges.txt or tokenizer.bin");
}

std::string Tokenizer::decode(std::span<const TokenId> ids) const {
  std::string text;
  for (const TokenId id : ids) text += token_bytes(id);
  if (strips_leading_space() && text.starts_with(' ')) text.erase(0, 1);
  return text;
}

}  // namespace edge_rt::tokenizer
