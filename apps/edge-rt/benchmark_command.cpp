// edge-rt benchmark: llama-bench's measurements (pp<N> prefill and tg<N> decode rows, mean and sd over repetitions)
// over a sweep of memory budgets, strategies and thread counts, plus what matters under a budget: load time, TTFT,
// per-token latency percentiles, peak RSS and bytes streamed per token.
#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/core/format.hpp>
#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include <unistd.h>

namespace edge_rt::cli {

namespace {

using Clock = std::chrono::steady_clock;

struct BenchArgs {
  std::string model;                 // empty: neither -m nor the preset gave one, so default_model_dir()
  std::vector<std::string> budgets;  // --sweep-memory ("none" = no budget); empty: --memory-budget's or the preset's
  std::string memory_budget;
  std::vector<std::string> strategies = {"greedy-grouping"};
  std::vector<std::int64_t> threads = {0};
  std::int64_t n_prompt = 128;
  std::int64_t n_gen = 64;
  std::int64_t reps = 5;
  std::string output = "table";
  std::string preset;
  std::string model_flag = "-m";  // how messages name where the model folder came from
  bool progress = true;
  bool tty = false;  // stderr is a terminal: one line rewritten with \r; otherwise a line per repetition for logs
  DeviceFlags devices;
};

struct Config {
  std::string device;  // one of --device's comma-separated list
  std::string budget;  // as given ("" = none)
  std::string strategy;
  std::int64_t threads = 0;
};

// One configuration's repetitions.
struct Samples {
  std::vector<double> load_ms, ttft_ms, prefill_ns, decode_ns, prefill_ts, decode_ts;
  std::vector<double> token_ms;  // every decode token's latency, all repetitions
  std::uint64_t peak_rss_bytes = 0;
  std::uint64_t streamed_bytes_per_token = 0;
  std::uint64_t budget_bytes = 0;  // 0: none
  std::size_t threads_used = 0;
  runtime::Coverage coverage;
};

double mean(const std::vector<double>& v) {
  return v.empty() ? 0.0 : std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

// Sample standard deviation (n - 1), as llama-bench; 0 for fewer than two samples.
double stdev(const std::vector<double>& v) {
  if (v.size() < 2) return 0.0;
  const double m = mean(v);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size() - 1));
}

// Nearest-rank percentile (p in 0..100).
double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0.0;
  std::sort(v.begin(), v.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * static_cast<double>(v.size())));
  return v[std::min(v.size() - 1, rank == 0 ? 0 : rank - 1)];
}

Result<Samples> run_config(const BenchArgs& a, const Config& c, std::size_t index, std::size_t total) {
  Samples s;
  runtime::EngineOptions options;
  options.model_dir = a.model;
  options.strategy = c.strategy;
  options.n_threads = static_cast<std::int32_t>(c.threads);
  EDGE_RT_TRY(options.budget, resolve_budget(c.budget));
  options.n_ctx = static_cast<std::size_t>(a.n_prompt + a.n_gen + 1);
  options.n_batch = static_cast<std::size_t>(std::max<std::int64_t>(1, a.n_prompt + 1));
  s.budget_bytes = options.budget.is_unlimited() ? 0 : options.budget.bytes();
  DeviceFlags devices = a.devices;
  devices.device = c.device;
  EDGE_RT_TRY(options.devices, resolve_devices(devices));
  reset_peak_rss();
  for (std::int64_t r = 0; r < a.reps; ++r) {
    if (a.progress) {
      std::fprintf(stderr, "%s[%zu/%zu] %s, %s, budget %s, threads %lld: repetition %lld/%lld%s", a.tty ? "\r" : "",
                   index + 1, total, c.device.c_str(), c.strategy.c_str(), c.budget.empty() ? "none" : c.budget.c_str(),
                   static_cast<long long>(c.threads), static_cast<long long>(r + 1), static_cast<long long>(a.reps),
                   a.tty ? "   " : "\n");
    }
    EDGE_RT_TRY(auto planned, runtime::InferenceEngine<runtime::Idle>::create().load_model(options));
    if (r == 0) print_fallbacks(planned.coverage());
    s.coverage = planned.coverage();
    EDGE_RT_TRY(auto engine, std::move(planned).prepare());
    // Random prompt tokens, as llama-bench: the same ones in every repetition and configuration.
    std::mt19937 rng(1234);
    std::uniform_int_distribution<tokenizer::TokenId> pick(
        0, static_cast<tokenizer::TokenId>(engine.config().vocab_size - 1));
    std::vector<tokenizer::TokenId> prompt(static_cast<std::size_t>(a.n_prompt));
    for (auto& id : prompt) id = pick(rng);
    runtime::GenerateOptions gen;
    gen.max_new_tokens = static_cast<std::size_t>(a.n_gen);
    gen.sampling.temperature = 0.0f;
    gen.stop_at_eos = false;
    std::vector<Clock::time_point> stamps;
    stamps.reserve(gen.max_new_tokens);
    EDGE_RT_TRY(auto result, engine.generate(prompt, gen, [&](tokenizer::TokenId) {
      stamps.push_back(Clock::now());
      return true;
    }));
    const runtime::Metrics& m = result.metrics;
    s.load_ms.push_back(m.load_ms);
    s.ttft_ms.push_back(m.ttft_ms);
    s.prefill_ns.push_back(m.prefill_ms * 1e6);
    s.prefill_ts.push_back(m.prefill_tok_s);
    s.decode_ns.push_back(m.decode_ms * 1e6);
    s.decode_ts.push_back(m.decode_tok_s);
    for (std::size_t i = 1; i < stamps.size(); ++i) {
      s.token_ms.push_back(std::chrono::duration<double, std::milli>(stamps[i] - stamps[i - 1]).count());
    }
    s.streamed_bytes_per_token = engine.streamed_bytes_per_token();
    s.threads_used = m.min_threads;
  }
  s.peak_rss_bytes = peak_rss_bytes();
  return s;
}

struct Row {
  Config config;
  Samples samples;
};

boost::json::array to_json(const BenchArgs& a, const std::vector<Row>& rows, std::uint64_t model_bytes,
                           std::uint64_t n_params) {
  boost::json::array out;
  for (const Row& row : rows) {
    const Samples& s = row.samples;
    for (const bool pp : {true, false}) {
      if (pp ? a.n_prompt == 0 : a.n_gen <= 1) continue;
      const std::vector<double>& ns = pp ? s.prefill_ns : s.decode_ns;
      const std::vector<double>& ts = pp ? s.prefill_ts : s.decode_ts;
      boost::json::object o{
          // llama-bench's fields, same meaning.
          {"model_filename", a.model},
          {"model_size", model_bytes},
          {"model_n_params", n_params},
          {"n_threads", s.threads_used},
          {"n_prompt", pp ? a.n_prompt : 0},
          {"n_gen", pp ? 0 : a.n_gen},
          {"avg_ns", static_cast<std::uint64_t>(mean(ns))},
          {"stddev_ns", static_cast<std::uint64_t>(stdev(ns))},
          {"avg_ts", mean(ts)},
          {"stddev_ts", stdev(ts)},
          {"samples_ns", boost::json::array(ns.begin(), ns.end())},
          {"samples_ts", boost::json::array(ts.begin(), ts.end())},
          // edge-rt's.
          {"test", (pp ? "pp" : "tg") + std::to_string(pp ? a.n_prompt : a.n_gen)},
          {"device", row.config.device},
          {"n_gpu_layers", a.devices.gpu_layers},
          {"strategy", row.config.strategy},
          {"memory_budget", row.config.budget.empty() ? "none" : row.config.budget},
          {"load_ms", mean(s.load_ms)},
          {"ttft_ms", mean(s.ttft_ms)},
          {"ttft_stddev_ms", stdev(s.ttft_ms)},
          {"token_p50_ms", percentile(s.token_ms, 50)},
          {"token_p99_ms", percentile(s.token_ms, 99)},
          {"peak_rss_bytes", s.peak_rss_bytes},
          {"streamed_bytes_per_token", s.streamed_bytes_per_token},
          {"coverage", coverage_json(s.coverage)},
      };
      o["budget_bytes"] = s.budget_bytes == 0 ? boost::json::value(nullptr) : boost::json::value(s.budget_bytes);
      out.push_back(std::move(o));
    }
  }
  return out;
}

void print_csv(const boost::json::array& records) {
  static const char* kColumns[] = {"model_filename", "model_size",     "model_n_params",
                                   "device",         "n_gpu_layers",   "strategy",
                                   "memory_budget",  "n_threads",      "test",
                                   "n_prompt",       "n_gen",          "avg_ns",
                                   "stddev_ns",      "avg_ts",         "stddev_ts",
                                   "load_ms",        "ttft_ms",        "token_p50_ms",
                                   "token_p99_ms",   "peak_rss_bytes", "streamed_bytes_per_token"};
  std::string header;
  for (const char* c : kColumns) header += (header.empty() ? "" : ",") + std::string(c);
  std::printf("%s\n", header.c_str());
  for (const auto& r : records) {
    std::string line;
    for (const char* c : kColumns) {
      const boost::json::value& v = r.as_object().at(c);
      line += line.empty() ? "" : ",";
      if (v.is_string()) {  // appended piecewise: GCC 12's -Wrestrict misreads "\"" + s + "\"" here
        line += '"';
        line.append(v.as_string().data(), v.as_string().size());
        line += '"';
      } else {
        line += boost::json::serialize(v);
      }
    }
    std::printf("%s\n", line.c_str());
  }
}

void print_table(const boost::json::array& records) {
  std::printf(
      "| device | strategy | budget | threads | test | t/s | load ms | TTFT ms | p50 / p99 ms | peak RSS | "
      "streamed/token |\n|---|---|---|---:|---|---:|---:|---:|---:|---:|---:|\n");
  for (const auto& rv : records) {
    const auto& r = rv.as_object();
    std::printf("| %s | %s | %s | %lld | %s | %.2f ± %.2f | %.1f | %.1f | %.2f / %.2f | %s | %s |\n",
                std::string(r.at("device").as_string()).c_str(), std::string(r.at("strategy").as_string()).c_str(),
                std::string(r.at("memory_budget").as_string()).c_str(),
                static_cast<long long>(r.at("n_threads").to_number<std::int64_t>()),
                std::string(r.at("test").as_string()).c_str(), r.at("avg_ts").as_double(),
                r.at("stddev_ts").as_double(), r.at("load_ms").as_double(), r.at("ttft_ms").as_double(),
                r.at("token_p50_ms").as_double(), r.at("token_p99_ms").as_double(),
                format_bytes(r.at("peak_rss_bytes").to_number<std::uint64_t>()).c_str(),
                format_bytes(r.at("streamed_bytes_per_token").to_number<std::uint64_t>()).c_str());
  }
}

// Fastest decode, smallest peak RSS, best decode tok/s per MiB of peak RSS, over the tg rows.
boost::json::object summary(const boost::json::array& records) {
  const boost::json::object* fastest = nullptr;
  const boost::json::object* smallest = nullptr;
  const boost::json::object* densest = nullptr;
  auto per_mib = [](const boost::json::object& r) {
    const auto rss = r.at("peak_rss_bytes").to_number<double>();
    return rss > 0 ? r.at("avg_ts").as_double() / (rss / 1048576.0) : 0.0;
  };
  for (const auto& rv : records) {
    const auto& r = rv.as_object();
    if (r.at("n_gen").to_number<std::int64_t>() == 0) continue;
    if (!fastest || r.at("avg_ts").as_double() > fastest->at("avg_ts").as_double()) fastest = &r;
    if (!smallest ||
        r.at("peak_rss_bytes").to_number<std::uint64_t>() < smallest->at("peak_rss_bytes").to_number<std::uint64_t>()) {
      smallest = &r;
    }
    if (!densest || per_mib(r) > per_mib(*densest)) densest = &r;
  }
  boost::json::object out;
  auto describe = [](const boost::json::object& r) {
    return boost::json::object{
        {"device", r.at("device")},       {"strategy", r.at("strategy")}, {"memory_budget", r.at("memory_budget")},
        {"n_threads", r.at("n_threads")}, {"avg_ts", r.at("avg_ts")},     {"peak_rss_bytes", r.at("peak_rss_bytes")}};
  };
  if (fastest) out["fastest"] = describe(*fastest);
  if (smallest) out["smallest_peak_rss"] = describe(*smallest);
  if (densest) {
    out["best_tok_s_per_mib"] = describe(*densest);
    out["best_tok_s_per_mib"].as_object()["tok_s_per_mib"] = per_mib(*densest);
  }
  return out;
}

Result<int> benchmark(const BenchArgs& a) {
  if (a.n_prompt == 0 && a.n_gen == 0) return fail(ErrorCode::kInvalidArgument, "-p and -n are both 0");
  EDGE_RT_TRY(const std::uint64_t model_bytes, model_weight_bytes(a.model, a.model_flag.c_str()));
  std::vector<std::string> budgets = a.budgets;
  if (budgets.empty()) budgets.push_back(a.memory_budget);
  for (const std::string& b : budgets) {  // fail before running anything
    EDGE_RT_TRY(resolve_budget(b == "auto" ? "" : b, a.budgets.empty() ? "--memory-budget" : "--sweep-memory"));
  }
  // --device may list several, as llama-bench's -ngl does: each is a row, side by side in one run.
  std::vector<std::string> devices;
  for (std::size_t from = 0;;) {
    const std::size_t comma = a.devices.device.find(',', from);
    devices.push_back(a.devices.device.substr(from, comma == std::string::npos ? std::string::npos : comma - from));
    if (comma == std::string::npos) break;
    from = comma + 1;
  }
  for (const std::string& d : devices) {  // fail before running anything
    DeviceFlags flags = a.devices;
    flags.device = d;
    EDGE_RT_TRY(auto options, resolve_devices(flags));
    EDGE_RT_TRY(runtime::check_device_options(options));
  }
  std::vector<Config> configs;
  for (const std::string& d : devices) {
    for (const std::string& b : budgets) {
      for (const std::string& s : a.strategies) {
        for (std::int64_t t : a.threads) configs.push_back({d, b, s, t});
      }
    }
  }
  // The model's parameter count, and a clear error for a broken model before anything runs.
  EDGE_RT_TRY(auto loaded, model_ir::ModelGraph<model_ir::Loaded>::load(a.model));
  EDGE_RT_TRY(auto graph, std::move(loaded).validate());
  const std::uint64_t n_params = graph.parameter_count();
  std::vector<Row> rows;
  for (std::size_t i = 0; i < configs.size(); ++i) {
    EDGE_RT_TRY(auto samples, run_config(a, configs[i], i, configs.size()));
    rows.push_back({configs[i], std::move(samples)});
  }
  if (a.progress && a.tty) std::fprintf(stderr, "\r%80s\r", "");
  const boost::json::array records = to_json(a, rows, model_bytes, n_params);
  const boost::json::object sum = summary(records);
  if (a.output == "json") {
    std::cout << boost::json::serialize(boost::json::object{{"results", records}, {"summary", sum}}) << "\n";
  } else if (a.output == "csv") {
    print_csv(records);
  } else {
    std::printf("%s: %s, %llu parameters, pp%lld / tg%lld, %lld repetitions\n\n", a.model.c_str(),
                format_bytes(model_bytes).c_str(), static_cast<unsigned long long>(n_params),
                static_cast<long long>(a.n_prompt), static_cast<long long>(a.n_gen), static_cast<long long>(a.reps));
    print_table(records);
    auto line = [&](const char* what, const char* key) {
      if (!sum.contains(key)) return;
      const auto& r = sum.at(key).as_object();
      std::printf("%s: %s at budget %s, %lld threads: %.2f tok/s, peak RSS %s\n", what,
                  std::string(r.at("strategy").as_string()).c_str(),
                  std::string(r.at("memory_budget").as_string()).c_str(),
                  static_cast<long long>(r.at("n_threads").to_number<std::int64_t>()), r.at("avg_ts").as_double(),
                  format_bytes(r.at("peak_rss_bytes").to_number<std::uint64_t>()).c_str());
    };
    std::printf("\n");
    line("fastest decode", "fastest");
    line("smallest peak RSS", "smallest_peak_rss");
    line("best decode tok/s per MiB of peak RSS", "best_tok_s_per_mib");
  }
  return 0;
}

}  // namespace

std::function<int()> add_benchmark_command(CLI::App& app) {
  auto args = std::make_shared<BenchArgs>();
  CLI::App* cmd = app.add_subcommand(
      "benchmark", "Measure prefill and decode speed, latency and peak RSS over budgets, strategies and threads");
  cmd->add_option("-m,--model", args->model, "Model folder (default: the embedded stories260K)");
  cmd->add_option("--sweep-memory", args->budgets, "Budgets to compare, e.g. 64M,128M,256M (none: no budget)")
      ->delimiter(',');
  cmd->add_option("--memory-budget", args->memory_budget, "One budget (512M, auto) when there is no sweep");
  cmd->add_option("--strategies", args->strategies, "Comma-separated: sequential,greedy-grouping,speculative-prefetch")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-t,--threads", args->threads, "Comma-separated thread counts, e.g. 1,2 (0 = one per CPU)")
      ->delimiter(',')
      ->check(CLI::Range(std::int64_t{0}, kMaxThreads))
      ->capture_default_str();
  cmd->add_option("-p,--n-prompt", args->n_prompt, "Prompt tokens (random ids) for the pp test")
      ->check(CLI::Range(std::int64_t{0}, model_ir::kMaxContext))
      ->capture_default_str();
  cmd->add_option("-n,--n-gen", args->n_gen, "Generated tokens for the tg test")
      ->check(CLI::Range(std::int64_t{0}, model_ir::kMaxContext))
      ->capture_default_str();
  cmd->add_option("-r,--repetitions", args->reps, "Repetitions per configuration")
      ->check(CLI::Range(std::int64_t{1}, std::int64_t{10000}))
      ->capture_default_str();
  cmd->add_option("-o,--output", args->output, "table | json | csv")
      ->check(CLI::IsMember({"table", "json", "csv"}))
      ->capture_default_str();
  cmd->add_option("-c,--config", args->preset, "Preset TOML (model, memory_budget, strategy, num_threads)");
  cmd->add_flag("!--no-progress", args->progress, "No progress line on stderr");
  add_device_flags(*cmd, args->devices);
  return [args, cmd]() -> int {
    return with_preset(args->preset, [&](const Preset& p) {
      BenchArgs a = *args;
      a.tty = ::isatty(STDERR_FILENO) == 1;
      apply(p.model, *cmd, "--model", a.model);
      if (a.model.empty() && cmd->get_option("--model")->count() == 0) {
        auto dir = default_model_dir();
        if (!dir) return Result<int>(dir.as_failure());
        a.model = dir.value().string();
      }
      a.model_flag = model_flag(*cmd, p);
      apply(p.memory_budget, *cmd, "--memory-budget", a.memory_budget);
      apply_device_preset(p, *cmd, a.devices);
      if (p.strategy && cmd->get_option("--strategies")->count() == 0) a.strategies = {*p.strategy};
      if (p.num_threads && cmd->get_option("--threads")->count() == 0) a.threads = {*p.num_threads};
      for (std::string& b : a.budgets) {
        if (b == "none") b.clear();
      }
      auto status = benchmark(a);
      if (!status && a.progress && a.tty) std::fprintf(stderr, "\n");  // end the progress line before the error
      return status;
    });
  };
}

}  // namespace edge_rt::cli
