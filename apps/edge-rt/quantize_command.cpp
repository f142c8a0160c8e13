#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/convert/quantize.hpp>

#include <chrono>
#include <cstdio>
#include <memory>

namespace edge_rt::cli {

namespace {
struct QuantizeArgs {
  std::string model;
  std::string type;
  std::string out;
  bool hf_layout = false;
  std::string preset;
  bool force = false;
};
}  // namespace

std::function<int()> add_quantize_command(CLI::App& app) {
  auto args = std::make_shared<QuantizeArgs>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Store a model's weights as a block format (Q8_0, Q6_K, Q5_K, Q5_1, Q5_0, Q4_K, Q4_1, Q4_0), F16 or BF16");
  cmd->add_option("-m,--model", args->model,
                  "Source model folder (F32, F16 or BF16 safetensors; or the preset's model)");
  cmd->add_option("--type", args->type, "q8_0 | q6_k | q5_k | q5_1 | q5_0 | q4_k | q4_1 | q4_0 | f16 | bf16")
      ->required()
      ->check(CLI::IsMember({"q8_0", "q6_k", "q5_k", "q5_1", "q5_0", "q4_k", "q4_1", "q4_0", "f16", "bf16"},
                            CLI::ignore_case));
  cmd->add_option("--out", args->out, "Output folder (created if missing)")->required();
  cmd->add_flag("--hf-layout", args->hf_layout,
                "f16/bf16: keep GPT-2's Conv1D matrices input-major, as Hugging Face stores them (slower decode)");
  cmd->add_option("-c,--config", args->preset, "Preset TOML (its model is the source); flags override it");
  cmd->add_flag("--force", args->force,
                "Write into a folder that is not empty, replacing its model files and removing the config, weight "
                "and tokenizer files the new model does not have (so none of them is loaded instead)");
  return [args, cmd]() -> int {
    if (auto model = folder_from_preset(args->preset, *cmd, "--model", args->model, "quantize"); !model) {
      return report(model.error());
    }
    std::string name = args->type;
    for (char& c : name) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const auto type = tensor_core::parse_dtype(name).value();  // the flag check admits only valid names
    const auto start = std::chrono::steady_clock::now();
    auto report_or = convert::quantize_model(args->model, type, args->out, args->hf_layout, args->force);
    if (!report_or) return report(report_or.error());
    const convert::QuantizeReport& r = report_or.value();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    for (const std::string& f : r.fallbacks) std::fprintf(stderr, "edge-rt: kept %s\n", f.c_str());
    std::fprintf(stderr, "edge-rt: wrote %s/model.safetensors: %zu tensors, %.1f MB -> %.1f MB (%s) in %.1f s\n",
                 args->out.c_str(), r.tensors, static_cast<double>(r.bytes_in) / 1e6,
                 static_cast<double>(r.bytes_out) / 1e6, name.c_str(), s);
    return 0;
  };
}

}  // namespace edge_rt::cli
