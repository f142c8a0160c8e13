#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/core/file.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <boost/json.hpp>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

namespace edge_rt::cli {

namespace {

struct PerplexityArgs {
  std::string model;  // empty: neither -m nor the preset gave one, so default_model_dir()
  std::string file;
  std::int64_t ctx_size = 256;
  std::int64_t threads = 0;
  std::int64_t max_chunks = 0;
  std::string memory_budget;
  std::string strategy = "greedy-grouping";
  std::string output = "text";
  std::string preset;
  DeviceFlags devices;
  std::string model_flag = "-m";  // how messages name where the model folder came from
};

struct Scored {
  std::size_t position = 0;  ///< In the file's token stream.
  tokenizer::TokenId id = 0;
  double nll = 0;
};

// -log softmax(logits)[id], in double.
double nll_of(const std::vector<float>& logits, tokenizer::TokenId id) {
  double max = -INFINITY;
  for (float v : logits) max = std::max(max, static_cast<double>(v));
  double sum = 0;
  for (float v : logits) sum += std::exp(static_cast<double>(v) - max);
  return std::log(sum) + max - static_cast<double>(logits[static_cast<std::size_t>(id)]);
}

Result<int> perplexity(const PerplexityArgs& a) {
  EDGE_RT_TRY(const std::string text, read_regular_file(a.file, kMaxTextBytes, "[perplexity] --file"));
  EDGE_RT_TRY(check_model_folder(a.model, a.model_flag.c_str()));
  runtime::EngineOptions options;
  options.model_dir = a.model;
  options.strategy = a.strategy;
  options.n_threads = static_cast<std::int32_t>(a.threads);
  options.n_ctx = static_cast<std::size_t>(a.ctx_size);
  EDGE_RT_TRY(options.budget, resolve_budget(a.memory_budget));
  EDGE_RT_TRY(options.devices, resolve_devices(a.devices));
  EDGE_RT_TRY(auto planned, runtime::InferenceEngine<runtime::Idle>::create().load_model(options));
  print_fallbacks(planned.coverage());
  if (static_cast<std::int64_t>(planned.config().max_context) < a.ctx_size) {
    return fail(ErrorCode::kInvalidArgument, "--ctx-size " + std::to_string(a.ctx_size) + " exceeds the model's " +
                                                 std::to_string(planned.config().max_context) + "-token context");
  }
  EDGE_RT_TRY(auto engine, std::move(planned).prepare());
  const tokenizer::Tokenizer* tok = engine.tokenizer();
  if (!tok) return fail(ErrorCode::kInvalidArgument, "[perplexity] " + a.model + " has no tokenizer");
  const std::vector<tokenizer::TokenId> tokens = tok->encode(text);
  // Llama-family models get BOS prepended by generate(): one position of each window goes to it.
  const bool bos = engine.adds_bos();
  const std::size_t window = static_cast<std::size_t>(a.ctx_size) - (bos ? 1 : 0);
  std::size_t n_chunks = tokens.size() / window;
  if (a.max_chunks > 0) n_chunks = std::min(n_chunks, static_cast<std::size_t>(a.max_chunks));
  if (n_chunks == 0) {
    return fail(ErrorCode::kInvalidArgument, "[perplexity] " + a.file + " has " + std::to_string(tokens.size()) +
                                                 " tokens, fewer than one window of " + std::to_string(window));
  }
  runtime::GenerateOptions gen;
  gen.max_new_tokens = 0;
  gen.all_logits = true;
  std::vector<Scored> scored;
  const bool json = a.output == "json";
  for (std::size_t c = 0; c < n_chunks; ++c) {
    const std::span<const tokenizer::TokenId> chunk(tokens.data() + c * window, window);
    EDGE_RT_TRY(auto result, engine.generate(chunk, gen));
    const std::size_t offset = result.input_tokens.size() - window;  // 1 with BOS
    // As llama.cpp's perplexity: only the second half of each window is scored, so every scored token has at
    // least half a window of context.
    for (std::size_t p = std::max<std::size_t>(1, window / 2); p < window; ++p) {
      const std::size_t logit_row = offset + p - 1;  // predicts chunk[p]
      const double nll = nll_of(result.logits[logit_row], chunk[p]);
      if (!std::isfinite(nll)) {  // a NaN or infinite logit: the model's weights are broken, the score meaningless
        return fail(ErrorCode::kNumerical, "[perplexity] " + a.model + ": the log-likelihood at token " +
                                               std::to_string(c * window + p) +
                                               " is not finite: a weight or scale in the model is NaN or infinite");
      }
      scored.push_back({c * window + p, chunk[p], nll});
    }
    if (!json) {
      double sum = 0;
      for (const Scored& s : scored) sum += s.nll;
      std::fprintf(stderr, "[%zu/%zu] running perplexity %.4f\n", c + 1, n_chunks,
                   std::exp(sum / static_cast<double>(scored.size())));
    }
  }
  double sum = 0, sum_sq = 0;
  for (const Scored& s : scored) {
    sum += s.nll;
    sum_sq += s.nll * s.nll;
  }
  const auto n = static_cast<double>(scored.size());
  const double mean = sum / n;
  const double stderr_nll = std::sqrt(std::max(0.0, sum_sq / n - mean * mean) / std::max(1.0, n - 1));
  const double ppl = std::exp(mean);
  if (json) {
    boost::json::array per_token;
    for (const Scored& s : scored) per_token.push_back({{"pos", s.position}, {"id", s.id}, {"nll", s.nll}});
    boost::json::object out{{"model", a.model},
                            {"file", a.file},
                            {"ctx_size", a.ctx_size},
                            {"file_tokens", tokens.size()},
                            {"chunks", n_chunks},
                            {"scored_tokens", scored.size()},
                            {"mean_nll", mean},
                            {"perplexity", ppl},
                            {"perplexity_stderr", ppl * stderr_nll},
                            {"tokens", std::move(per_token)}};
    std::cout << boost::json::serialize(out) << "\n";
  } else {
    std::printf("perplexity %.4f +/- %.4f (mean NLL %.5f nats) over %zu scored tokens, %zu windows of %lld\n", ppl,
                ppl * stderr_nll, mean, scored.size(), n_chunks, static_cast<long long>(a.ctx_size));
  }
  return 0;
}

}  // namespace

std::function<int()> add_perplexity_command(CLI::App& app) {
  auto args = std::make_shared<PerplexityArgs>();
  CLI::App* cmd = app.add_subcommand("perplexity", "Per-token negative log-likelihood and perplexity of a text");
  cmd->add_option("-m,--model", args->model, "Model folder (default: the embedded stories260K)");
  cmd->add_option("-f,--file", args->file, "Text file to score")->required();
  cmd->add_option("--ctx-size", args->ctx_size, "Window in tokens (the second half of each is scored)")
      ->check(CLI::Range(std::int64_t{4}, model_ir::kMaxContext))
      ->capture_default_str();
  cmd->add_option("--chunks", args->max_chunks, "Score at most this many windows; 0 = all")
      ->check(CLI::Range(std::int64_t{0}, kMaxCount))
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Threads for kernels; 0 = one per CPU")
      ->check(CLI::Range(std::int64_t{0}, kMaxThreads))
      ->capture_default_str();
  cmd->add_option("--memory-budget", args->memory_budget, "Memory budget (default: none)");
  cmd->add_option("--strategy", args->strategy, "sequential | greedy-grouping | speculative-prefetch")
      ->capture_default_str();
  add_device_flags(*cmd, args->devices);
  cmd->add_option("-c,--config", args->preset, "Preset TOML; explicit flags override it");
  cmd->add_option("--output", args->output, "text | json (json lists every scored token's NLL)")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  return [args, cmd]() -> int {
    PerplexityArgs a = *args;
    if (!a.preset.empty()) {
      auto preset = load_preset(a.preset);
      if (!preset) return report(preset.error());
      const Preset& p = preset.value();
      apply(p.model, *cmd, "--model", a.model);
      a.model_flag = model_flag(*cmd, p);
      apply(p.memory_budget, *cmd, "--memory-budget", a.memory_budget);
      apply(p.strategy, *cmd, "--strategy", a.strategy);
      apply(p.num_threads, *cmd, "--threads", a.threads);
      apply_device_preset(p, *cmd, a.devices);
    }
    if (a.model.empty() && cmd->get_option("--model")->count() == 0) {
      auto dir = default_model_dir();
      if (!dir) return report(dir.error());
      a.model = dir.value().string();
    }
    auto status = perplexity(a);
    if (!status) return report(status.error());
    return status.value();
  };
}

}  // namespace edge_rt::cli
