#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <boost/json.hpp>

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/core/file.hpp>

#include <iostream>
#include <memory>
#include <sstream>

namespace edge_rt::cli {

namespace {
struct TokenizeArgs {
  std::string model;  // empty: neither -m nor the preset gave one, so default_model_dir()
  std::string text;
  std::string json_lines;
  bool no_special = false;
  bool show_pieces = false;
};

/// Bytes as text, with those that are not well-formed UTF-8 (part of a character) as \xNN.
std::string printable(std::string_view bytes) {
  std::string out;
  for (std::size_t pos = 0; pos < bytes.size();) {
    const auto c = static_cast<unsigned char>(bytes[pos]);
    const std::size_t length = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    bool whole = length > 0 && pos + length <= bytes.size();
    for (std::size_t i = 1; whole && i < length; ++i)
      whole = (static_cast<unsigned char>(bytes[pos + i]) & 0xC0) == 0x80;
    if (whole) {
      out.append(bytes.substr(pos, length));
      pos += length;
      continue;
    }
    static constexpr char kHex[] = "0123456789ABCDEF";
    out += "\\x";
    out += kHex[c >> 4];
    out += kHex[c & 15];
    ++pos;
  }
  return out;
}

/// As llama-tokenize: one line per token, "id -> 'text'"; control tokens show their piece ("<|im_start|>").
void print_pieces(const tokenizer::Tokenizer& tok, const std::vector<tokenizer::TokenId>& ids) {
  for (const tokenizer::TokenId id : ids) {
    std::string text = tok.token_bytes(id);
    if (text.empty()) text = tok.piece(id);
    std::string number = std::to_string(id);
    if (number.size() < 6) number.insert(0, 6 - number.size(), ' ');
    std::cout << number << " -> '" << printable(text) << "'\n";
  }
}
}  // namespace

std::function<int()> add_tokenize_command(CLI::App& app) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = app.add_subcommand("tokenize", "Print the token ids of a text as a JSON array");
  cmd->add_option("-m,--model", args->model, "Model folder (default: the embedded stories260K)");
  auto* text = cmd->add_option("-t,--text", args->text, "Text to encode");
  auto* lines = cmd->add_option("--json-lines", args->json_lines,
                                "File with one JSON string per line; prints one JSON array per line");
  text->excludes(lines);
  cmd->add_flag("--no-special", args->no_special,
                "Add no special tokens (BOS/EOS); by default those the tokenizer's config asks for are added "
                "(Hugging Face add_special_tokens=True). Special-token text is matched either way");
  cmd->add_flag("--show-pieces", args->show_pieces, "Print one line per token, \"id -> 'text'\", as llama-tokenize");
  auto preset_path = std::make_shared<std::string>();
  cmd->add_option("-c,--config", *preset_path, "Preset TOML (its model); flags override it");
  return [args, text, lines, cmd, preset_path]() -> int {
    auto preset = load_preset_or_empty(*preset_path);
    if (!preset) return report(preset.error());
    apply(preset.value().model, *cmd, "--model", args->model);
    if (args->model.empty() && cmd->get_option("--model")->count() == 0) {
      auto dir = default_model_dir();
      if (!dir) return report(dir.error());
      args->model = dir.value().string();
    }
    if (auto folder = check_model_folder(args->model, model_flag(*cmd, preset.value()).c_str()); !folder)
      return report(folder.error());
    auto tok = tokenizer::load_tokenizer(args->model);
    if (!tok) return report(tok.error());
    const auto emit = [&](std::string_view input) {
      const tokenizer::Tokenizer& t = *tok.value();
      const std::vector<tokenizer::TokenId> ids = args->no_special ? t.encode(input) : t.encode_with_special(input);
      if (args->show_pieces) return print_pieces(t, ids);
      boost::json::array arr;
      for (tokenizer::TokenId id : ids) arr.push_back(id);
      std::cout << boost::json::serialize(arr) << "\n";
    };
    if (lines->count() == 0) {
      if (text->count() == 0)
        return report(Error{ErrorCode::kInvalidArgument, "tokenize needs --text or --json-lines"});
      emit(args->text);
      return 0;
    }
    auto content = read_regular_file(args->json_lines, kMaxTextBytes, "[tokenize] --json-lines");
    if (!content) return report(content.error());
    std::istringstream in(content.value());
    std::string line;
    std::size_t number = 0;
    while (std::getline(in, line)) {
      ++number;
      boost::system::error_code ec;
      boost::json::value v = boost::json::parse(line, ec);
      if (ec || !v.is_string()) {
        return report(Error{ErrorCode::kInvalidFormat, "[tokenize] " + args->json_lines + ":" + std::to_string(number) +
                                                           ": expected a JSON string"});
      }
      emit(std::string_view(v.as_string()));
    }
    return 0;
  };
}

}  // namespace edge_rt::cli
