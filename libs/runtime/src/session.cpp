#include "model_data.hpp"

#include <edge_rt/runtime/session.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <thread>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

namespace edge_rt::runtime {

using Clock = std::chrono::steady_clock;
using tokenizer::TokenId;

namespace {
double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Cold cache reads around the page cache; --mmap copies from the mapping; pread otherwise.
model_ir::WeightIo weight_io(const EngineOptions& o) {
  if (o.cold_cache) return model_ir::WeightIo::kDirect;
  return o.use_mmap ? model_ir::WeightIo::kMmap : model_ir::WeightIo::kPread;
}

void add_pass(const detail::PassStats& p, TokenStats& into) {
  into.io_ms += p.io_ms;
  into.compute_ms += p.compute_ms;
  into.stall_ms += p.stall_ms;
  into.bytes_read += p.bytes_read;
}

Result<void> check_ids(std::span<const TokenId> tokens, std::int64_t vocab) {
  for (TokenId id : tokens) {
    if (id < 0 || id >= vocab) {
      return fail(ErrorCode::kInvalidArgument, "[engine] prompt token id " + std::to_string(id) +
                                                   " is outside the vocabulary [0, " + std::to_string(vocab) + ")");
    }
  }
  return boost::outcome_v2::success();
}
}  // namespace

namespace detail {

std::optional<TokenId> ModelData::bos() const noexcept {
  std::optional<TokenId> id = graph->config().bos_id;
  if (!id && tokenizer) id = tokenizer->bos_id();
  return id;
}

bool ModelData::prepends_bos(bool prompt_empty) const noexcept {
  const bool by_default = graph->config().add_bos.value_or(graph->recipe().prepends_bos);
  return bos() && (by_default || prompt_empty);
}

Result<std::shared_ptr<ModelData>> plan_model(const EngineOptions& options) {
  const auto start = Clock::now();
  if (options.n_threads < 0 || options.n_threads > kMaxThreads) {
    return fail(ErrorCode::kInvalidArgument, "[engine] n_threads is " + std::to_string(options.n_threads) +
                                                 ", expected 0 (one per CPU) .. " + std::to_string(kMaxThreads));
  }
  if (options.n_sessions == 0) {
    return fail(ErrorCode::kInvalidArgument, "[engine] n_sessions is 0, expected at least 1");
  }
  auto data = std::make_shared<ModelData>();
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
  // The plan sizes one session; the weights get the budget less the other n_sessions - 1.
  memory_manager::MemoryBudget weights_budget = options.budget;
  if (options.n_sessions > 1 && !options.budget.is_unlimited()) {
    EDGE_RT_TRY(const auto one, partition_planner::runtime_buffers(graph.config(), graph.recipe(), n_ctx, n_batch));
    const std::uint64_t others = (options.n_sessions - 1) * one.reserved_bytes(geometry);
    if (others >= options.budget.bytes()) {
      return fail(ErrorCode::kBudgetExceeded,
                  "[engine] " + std::to_string(options.n_sessions) + " sessions of " + std::to_string(n_ctx) +
                      " tokens need " + format_bytes(others + one.reserved_bytes(geometry)) +
                      " for KV caches and scratch alone, more than the budget " + options.budget.to_string());
    }
    EDGE_RT_TRY(weights_budget, memory_manager::MemoryBudget::from_bytes(options.budget.bytes() - others));
  }
  EDGE_RT_TRY(data->plan, strategy->plan(graph, weights_budget, n_ctx, n_batch, placement.request));
  data->plan.budget = options.budget;
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
  return data;
}

Result<void> prepare_model(ModelData& data) {
  const auto start = Clock::now();
  DevicePlacement placement = std::move(*data.placement);
  data.placement.reset();
  EDGE_RT_TRY(data.executor, Executor::create(*data.graph, data.plan, data.options.budget, std::move(data.source),
                                              std::move(placement)));
  data.load_ms += ms_since(start);
  return boost::outcome_v2::success();
}

struct SessionData {
  SessionData(Model m, ModelData* data, SessionBuffers b) : model(std::move(m)), shared(data), buffers(std::move(b)) {}

  Model model;        // first: outlives the buffers, which give their bytes back to its executor
  ModelData* shared;  // model's
  SessionBuffers buffers;
  std::vector<TokenId> tokens;
  std::size_t n_past = 0;      // KV cache positions [0, n_past) hold tokens[0, n_past)
  std::size_t logits_for = 0;  // the logits are those after tokens[0, logits_for); 0: none
};

}  // namespace detail

// ---- Model ----

Model::Model(std::shared_ptr<detail::ModelData> data) noexcept : data_(std::move(data)) {}

Result<Model> Model::load(const EngineOptions& options) {
  EDGE_RT_TRY(auto data, detail::plan_model(options));
  EDGE_RT_TRY(detail::prepare_model(*data));
  return Model(std::move(data));
}

const model_ir::ModelConfig& Model::config() const noexcept {
  return data_->graph->config();
}
const partition_planner::ExecutionPlan& Model::plan() const noexcept {
  return data_->plan;
}
const EngineOptions& Model::options() const noexcept {
  return data_->options;
}
const tokenizer::Tokenizer* Model::tokenizer() const noexcept {
  return data_->tokenizer.get();
}
std::shared_ptr<const tokenizer::Tokenizer> Model::shared_tokenizer() const noexcept {
  return data_->tokenizer;
}
bool Model::adds_bos() const noexcept {
  return data_->prepends_bos(false);
}
std::optional<TokenId> Model::bos_id() const noexcept {
  return data_->bos();
}
const Coverage& Model::coverage() const noexcept {
  return data_->coverage;
}
double Model::load_ms() const noexcept {
  return data_->load_ms;
}
std::uint64_t Model::weight_bytes() const noexcept {
  return data_->graph->total_weight_bytes();
}
std::uint64_t Model::parameter_count() const noexcept {
  return data_->graph->parameter_count();
}
memory_manager::PoolStats Model::pool_stats() const {
  return data_->executor->pool_stats();
}
std::uint64_t Model::free_session_bytes() const {
  return data_->executor->free_session_bytes();
}

std::vector<TokenId> Model::eos_ids() const {
  std::vector<TokenId> eos = config().eos_ids;
  if (eos.empty() && data_->tokenizer && data_->tokenizer->eos_id()) eos.push_back(*data_->tokenizer->eos_id());
  return eos;
}

Result<std::uint64_t> Model::session_bytes(std::size_t n_ctx, std::size_t n_batch) const {
  EDGE_RT_TRY(const auto sizes, data_->executor->session_sizes(n_ctx, n_batch));
  return sizes.reserved_bytes(data_->plan.geometry);
}

// ---- Session ----

namespace {
using detail::SessionData;

// Evaluates the pending tokens [n_past, size), n_batch per pass; n_past and logits_for follow each whole pass.
// `all_logits`, when set, gets the logits of every evaluated position, indexed by position.
Result<void> evaluate(SessionData& d, const GenerateOptions& o, TokenStats& stats, std::size_t& min_threads,
                      std::vector<std::vector<float>>* all_logits) {
  detail::Executor& ex = *d.shared->executor;
  const auto vocab = static_cast<std::size_t>(d.model.config().vocab_size);
  std::size_t row0 = 0;
  const detail::RowLogits keep_rows = [&](std::size_t row, std::size_t first_id, std::span<const float> values) {
    if (all_logits->size() <= row0 + row) all_logits->resize(row0 + row + 1, std::vector<float>(vocab));
    std::ranges::copy(values, (*all_logits)[row0 + row].begin() + static_cast<std::ptrdiff_t>(first_id));
  };
  detail::PassOptions pass;
  pass.each_row = all_logits ? &keep_rows : nullptr;
  pass.abort = o.abort ? &o.abort : nullptr;
  pass.max_threads = o.control ? o.control->max_threads.load(std::memory_order_relaxed) : 0;
  while (d.n_past < d.tokens.size()) {
    const std::size_t n = std::min(d.buffers.n_batch(), d.tokens.size() - d.n_past);
    row0 = d.n_past;
    d.logits_for = 0;
    EDGE_RT_TRY(auto p, ex.forward(d.buffers, std::span(d.tokens).subspan(d.n_past, n), d.n_past, pass));
    add_pass(p, stats);
    min_threads = std::min(min_threads, p.threads);
    d.n_past += n;
    d.logits_for = d.n_past;
  }
  return boost::outcome_v2::success();
}

// Samples and decodes after the evaluated tokens (logits ready), filling result.generated_tokens, passes and
// stop_reason; metrics are the caller's.
Result<void> decode(SessionData& d, const GenerateOptions& o, const TokenCallback& on_token, GenerationResult& result,
                    Clock::time_point start, double& decode_ms, std::size_t& min_threads) {
  detail::Executor& ex = *d.shared->executor;
  std::vector<TokenId> eos = d.model.eos_ids();  // generation stops at any of them
  eos.insert(eos.end(), o.stop_ids.begin(), o.stop_ids.end());
  Sampler sampler(o.sampling);
  result.stop_reason = StopReason::kMaxTokens;
  while (result.generated_tokens.size() < o.max_new_tokens) {
    // A NaN or infinity (a broken weight, a NaN scale) would make every sampler pick an arbitrary id: output
    // that looks complete but is garbage. One pass over the row costs far less than the LM head that wrote it.
    const std::span<float> logits = d.buffers.logits();
    if (const auto bad = std::ranges::find_if_not(logits, [](float x) { return std::isfinite(x); });
        bad != logits.end()) {
      return fail(ErrorCode::kNumerical, "[engine] " + d.model.options().model_dir.string() + ": logit " +
                                             std::to_string(bad - logits.begin()) + " at position " +
                                             std::to_string(d.n_past - 1) + " is not finite (" + std::to_string(*bad) +
                                             "): a weight or a quantization scale in the model is NaN or infinite");
    }
    const TokenId next = sampler.sample(logits, d.tokens);
    if (result.generated_tokens.empty()) result.metrics.ttft_ms = ms_since(start);
    if (o.stop_at_eos && std::ranges::find(eos, next) != eos.end()) {
      result.stop_reason = StopReason::kEos;
      break;
    }
    result.generated_tokens.push_back(next);
    d.tokens.push_back(next);
    d.logits_for = 0;
    if (on_token && !on_token(next)) {
      result.stop_reason = StopReason::kCallback;
      break;
    }
    if (result.generated_tokens.size() == o.max_new_tokens) break;
    if (d.n_past >= d.buffers.n_ctx()) {
      result.stop_reason = StopReason::kContextFull;
      break;
    }
    const auto step = Clock::now();
    detail::PassOptions pass;
    pass.abort = o.abort ? &o.abort : nullptr;
    if (o.control) {
      pass.max_threads = o.control->max_threads.load(std::memory_order_relaxed);
      if (const std::uint32_t pace = o.control->pace_ms.load(std::memory_order_relaxed); pace > 0) {
        std::this_thread::sleep_for(std::chrono::milliseconds(pace));
        result.metrics.paced_ms += pace;
      }
    }
    const TokenId one[] = {next};
    EDGE_RT_TRY(auto p, ex.forward(d.buffers, one, d.n_past, pass));
    min_threads = std::min(min_threads, p.threads);
    ++d.n_past;
    d.logits_for = d.n_past;
    decode_ms += ms_since(step);
    add_pass(p, result.passes.emplace_back());
  }
  return boost::outcome_v2::success();
}

// The metrics of a call that prefilled `prefilled` positions (after `reused` kept ones) and then decoded.
void finish_metrics(const SessionData& d, GenerationResult& r, std::size_t prefilled, std::size_t reused,
                    std::size_t decode_passes, double prefill_ms, double decode_ms, std::size_t min_threads) {
  Metrics& m = r.metrics;
  m.load_ms = d.model.load_ms();
  m.prefill_ms = prefill_ms;
  m.decode_ms = decode_ms;
  m.n_prompt_tokens = prefilled;
  m.n_reused_tokens = reused;
  m.n_generated_tokens = r.generated_tokens.size();
  m.prefill_tok_s = prefill_ms > 0 ? static_cast<double>(prefilled) * 1000.0 / prefill_ms : 0;
  m.decode_tok_s = decode_ms > 0 ? static_cast<double>(decode_passes) * 1000.0 / decode_ms : 0;
  m.peak_pool_bytes = d.model.pool_stats().peak_reserved_bytes;
  m.budget_bytes = d.model.plan().budget.bytes();
  for (const TokenStats& p : r.passes) {
    m.io_ms += p.io_ms;
    m.compute_ms += p.compute_ms;
    m.stall_ms += p.stall_ms;
    m.weight_bytes_loaded += p.bytes_read;
  }
  m.min_threads = min_threads;
  m.overlap_efficiency = m.io_ms > 0 ? std::clamp((m.io_ms - m.stall_ms) / m.io_ms, 0.0, 1.0) : 1.0;
}

// Prefills what is pending, then decodes: the part generate() and run() share.
Result<GenerationResult> prefill_and_decode(SessionData& d, const GenerateOptions& o, const TokenCallback& on_token,
                                            GenerationResult result, std::size_t reused, Clock::time_point start) {
  std::size_t min_threads = SIZE_MAX;  // over every pass
  const std::size_t first = d.n_past;
  result.passes.emplace_back();
  EDGE_RT_TRY(evaluate(d, o, result.passes.front(), min_threads, o.all_logits ? &result.logits : nullptr));
  const double prefill_ms = ms_since(start);
  const std::size_t prefilled = d.n_past - first;
  double decode_ms = 0;
  EDGE_RT_TRY(decode(d, o, on_token, result, start, decode_ms, min_threads));
  finish_metrics(d, result, prefilled, reused, d.n_past - first - prefilled, prefill_ms, decode_ms, min_threads);
  return result;
}
}  // namespace

Session::Session(std::unique_ptr<detail::SessionData> data) noexcept : data_(std::move(data)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() = default;

Result<Session> Session::create(const Model& model, const SessionOptions& options) {
  const partition_planner::ExecutionPlan& plan = model.plan();
  const std::size_t n_ctx = options.n_ctx == 0 ? plan.n_ctx : options.n_ctx;
  const std::size_t n_batch = options.n_batch == 0 ? std::min(plan.n_batch, n_ctx) : options.n_batch;
  EDGE_RT_TRY(auto buffers, model.data_->executor->create_session(n_ctx, n_batch));
  return Session(std::make_unique<detail::SessionData>(model, model.data_.get(), std::move(buffers)));
}

Result<AppendStats> Session::append(std::span<const TokenId> tokens, const GenerateOptions& options) {
  SessionData& d = *data_;
  EDGE_RT_TRY(check_ids(tokens, d.model.config().vocab_size));
  if (tokens.size() > d.buffers.n_ctx() - d.tokens.size()) {
    return fail(ErrorCode::kContextOverflow, "[session] appending " + std::to_string(tokens.size()) + " tokens to " +
                                                 std::to_string(d.tokens.size()) + " passes the context of " +
                                                 std::to_string(d.buffers.n_ctx()));
  }
  const auto start = Clock::now();
  const std::size_t before = d.tokens.size();
  const std::size_t first = d.n_past;
  d.tokens.insert(d.tokens.end(), tokens.begin(), tokens.end());
  AppendStats stats;
  std::size_t threads = SIZE_MAX;
  if (auto done = evaluate(d, options, stats.pass, threads, nullptr); !done) {
    d.tokens.resize(before);  // as before the call; the KV cache of what was evaluated stays valid
    d.n_past = std::min(d.n_past, before);
    return done.error();
  }
  stats.n_evaluated = d.n_past - first;
  stats.prefill_ms = ms_since(start);
  return stats;
}

Result<AppendStats> Session::assign(std::span<const TokenId> tokens, const GenerateOptions& options) {
  SessionData& d = *data_;
  EDGE_RT_TRY(check_ids(tokens, d.model.config().vocab_size));
  if (tokens.size() > d.buffers.n_ctx()) {
    return fail(ErrorCode::kContextOverflow, "[session] " + std::to_string(tokens.size()) +
                                                 " tokens pass the context of " + std::to_string(d.buffers.n_ctx()));
  }
  std::size_t keep = 0;
  while (keep < d.n_past && keep < tokens.size() && d.tokens[keep] == tokens[keep]) ++keep;
  truncate(keep);
  EDGE_RT_TRY(AppendStats stats, append(tokens.subspan(keep), options));
  stats.n_reused = keep;
  return stats;
}

Result<GenerationResult> Session::generate(const GenerateOptions& options, const TokenCallback& on_token) {
  const auto start = Clock::now();
  SessionData& d = *data_;
  EDGE_RT_TRY(options.sampling.validate());
  if (d.tokens.empty()) {
    return fail(ErrorCode::kInvalidArgument, "[session] nothing to continue: append a prompt first");
  }
  // Logits of the last token are needed: evaluate it again when they are stale (after truncate or a cancel).
  if (d.logits_for != d.tokens.size()) d.n_past = std::min(d.n_past, d.tokens.size() - 1);
  GenerationResult result;
  result.input_tokens.assign(d.tokens.begin() + static_cast<std::ptrdiff_t>(d.n_past), d.tokens.end());
  return prefill_and_decode(d, options, on_token, std::move(result), d.n_past, start);
}

Result<GenerationResult> Session::run(std::span<const TokenId> prompt, const GenerateOptions& options,
                                      const TokenCallback& on_token) {
  const auto start = Clock::now();
  SessionData& d = *data_;
  EDGE_RT_TRY(options.sampling.validate());
  const std::optional<TokenId> bos = d.model.bos_id();
  const bool add_bos = bos && options.add_bos.value_or(d.shared->prepends_bos(prompt.empty()));
  if (options.reuse_kv && options.all_logits) {
    return fail(ErrorCode::kInvalidArgument, "[engine] all_logits needs every position evaluated: not with reuse_kv");
  }
  if (prompt.empty() && !bos) {
    return fail(ErrorCode::kInvalidArgument,
                "[engine] the prompt is empty and the model defines no BOS token: "
                "give a prompt");
  }
  EDGE_RT_TRY(check_ids(prompt, d.model.config().vocab_size));
  GenerationResult result;
  if (add_bos) result.input_tokens.push_back(*bos);
  result.input_tokens.insert(result.input_tokens.end(), prompt.begin(), prompt.end());
  const std::vector<TokenId>& input = result.input_tokens;
  if (input.empty()) {
    return fail(ErrorCode::kInvalidArgument, "[engine] the prompt is empty and BOS is not added: nothing to run");
  }
  if (input.size() > d.buffers.n_ctx()) {
    return fail(ErrorCode::kContextOverflow, "[engine] the prompt has " + std::to_string(input.size()) +
                                                 " tokens, more than the context of " +
                                                 std::to_string(d.buffers.n_ctx()));
  }
  // Positions kept from the previous call: the common prefix, less the last input token (its logits are needed).
  std::size_t reused = 0;
  if (options.reuse_kv) {
    while (reused < d.n_past && reused < input.size() && d.tokens[reused] == input[reused]) ++reused;
    reused = std::min(reused, input.size() - 1);
  }
  d.tokens = input;
  d.n_past = reused;
  d.logits_for = 0;
  return prefill_and_decode(d, options, on_token, std::move(result), reused, start);
}

void Session::truncate(std::size_t n) noexcept {
  SessionData& d = *data_;
  if (n >= d.tokens.size()) return;
  d.tokens.resize(n);
  d.n_past = std::min(d.n_past, n);
  d.logits_for = 0;
}

std::span<const TokenId> Session::tokens() const noexcept {
  return data_->tokens;
}
std::size_t Session::n_past() const noexcept {
  return data_->n_past;
}
std::size_t Session::n_ctx() const noexcept {
  return data_->buffers.n_ctx();
}
std::size_t Session::n_batch() const noexcept {
  return data_->buffers.n_batch();
}
std::uint64_t Session::reserved_bytes() const noexcept {
  return data_->buffers.reserved_bytes();
}
const Model& Session::model() const noexcept {
  return data_->model;
}

}  // namespace edge_rt::runtime
