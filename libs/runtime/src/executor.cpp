#include "executor.hpp"

#include <edge_rt/tensor_core/kernels.hpp>

#include <cmath>
#include <cstring>

namespace edge_rt::runtime::detail {

namespace tc = tensor_core;
using model_ir::WeightRole;
using partition_planner::Scratch;

Executor::Executor(const model_ir::ModelGraph<model_ir::Validated>& graph, const partition_planner::ExecutionPlan& plan)
    : graph_(graph),
      config_(graph.config()),
      plan_(plan),
      pool_(std::make_unique<memory_manager::MemoryPool>(plan.budget)) {}

Executor::~Executor() {
  if (pending_.valid()) pending_.wait();
}

Result<std::unique_ptr<Executor>> Executor::create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                   const partition_planner::ExecutionPlan& plan) {
  std::unique_ptr<Executor> ex(new Executor(graph, plan));  // private constructor: make_unique cannot reach it
  EDGE_RT_TRY(ex->kv_cache_, ex->pool_->allocate(plan.buffers.kv_cache_bytes));
  std::memset(ex->kv_cache_.data(), 0, ex->kv_cache_.size_bytes());
  for (std::size_t s = 0; s < ex->scratch_.size(); ++s) {
    if (plan.buffers.scratch_bytes[s] == 0) continue;
    EDGE_RT_TRY(ex->scratch_[s], ex->pool_->allocate(plan.buffers.scratch_bytes[s]));
  }
  if (plan.all_resident) {
    for (std::size_t g = 0; g < plan.groups.size(); ++g) {
      EDGE_RT_TRY(auto group, ex->load(g));
      ex->resident_.push_back(std::move(group));
    }
  }
  return ex;
}

std::span<float> Executor::scratch(Scratch s) noexcept {
  return scratch_[static_cast<std::size_t>(s)].as<float>();
}

std::span<float> Executor::logits() noexcept {
  return scratch(Scratch::kLogits).first(static_cast<std::size_t>(config_.vocab_size));
}

Result<LoadedGroup> Executor::load(std::size_t group_index) {
  EDGE_RT_TRY(auto group, load_group(graph_.units(), plan_.groups[group_index], *pool_));
  weight_bytes_loaded_ += plan_.groups[group_index].weight_bytes;
  return group;
}

Result<void> Executor::forward(std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                               const RowLogits* each_row) {
  EDGE_RT_CHECK(!tokens.empty() && tokens.size() <= plan_.n_batch && pos0 + tokens.size() <= plan_.n_ctx,
                "forward: tokens do not fit the plan");
  const std::size_t n_groups = plan_.groups.size();
  for (std::size_t g = 0; g < n_groups; ++g) {
    if (plan_.all_resident) {
      for (const LoadedUnit& unit : resident_[g].units) run_unit(unit, tokens, pos0, each_row);
      continue;
    }
    LoadedGroup current;
    if (pending_.valid() && pending_index_ == g) {
      EDGE_RT_TRY(current, pending_.get());
    } else {
      if (pending_.valid()) pending_.wait();  // a stale prefetch: let it finish and drop it
      pending_ = {};
      EDGE_RT_TRY(current, load(g));
    }
    if (plan_.prefetch_depth > 0 && n_groups > 1) {
      // Load the next group (wrapping to the next pass) on a background thread while this one computes.
      pending_index_ = (g + 1) % n_groups;
      pending_ = std::async(std::launch::async, [this, index = pending_index_] { return load(index); });
    }
    for (const LoadedUnit& unit : current.units) run_unit(unit, tokens, pos0, each_row);
  }
  return boost::outcome_v2::success();
}

void Executor::run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                        const RowLogits* each_row) {
  switch (unit.unit->kind) {
    case model_ir::UnitKind::kEmbedding: run_embedding(unit, tokens, pos0); return;
    case model_ir::UnitKind::kLayer:
      if (config_.architecture == model_ir::Architecture::kGpt2) {
        run_gpt2_layer(unit, tokens.size(), pos0);
      } else {
        run_llama_layer(unit, tokens.size(), pos0);
      }
      return;
    case model_ir::UnitKind::kHead: run_head(unit, tokens.size(), each_row); return;
  }
}

void Executor::run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  const tc::TensorView& wte = unit.matrix(WeightRole::kTokenEmbedding);
  const tc::TensorView& wpe = unit.matrix(WeightRole::kPositionEmbedding);
  std::vector<float> pos_row(wpe.data() ? d : 0);
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
                scratch(Scratch::kScores), scratch(Scratch::kAttnOut));
}

void Executor::run_llama_layer(const LoadedUnit& unit, std::size_t n, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto hd = static_cast<std::size_t>(config_.head_dim);
  const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads) * hd;
  const auto ff = static_cast<std::size_t>(config_.d_ff);
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
  tc::matmul(xb, n, unit.matrix(WeightRole::kQ), {}, q);
  tc::matmul(xb, n, unit.matrix(WeightRole::kK), {}, k_rows);
  tc::matmul(xb, n, unit.matrix(WeightRole::kV), {}, v_rows);
  tc::rope(q, n, static_cast<std::size_t>(config_.n_heads), hd, pos0, config_.rope_theta);
  tc::rope(k_rows, n, static_cast<std::size_t>(config_.n_kv_heads), hd, pos0, config_.rope_theta);
  attend(layer, n, pos0);
  tc::matmul(scratch(Scratch::kAttnOut), n, unit.matrix(WeightRole::kAttnOut), {}, xb);
  tc::add(xb, x);

  std::span<float> gate = scratch(Scratch::kFfnA).first(n * ff);
  std::span<float> up = scratch(Scratch::kFfnB).first(n * ff);
  tc::rms_norm(x, d, unit.vector(WeightRole::kFfnNorm), config_.norm_eps, xb);
  tc::matmul(xb, n, unit.matrix(WeightRole::kFfnGate), {}, gate);
  tc::matmul(xb, n, unit.matrix(WeightRole::kFfnUp), {}, up);
  tc::swiglu(gate, up);
  tc::matmul(gate, n, unit.matrix(WeightRole::kFfnDown), {}, xb);
  tc::add(xb, x);
}

void Executor::run_gpt2_layer(const LoadedUnit& unit, std::size_t n, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const auto ff = static_cast<std::size_t>(config_.d_ff);
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
  tc::matmul(xb, n, unit.matrix(WeightRole::kQkv), unit.vector(WeightRole::kQkvBias), qkv);
  for (std::size_t t = 0; t < n; ++t) {
    const float* row = qkv.data() + t * 3 * d;
    std::memcpy(q.data() + t * d, row, d * sizeof(float));
    std::memcpy(k_cache + (pos0 + t) * d, row + d, d * sizeof(float));
    std::memcpy(v_cache + (pos0 + t) * d, row + 2 * d, d * sizeof(float));
  }
  attend(layer, n, pos0);
  tc::matmul(scratch(Scratch::kAttnOut), n, unit.matrix(WeightRole::kAttnOut), unit.vector(WeightRole::kAttnOutBias),
             xb);
  tc::add(xb, x);

  std::span<float> hidden = scratch(Scratch::kFfnA).first(n * ff);
  tc::layer_norm(x, d, unit.vector(WeightRole::kFfnNorm), unit.vector(WeightRole::kFfnNormBias), config_.norm_eps, xb);
  tc::matmul(xb, n, unit.matrix(WeightRole::kFfnUp), unit.vector(WeightRole::kFfnUpBias), hidden);
  tc::gelu_tanh(hidden);
  tc::matmul(hidden, n, unit.matrix(WeightRole::kFfnDown), unit.vector(WeightRole::kFfnDownBias), xb);
  tc::add(xb, x);
}

void Executor::run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> xb = scratch(Scratch::kNormed);
  std::span<float> out = logits();
  const std::size_t first = each_row ? 0 : n - 1;
  for (std::size_t t = first; t < n; ++t) {
    std::span<const float> row = x.subspan(t * d, d);
    std::span<float> normed = xb.subspan(t * d, d);
    if (config_.architecture == model_ir::Architecture::kGpt2) {
      tc::layer_norm(row, d, unit.vector(WeightRole::kFinalNorm), unit.vector(WeightRole::kFinalNormBias),
                     config_.norm_eps, normed);
    } else {
      tc::rms_norm(row, d, unit.vector(WeightRole::kFinalNorm), config_.norm_eps, normed);
    }
    tc::matmul(normed, 1, unit.matrix(WeightRole::kLmHead), {}, out);
    if (each_row) (*each_row)(t, out);
  }
}

}  // namespace edge_rt::runtime::detail
