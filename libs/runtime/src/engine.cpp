#include "executor.hpp"

#include <edge_rt/runtime/engine.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <filesystem>
#include <map>

namespace edge_rt::runtime {

using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

}  // namespace

std::size_t kernel_threads(std::int32_t n_threads) noexcept {
  if (n_threads > 0) return static_cast<std::size_t>(std::min(n_threads, kMaxThreads));
  return std::clamp<std::size_t>(std::thread::hardware_concurrency(), 1, kMaxThreads);
}

const char* to_string(StopReason reason) noexcept {
  switch (reason) {
    case StopReason::kEos: return "eos";
    case StopReason::kMaxTokens: return "max_tokens";
    case StopReason::kContextFull: return "context_full";
    case StopReason::kCallback: return "callback";
  }
  return "?";
}

const char* to_string(FallbackPolicy policy) noexcept {
  return policy == FallbackPolicy::kCpu ? "cpu" : "fail";
}

std::string Coverage::summary() const {
  std::string text;
  for (const DeviceCoverage& d : devices) {
    if (!text.empty()) text += "; ";
    text += d.name + ": " + std::to_string(d.ops) + " ops, " + std::to_string(d.units) + " units";
  }
  if (!fallbacks.empty()) {
    std::map<std::string, std::size_t> by_reason;
    for (const FallbackEntry& f : fallbacks) ++by_reason[f.reason];
    text += "; " + std::to_string(fallbacks.size()) + " fallback(s) to the CPU (";
    bool first = true;
    for (const auto& [reason, count] : by_reason) {
      text += (first ? "" : ", ") + reason + " " + std::to_string(count);
      first = false;
    }
    text += ")";
  }
  return text;
}

namespace detail {
struct EngineData {
  EngineOptions options;
  std::optional<model_ir::ModelGraph<model_ir::Validated>> graph;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  partition_planner::ExecutionPlan plan;
  std::optional<DevicePlacement> placement;        // until prepare() hands the backends to the executor
  std::unique_ptr<model_ir::WeightSource> source;  // chosen in load_model (the plan's geometry), used from prepare()
  Coverage coverage;
  std::unique_ptr<Executor> executor;
  double load_ms = 0;
  std::vector<tokenizer::TokenId> kv_tokens;  // the tokens at KV cache positions [0, size) after the last call
};

}  // namespace detail

namespace {
// BOS: from config.json, else from the tokenizer.
std::optional<tokenizer::TokenId> bos_of(const detail::EngineData& data) {
  std::optional<tokenizer::TokenId> bos = data.graph->config().bos_id;
  if (!bos && data.tokenizer) bos = data.tokenizer->bos_id();
  return bos;
}

// Cold cache reads around the page cache; --mmap copies from the mapping; pread otherwise.
model_ir::WeightIo weight_io(const EngineOptions& o) {
  if (o.cold_cache) return model_ir::WeightIo::kDirect;
  return o.use_mmap ? model_ir::WeightIo::kMmap : model_ir::WeightIo::kPread;
}

// Llama-family models get BOS before every prompt; others only when there is no prompt to start from.
bool prepends_bos(const detail::EngineData& data, bool prompt_empty) {
  const bool by_default = data.graph->config().add_bos.value_or(data.graph->recipe().prepends_bos);
  return bos_of(data) && (by_default || prompt_empty);
}
}  // namespace

template <class State>
InferenceEngine<State>::InferenceEngine(std::unique_ptr<detail::EngineData> data) noexcept : data_(std::move(data)) {}
template <class State>
InferenceEngine<State>::InferenceEngine(InferenceEngine&&) noexcept = default;
template <class State>
InferenceEngine<State>& InferenceEngine<State>::operator=(InferenceEngine&&) noexcept = default;
template <class State>
InferenceEngine<State>::~InferenceEngine() = default;

template <class State>
InferenceEngine<Idle> InferenceEngine<State>::create() requires std::same_as<State, Idle> {
  return InferenceEngine<Idle>(std::make_unique<detail::EngineData>());
}

template <class State>
    Result<InferenceEngine<Planned>> InferenceEngine<State>::load_model(const EngineOptions& options) && requires
    std::same_as<State, Idle> {
  const auto start = Clock::now();
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    return fail(ErrorCode::kInvalidArgument, "[engine] n_threads is " + std::to_string(options.n_threads) +
                                                 ", expected 0 (one per CPU) .. " + std::to_string(kMaxThreads));
  }
  auto data = std::move(data_);
  data->options = options;
  EDGE_RT_TRY(auto loaded, model_ir::ModelGraph<model_ir::Loaded>::load(options.model_dir));
  EDGE_RT_TRY(auto graph, std::move(loaded).validate());
  data->tokenizer = options.tokenizer;
  if (!data->tokenizer && tokenizer::has_tokenizer_files(options.model_dir)) {
    EDGE_RT_TRY(data->tokenizer, tokenizer::load_tokenizer(options.model_dir));
  }
  if (data->tokenizer) {
    // Ids past the model's vocabulary may only be control tokens, as Gemma 3's <image_soft_token> (262144 of a
    // 262144-row embedding): text does not encode to them unless it spells them, and generate() rejects those.
    const auto model_vocab = static_cast<std::size_t>(graph.config().vocab_size);
    for (std::size_t id = model_vocab; id < data->tokenizer->vocab_size(); ++id) {
      if (!data->tokenizer->token_bytes(static_cast<TokenId>(id)).empty()) {
        return fail(ErrorCode::kInvalidFormat, "[engine] " + options.model_dir.string() + ": the tokenizer has " +
                                                   std::to_string(data->tokenizer->vocab_size()) +
                                                   " tokens, more than the model's vocab_size " +
                                                   std::to_string(model_vocab) + ", and id " + std::to_string(id) +
                                                   " is text, not a control token");
      }
    }
  }
  const auto max_ctx = static_cast<std::size_t>(graph.config().max_context);
  const std::size_t n_ctx = options.n_ctx == 0 ? max_ctx : options.n_ctx;
  if (n_ctx > max_ctx) {
    return fail(ErrorCode::kContextOverflow, "[engine] context of " + std::to_string(n_ctx) +
                                                 " tokens exceeds the model's maximum of " + std::to_string(max_ctx));
  }
  const std::size_t n_batch =
      options.n_batch == 0 ? std::min<std::size_t>(512, n_ctx) : std::min(options.n_batch, n_ctx);
  EDGE_RT_TRY(auto strategy, partition_planner::make_strategy(options.strategy));
  // Buffer geometry: the CPU backend's pool (both built-in backends allocate from a MemoryPool) and the weight
  // source's in-place read alignment.
  data->source = model_ir::make_weight_source(weight_io(options));
  partition_planner::BufferGeometry geometry;
  geometry.direct_alignment = data->source->in_place_alignment();
  EDGE_RT_TRY(auto placement, detail::place(graph, options.devices, options.budget, kernel_threads(options.n_threads),
                                            geometry, 1 + strategy->min_depth()));
  geometry.alignment = placement.backends[0]->info().buffer_alignment;
  placement.request.geometry = geometry;
  EDGE_RT_TRY(data->plan, strategy->plan(graph, options.budget, n_ctx, n_batch, placement.request));
  detail::finish_coverage(placement, graph, data->plan);
  data->coverage = placement.coverage;
  data->placement.emplace(std::move(placement));
  data->graph.emplace(std::move(graph));
#if defined(__GLIBC__)
  // Parsing tokenizer.json and config.json leaves freed heap pages resident; hand them back before the budgeted
  // pool fills up, so they do not add to the process's peak RSS.
  malloc_trim(0);
#endif
  data->load_ms = ms_since(start);
  return InferenceEngine<Planned>(std::move(data));
}

template <class State>
    Result<InferenceEngine<Ready>> InferenceEngine<State>::prepare() && requires std::same_as<State, Planned> {
  const auto start = Clock::now();
  auto data = std::move(data_);
  detail::DevicePlacement placement = std::move(*data->placement);
  data->placement.reset();
  EDGE_RT_TRY(data->executor,
              detail::Executor::create(*data->graph, data->plan, std::move(data->source), std::move(placement)));
  data->load_ms += ms_since(start);
  return InferenceEngine<Ready>(std::move(data));
}

template <class State>
Result<GenerationResult> InferenceEngine<State>::generate(
    std::span<const TokenId> prompt, const GenerateOptions& options,
    const TokenCallback& on_token) requires std::same_as<State, Ready> {
  const auto start = Clock::now();
  EDGE_RT_TRY(options.sampling.validate());
  const model_ir::ModelConfig& config = data_->graph->config();
  const partition_planner::ExecutionPlan& plan = data_->plan;
  detail::Executor& ex = *data_->executor;
  std::size_t threads_used =
      ex.limit_threads(options.control ? options.control->max_threads.load(std::memory_order_relaxed) : 0);
  std::size_t min_threads = threads_used;

  const std::optional<TokenId> bos = bos_of(*data_);
  std::vector<TokenId> eos = config.eos_ids;  // generation stops at any of them
  if (eos.empty() && data_->tokenizer && data_->tokenizer->eos_id()) eos.push_back(*data_->tokenizer->eos_id());
  eos.insert(eos.end(), options.stop_ids.begin(), options.stop_ids.end());
  GenerationResult result;
  const bool add_bos = bos && options.add_bos.value_or(prepends_bos(*data_, prompt.empty()));
  if (options.reuse_kv && options.all_logits) {
    return fail(ErrorCode::kInvalidArgument, "[engine] all_logits needs every position evaluated: not with reuse_kv");
  }
  if (prompt.empty() && !bos) {
    return fail(ErrorCode::kInvalidArgument,
                "[engine] the prompt is empty and the model defines no BOS token: "
                "give a prompt");
  }
  if (add_bos) result.input_tokens.push_back(*bos);
  for (TokenId id : prompt) {
    if (id < 0 || id >= config.vocab_size) {
      return fail(ErrorCode::kInvalidArgument, "[engine] prompt token id " + std::to_string(id) +
                                                   " is outside the vocabulary [0, " +
                                                   std::to_string(config.vocab_size) + ")");
    }
    result.input_tokens.push_back(id);
  }
  if (result.input_tokens.empty()) {
    return fail(ErrorCode::kInvalidArgument, "[engine] the prompt is empty and BOS is not added: nothing to run");
  }
  if (result.input_tokens.size() > plan.n_ctx) {
    return fail(ErrorCode::kContextOverflow, "[engine] the prompt has " + std::to_string(result.input_tokens.size()) +
                                                 " tokens, more than the context of " + std::to_string(plan.n_ctx));
  }
  std::size_t pass_row0 = 0;  // first input row of the current prefill pass, for keep_rows
  auto add_pass = [](const detail::PassStats& p, TokenStats& into) {
    into.io_ms += p.io_ms;
    into.compute_ms += p.compute_ms;
    into.stall_ms += p.stall_ms;
    into.bytes_read += p.bytes_read;
  };

  // Prefill, n_batch tokens per pass.
  const std::span<const TokenId> input = result.input_tokens;
  const auto vocab = static_cast<std::size_t>(config.vocab_size);
  detail::RowLogits keep_rows = [&](std::size_t row, std::size_t first_id, std::span<const float> values) {
    if (result.logits.size() <= pass_row0 + row) result.logits.resize(pass_row0 + row + 1, std::vector<float>(vocab));
    std::copy(values.begin(), values.end(),
              result.logits[pass_row0 + row].begin() + static_cast<std::ptrdiff_t>(first_id));
  };
  // Positions kept from the previous call: the common prefix, less the last input token (its logits are needed).
  std::size_t reused = 0;
  if (options.reuse_kv) {
    const std::vector<TokenId>& cached = data_->kv_tokens;
    while (reused < cached.size() && reused < input.size() && cached[reused] == input[reused]) ++reused;
    reused = std::min(reused, input.size() - 1);
  }
  data_->kv_tokens.clear();  // in flux until this call returns
  result.passes.emplace_back();
  for (std::size_t pos = reused; pos < input.size(); pos += plan.n_batch) {
    const std::size_t n = std::min(plan.n_batch, input.size() - pos);
    pass_row0 = pos;
    EDGE_RT_TRY(auto p, ex.forward(input.subspan(pos, n), pos, options.all_logits ? &keep_rows : nullptr));
    add_pass(p, result.passes.front());
  }
  const double prefill_ms = ms_since(start);

  // Decode.
  Sampler sampler(options.sampling);
  std::vector<TokenId> history(input.begin(), input.end());
  std::size_t pos = input.size();
  double decode_ms = 0;
  result.stop_reason = StopReason::kMaxTokens;
  while (result.generated_tokens.size() < options.max_new_tokens) {
    // A NaN or infinity (a broken weight, a NaN scale) would make every sampler pick an arbitrary id: output
    // that looks complete but is garbage. One pass over the row costs far less than the LM head that wrote it.
    const std::span<float> logits = ex.logits();
    if (const auto bad = std::ranges::find_if_not(logits, [](float x) { return std::isfinite(x); });
        bad != logits.end()) {
      return fail(ErrorCode::kNumerical, "[engine] " + data_->options.model_dir.string() + ": logit " +
                                             std::to_string(bad - logits.begin()) + " at position " +
                                             std::to_string(pos - 1) + " is not finite (" + std::to_string(*bad) +
                                             "): a weight or a quantization scale in the model is NaN or infinite");
    }
    const TokenId next = sampler.sample(logits, history);
    if (result.generated_tokens.empty()) result.metrics.ttft_ms = ms_since(start);
    if (options.stop_at_eos && std::ranges::find(eos, next) != eos.end()) {
      result.stop_reason = StopReason::kEos;
      break;
    }
    result.generated_tokens.push_back(next);
    history.push_back(next);
    if (on_token && !on_token(next)) {
      result.stop_reason = StopReason::kCallback;
      break;
    }
    if (result.generated_tokens.size() == options.max_new_tokens) break;
    if (pos >= plan.n_ctx) {
      result.stop_reason = StopReason::kContextFull;
      break;
    }
    const auto step = Clock::now();
    if (options.control) {
      threads_used = ex.limit_threads(options.control->max_threads.load(std::memory_order_relaxed));
      if (const std::uint32_t pace = options.control->pace_ms.load(std::memory_order_relaxed); pace > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pace));
        result.metrics.paced_ms += pace;
      }
    }
    min_threads = std::min(min_threads, threads_used);
    const TokenId one[] = {next};
    EDGE_RT_TRY(auto p, ex.forward(one, pos, nullptr));
    decode_ms += ms_since(step);
    add_pass(p, result.passes.emplace_back());
    ++pos;
  }

  Metrics& m = result.metrics;
  m.load_ms = data_->load_ms;
  m.prefill_ms = prefill_ms;
  m.decode_ms = decode_ms;
  m.n_prompt_tokens = input.size() - reused;
  m.n_reused_tokens = reused;
  m.n_generated_tokens = result.generated_tokens.size();
  m.prefill_tok_s = prefill_ms > 0 ? static_cast<double>(m.n_prompt_tokens) * 1000.0 / prefill_ms : 0;
  // Forward passes in decode: one per generated token except the last.
  const std::size_t decode_passes = pos - input.size();
  m.decode_tok_s = decode_ms > 0 ? static_cast<double>(decode_passes) * 1000.0 / decode_ms : 0;
  m.peak_pool_bytes = ex.pool_stats().peak_reserved_bytes;
  m.budget_bytes = plan.budget.bytes();
  for (const TokenStats& p : result.passes) {
    m.io_ms += p.io_ms;
    m.compute_ms += p.compute_ms;
    m.stall_ms += p.stall_ms;
    m.weight_bytes_loaded += p.bytes_read;
  }
  m.min_threads = min_threads;
  m.overlap_efficiency = m.io_ms > 0 ? std::clamp((m.io_ms - m.stall_ms) / m.io_ms, 0.0, 1.0) : 1.0;
  data_->kv_tokens.assign(history.begin(), history.begin() + static_cast<std::ptrdiff_t>(pos));
  return result;
}

template <class State>
const model_ir::ModelConfig& InferenceEngine<State>::config() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->graph->config();
}

template <class State>
const partition_planner::ExecutionPlan& InferenceEngine<State>::plan() const noexcept
    requires(!std::same_as<State, Idle>) {
  return data_->plan;
}

template <class State>
const tokenizer::Tokenizer* InferenceEngine<State>::tokenizer() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->tokenizer.get();
}

template <class State>
std::uint64_t InferenceEngine<State>::weight_bytes() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->graph->total_weight_bytes();
}

template <class State>
std::uint64_t InferenceEngine<State>::parameter_count() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->graph->parameter_count();
}

template <class State>
std::uint64_t InferenceEngine<State>::streamed_bytes_per_token() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->plan.streamed_bytes_per_token(data_->graph->units());
}

template <class State>
bool InferenceEngine<State>::adds_bos() const noexcept requires(!std::same_as<State, Idle>) {
  return prepends_bos(*data_, false);
}

template <class State>
std::string InferenceEngine<State>::describe_plan() const requires(!std::same_as<State, Idle>) {
  return data_->plan.describe(data_->graph->units());
}

template <class State>
const Coverage& InferenceEngine<State>::coverage() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->coverage;
}

template class InferenceEngine<Idle>;
template class InferenceEngine<Planned>;
template class InferenceEngine<Ready>;

}  // namespace edge_rt::runtime
