#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/convert/gguf.hpp>
#include <edge_rt/convert/llama2c.hpp>

#include <iostream>
#include <memory>

namespace edge_rt::cli {

namespace {
struct ConvertArgs {
  std::string from;
  std::string checkpoint;
  std::string tokenizer;
  std::string out;
  std::string preset;
  bool force = false;
};
}  // namespace

std::function<int()> add_convert_command(CLI::App& app) {
  auto args = std::make_shared<ConvertArgs>();
  CLI::App* cmd = app.add_subcommand("convert", "Convert a checkpoint into an HF-layout model folder");
  cmd->add_option("--from", args->from, "Source format: llama2c | gguf")
      ->required()
      ->check(CLI::IsMember({"llama2c", "gguf"}));
  cmd->add_option("--checkpoint", args->checkpoint, "llama2.c checkpoint (.bin) or GGUF file")->required();
  cmd->add_option("--tokenizer", args->tokenizer, "llama2.c tokenizer.bin (--from llama2c)");
  cmd->add_option("--out", args->out, "Output folder (default: the preset's model)");
  cmd->add_option("-c,--config", args->preset, "Preset TOML (its model is the output folder); flags override it");
  cmd->add_flag("--force", args->force,
                "Write into a folder that is not empty, replacing its model files and removing the config, weight "
                "and tokenizer files the new model does not have (so none of them is loaded instead)");
  return [args, cmd]() -> int {
    if (auto out = folder_from_preset(args->preset, *cmd, "--out", args->out, "convert"); !out) {
      return report(out.error());
    }
    if (args->from == "gguf") {
      if (!args->tokenizer.empty()) {
        return report(Error{ErrorCode::kInvalidArgument, "--tokenizer: a GGUF file carries its own tokenizer"});
      }
      auto converted = convert::convert_gguf(args->checkpoint, args->out, args->force);
      if (!converted) return report(converted.error());
      std::cerr << "edge-rt: wrote " << args->out << " (model.safetensors, config.json and the tokenizer)\n";
      return 0;
    }
    if (args->tokenizer.empty()) {
      return report(Error{ErrorCode::kInvalidArgument, "--tokenizer: --from llama2c needs the tokenizer.bin"});
    }
    auto converted = convert::convert_llama2c(args->checkpoint, args->tokenizer, args->out, args->force);
    if (!converted) return report(converted.error());
    std::cerr << "edge-rt: wrote " << args->out << " (model.safetensors, config.json, tokenizer.json)\n";
    return 0;
  };
}

}  // namespace edge_rt::cli
