// Reading files and the parts of HF tokenizer.json shared by the GPT-2 and SentencePiece tokenizers.

#include "internal.hpp"

#include <edge_rt/core/file.hpp>

#include <fstream>
#include <iterator>
#include <limits>

namespace edge_rt::tokenizer::detail {
namespace json = boost::json;

namespace {

// Ids beyond (number of entries + this slack) are rejected rather than allocating a huge table.
constexpr std::int64_t kMaxIdSlack = 1 << 16;

std::string in_quotes(std::string_view s) {
  // Built by appends: g++ 12 reports a false -Wrestrict on "'" + std::string (GCC PR 105651).
  std::string out;
  out.reserve(s.size() + 2);
  out += '\'';
  out += s;
  out += '\'';
  return out;
}

}  // namespace

Result<std::string> read_file_bytes(const std::filesystem::path& path) {
  return read_regular_file(path, kMaxTokenizerBytes, "[tokenizer]");
}

Result<json::value> parse_json_text(std::string_view text, const std::string& file) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 64;
  json::value root = json::parse(text, ec, json::storage_ptr(), options);
  if (ec) return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) {
    return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": top level is not a JSON object");
  }
  return root;
}

Result<json::value> read_json_file(const std::filesystem::path& path) {
  EDGE_RT_TRY(const std::string text, read_file_bytes(path));
  return parse_json_text(text, path.string());
}

const json::value* member(const json::value& parent, std::string_view key) {
  const json::object* obj = parent.if_object();
  return obj == nullptr ? nullptr : obj->if_contains(key);
}

bool is_string(const json::value* v, std::string_view s) {
  return v != nullptr && v->is_string() && v->get_string() == s;
}

bool is_bool(const json::value* v, bool b) {
  return v != nullptr && v->is_bool() && v->get_bool() == b;
}

Result<VocabTable> vocab_from_json(const json::value& vocab, const std::string& file, std::string_view field) {
  const json::object* obj = vocab.if_object();
  if (obj == nullptr) {
    return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": " + std::string(field) + " is not an object");
  }
  VocabTable table;
  table.ids.reserve(obj->size());
  std::vector<bool> filled;
  const std::int64_t max_id = static_cast<std::int64_t>(obj->size()) + kMaxIdSlack;
  for (const auto& [key, value] : *obj) {
    const std::string where = "[tokenizer] " + file + ": " + std::string(field) + "[" + in_quotes(key) + "]";
    if (!value.is_int64() && !value.is_uint64()) {
      return fail(ErrorCode::kInvalidFormat, where + " is not an integer id");
    }
    const std::int64_t id = value.is_int64() ? value.get_int64() : std::numeric_limits<std::int64_t>::max();
    if (id < 0 || id >= max_id) {
      return fail(ErrorCode::kInvalidFormat, where + " = " + json::serialize(value) + " is out of range");
    }
    const auto index = static_cast<std::size_t>(id);
    if (index >= table.by_id.size()) {
      table.by_id.resize(index + 1);
      filled.resize(index + 1);
    }
    std::string piece(key);
    if (filled[index] || table.ids.contains(piece)) {
      return fail(ErrorCode::kInvalidFormat, where + ": duplicate id " + std::to_string(id));
    }
    table.by_id[index] = piece;
    filled[index] = true;
    table.ids.emplace(std::move(piece), static_cast<TokenId>(id));
  }
  return table;
}

Result<std::vector<AddedToken>> added_tokens_from_json(const json::value* added, VocabTable& vocab,
                                                       const std::string& file) {
  std::vector<AddedToken> out;
  if (added == nullptr || added->is_null()) return out;
  const json::array* arr = added->if_array();
  if (arr == nullptr) return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": added_tokens is not an array");
  const std::int64_t max_id = static_cast<std::int64_t>(vocab.by_id.size() + arr->size()) + kMaxIdSlack;
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const std::string where = "[tokenizer] " + file + ": added_tokens[" + std::to_string(i) + "]";
    const json::value& entry = (*arr)[i];
    const json::value* id = member(entry, "id");
    const json::value* content = member(entry, "content");
    if (id == nullptr || content == nullptr) {
      return fail(ErrorCode::kMissingField, where + " lacks \"id\" or \"content\"");
    }
    if (!id->is_int64() || id->get_int64() < 0 || id->get_int64() >= max_id || !content->is_string()) {
      return fail(ErrorCode::kInvalidFormat, where + ": expected an id in range and a string content");
    }
    AddedToken token;
    token.content = std::string(content->get_string());
    token.id = static_cast<TokenId>(id->get_int64());
    const auto flag = [&](std::string_view key, bool fallback) {
      const json::value* f = member(entry, key);
      return f != nullptr && f->is_bool() ? f->get_bool() : fallback;
    };
    token.special = flag("special", false);
    token.lstrip = flag("lstrip", false);
    token.rstrip = flag("rstrip", false);
    token.single_word = flag("single_word", false);
    token.normalized = flag("normalized", !token.special);  // tokenizers' default
    const auto index = static_cast<std::size_t>(token.id);
    if (index >= vocab.by_id.size()) vocab.by_id.resize(index + 1);
    if (vocab.by_id[index].empty()) {
      vocab.by_id[index] = token.content;
      vocab.ids.try_emplace(token.content, token.id);
    } else if (vocab.by_id[index] != token.content) {
      return fail(ErrorCode::kInvalidFormat, where + ": id " + std::to_string(token.id) + " is " +
                                                 in_quotes(vocab.by_id[index]) + " in model.vocab, not " +
                                                 in_quotes(token.content));
    }
    out.push_back(std::move(token));
  }
  return out;
}

json::value template_processing(const std::vector<std::pair<std::string, TokenId>>& prefix,
                                const std::vector<std::pair<std::string, TokenId>>& suffix) {
  if (prefix.empty() && suffix.empty()) return nullptr;
  json::array single;
  json::object specials;
  const auto add = [&](const std::pair<std::string, TokenId>& t) {
    single.push_back(json::object{{"SpecialToken", json::object{{"id", t.first}, {"type_id", 0}}}});
    specials[t.first] = json::object{{"id", t.first}, {"ids", json::array{t.second}}, {"tokens", json::array{t.first}}};
  };
  for (const auto& t : prefix) add(t);
  single.push_back(json::object{{"Sequence", json::object{{"id", "A"}, {"type_id", 0}}}});
  for (const auto& t : suffix) add(t);
  return json::object{{"type", "TemplateProcessing"},
                      {"single", std::move(single)},
                      {"pair", json::array{}},
                      {"special_tokens", std::move(specials)}};
}

Result<std::vector<std::pair<std::string, std::string>>> merges_from_json(const json::value& merges,
                                                                          const std::string& file) {
  const json::array* arr = merges.if_array();
  if (arr == nullptr) return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": model.merges is not an array");
  std::vector<std::pair<std::string, std::string>> out;
  out.reserve(arr->size());
  for (std::size_t i = 0; i < arr->size(); ++i) {
    const json::value& m = (*arr)[i];
    if (const json::string* s = m.if_string()) {  // "left right"
      const std::string_view text = *s;
      const std::size_t space = text.find(' ');
      if (space != std::string_view::npos && text.find(' ', space + 1) == std::string_view::npos) {
        out.emplace_back(text.substr(0, space), text.substr(space + 1));
        continue;
      }
    } else if (const json::array* pair = m.if_array()) {  // ["left", "right"]
      if (pair->size() == 2 && (*pair)[0].is_string() && (*pair)[1].is_string()) {
        out.emplace_back(std::string((*pair)[0].get_string()), std::string((*pair)[1].get_string()));
        continue;
      }
    }
    return fail(ErrorCode::kInvalidFormat, "[tokenizer] " + file + ": model.merges[" + std::to_string(i) +
                                               "] is neither \"left right\" nor [\"left\", \"right\"]");
  }
  return out;
}

Result<MergeTable> build_merge_table(const std::vector<std::pair<std::string, std::string>>& merges,
                                     const VocabTable& vocab, MergeRank rank, const std::string& file,
                                     std::string_view field) {
  MergeTable table;
  std::unordered_map<TokenId, std::uint32_t> first_rank_of_merged;
  for (std::size_t i = 0; i < merges.size(); ++i) {
    const auto& [left, right] = merges[i];
    const std::string where = "[tokenizer] " + file + ": " + std::string(field) + "[" + std::to_string(i) + "]";
    const std::optional<TokenId> a = vocab.find(left);
    const std::optional<TokenId> b = vocab.find(right);
    if (!a || !b) {
      return fail(ErrorCode::kInvalidFormat, where + " names unknown token " + in_quotes(!a ? left : right));
    }
    const std::optional<TokenId> merged = vocab.find(left + right);
    if (!merged) {
      return fail(ErrorCode::kInvalidFormat,
                  where + ": merged token " + in_quotes(left + right) + " is not in the vocab");
    }
    auto r = static_cast<std::uint32_t>(i);
    if (rank == MergeRank::kByMergedPiece) r = first_rank_of_merged.try_emplace(*merged, r).first->second;
    table.insert(*a, *b, {r, *merged});
  }
  return table;
}

}  // namespace edge_rt::tokenizer::detail
