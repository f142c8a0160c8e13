#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <algorithm>
#include <sstream>

namespace edge_rt::partition_planner {

using memory_manager::format_bytes;
using memory_manager::MemoryPool;

std::string_view scratch_name(Scratch s) noexcept {
  switch (s) {
    case Scratch::kResidual: return "residual";
    case Scratch::kNormed: return "normed";
    case Scratch::kQuery: return "query";
    case Scratch::kAttnOut: return "attn_out";
    case Scratch::kQkv: return "qkv";
    case Scratch::kFfnA: return "ffn_a";
    case Scratch::kFfnB: return "ffn_b";
    case Scratch::kScores: return "scores";
    case Scratch::kLogits: return "logits";
    case Scratch::kCount: break;
  }
  return "?";
}

std::uint64_t RuntimeBuffers::reserved_bytes() const noexcept {
  std::uint64_t total = MemoryPool::size_class(kv_cache_bytes);
  for (std::uint64_t b : scratch_bytes) total += b ? MemoryPool::size_class(b) : 0;
  return total;
}

std::uint64_t RuntimeBuffers::scratch_total_bytes() const noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t b : scratch_bytes) total += b;
  return total;
}

Result<RuntimeBuffers> runtime_buffers(const model_ir::ModelConfig& c, std::size_t n_ctx, std::size_t n_batch) {
  if (n_ctx == 0 || n_batch == 0 || n_batch > n_ctx) {
    return fail(ErrorCode::kInvalidArgument, "[planner] context " + std::to_string(n_ctx) + " and batch " +
                                                 std::to_string(n_batch) + ": expected 0 < batch <= context");
  }
  if (n_ctx > static_cast<std::size_t>(c.max_context)) {
    return fail(ErrorCode::kContextOverflow, "[planner] context of " + std::to_string(n_ctx) +
                                                 " tokens exceeds the model's maximum of " +
                                                 std::to_string(c.max_context));
  }
  const auto f = sizeof(float);
  const auto d = static_cast<std::uint64_t>(c.d_model);
  const auto q_dim = static_cast<std::uint64_t>(c.n_heads * c.head_dim);
  const auto kv_dim = static_cast<std::uint64_t>(c.n_kv_heads * c.head_dim);
  const auto ff = static_cast<std::uint64_t>(c.d_ff);
  const bool gpt2 = c.architecture == model_ir::Architecture::kGpt2;
  RuntimeBuffers b;
  b.kv_cache_bytes = 2 * static_cast<std::uint64_t>(c.n_layers) * n_ctx * kv_dim * f;
  auto set = [&](Scratch s, std::uint64_t bytes) { b.scratch_bytes[static_cast<std::size_t>(s)] = bytes; };
  set(Scratch::kResidual, n_batch * d * f);
  set(Scratch::kNormed, n_batch * d * f);
  set(Scratch::kQuery, n_batch * q_dim * f);
  set(Scratch::kAttnOut, n_batch * q_dim * f);
  set(Scratch::kQkv, gpt2 ? n_batch * (q_dim + 2 * kv_dim) * f : 0);
  set(Scratch::kFfnA, n_batch * ff * f);
  set(Scratch::kFfnB, gpt2 ? 0 : n_batch * ff * f);
  set(Scratch::kScores, n_ctx * f);
  set(Scratch::kLogits, static_cast<std::uint64_t>(c.vocab_size) * f);
  return b;
}

std::uint64_t group_weight_bytes(std::span<const model_ir::Unit> units, std::size_t first, std::size_t last) noexcept {
  std::uint64_t total = 0;
  for (std::size_t u = first; u < last; ++u) {
    for (const model_ir::WeightRef& w : units[u].weights) total += (w.resident_bytes + 63) & ~std::uint64_t{63};
  }
  return total;
}

std::uint64_t ExecutionPlan::streamed_bytes_per_pass() const noexcept {
  if (all_resident) return 0;
  std::uint64_t total = 0;
  for (const Group& g : groups) total += g.weight_bytes;
  return total;
}

Result<void> ExecutionPlan::validate(std::size_t n_units) const {
  auto broken = [&](const std::string& what) { return fail(ErrorCode::kInternal, "[planner] invalid plan: " + what); };
  std::size_t next = 0;
  for (const Group& g : groups) {
    if (g.first_unit != next) return broken("groups are not contiguous at unit " + std::to_string(next));
    if (g.last_unit <= g.first_unit) return broken("empty group at unit " + std::to_string(next));
    if (g.peak_bytes > budget.bytes()) return broken("a group's peak passes the budget");
    next = g.last_unit;
  }
  if (next != n_units)
    return broken("groups cover " + std::to_string(next) + " of " + std::to_string(n_units) + " units");
  if (peak_bytes > budget.bytes()) return broken("peak passes the budget");
  return boost::outcome_v2::success();
}

std::string ExecutionPlan::describe(std::span<const model_ir::Unit> units) const {
  std::ostringstream os;
  os << "plan: strategy " << strategy << ", budget " << budget.to_string() << ", context " << n_ctx << " tokens, batch "
     << n_batch << "\n";
  os << "  KV cache " << format_bytes(buffers.kv_cache_bytes) << ", activations+scratch "
     << format_bytes(buffers.scratch_total_bytes()) << "\n";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    os << "  group " << i << ": " << units[g.first_unit].name;
    if (g.last_unit - g.first_unit > 1) os << " .. " << units[g.last_unit - 1].name;
    os << ", weights " << format_bytes(g.weight_bytes) << (all_resident ? " (resident)" : " (streamed)") << "\n";
  }
  os << "  predicted peak " << format_bytes(peak_bytes) << ", minimum budget " << format_bytes(minimum_budget_bytes)
     << ", streamed per pass " << format_bytes(streamed_bytes_per_pass());
  return os.str();
}

namespace {

// Shared by all strategies: fixed buffers, then groups packed under a per-group cap.
class PackingStrategy : public PartitionStrategy {
 public:
  Result<ExecutionPlan> plan(const model_ir::ModelGraph<model_ir::Validated>& graph,
                             memory_manager::MemoryBudget budget, std::size_t n_ctx, std::size_t n_batch) const final {
    const auto& units = graph.units();
    EDGE_RT_TRY(auto buffers, runtime_buffers(graph.config(), n_ctx, n_batch));
    const std::uint64_t fixed = buffers.reserved_bytes();
    std::uint64_t largest = 0;
    std::size_t largest_unit = 0;
    for (std::size_t u = 0; u < units.size(); ++u) {
      const std::uint64_t b = MemoryPool::size_class(group_weight_bytes(units, u, u + 1));
      if (b > largest) {
        largest = b;
        largest_unit = u;
      }
    }
    ExecutionPlan plan;
    plan.strategy = std::string(name());
    plan.budget = budget;
    plan.n_ctx = n_ctx;
    plan.n_batch = n_batch;
    plan.buffers = buffers;
    plan.prefetch_depth = prefetch_depth();
    plan.minimum_budget_bytes = fixed + largest * (1 + prefetch_depth());
    if (budget.bytes() < plan.minimum_budget_bytes) {
      return fail(ErrorCode::kBudgetExceeded,
                  "[planner] budget " + budget.to_string() + " is below the minimum budget " +
                      format_bytes(plan.minimum_budget_bytes) + " (" + std::to_string(plan.minimum_budget_bytes) +
                      " bytes) of strategy " + std::string(name()) + ": KV cache and scratch for " +
                      std::to_string(n_ctx) + " tokens " + format_bytes(fixed) + " + " +
                      std::to_string(1 + prefetch_depth()) + " x largest unit '" + units[largest_unit].name + "' " +
                      format_bytes(largest));
    }
    const std::uint64_t all = MemoryPool::size_class(group_weight_bytes(units, 0, units.size()));
    std::uint64_t sum_single = 0;
    for (std::size_t u = 0; u < units.size(); ++u)
      sum_single += MemoryPool::size_class(group_weight_bytes(units, u, u + 1));
    if (fits_all_in_one() && fixed + all <= budget.bytes()) {
      plan.groups.push_back(make_group(units, 0, units.size(), fixed));
      plan.all_resident = true;
    } else if (!fits_all_in_one() && fixed + sum_single <= budget.bytes()) {
      for (std::size_t u = 0; u < units.size(); ++u) plan.groups.push_back(make_group(units, u, u + 1, fixed));
      plan.all_resident = true;
    } else {
      const std::uint64_t cap = (budget.bytes() - fixed) / (1 + prefetch_depth());
      std::size_t first = 0;
      while (first < units.size()) {
        std::size_t last = first + 1;
        while (packs() && last < units.size() &&
               MemoryPool::size_class(group_weight_bytes(units, first, last + 1)) <= cap) {
          ++last;
        }
        plan.groups.push_back(make_group(units, first, last, fixed));
        first = last;
      }
    }
    finish(plan);
    EDGE_RT_TRY(plan.validate(units.size()));
    return plan;
  }

 protected:
  virtual std::size_t prefetch_depth() const noexcept { return 0; }
  virtual bool packs() const noexcept = 0;
  // Whether an all-resident plan is one block (greedy) or one block per unit (sequential).
  virtual bool fits_all_in_one() const noexcept { return packs(); }

 private:
  static Group make_group(std::span<const model_ir::Unit> units, std::size_t first, std::size_t last,
                          std::uint64_t fixed) {
    Group g;
    g.first_unit = first;
    g.last_unit = last;
    g.weight_bytes = group_weight_bytes(units, first, last);
    g.reserved_bytes = MemoryPool::size_class(g.weight_bytes);
    g.peak_bytes = fixed + g.reserved_bytes;
    return g;
  }

  void finish(ExecutionPlan& plan) const {
    const std::uint64_t fixed = plan.buffers.reserved_bytes();
    if (plan.all_resident) {
      std::uint64_t total = fixed;
      for (const Group& g : plan.groups) total += g.reserved_bytes;
      for (Group& g : plan.groups) g.peak_bytes = total;
      plan.peak_bytes = total;
      return;
    }
    // Streaming: the computing group plus the prefetched ones (wrapping to the next pass) are live at once.
    const std::size_t n = plan.groups.size();
    plan.peak_bytes = 0;
    for (std::size_t i = 0; i < n; ++i) {
      std::uint64_t live = fixed;
      for (std::size_t k = 0; k <= prefetch_depth() && k < n; ++k) live += plan.groups[(i + k) % n].reserved_bytes;
      plan.groups[i].peak_bytes = live;
      plan.peak_bytes = std::max(plan.peak_bytes, live);
    }
  }
};

class Sequential final : public PackingStrategy {
 public:
  std::string_view name() const noexcept override { return "sequential"; }

 protected:
  bool packs() const noexcept override { return false; }
};

class GreedyGrouping final : public PackingStrategy {
 public:
  std::string_view name() const noexcept override { return "greedy-grouping"; }

 protected:
  bool packs() const noexcept override { return true; }
};

class SpeculativePrefetch final : public PackingStrategy {
 public:
  std::string_view name() const noexcept override { return "speculative-prefetch"; }

 protected:
  std::size_t prefetch_depth() const noexcept override { return 1; }
  bool packs() const noexcept override { return true; }
};

constexpr std::string_view kNames[] = {"sequential", "greedy-grouping", "speculative-prefetch"};

}  // namespace

std::span<const std::string_view> strategy_names() noexcept {
  return kNames;
}

Result<std::unique_ptr<PartitionStrategy>> make_strategy(std::string_view name) {
  if (name == "sequential") return std::unique_ptr<PartitionStrategy>(std::make_unique<Sequential>());
  if (name == "greedy-grouping") return std::unique_ptr<PartitionStrategy>(std::make_unique<GreedyGrouping>());
  if (name == "speculative-prefetch") {
    return std::unique_ptr<PartitionStrategy>(std::make_unique<SpeculativePrefetch>());
  }
  return fail(ErrorCode::kInvalidArgument, "[planner] unknown strategy '" + std::string(name) +
                                               "', expected sequential, greedy-grouping or speculative-prefetch");
}

}  // namespace edge_rt::partition_planner
