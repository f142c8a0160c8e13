#pragma once
// What `run` and `chat` share: their flags, the engine options and sampling settings made from them.

#include "preset.hpp"

#include <edge_rt/runtime/engine.hpp>

#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace edge_rt::cli {

struct RunArgs {
  std::string model;  // empty: neither -m nor the preset gave one, so default_model_dir()
  std::string prompt;
  std::string prompt_file;
  std::string prompt_tokens;
  std::vector<std::string> stop;            // not shown
  std::vector<std::string> reverse_prompt;  // shown, as llama.cpp does
  bool ignore_eos = false;
  std::int64_t n_predict = 128;  // run; chat: until the end of the turn unless -n is given
  std::string memory_budget;
  std::string strategy = "greedy-grouping";
  std::int64_t threads = 0;
  std::int64_t ctx_size = 0;
  std::int64_t ctx_cap = 0;  // a preset's ctx_size: capped at the model's maximum, where --ctx-size is not
  double temperature = 0.8;
  std::int64_t top_k = 40;
  double top_p = 0.95;
  double min_p = 0.05;
  double repeat_penalty = 1.0;
  std::int64_t seed = -1;
  std::string output = "text";
  std::string preset;
  std::string model_flag = "-m";  // how messages name where the model folder came from
  bool all_logits = false;
  bool verbose = false;
  bool cold_cache = false;
  bool use_mmap = false;
  bool no_monitor = false;
  std::string monitor_root = "/";
  resource_monitor::AdaptPolicy policy;  // from the preset's thresholds
  DeviceFlags devices;
  // Chat (`chat`, or `run -cnv`).
  bool conversation = false;
  bool n_predict_given = false;
  std::string system_prompt;
  std::string chat_template;  // a built-in name or a Jinja file; empty: the model's own
};

/// Engine options from the flags: model folder (checked), budget, devices, threads, streaming switches, and the
/// model's tokenizer when it has one. n_ctx and n_batch are left to the caller.
Result<runtime::EngineOptions> engine_options(const RunArgs& a);

/// Sampling and stopping from the flags (the seed drawn at random when negative).
runtime::GenerateOptions generate_options(const RunArgs& a);

/// The interactive chat loop (chat_command.cpp).
Result<int> run_chat(const RunArgs& a);

}  // namespace edge_rt::cli
