#include "executor.hpp"

#include <edge_rt/tensor_core/kernels.hpp>

#include <chrono>
#include <cmath>
#include <cstring>

namespace edge_rt::runtime::detail {

namespace tc = tensor_core;
using model_ir::WeightRole;
using partition_planner::Scratch;
using Clock = std::chrono::steady_clock;

namespace {
double ms_since(Clock::time_point start) {
  return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}
}  // namespace

Executor::Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan,
                   const IoOptions& io, std::size_t n_threads)
    : graph_(graph),
      config_(graph.config()),
      plan_(plan),
      io_(io),
      pool_(std::make_unique<memory_manager::MemoryPool>(plan.budget)),
      pinned_(plan.groups.size()),
      configured_threads_(std::max<std::size_t>(1, n_threads)),
      threads_(std::make_unique<tc::ThreadPool>(configured_threads_)) {}

Executor::~Executor() = default;

std::size_t Executor::limit_threads(std::size_t n) {
  const std::size_t want = n == 0 ? configured_threads_ : std::min(n, configured_threads_);
  // A new pool costs a few thread starts; it happens only when a monitor changes its mind.
  if (want != threads_->size()) threads_ = std::make_unique<tc::ThreadPool>(want);
  return threads_->size();
}

Result<std::unique_ptr<Executor>> Executor::create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                   const partition_planner::ExecutionPlan& plan, const IoOptions& io,
                                                   std::size_t n_threads) {
  std::unique_ptr<Executor> ex(
      new Executor(graph, plan, io, n_threads));  // private constructor: make_unique cannot reach it
  EDGE_RT_TRY(ex->kv_cache_, ex->pool_->allocate(plan.buffers.kv_cache_bytes));
  std::memset(ex->kv_cache_.data(), 0, ex->kv_cache_.size_bytes());
  for (std::size_t s = 0; s < ex->scratch_.size(); ++s) {
    if (plan.buffers.scratch_bytes[s] == 0) continue;
    EDGE_RT_TRY(ex->scratch_[s], ex->pool_->allocate(plan.buffers.scratch_bytes[s]));
  }
  std::vector<std::size_t> streamed;
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    if (plan.groups[g].resident) {
      EDGE_RT_TRY(auto group, ex->load(g, ex->staging_));
      ex->pinned_[g].emplace(std::move(group));
    } else if (!plan.groups[g].gathered) {
      streamed.push_back(g);
    }
  }
  if (ex->pinned_[0] && !ex->pinned_[0]->units.empty()) {
    ex->shared_lm_head_ = ex->pinned_[0]->units[0].matrix(WeightRole::kTokenEmbedding);
  }
  if (plan.prefetch_depth > 0 && !streamed.empty()) {
    ex->prefetcher_ = std::make_unique<Prefetcher>(
        std::move(streamed), plan.prefetch_depth,
        [raw = ex.get(), staging = std::make_shared<Staging>()](std::size_t g) { return raw->load(g, *staging); });
  }
  return ex;
}

std::span<float> Executor::scratch(Scratch s) noexcept {
  return scratch_[static_cast<std::size_t>(s)].as<float>();
}

std::span<float> Executor::logits() noexcept {
  return scratch(Scratch::kLogits).first(static_cast<std::size_t>(config_.vocab_size));
}

Result<LoadedGroup> Executor::load(std::size_t group_index, Staging& staging) {
  IoStats stats;
  const partition_planner::Group& group = plan_.groups[group_index];
  const std::uint64_t block = group.resident ? 0 : plan_.stream_block_bytes;
  auto loaded = load_group(graph_.units(), group, block, *pool_, io_, staging, stats);
  io_bytes_ += stats.bytes_read;
  io_ns_ += static_cast<std::uint64_t>(stats.io_ms * 1e6);
  return loaded;
}

Result<PassStats> Executor::forward(std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                                    const RowLogits* each_row) {
  EDGE_RT_CHECK(!tokens.empty() && tokens.size() <= plan_.n_batch && pos0 + tokens.size() <= plan_.n_ctx,
                "forward: tokens do not fit the plan");
  if (poisoned_) return *poisoned_;
  const auto start = Clock::now();
  const std::uint64_t bytes_before = io_bytes_;
  const std::uint64_t ns_before = io_ns_;
  PassStats stats;
  auto done = run_pass(tokens, pos0, each_row, stats.stall_ms);
  if (!done) {
    poisoned_ = done.error();
    return done.error();
  }
  stats.compute_ms = ms_since(start) - stats.stall_ms;
  stats.bytes_read = io_bytes_ - bytes_before;
  stats.io_ms = static_cast<double>(io_ns_ - ns_before) / 1e6;
  return stats;
}

Result<void> Executor::run_pass(std::span<const tokenizer::TokenId> tokens, std::size_t pos0, const RowLogits* each_row,
                                double& stall_ms) {
  for (std::size_t g = 0; g < plan_.groups.size(); ++g) {
    const partition_planner::Group& group = plan_.groups[g];
    if (group.gathered) {
      const auto start = Clock::now();
      EDGE_RT_TRY(gather_embedding(tokens, pos0));
      stall_ms += ms_since(start);  // synchronous reads: the compute waits for them
      continue;
    }
    if (pinned_[g]) {
      for (const LoadedUnit& unit : pinned_[g]->units) run_unit(unit, tokens, pos0, each_row);
      continue;
    }
    LoadedGroup current;
    if (prefetcher_) {
      EDGE_RT_TRY(current, prefetcher_->next(g, stall_ms));
    } else {
      const auto start = Clock::now();
      EDGE_RT_TRY(current, load(g, staging_));
      stall_ms += ms_since(start);
    }
    for (const LoadedUnit& unit : current.units) run_unit(unit, tokens, pos0, each_row);
  }
  return boost::outcome_v2::success();
}

void Executor::run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                        const RowLogits* each_row) {
  const bool gpt2 = config_.architecture == model_ir::Architecture::kGpt2;
  const std::size_t n = tokens.size();
  switch (unit.unit->kind) {
    case model_ir::UnitKind::kEmbedding: run_embedding(unit, tokens, pos0); return;
    case model_ir::UnitKind::kAttention:
      gpt2 ? run_gpt2_attention(unit, n, pos0) : run_llama_attention(unit, n, pos0);
      return;
    case model_ir::UnitKind::kFeedForward: gpt2 ? run_gpt2_ffn(unit, n) : run_llama_ffn(unit, n); return;
    case model_ir::UnitKind::kHead: run_head(unit, n, each_row); return;
  }
}

Result<void> Executor::gather_embedding(std::span<const tokenizer::TokenId> tokens, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> pos_row = scratch(Scratch::kNormed).first(d);  // free until the first layer
  std::span<std::byte> raw = scratch_[static_cast<std::size_t>(Scratch::kEmbeddingRow)].bytes();
  const model_ir::Unit& unit = graph_.units()[0];
  IoStats stats;
  const auto start = Clock::now();
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    for (const model_ir::WeightRef& w : unit.weights) {
      const std::size_t row = w.role == WeightRole::kTokenEmbedding ? static_cast<std::size_t>(tokens[t]) : pos0 + t;
      const std::size_t row_bytes = tc::row_bytes(w.dtype, d);
      EDGE_RT_TRY(w.file->read(*w.source, row * row_bytes, raw.first(row_bytes)));
      if (io_.cold_cache) w.file->drop_page_cache(*w.source, row * row_bytes, row_bytes);
      stats.bytes_read += row_bytes;
      if (w.role == WeightRole::kTokenEmbedding) {
        tc::to_f32(w.dtype, raw.data(), d, x.data() + t * d);
      } else {
        tc::to_f32(w.dtype, raw.data(), d, pos_row.data());
        tc::add(pos_row, x.subspan(t * d, d));
      }
    }
  }
  io_bytes_ += stats.bytes_read;
  io_ns_ += static_cast<std::uint64_t>(ms_since(start) * 1e6);
  return boost::outcome_v2::success();
}

void Executor::run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> pos_row = scratch(Scratch::kNormed).first(d);
  const tc::TensorView& wte = unit.matrix(WeightRole::kTokenEmbedding);
  const tc::TensorView& wpe = unit.matrix(WeightRole::kPositionEmbedding);
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    const tc::TensorView row = wte.row(tokens[t]);
    tc::to_f32(row.dtype(), row.data(), d, x.data() + t * d);
    if (wpe.data()) {
      const tc::TensorView prow = wpe.row(static_cast<std::int64_t>(pos0 + t));
      tc::to_f32(prow.dtype(), prow.data(), d, pos_row.data());
      tc::add(pos_row, x.subspan(t * d, d));
    }
  }
}

void Executor::attend(std::size_t layer, std::size_t n, std::size_t pos0) {
  const auto hd = static_cast<std::size_t>(config_.head_dim);
  const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads) * hd;
  const std::size_t layer_elems = plan_.n_ctx * kv_dim;
  std::span<float> cache = kv_cache_.as<float>();
  tc::AttentionArgs args;
  args.n_tokens = n;
  args.pos0 = pos0;
  args.n_heads = static_cast<std::size_t>(config_.n_heads);
  args.n_kv_heads = static_cast<std::size_t>(config_.n_kv_heads);
  args.head_dim = hd;
  args.scale = 1.0f / std::sqrt(static_cast<float>(hd));
  tc::attention(args, scratch(Scratch::kQuery), cache.subspan(layer * layer_elems, layer_elems),
                cache.subspan((static_cast<std::size_t>(config_.n_layers) + layer) * layer_elems, layer_elems),
                scratch(Scratch::kScores), scratch(Scratch::kAttnOut), threads_.get());
}

void Executor::run_llama_attention(const LoadedUnit& unit, std::size_t n, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto hd = static_cast<std::size_t>(config_.head_dim);
  const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads) * hd;
  const auto layer = static_cast<std::size_t>(unit.unit->layer);
  const std::size_t layer_elems = plan_.n_ctx * kv_dim;
  std::span<float> x = scratch(Scratch::kResidual).first(n * d);
  std::span<float> xb = scratch(Scratch::kNormed).first(n * d);
  std::span<float> q = scratch(Scratch::kQuery);
  std::span<float> cache = kv_cache_.as<float>();
  std::span<float> k_rows = cache.subspan(layer * layer_elems + pos0 * kv_dim, n * kv_dim);
  std::span<float> v_rows =
      cache.subspan((static_cast<std::size_t>(config_.n_layers) + layer) * layer_elems + pos0 * kv_dim, n * kv_dim);

  tc::rms_norm(x, d, unit.vector(WeightRole::kAttnNorm), config_.norm_eps, xb);
  tc::matmul(xb, n, unit.matrix(WeightRole::kQ), {}, q, threads_.get());
  tc::matmul(xb, n, unit.matrix(WeightRole::kK), {}, k_rows, threads_.get());
  tc::matmul(xb, n, unit.matrix(WeightRole::kV), {}, v_rows, threads_.get());
  tc::rope(q, n, static_cast<std::size_t>(config_.n_heads), hd, pos0, config_.rope_theta);
  tc::rope(k_rows, n, static_cast<std::size_t>(config_.n_kv_heads), hd, pos0, config_.rope_theta);
  attend(layer, n, pos0);
  tc::matmul(scratch(Scratch::kAttnOut), n, unit.matrix(WeightRole::kAttnOut), {}, xb, threads_.get());
  tc::add(xb, x);
}

void Executor::run_llama_ffn(const LoadedUnit& unit, std::size_t n) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
  std::span<float> x = scratch(Scratch::kResidual).first(n * d);
  std::span<float> xb = scratch(Scratch::kNormed).first(n * d);
  std::span<float> gate = scratch(Scratch::kFfnA).first(n * ff);
  std::span<float> up = scratch(Scratch::kFfnB).first(n * ff);
  tc::rms_norm(x, d, unit.vector(WeightRole::kFfnNorm), config_.norm_eps, xb);
  tc::matmul(xb, n, unit.matrix(WeightRole::kFfnGate), {}, gate, threads_.get());
  tc::matmul(xb, n, unit.matrix(WeightRole::kFfnUp), {}, up, threads_.get());
  tc::swiglu(gate, up, threads_.get());
  tc::matmul(gate, n, unit.matrix(WeightRole::kFfnDown), {}, xb, threads_.get());
  tc::add(xb, x);
}

void Executor::run_gpt2_attention(const LoadedUnit& unit, std::size_t n, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto layer = static_cast<std::size_t>(unit.unit->layer);
  const std::size_t layer_elems = plan_.n_ctx * d;
  std::span<float> x = scratch(Scratch::kResidual).first(n * d);
  std::span<float> xb = scratch(Scratch::kNormed).first(n * d);
  std::span<float> qkv = scratch(Scratch::kQkv).first(n * 3 * d);
  std::span<float> q = scratch(Scratch::kQuery);
  float* k_cache = kv_cache_.as<float>().data() + layer * layer_elems;
  float* v_cache = kv_cache_.as<float>().data() + (static_cast<std::size_t>(config_.n_layers) + layer) * layer_elems;

  tc::layer_norm(x, d, unit.vector(WeightRole::kAttnNorm), unit.vector(WeightRole::kAttnNormBias), config_.norm_eps,
                 xb);
  linear(unit, WeightRole::kQkv, WeightRole::kQkvBias, xb, n, qkv);
  for (std::size_t t = 0; t < n; ++t) {
    const float* row = qkv.data() + t * 3 * d;
    std::memcpy(q.data() + t * d, row, d * sizeof(float));
    std::memcpy(k_cache + (pos0 + t) * d, row + d, d * sizeof(float));
    std::memcpy(v_cache + (pos0 + t) * d, row + 2 * d, d * sizeof(float));
  }
  attend(layer, n, pos0);
  linear(unit, WeightRole::kAttnOut, WeightRole::kAttnOutBias, scratch(Scratch::kAttnOut), n, xb);
  tc::add(xb, x);
}

void Executor::linear(const LoadedUnit& unit, WeightRole role, WeightRole bias, std::span<const float> x, std::size_t n,
                      std::span<float> out) {
  if (unit.in_out[static_cast<std::size_t>(role)]) {
    tc::matmul_in_out(x, n, unit.matrix(role), unit.vector(bias), out, threads_.get());
  } else {
    tc::matmul(x, n, unit.matrix(role), unit.vector(bias), out, threads_.get());
  }
}

void Executor::run_gpt2_ffn(const LoadedUnit& unit, std::size_t n) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
  std::span<float> x = scratch(Scratch::kResidual).first(n * d);
  std::span<float> xb = scratch(Scratch::kNormed).first(n * d);
  std::span<float> hidden = scratch(Scratch::kFfnA).first(n * ff);
  tc::layer_norm(x, d, unit.vector(WeightRole::kFfnNorm), unit.vector(WeightRole::kFfnNormBias), config_.norm_eps, xb);
  linear(unit, WeightRole::kFfnUp, WeightRole::kFfnUpBias, xb, n, hidden);
  tc::gelu_tanh(hidden, threads_.get());
  linear(unit, WeightRole::kFfnDown, WeightRole::kFfnDownBias, hidden, n, xb);
  tc::add(xb, x);
}

void Executor::run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> xb = scratch(Scratch::kNormed);
  const tc::TensorView& lm_head =
      unit.matrix(WeightRole::kLmHead).data() ? unit.matrix(WeightRole::kLmHead) : shared_lm_head_;
  EDGE_RT_CHECK(lm_head.data() != nullptr, "head without an LM head");
  const auto first_id = static_cast<std::size_t>(unit.row_begin);
  const auto n_ids = static_cast<std::size_t>(lm_head.shape()[0]);
  std::span<float> out = logits().subspan(first_id, n_ids);
  const std::size_t first = each_row ? 0 : n - 1;
  for (std::size_t t = first; t < n; ++t) {
    std::span<const float> row = x.subspan(t * d, d);
    std::span<float> normed = xb.subspan(t * d, d);
    // Every chunk normalises again: cheap (d elements) and keeps chunks independent of each other.
    if (config_.architecture == model_ir::Architecture::kGpt2) {
      tc::layer_norm(row, d, unit.vector(WeightRole::kFinalNorm), unit.vector(WeightRole::kFinalNormBias),
                     config_.norm_eps, normed);
    } else {
      tc::rms_norm(row, d, unit.vector(WeightRole::kFinalNorm), config_.norm_eps, normed);
    }
    tc::matmul(normed, 1, lm_head, {}, out, threads_.get());
    if (each_row) (*each_row)(t, first_id, out);
  }
}

}  // namespace edge_rt::runtime::detail
