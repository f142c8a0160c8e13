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
};

void print_ids(const std::vector<tokenizer::TokenId>& ids) {
  boost::json::array arr;
  for (tokenizer::TokenId id : ids) arr.push_back(id);
  std::cout << boost::json::serialize(arr) << "\n";
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
    if (lines->count() == 0) {
      if (text->count() == 0)
        return report(Error{ErrorCode::kInvalidArgument, "tokenize needs --text or --json-lines"});
      print_ids(tok.value()->encode(args->text));
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
      print_ids(tok.value()->encode(std::string_view(v.as_string())));
    }
    return 0;
  };
}

}  // namespace edge_rt::cli
