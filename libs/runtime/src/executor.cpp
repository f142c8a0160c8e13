#include "executor.hpp"

#include <edge_rt/core/format.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <utility>

namespace edge_rt::runtime::detail {

namespace {
// RoPE's inverse frequencies of every layer (Gemma-3's sliding layers have their own base).
std::vector<std::vector<float>> rope_tables(const model_ir::ModelConfig& c, std::size_t n_ctx) {
  std::vector<std::vector<float>> tables;
  for (std::int64_t layer = 0; layer < c.n_layers; ++layer) tables.push_back(model_ir::rope_inv_freq(c, layer, n_ctx));
  return tables;
}
}  // namespace

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
                   memory_manager::MemoryBudget budget, std::unique_ptr<model_ir::WeightSource> source,
                   DevicePlacement placement)
    : graph_(graph),
      config_(graph.config()),
      recipe_(graph.recipe()),
      plan_(plan),
      budget_(budget),
      source_(std::move(source)),
      backends_(std::move(placement.backends)),
      placement_(std::move(placement.units)),
      widths_(graph.recipe().value_widths(graph.config())),
      pinned_(plan.groups.size()),
      weights_peak_bytes_(plan.peak_bytes - plan.buffers.reserved_bytes(plan.geometry)) {
  for (const auto& b : backends_) backend_ptrs_.push_back(b.get());
  for (const UnitPlacement& u : placement_) weight_devices_.push_back(u.weight_device);
}

Executor::~Executor() {
  EDGE_RT_CHECK(n_sessions_ == 0, "a session outlived its model's executor");
}

void FairLock::lock() {
  std::unique_lock lock(mutex_);
  const std::uint64_t ticket = next_++;
  turn_.wait(lock, [&] { return serving_ == ticket; });
}

void FairLock::unlock() {
  {
    std::lock_guard lock(mutex_);
    ++serving_;
  }
  turn_.notify_all();
}

SessionBuffers::SessionBuffers(SessionBuffers&& other) noexcept
    : owner_(std::exchange(other.owner_, nullptr)),
      n_ctx_(other.n_ctx_),
      n_batch_(other.n_batch_),
      vocab_(other.vocab_),
      reserved_bytes_(other.reserved_bytes_),
      kv_cache_(std::move(other.kv_cache_)),
      scratch_(std::move(other.scratch_)),
      rope_inv_freq_(std::move(other.rope_inv_freq_)),
      rows_(std::move(other.rows_)) {}

SessionBuffers::~SessionBuffers() {
  if (owner_) owner_->release_session(reserved_bytes_);
}

std::span<float> SessionBuffers::scratch(Scratch s) noexcept {
  return scratch_[static_cast<std::size_t>(s)].as<float>();
}

std::span<float> SessionBuffers::logits() noexcept {
  return scratch(Scratch::kLogits).first(vocab_);
}

Result<partition_planner::RuntimeBuffers> Executor::session_sizes(std::size_t n_ctx, std::size_t n_batch) const {
  return partition_planner::runtime_buffers(config_, recipe_, n_ctx, n_batch);
}

std::uint64_t Executor::free_session_bytes() const {
  std::lock_guard lock(sessions_mutex_);
  const std::uint64_t used = weights_peak_bytes_ + session_bytes_;
  return budget_.bytes() > used ? budget_.bytes() - used : 0;
}

void Executor::release_session(std::uint64_t bytes) noexcept {
  std::lock_guard lock(sessions_mutex_);
  session_bytes_ -= bytes;
  --n_sessions_;
}

Result<SessionBuffers> Executor::create_session(std::size_t n_ctx, std::size_t n_batch) {
  EDGE_RT_TRY(const partition_planner::RuntimeBuffers sizes, session_sizes(n_ctx, n_batch));
  const std::uint64_t need = sizes.reserved_bytes(plan_.geometry);
  {
    std::lock_guard lock(sessions_mutex_);
    const std::uint64_t used = weights_peak_bytes_ + session_bytes_;
    if (budget_.bytes() < used || budget_.bytes() - used < need) {
      return fail(ErrorCode::kBudgetExceeded,
                  "[session] a session of " + std::to_string(n_ctx) + " tokens (" + std::to_string(n_batch) +
                      " per pass) needs " + format_bytes(need) + " (KV cache " + format_bytes(sizes.kv_cache_bytes) +
                      ", scratch " + format_bytes(sizes.scratch_total_bytes()) + "); the budget " +
                      format_bytes(budget_.bytes()) + " holds the weights' planned peak " +
                      format_bytes(weights_peak_bytes_) + " and " + std::to_string(n_sessions_) +
                      " live session(s) of " + format_bytes(session_bytes_) + ": minimum budget " +
                      format_bytes(used + need) + " (" + std::to_string(used + need) + " bytes)");
    }
    session_bytes_ += need;
    ++n_sessions_;
  }
  SessionBuffers s;  // from here on, its destructor gives the reservation back
  s.owner_ = this;
  s.reserved_bytes_ = need;
  s.n_ctx_ = n_ctx;
  s.n_batch_ = n_batch;
  s.vocab_ = static_cast<std::size_t>(config_.vocab_size);
  backend::Backend& cpu = *backends_[0];
  EDGE_RT_TRY(s.kv_cache_, cpu.allocate(sizes.kv_cache_bytes, backend::BufferUsage::kKvCache));
  std::memset(s.kv_cache_.data(), 0, s.kv_cache_.size_bytes());
  for (std::size_t i = 0; i < s.scratch_.size(); ++i) {
    if (sizes.scratch_bytes[i] == 0) continue;
    EDGE_RT_TRY(s.scratch_[i], cpu.allocate(sizes.scratch_bytes[i], backend::BufferUsage::kScratch));
  }
  s.rope_inv_freq_ = rope_tables(config_, n_ctx);
  return s;
}

Result<std::unique_ptr<Executor>> Executor::create(const model_ir::ModelGraph<model_ir::Validated>& graph,
                                                   const partition_planner::ExecutionPlan& plan,
                                                   memory_manager::MemoryBudget budget,
                                                   std::unique_ptr<model_ir::WeightSource> source,
                                                   DevicePlacement placement) {
  // Private constructor: make_unique cannot reach it.
  std::unique_ptr<Executor> ex(new Executor(graph, plan, budget, std::move(source), std::move(placement)));
  std::vector<std::size_t> streamed;
  for (std::size_t g = 0; g < plan.groups.size(); ++g) {
    if (plan.groups[g].resident()) {
      EDGE_RT_TRY(auto group, ex->load(g, ex->staging_));
      ex->pinned_[g].emplace(std::move(group));
    } else if (!plan.groups[g].gathered()) {
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

std::span<float> Executor::value(model_ir::Value v, std::size_t layer, std::size_t n, std::size_t pos0) noexcept {
  if (v == model_ir::Value::kKNew || v == model_ir::Value::kVNew) {
    const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads * config_.head_dim);
    const std::size_t layer_elems = s_->n_ctx_ * kv_dim;
    const std::size_t table = v == model_ir::Value::kKNew ? layer : static_cast<std::size_t>(config_.n_layers) + layer;
    return s_->kv_cache_.as<float>().subspan(table * layer_elems + pos0 * kv_dim, n * kv_dim);
  }
  const std::uint64_t width = widths_[static_cast<std::size_t>(v)];
  return scratch(partition_planner::scratch_of(v)).first(n * static_cast<std::size_t>(width));
}

Result<LoadedGroup> Executor::load(std::size_t group_index, Staging& staging) {
  IoStats stats;
  const partition_planner::Group& group = plan_.groups[group_index];
  const std::uint64_t block = group.resident() ? 0 : plan_.device_stream_block_bytes[group.device];
  auto loaded = load_group(graph_.units(), group, block, backend_ptrs_, weight_devices_, *source_, plan_.geometry,
                           staging, stats);
  io_bytes_ += stats.bytes_read;
  io_ns_ += static_cast<std::uint64_t>(stats.io_ms * 1e6);
  return loaded;
}

Result<PassStats> Executor::forward(SessionBuffers& s, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                                    const PassOptions& options) {
  EDGE_RT_CHECK(s.owner_ == this && !tokens.empty() && tokens.size() <= s.n_batch_ && pos0 + tokens.size() <= s.n_ctx_,
                "forward: tokens do not fit the session");
  std::lock_guard lock(pass_lock_);
  if (poisoned_) return *poisoned_;
  const auto start = Clock::now();
  const std::uint64_t bytes_before = io_bytes_;
  const std::uint64_t ns_before = io_ns_;
  PassStats stats;
  for (std::size_t d = 1; d < backends_.size(); ++d) backends_[d]->limit_threads(options.max_threads);
  stats.threads = backends_[0]->limit_threads(options.max_threads);
  s_ = &s;
  auto done = run_pass(tokens, pos0, options, stats.stall_ms);
  s_ = nullptr;
  if (!done) {
    if (done.error().code == ErrorCode::kCancelled) {
      if (prefetcher_) prefetcher_->restart();  // the next pass starts at the first group
      return done.error();
    }
    poisoned_ = done.error();
    return done.error();
  }
  stats.compute_ms = ms_since(start) - stats.stall_ms;
  stats.bytes_read = io_bytes_ - bytes_before;
  stats.io_ms = static_cast<double>(io_ns_ - ns_before) / 1e6;
  return stats;
}

Result<void> Executor::run_pass(std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                                const PassOptions& options, double& stall_ms) {
  const RowLogits* each_row = options.each_row;
  // The abort callback is polled before every group and every unit in it (a resident model is often one group):
  // a cancelled pass stops within one unit's compute or one group's load.
  const auto cancelled = [&](std::size_t group) -> Result<void> {
    if (!options.abort || !*options.abort || !(*options.abort)()) return boost::outcome_v2::success();
    synchronize();  // no device op may still write the session's buffers
    return fail(ErrorCode::kCancelled, "[engine] cancelled by the abort callback in weight group " +
                                           std::to_string(group) + " of " + std::to_string(plan_.groups.size()));
  };
  const auto run_units = [&](std::span<const LoadedUnit> units, std::size_t group) -> Result<void> {
    for (const LoadedUnit& unit : units) {
      EDGE_RT_TRY(cancelled(group));
      run_unit(unit, tokens, pos0, each_row);
    }
    return boost::outcome_v2::success();
  };
  for (std::size_t g = 0; g < plan_.groups.size(); ++g) {
    const partition_planner::Group& group = plan_.groups[g];
    if (group.gathered()) {
      EDGE_RT_TRY(cancelled(g));
      const auto start = Clock::now();
      EDGE_RT_TRY(gather_embedding(tokens, pos0));
      stall_ms += ms_since(start);  // synchronous reads: the compute waits for them
      continue;
    }
    if (pinned_[g]) {
      EDGE_RT_TRY(run_units(pinned_[g]->units, g));
      continue;
    }
    EDGE_RT_TRY(cancelled(g));
    LoadedGroup current;
    if (prefetcher_) {
      EDGE_RT_TRY(current, prefetcher_->next(g, stall_ms));
    } else {
      const auto start = Clock::now();
      EDGE_RT_TRY(current, load(g, staging_));
      stall_ms += ms_since(start);
    }
    auto ran = run_units(current.units, g);
    synchronize();  // the group's buffers go back to the pool: no recorded device op may still read them
    EDGE_RT_TRY(std::move(ran));
  }
  synchronize();  // logits and the KV cache are the host's to read
  return boost::outcome_v2::success();
}

backend::Backend& Executor::on(partition_planner::DeviceIndex d) {
  // An asynchronous device's results land in host buffers when it synchronizes: before the next device reads them.
  if (d != last_device_) backends_[last_device_]->synchronize();
  last_device_ = d;
  return *backends_[d];
}

void Executor::synchronize() {
  backends_[last_device_]->synchronize();
}

void Executor::run_unit(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0,
                        const RowLogits* each_row) {
  const std::size_t n = tokens.size();
  switch (unit.unit->kind) {
    case model_ir::UnitKind::kEmbedding: run_embedding(unit, tokens, pos0); return;
    case model_ir::UnitKind::kAttention: run_program(unit, recipe_.attention, n, pos0); return;
    case model_ir::UnitKind::kFeedForward: run_program(unit, recipe_.feed_forward, n, pos0); return;
    case model_ir::UnitKind::kHead: run_head(unit, n, each_row); return;
  }
}

Result<void> Executor::gather_embedding(std::span<const tokenizer::TokenId> tokens, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> pos_row = scratch(Scratch::kNormed).first(d);  // free until the first layer
  std::span<std::byte> raw = s_->scratch_[static_cast<std::size_t>(Scratch::kEmbeddingRow)].bytes();
  const model_ir::Unit& unit = graph_.units()[0];
  IoStats stats;
  on(0);
  const auto start = Clock::now();
  EDGE_RT_TRY(std::span<std::byte> bounce, staging_.bytes());
  for (std::size_t t = 0; t < tokens.size(); ++t) {
    for (const model_ir::WeightRef& w : unit.weights) {
      const std::size_t row = w.role == WeightRole::kTokenEmbedding ? static_cast<std::size_t>(tokens[t]) : pos0 + t;
      const std::size_t row_bytes = tc::row_bytes(w.dtype, d);
      EDGE_RT_TRY(source_->read(*w.file, *w.source, row * row_bytes, raw.first(row_bytes), bounce));
      stats.bytes_read += row_bytes;
      if (w.role == WeightRole::kTokenEmbedding) {
        tc::to_f32(w.dtype, raw.data(), d, x.data() + t * d);
      } else {
        tc::to_f32(w.dtype, raw.data(), d, pos_row.data());
        backends_[0]->add(pos_row, x.subspan(t * d, d));
      }
    }
  }
  scale_embeddings(x.first(tokens.size() * d));
  io_bytes_ += stats.bytes_read;
  io_ns_ += static_cast<std::uint64_t>(ms_since(start) * 1e6);
  return boost::outcome_v2::success();
}

void Executor::scale_embeddings(std::span<float> x) const {
  if (config_.embedding_scale == 0.0f) return;
  for (float& v : x) v *= config_.embedding_scale;  // Gemma: x * sqrt(hidden_size)
}

void Executor::run_embedding(const LoadedUnit& unit, std::span<const tokenizer::TokenId> tokens, std::size_t pos0) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  const std::size_t n = tokens.size();
  std::span<float> x = scratch(Scratch::kResidual).first(n * d);
  backend::Backend& cpu = on(0);
  std::vector<std::int64_t>& rows = s_->rows_;
  rows.assign(tokens.begin(), tokens.end());
  cpu.embedding_rows(unit.matrix(WeightRole::kTokenEmbedding), rows, x, /*accumulate=*/false);
  if (recipe_.position_embedding) {
    const backend::PreparedWeight& wpe = unit.matrix(WeightRole::kPositionEmbedding);
    for (std::size_t t = 0; t < n; ++t) rows[t] = static_cast<std::int64_t>(pos0 + t);
    cpu.embedding_rows(wpe, rows, x, /*accumulate=*/true);
  }
  scale_embeddings(x);
}

void Executor::norm(backend::Backend& on, std::span<const float> x, std::span<const float> w, std::span<const float> b,
                    std::span<float> out) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  if (recipe_.norm == model_ir::NormKind::kLayerNorm) {
    on.layer_norm(x, d, w, b, config_.norm_eps, out);
  } else {
    on.rms_norm(x, d, w, config_.norm_eps, out);
  }
}

void Executor::run_program(const LoadedUnit& unit, std::span<const model_ir::Step> program, std::size_t n,
                           std::size_t pos0) {
  using model_ir::StepOp;
  using model_ir::Value;
  const auto layer = static_cast<std::size_t>(unit.unit->layer);
  const std::vector<partition_planner::DeviceIndex>& devices =
      placement_[static_cast<std::size_t>(unit.unit - graph_.units().data())].step_device;
  auto val = [&](Value v) { return value(v, layer, n, pos0); };
  for (std::size_t i = 0; i < program.size(); ++i) {
    const model_ir::Step& s = program[i];
    backend::Backend& on = this->on(devices[i]);
    const std::span<const float> bias = s.has_bias ? unit.vector(s.bias) : std::span<const float>{};
    switch (s.op) {
      case StepOp::kNorm: norm(on, val(s.in), unit.vector(s.weight), bias, val(s.out)); break;
      case StepOp::kMatmul: on.matmul(val(s.in), n, unit.matrix(s.weight), bias, val(s.out)); break;
      case StepOp::kSplitQkv: {
        const auto q_dim = static_cast<std::size_t>(config_.n_heads * config_.head_dim);
        const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads * config_.head_dim);
        const std::span<const float> qkv = val(s.in);
        const std::span<float> q = val(Value::kQuery), k = val(Value::kKNew), v = val(Value::kVNew);
        const std::size_t row = q_dim + 2 * kv_dim;
        for (std::size_t t = 0; t < n; ++t) {
          on.copy(qkv.subspan(t * row, q_dim), q.subspan(t * q_dim, q_dim));
          on.copy(qkv.subspan(t * row + q_dim, kv_dim), k.subspan(t * kv_dim, kv_dim));
          on.copy(qkv.subspan(t * row + q_dim + kv_dim, kv_dim), v.subspan(t * kv_dim, kv_dim));
        }
        break;
      }
      case StepOp::kSplitGateUp: {
        // Row t's up half goes to `out`, then its gate half down to row t of kFfnA: in place, since row t's gate
        // lands at or before where it came from and after every half already moved.
        const auto ff = static_cast<std::size_t>(config_.d_ff);
        const std::span<float> fused = val(s.in);
        const std::span<float> up = val(s.out);
        for (std::size_t t = 0; t < n; ++t) {
          on.copy(fused.subspan(2 * t * ff + ff, ff), up.subspan(t * ff, ff));
          if (t > 0) on.copy(fused.subspan(2 * t * ff, ff), fused.subspan(t * ff, ff));
        }
        break;
      }
      case StepOp::kHeadNorm: {  // each head is a row of head_dim
        const auto heads = static_cast<std::size_t>(s.out == Value::kQuery ? config_.n_heads : config_.n_kv_heads);
        const auto hd = static_cast<std::size_t>(config_.head_dim);
        const std::span<float> x = val(s.out).first(n * heads * hd);
        on.rms_norm(x, hd, unit.vector(s.weight), config_.norm_eps, x);
        break;
      }
      case StepOp::kRope: {
        const auto heads = static_cast<std::size_t>(s.out == Value::kQuery ? config_.n_heads : config_.n_kv_heads);
        on.rope(val(s.out), n, heads, static_cast<std::size_t>(config_.head_dim), pos0, s_->rope_inv_freq_[layer],
                config_.rope_interleaved);
        break;
      }
      case StepOp::kAttention: {
        const auto hd = static_cast<std::size_t>(config_.head_dim);
        const auto kv_dim = static_cast<std::size_t>(config_.n_kv_heads) * hd;
        const std::size_t layer_elems = s_->n_ctx_ * kv_dim;
        const std::span<float> cache = s_->kv_cache_.as<float>();
        tc::AttentionArgs args;
        args.n_tokens = n;
        args.pos0 = pos0;
        args.n_heads = static_cast<std::size_t>(config_.n_heads);
        args.n_kv_heads = static_cast<std::size_t>(config_.n_kv_heads);
        args.head_dim = hd;
        // Phi-3's longrope multiplies cos and sin, so both q and k, by attention_factor.
        args.scale = (config_.attn_scale > 0 ? config_.attn_scale : 1.0f / std::sqrt(static_cast<float>(hd))) *
                     config_.rope_scaling.attention_factor * config_.rope_scaling.attention_factor;
        args.window = static_cast<std::size_t>(config_.window_of(static_cast<std::int64_t>(layer)));
        args.softcap = config_.attn_softcap;
        on.attention(args, val(s.in), cache.subspan(layer * layer_elems, layer_elems),
                     cache.subspan((static_cast<std::size_t>(config_.n_layers) + layer) * layer_elems, layer_elems),
                     scratch(Scratch::kScores), val(s.out));
        break;
      }
      case StepOp::kGeluTanh: on.gelu_tanh(val(s.out)); break;
      // `out` may be wider than `in` (kFfnA after kSplitGateUp): the gate is its first rows.
      case StepOp::kSwiglu: on.swiglu(val(s.out).first(val(s.in).size()), val(s.in)); break;
      case StepOp::kGeglu: on.geglu(val(s.out).first(val(s.in).size()), val(s.in)); break;
      case StepOp::kAdd: on.add(val(s.in), val(s.out)); break;
    }
  }
}

void Executor::run_head(const LoadedUnit& unit, std::size_t n, const RowLogits* each_row) {
  const auto d = static_cast<std::size_t>(config_.d_model);
  std::span<float> x = scratch(Scratch::kResidual);
  std::span<float> xb = scratch(Scratch::kNormed);
  const backend::PreparedWeight& lm_head =
      unit.matrix(WeightRole::kLmHead).view.data() ? unit.matrix(WeightRole::kLmHead) : shared_lm_head_;
  EDGE_RT_CHECK(lm_head.view.data() != nullptr, "head without an LM head");
  const std::vector<partition_planner::DeviceIndex>& devices = placement_.back().step_device;
  const partition_planner::DeviceIndex norm_on = devices[0];
  const partition_planner::DeviceIndex matmul_on = devices[1];
  const auto first_id = static_cast<std::size_t>(unit.row_begin);
  const auto n_ids = static_cast<std::size_t>(lm_head.view.shape()[0]);
  std::span<float> out = s_->logits().subspan(first_id, n_ids);
  const std::size_t first = each_row ? 0 : n - 1;
  for (std::size_t t = first; t < n; ++t) {
    // Every chunk normalises again: cheap (d elements) and keeps chunks independent of each other.
    norm(on(norm_on), x.subspan(t * d, d), unit.vector(WeightRole::kFinalNorm), unit.vector(WeightRole::kFinalNormBias),
         xb.subspan(t * d, d));
    on(matmul_on).matmul(xb.subspan(t * d, d), 1, lm_head, {}, out);
    if (each_row || config_.final_softcap > 0) synchronize();  // read on the host now
    if (const float cap = config_.final_softcap; cap > 0) {    // Gemma-2: cap * tanh(logit / cap)
      for (float& v : out) v = cap * std::tanh(v / cap);
    }
    if (each_row) (*each_row)(t, first_id, out);
  }
}

}  // namespace edge_rt::runtime::detail
