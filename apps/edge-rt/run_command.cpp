#include "commands.hpp"
#include "generation.hpp"
#include "preset.hpp"

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/core/file.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/resource_monitor/adapt.hpp>
#include <edge_rt/runtime/engine.hpp>
#include <edge_rt/runtime/stop_strings.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>
#include <random>

namespace edge_rt::cli {

namespace {

boost::json::object metrics_json(const runtime::GenerationResult& r, const partition_planner::ExecutionPlan& plan,
                                 std::uint64_t streamed_per_token, std::uint64_t seed) {
  const runtime::Metrics& m = r.metrics;
  boost::json::array passes;
  for (const runtime::TokenStats& p : r.passes) {
    passes.push_back(boost::json::object{
        {"io_ms", p.io_ms}, {"compute_ms", p.compute_ms}, {"stall_ms", p.stall_ms}, {"bytes_read", p.bytes_read}});
  }
  boost::json::object o{
      {"load_ms", m.load_ms},
      {"ttft_ms", m.ttft_ms},
      {"prefill_ms", m.prefill_ms},
      {"decode_ms", m.decode_ms},
      {"prefill_tok_s", m.prefill_tok_s},
      {"decode_tok_s", m.decode_tok_s},
      {"n_prompt_tokens", m.n_prompt_tokens},
      {"n_generated_tokens", m.n_generated_tokens},
      {"peak_pool_bytes", m.peak_pool_bytes},
      {"peak_rss_bytes", peak_rss_bytes()},
      {"weight_bytes_loaded", m.weight_bytes_loaded},
      {"io_ms", m.io_ms},
      {"compute_ms", m.compute_ms},
      {"stall_ms", m.stall_ms},
      {"overlap_efficiency", m.overlap_efficiency},
      {"paced_ms", m.paced_ms},
      {"min_threads", m.min_threads},
      {"streamed_bytes_per_token", streamed_per_token},
      {"resident_bytes", plan.resident_bytes},
      {"strategy", plan.strategy},
      {"groups", plan.groups.size()},
      {"prefetch_depth", plan.prefetch_depth},
      {"all_resident", plan.all_resident()},
      {"minimum_budget_bytes", plan.minimum_budget_bytes},
      {"predicted_peak_bytes", plan.peak_bytes},
      {"seed", seed},
      {"passes", std::move(passes)},
  };
  if (plan.budget.is_unlimited()) {
    o["budget_bytes"] = nullptr;
  } else {
    o["budget_bytes"] = plan.budget.bytes();
  }
  return o;
}

void print_metrics(const runtime::Metrics& m, const partition_planner::ExecutionPlan& plan, bool verbose) {
  if (verbose) {
    std::fprintf(stderr, "\nedge-rt: streaming: read %s, I/O %.1f ms, compute %.1f ms, stall %.1f ms, overlap %.0f%%",
                 memory_manager::format_bytes(m.weight_bytes_loaded).c_str(), m.io_ms, m.compute_ms, m.stall_ms,
                 100.0 * m.overlap_efficiency);
  }
  std::fprintf(stderr,
               "\nedge-rt: load %.1f ms | TTFT %.1f ms | prefill %zu tok, %.1f tok/s | decode %zu tok, %.1f tok/s | "
               "peak pool %s of %s (%s) | peak RSS %s\n",
               m.load_ms, m.ttft_ms, m.n_prompt_tokens, m.prefill_tok_s, m.n_generated_tokens, m.decode_tok_s,
               memory_manager::format_bytes(m.peak_pool_bytes).c_str(), plan.budget.to_string().c_str(),
               plan.strategy.c_str(), memory_manager::format_bytes(peak_rss_bytes()).c_str());
}

Result<int> run(const RunArgs& a) {
  // The tokenizer comes first: the prompt's length sizes the KV cache and the prefill batch.
  EDGE_RT_TRY(runtime::EngineOptions options, engine_options(a));
  std::string prompt_text = a.prompt;
  if (!a.prompt_file.empty()) {
    EDGE_RT_TRY(prompt_text, read_regular_file(a.prompt_file, kMaxTextBytes, "[run] -f"));
    if (prompt_text.empty())
      return fail(ErrorCode::kInvalidArgument, "[run] -f " + a.prompt_file + ": the file is empty");
  } else if (a.prompt == "-") {
    EDGE_RT_TRY(prompt_text, read_stdin(kMaxTextBytes, "[run] -p -"));
    if (prompt_text.empty()) return fail(ErrorCode::kInvalidArgument, "[run] -p -: standard input is empty");
  }
  std::vector<tokenizer::TokenId> prompt;
  if (!a.prompt_tokens.empty()) {
    EDGE_RT_TRY(const auto ids, parse_int_list(a.prompt_tokens, "--prompt-tokens", 0, kMaxCount));
    prompt.assign(ids.begin(), ids.end());
  } else if (!prompt_text.empty()) {
    if (!options.tokenizer) {
      return fail(ErrorCode::kInvalidArgument, "[run] " + a.model +
                                                   " has no tokenizer (tokenizer.json, vocab.json+merges.txt or "
                                                   "tokenizer.bin): give the prompt as --prompt-tokens");
    }
    prompt = options.tokenizer->encode(prompt_text);
  }
  const auto n_new = static_cast<std::size_t>(a.n_predict);
  // Context: the user's, else prompt + BOS + new tokens capped at the model's maximum (decided by the engine).
  options.n_ctx = static_cast<std::size_t>(a.ctx_size);
  if (options.n_ctx == 0)
    options.n_ctx = a.ctx_cap > 0 ? static_cast<std::size_t>(a.ctx_cap) : prompt.size() + 1 + n_new;
  if (auto config = model_ir::parse_hf_config(options.model_dir / "config.json"); config && a.ctx_size == 0) {
    options.n_ctx = std::min<std::size_t>(options.n_ctx, static_cast<std::size_t>(config.value().max_context));
  }  // a broken config.json is reported by load_model below
  options.n_batch = std::max<std::size_t>(1, std::min(options.n_ctx, prompt.size() + 1));

  EDGE_RT_TRY(auto planned, runtime::InferenceEngine<runtime::Idle>::create().load_model(options));
  if (a.verbose) std::cerr << planned.describe_plan() << "\n" << coverage_text(planned.coverage());
  print_fallbacks(planned.coverage());
  EDGE_RT_TRY(auto engine, std::move(planned).prepare());

  runtime::GenerateOptions gen = generate_options(a);
  gen.max_new_tokens = n_new;
  gen.all_logits = a.all_logits;

  // Run-time adaptation: a monitor thread re-reads thermal and battery state and caps threads or paces decoding.
  runtime::RunControl control;
  std::unique_ptr<resource_monitor::Monitor> monitor;
  if (!a.no_monitor) {
    EDGE_RT_TRY(auto probe, resource_monitor::SystemProbe::at(a.monitor_root));
    const auto configured = static_cast<std::uint32_t>(runtime::kernel_threads(static_cast<std::int32_t>(a.threads)));
    monitor = std::make_unique<resource_monitor::Monitor>(
        probe, a.policy, configured, [&control](const resource_monitor::Adaptation& change) {
          control.max_threads = change.max_threads;
          control.pace_ms = change.pace_ms;
          if (change.max_threads == 0) {
            std::fprintf(stderr, "\nedge-rt: monitor: %s: back to the configured threads, no pacing\n",
                         change.reason.c_str());
          } else {
            std::fprintf(stderr, "\nedge-rt: monitor: %s: threads -> %u, pacing %u ms per token\n",
                         change.reason.c_str(), change.max_threads, change.pace_ms);
          }
        });
    monitor->poll_once();  // the state at the start applies to the first token already
    monitor->start();
    gen.control = &control;
  }

  const tokenizer::Tokenizer* tok = engine.tokenizer();
  const bool json = a.output == "json";
  // The decoder sees the prompt first, so the generated text continues it with the right spacing (a SentencePiece
  // decoder drops the leading space only at the very start).
  std::optional<tokenizer::StreamingDecoder> decoder;
  if (tok) decoder.emplace(*tok);
  std::string text;  // generated text only, up to a stop string
  auto emit = [&](const std::string& piece) {
    if (json) return;
    std::fputs(piece.c_str(), stdout);
    std::fflush(stdout);
  };
  std::vector<runtime::StopString> stops;
  for (const std::string& s : a.stop) stops.push_back({s, false});
  for (const std::string& s : a.reverse_prompt) stops.push_back({s, true});
  runtime::StopStringMatcher matcher(std::move(stops));
  if (decoder) {
    // Ids outside the tokenizer are skipped here; generate() reports those outside the model's vocabulary.
    for (tokenizer::TokenId id : prompt) {
      if (id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size()) emit(decoder->push(id));  // echo, as llama.cpp
    }
  } else if (!json) {
    std::fputs("edge-rt: the model has no tokenizer: printing token ids\n", stderr);
  }
  runtime::TokenCallback on_token = [&](tokenizer::TokenId id) {
    // A model's vocabulary may be larger than its tokenizer's (padding rows): such ids print as <id>.
    const bool known = decoder && static_cast<std::size_t>(id) < tok->vocab_size();
    const std::string piece =
        known ? decoder->push(id) : (decoder ? "<" + std::to_string(id) + ">" : std::to_string(id) + " ");
    if (!decoder) {
      emit(piece);
      return true;
    }
    const std::string shown = matcher.push(piece);
    text += shown;
    emit(shown);
    return !matcher.stopped();
  };
  EDGE_RT_TRY(auto result, engine.generate(prompt, gen, on_token));
  monitor.reset();                      // stops the thread before `control` goes away
  if (decoder && !matcher.stopped()) {  // the decoder's last bytes, then what the matcher still holds
    std::string rest = matcher.push(decoder->flush());
    if (!matcher.stopped()) rest += matcher.flush();
    text += rest;
    emit(rest);
  }
  // The engine saw its callback stop; say why.
  const std::string stop_reason = matcher.stopped() ? "stop_string" : runtime::to_string(result.stop_reason);
  if (json) {
    boost::json::array prompt_ids, generated_ids;
    for (auto id : prompt) prompt_ids.push_back(id);
    for (auto id : result.generated_tokens) generated_ids.push_back(id);
    boost::json::object out{
        {"prompt_token_ids", std::move(prompt_ids)},
        {"generated_token_ids", std::move(generated_ids)},
        {"text", tokenizer::to_valid_utf8(text)},
        {"stop_reason", stop_reason},
        {"metrics", metrics_json(result, engine.plan(), engine.streamed_bytes_per_token(), gen.sampling.seed)}};
    boost::json::object& metrics = out["metrics"].as_object();
    const boost::json::object coverage = coverage_json(engine.coverage());
    for (const char* key : {"devices", "fallbacks", "splits", "bytes_across_devices_per_token"}) {
      metrics[key] = coverage.at(key);
    }
    if (a.all_logits) {
      boost::json::array rows;
      for (const auto& row : result.logits) rows.push_back(boost::json::array(row.begin(), row.end()));
      out["logits"] = std::move(rows);
    }
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    std::fputs("\n", stdout);
    std::fflush(stdout);
    print_metrics(result.metrics, engine.plan(), a.verbose);
  }
  return 0;
}

}  // namespace

Result<std::string> read_stdin(std::uint64_t max_bytes, const std::string& what) {
  std::string text;
  char buf[1 << 16];
  while (true) {
    const std::size_t n = std::fread(buf, 1, sizeof buf, stdin);
    text.append(buf, n);
    if (text.size() > max_bytes) {
      return fail(ErrorCode::kInvalidArgument,
                  what + ": standard input is over " + std::to_string(max_bytes) + " bytes, the limit");
    }
    if (n < sizeof buf) break;
  }
  if (std::ferror(stdin)) return fail(ErrorCode::kIoError, what + ": cannot read standard input");
  return text;
}

Result<runtime::EngineOptions> engine_options(const RunArgs& a) {
  runtime::EngineOptions options;
  options.model_dir = a.model;
  options.strategy = a.strategy;
  options.n_threads = static_cast<std::int32_t>(a.threads);
  options.cold_cache = a.cold_cache;
  options.use_mmap = a.use_mmap;
  EDGE_RT_TRY(options.devices, resolve_devices(a.devices));
  EDGE_RT_TRY(options.budget, resolve_budget(a.memory_budget));
  EDGE_RT_TRY(check_model_folder(options.model_dir, a.model_flag.c_str()));
  if (tokenizer::has_tokenizer_files(options.model_dir)) {
    EDGE_RT_TRY(auto tok, tokenizer::load_tokenizer(options.model_dir));
    options.tokenizer = std::move(tok);
  }
  return options;
}

runtime::GenerateOptions generate_options(const RunArgs& a) {
  runtime::GenerateOptions gen;
  gen.stop_at_eos = !a.ignore_eos;
  gen.sampling.temperature = static_cast<float>(a.temperature);
  gen.sampling.top_k = static_cast<std::int32_t>(a.top_k);
  gen.sampling.top_p = static_cast<float>(a.top_p);
  gen.sampling.min_p = static_cast<float>(a.min_p);
  gen.sampling.repeat_penalty = static_cast<float>(a.repeat_penalty);
  gen.sampling.seed = a.seed < 0 ? std::random_device{}() : static_cast<std::uint64_t>(a.seed);
  return gen;
}

namespace {
// The flags of `run` and `chat`; `chat` has no prompt flags, and chat-only flags on `run` go with -cnv.
void add_generation_flags(CLI::App* cmd, RunArgs* args, bool chat) {
  cmd->add_option("-m,--model", args->model, "Model folder or .gguf file (default: the embedded stories260K)");
  if (!chat) {
    auto* prompt =
        cmd->add_option("-p,--prompt", args->prompt, "Prompt text (empty: start from BOS; -: standard input)");
    auto* file = cmd->add_option("-f,--file", args->prompt_file, "Read the prompt from a file");
    file->excludes(prompt);
    cmd->add_option("--stop", args->stop,
                    "Stop when the output shows this text, which is not printed (repeatable; as ollama's stop)")
        ->check(CLI::Validator([](std::string& s) { return s.empty() ? "an empty stop string" : ""; }, "TEXT"));
    cmd->add_option("-r,--reverse-prompt", args->reverse_prompt,
                    "Stop after this text appears in the output, printed (repeatable; as llama.cpp's -r)")
        ->check(CLI::Validator([](std::string& s) { return s.empty() ? "an empty reverse prompt" : ""; }, "TEXT"));
    cmd->add_option("--prompt-tokens", args->prompt_tokens, "Prompt as comma-separated token ids, e.g. 1,2,3")
        ->excludes(prompt)
        ->excludes(file);
    cmd->add_flag("--cnv,--conversation", args->conversation, "Chat mode: the same as `edge-rt chat` (-cnv)");
  }
  cmd->add_option("--sys,--system-prompt", args->system_prompt, "Chat: the system message (-sys)");
  cmd->add_option("--chat-template", args->chat_template,
                  "Chat: a built-in template (chatml, llama2, llama3, gemma, phi3, mistral) or a Jinja file, "
                  "instead of the model's own");
  cmd->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past the end-of-sequence token");
  cmd->add_option("-n,--n-predict", args->n_predict,
                  chat ? "New tokens per reply at most (default: until the end of the turn or the context)"
                       : "New tokens to generate")
      ->check(CLI::Range(std::int64_t{0}, kMaxCount))
      ->capture_default_str();
  cmd->add_option("--memory-budget", args->memory_budget,
                  "Memory budget: 512M, 1G, 64MiB, bytes, or auto (MemAvailable / cgroup limit minus a margin; "
                  "default: none)");
  cmd->add_option("--strategy", args->strategy, "sequential | greedy-grouping | speculative-prefetch")
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads for kernels, this one included; 0 = one per CPU")
      ->check(CLI::Range(std::int64_t{0}, kMaxThreads))
      ->capture_default_str();
  cmd->add_option("-c,--config", args->preset, "Preset TOML (configs/*.toml); explicit flags override it");
  cmd->add_option("--ctx-size", args->ctx_size, "KV cache length in tokens (default: prompt + n, capped)")
      ->check(CLI::Range(std::int64_t{0}, model_ir::kMaxContext));
  cmd->add_option("--temperature,--temp", args->temperature, "Sampling temperature; 0 = greedy")
      ->check(finite_range(0, 1e6))
      ->capture_default_str();
  cmd->add_option("--top-k", args->top_k, "Top-k; <= 0 disables")
      ->check(CLI::Range(-kMaxCount, kMaxCount))
      ->capture_default_str();
  cmd->add_option("--top-p", args->top_p, "Top-p (nucleus); 1 disables")
      ->check(finite_range(0, 1, /*lo_open=*/true))
      ->capture_default_str();
  cmd->add_option("--min-p", args->min_p, "Min-p; 0 disables")->check(finite_range(0, 1))->capture_default_str();
  cmd->add_option("--repeat-penalty", args->repeat_penalty, "Repetition penalty; 1 disables")
      ->check(finite_range(0, 1e6, /*lo_open=*/true))
      ->capture_default_str();
  cmd->add_option("-s,--seed", args->seed, "RNG seed; < 0 picks one at random")
      ->check(integer_range(std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max()))
      ->capture_default_str();
  cmd->add_option("--output", args->output, "text | json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  cmd->add_flag("--all-logits", args->all_logits, "With --output json: logits of every prompt position");
  cmd->add_flag("-v,--verbose", args->verbose, "Print the execution plan and streaming metrics to stderr");
  add_device_flags(*cmd, args->devices);
  cmd->add_flag("--mmap", args->use_mmap, "Copy weights from a mapping of the checkpoint instead of pread");
  cmd->add_flag("--cold-cache", args->cold_cache,
                "Drop the page cache of every weight read: each token streams from the device");
  cmd->add_flag("--no-monitor", args->no_monitor,
                "Do not watch thermal zones and the battery (by default a hot zone or a low battery lowers threads "
                "and paces decoding; thresholds from the preset)");
  cmd->add_option("--monitor-root", args->monitor_root, "Folder the monitor reads /proc and /sys under (default: /)");
}

int run_action(const RunArgs& args, CLI::App* cmd, bool chat) {
  RunArgs a = args;
  a.conversation = a.conversation || chat;
  a.n_predict_given = cmd->get_option("--n-predict")->count() > 0;
  if (!a.preset.empty()) {
    auto preset = load_preset(a.preset);
    if (!preset) return report(preset.error());
    const Preset& p = preset.value();
    apply(p.model, *cmd, "--model", a.model);
    a.model_flag = model_flag(*cmd, p);
    apply(p.memory_budget, *cmd, "--memory-budget", a.memory_budget);
    apply(p.strategy, *cmd, "--strategy", a.strategy);
    apply(p.num_threads, *cmd, "--threads", a.threads);
    apply(p.ctx_size, *cmd, "--ctx-size", a.ctx_cap);
    apply(p.n_predict, *cmd, "--n-predict", a.n_predict);
    a.n_predict_given = a.n_predict_given || p.n_predict.has_value();
    apply(p.temperature, *cmd, "--temperature", a.temperature);
    apply(p.top_k, *cmd, "--top-k", a.top_k);
    apply(p.top_p, *cmd, "--top-p", a.top_p);
    apply(p.min_p, *cmd, "--min-p", a.min_p);
    apply(p.repeat_penalty, *cmd, "--repeat-penalty", a.repeat_penalty);
    apply(p.seed, *cmd, "--seed", a.seed);
    apply_device_preset(p, *cmd, a.devices);
    auto policy = p.adapt_policy();
    if (!policy) return report(policy.error());
    a.policy = policy.value();
  }
  if (a.model.empty() && cmd->get_option("--model")->count() == 0) {
    auto dir = default_model_dir();
    if (!dir) return report(dir.error());
    a.model = dir.value().string();
  }
  if (!a.conversation && (!a.system_prompt.empty() || !a.chat_template.empty())) {
    return report(Error{ErrorCode::kInvalidArgument, std::string("[run] ") +
                                                         (a.system_prompt.empty() ? "--chat-template" : "-sys") +
                                                         " applies to a chat: add -cnv, or use `edge-rt chat`"});
  }
  auto status = a.conversation ? run_chat(a) : run(a);
  if (!status) return report(status.error());
  return status.value();
}
}  // namespace

std::function<int()> add_run_command(CLI::App& app) {
  auto run_args = std::make_shared<RunArgs>();
  auto chat_args = std::make_shared<RunArgs>();
  CLI::App* run_cmd = app.add_subcommand("run", "Generate text from a prompt");
  CLI::App* chat_cmd =
      app.add_subcommand("chat", "Chat with an instruct model in its chat template, keeping the KV cache across turns");
  add_generation_flags(run_cmd, run_args.get(), false);
  add_generation_flags(chat_cmd, chat_args.get(), true);
  return [=]() -> int {
    return chat_cmd->parsed() ? run_action(*chat_args, chat_cmd, true) : run_action(*run_args, run_cmd, false);
  };
}

}  // namespace edge_rt::cli
