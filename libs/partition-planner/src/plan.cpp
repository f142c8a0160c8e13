#include <edge_rt/memory_manager/pool.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <algorithm>
#include <limits>
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
    case Scratch::kEmbeddingRow: return "embedding_row";
    case Scratch::kCount: break;
  }
  return "?";
}

std::string_view placement_name(Placement p) noexcept {
  switch (p) {
    case Placement::kResident: return "resident";
    case Placement::kStreamed: return "streamed";
    case Placement::kGathered: return "gathered";
  }
  return "?";
}

std::uint64_t BufferGeometry::pool_size_class(std::uint64_t bytes) noexcept {
  return MemoryPool::size_class(static_cast<std::size_t>(bytes));
}

BufferGeometry BufferGeometry::direct_io(std::uint64_t page) noexcept {
  BufferGeometry g;
  g.direct_alignment = page;
  return g;
}

std::uint64_t RuntimeBuffers::reserved_bytes(const BufferGeometry& geometry) const noexcept {
  std::uint64_t total = geometry.size_class(kv_cache_bytes);
  for (std::uint64_t b : scratch_bytes) total += b ? geometry.size_class(b) : 0;
  return total;
}

std::uint64_t RuntimeBuffers::scratch_total_bytes() const noexcept {
  std::uint64_t total = 0;
  for (std::uint64_t b : scratch_bytes) total += b;
  return total;
}

Result<RuntimeBuffers> runtime_buffers(const model_ir::ModelConfig& c, const model_ir::Recipe& recipe,
                                       std::size_t n_ctx, std::size_t n_batch) {
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
  const auto kv_dim = static_cast<std::uint64_t>(c.n_kv_heads * c.head_dim);
  RuntimeBuffers b;
  b.kv_cache_bytes = 2 * static_cast<std::uint64_t>(c.n_layers) * n_ctx * kv_dim * f;
  auto set = [&](Scratch s, std::uint64_t bytes) { b.scratch_bytes[static_cast<std::size_t>(s)] = bytes; };
  const auto widths = recipe.value_widths(c);
  for (std::size_t v = 0; v < static_cast<std::size_t>(model_ir::Value::kKNew); ++v) {
    set(scratch_of(static_cast<model_ir::Value>(v)), n_batch * widths[v] * f);
  }
  set(Scratch::kScores, n_ctx * f);
  set(Scratch::kLogits, static_cast<std::uint64_t>(c.vocab_size) * f);
  set(Scratch::kEmbeddingRow, d * f);
  return b;
}

std::uint64_t weight_row_bytes(const model_ir::WeightRef& w) noexcept {
  return tensor_core::row_bytes(w.dtype, static_cast<std::size_t>(w.shape[1]));
}

std::uint64_t weight_slot_bytes(std::uint64_t bytes, bool matrix, const BufferGeometry& g) noexcept {
  if (has_direct_slot(bytes, matrix, g)) {
    // Up to one alignment unit to reach a boundary from the cursor, up to one of file offset before the data, and
    // the read rounded up to whole units: round_up(bytes) + 2 units always covers them.
    const std::uint64_t a = g.direct_alignment;
    return (bytes + a - 1) / a * a + 2 * a;
  }
  return (bytes + g.alignment - 1) / g.alignment * g.alignment;
}

std::uint64_t group_weight_bytes(std::span<const model_ir::Unit> units, std::size_t first, std::size_t last,
                                 const BufferGeometry& g) noexcept {
  std::uint64_t total = 0;
  for (std::size_t u = first; u < last; ++u) {
    for (const model_ir::WeightRef& w : units[u].weights)
      total += weight_slot_bytes(w.resident_bytes, w.shape.rank() >= 2, g);
  }
  return total;
}

namespace {

// Pool bytes of a head chunk holding LM head rows [begin, end) and the final norm (and bias).
std::uint64_t head_chunk_bytes(const model_ir::Unit& head, std::int64_t begin, std::int64_t end,
                               const BufferGeometry& g) noexcept {
  std::uint64_t total = 0;
  for (const model_ir::WeightRef& w : head.weights) {
    if (w.role == model_ir::WeightRole::kLmHead) {
      total += weight_slot_bytes(static_cast<std::uint64_t>(end - begin) * weight_row_bytes(w), /*matrix=*/true, g);
    } else {
      total += weight_slot_bytes(w.resident_bytes, w.shape.rank() >= 2, g);
    }
  }
  return total;
}

// Bytes one token's embedding gather reads: a row of each embedding table.
std::uint64_t gather_bytes(const model_ir::Unit& embedding) noexcept {
  std::uint64_t total = 0;
  for (const model_ir::WeightRef& w : embedding.weights) {
    total += weight_row_bytes(w);
  }
  return total;
}

}  // namespace

bool ExecutionPlan::all_resident() const noexcept {
  for (const Group& g : groups) {
    if (!g.resident()) return false;
  }
  return true;
}

namespace {

// Weight bytes a load of `g` reads: its block without the slots' padding.
std::uint64_t group_data_bytes(std::span<const model_ir::Unit> units, const Group& g) noexcept {
  std::uint64_t total = 0;
  for (std::size_t u = g.first_unit; u < g.last_unit; ++u) {
    for (const model_ir::WeightRef& w : units[u].weights) {
      if (w.role != model_ir::WeightRole::kLmHead) {
        total += w.resident_bytes;
      } else if (g.is_head_chunk()) {
        total += static_cast<std::uint64_t>(g.row_end - g.row_begin) * weight_row_bytes(w);
      } else if (!g.lm_head_shared) {
        total += w.resident_bytes;
      }
    }
  }
  return total;
}

}  // namespace

std::uint64_t ExecutionPlan::streamed_bytes_per_token(std::span<const model_ir::Unit> units) const noexcept {
  std::uint64_t total = 0;
  for (std::size_t d = 0; d < devices.size(); ++d)
    total += streamed_bytes_per_token(units, static_cast<DeviceIndex>(d));
  return total;
}

std::uint64_t ExecutionPlan::streamed_bytes_per_token(std::span<const model_ir::Unit> units,
                                                      DeviceIndex device) const noexcept {
  std::uint64_t total = 0;
  for (const Group& g : groups) {
    if (g.device != device) continue;
    if (g.gathered()) {
      total += gather_bytes(units[g.first_unit]);
    } else if (!g.resident()) {
      total += group_data_bytes(units, g);
    }
  }
  return total;
}

Result<void> ExecutionPlan::validate(std::span<const model_ir::Unit> units) const {
  auto broken = [&](const std::string& what) { return fail(ErrorCode::kInternal, "[planner] invalid plan: " + what); };
  std::size_t next = 0;
  std::int64_t next_row = 0;
  for (const Group& g : groups) {
    if (g.is_head_chunk()) {
      if (g.first_unit + 1 != g.last_unit || units[g.first_unit].kind != model_ir::UnitKind::kHead) {
        return broken("a row chunk that is not the head");
      }
      if (g.first_unit != next || g.row_begin != next_row) return broken("head chunks are not contiguous");
      next_row = g.row_end;
      const model_ir::WeightRef* lm = units[g.first_unit].find(model_ir::WeightRole::kLmHead);
      if (next_row == lm->shape[0]) {
        next = g.last_unit;
        next_row = 0;
      }
      continue;
    }
    if (next_row != 0) return broken("head chunks do not cover the vocabulary");
    if (g.first_unit != next) return broken("groups are not contiguous at unit " + std::to_string(next));
    if (g.last_unit <= g.first_unit) return broken("empty group at unit " + std::to_string(next));
    next = g.last_unit;
  }
  if (next != units.size()) {
    return broken("groups cover " + std::to_string(next) + " of " + std::to_string(units.size()) + " units");
  }
  if (peak_bytes > budget.bytes()) return broken("peak passes the budget");
  for (const Group& g : groups) {
    if (g.device >= devices.size()) return broken("a group on an unknown device");
    if (g.gathered() && g.device != 0) return broken("a gather off the CPU");
  }
  for (std::size_t d = 1; d < devices.size(); ++d) {
    if (device_peak_bytes[d] > device_budgets[d].bytes()) return broken("device " + devices[d] + " over budget");
  }
  return boost::outcome_v2::success();
}

std::string ExecutionPlan::describe(std::span<const model_ir::Unit> units) const {
  std::ostringstream os;
  os << "plan: strategy " << strategy << ", budget " << budget.to_string() << ", context " << n_ctx << " tokens, batch "
     << n_batch << ", prefetch depth " << prefetch_depth << "\n";
  os << "  KV cache " << format_bytes(buffers.kv_cache_bytes) << ", activations+scratch "
     << format_bytes(buffers.scratch_total_bytes()) << "\n";
  for (std::size_t i = 0; i < groups.size(); ++i) {
    const Group& g = groups[i];
    os << "  group " << i << ": " << units[g.first_unit].name;
    if (g.last_unit - g.first_unit > 1) os << " .. " << units[g.last_unit - 1].name;
    if (g.is_head_chunk()) os << " rows [" << g.row_begin << ", " << g.row_end << ")";
    if (g.gathered()) {
      os << ", gathered per token (" << format_bytes(gather_bytes(units[g.first_unit])) << " per token)\n";
    } else {
      os << ", " << format_bytes(g.weight_bytes) << " " << placement_name(g.placement);
      if (g.device != 0) os << " on " << devices[g.device];
      os << "\n";
    }
  }
  os << "  resident " << format_bytes(resident_bytes) << ", streamed per token "
     << format_bytes(streamed_bytes_per_token(units)) << ", predicted peak " << format_bytes(peak_bytes)
     << ", minimum budget " << format_bytes(minimum_budget_bytes);
  return os.str();
}

namespace {

Group make_group(std::span<const model_ir::Unit> units, const BufferGeometry& geometry, std::size_t first,
                 std::size_t last, bool resident, DeviceIndex device = 0) {
  Group g;
  g.first_unit = first;
  g.last_unit = last;
  g.placement = resident ? Placement::kResident : Placement::kStreamed;
  g.device = device;
  g.weight_bytes = group_weight_bytes(units, first, last, geometry);
  g.reserved_bytes = geometry.size_class(g.weight_bytes);
  return g;
}

Result<void> check_request(const PlanRequest& r, std::size_t n_units) {
  auto bad = [](const std::string& what) {
    return fail(ErrorCode::kInvalidArgument, "[planner] device request: " + what);
  };
  if (r.devices.empty() || r.devices.size() != r.budgets.size() || r.devices.size() > 255) {
    return bad("expected 1..255 devices, each with a budget");
  }
  if (!r.unit_device.empty()) {
    if (r.unit_device.size() != n_units) return bad("expected one device per unit");
    if (r.unit_device[0] != 0) return bad("the embedding is gathered on the CPU");
    for (DeviceIndex d : r.unit_device) {
      if (d >= r.devices.size())
        return bad("a unit on device " + std::to_string(d) + " of " + std::to_string(r.devices.size()));
    }
  }
  return boost::outcome_v2::success();
}

// How one device's units are placed when they do not all fit: which stay resident, the loads ahead its budget
// allows and the size of a streamed load.
struct DeviceStream {
  std::vector<bool> pinned;  // per unit of the model
  bool streams = false;
  std::size_t depth = 0;
  std::uint64_t slot = 0;
};

// Shared by all strategies; they differ in how streamed units are packed and how far loads run ahead.
class PlanningStrategy : public PartitionStrategy {
 public:
  Result<ExecutionPlan> plan(const model_ir::ModelGraph<model_ir::Validated>& graph,
                             memory_manager::MemoryBudget budget, std::size_t n_ctx, std::size_t n_batch,
                             const PlanRequest& request) const final {
    const std::span<const model_ir::Unit> units = graph.units();
    const std::size_t n = units.size();
    const std::size_t head = n - 1;
    EDGE_RT_TRY(auto buffers, runtime_buffers(graph.config(), graph.recipe(), n_ctx, n_batch));
    const BufferGeometry& geo = request.geometry;
    const std::uint64_t fixed = buffers.reserved_bytes(geo);
    auto block = [&](std::size_t u) { return geo.size_class(group_weight_bytes(units, u, u + 1, geo)); };
    EDGE_RT_TRY(check_request(request, n));
    auto device_of = [&](std::size_t u) -> DeviceIndex {
      return request.unit_device.empty() ? 0 : request.unit_device[u];
    };
    // Each device's units: resident when they fit its budget, else some pinned and the rest streamed through it.
    std::vector<DeviceStream> streams(request.devices.size());
    for (std::size_t d = 1; d < request.devices.size(); ++d) {
      EDGE_RT_TRY(streams[d], plan_device(units, request, static_cast<DeviceIndex>(d), block));
    }
    std::size_t device_depth = std::numeric_limits<std::size_t>::max();  // loads ahead every streaming device allows
    for (const DeviceStream& ds : streams) {
      if (ds.streams) device_depth = std::min(device_depth, ds.depth);
    }
    // A device unit's group: resident, or a streamed run of consecutive unpinned units of that device (packed up
    // to the device's slot). Returns the unit after it.
    auto emit_device = [&](std::vector<Group>& out, std::size_t u) {
      const DeviceIndex d = device_of(u);
      const DeviceStream& ds = streams[d];
      if (!ds.streams || ds.pinned[u]) {
        out.push_back(make_group(units, geo, u, u + 1, /*resident=*/true, d));
        return u + 1;
      }
      std::size_t last = u + 1;
      while (packs() && last < n && device_of(last) == d && !ds.pinned[last] &&
             geo.size_class(group_weight_bytes(units, u, last + 1, geo)) <= ds.slot) {
        ++last;
      }
      out.push_back(make_group(units, geo, u, last, /*resident=*/false, d));
      return last;
    };

    // Streaming holds the largest layer unit (attention or feed-forward) in each live slot; the head streams in
    // chunks that can be as small as one row, and the embedding is gathered, so neither sets the minimum. Units
    // on another device are resident there and cost the host nothing.
    std::uint64_t largest = device_of(head) == 0 ? geo.size_class(head_chunk_bytes(units[head], 0, 1, geo)) : 0;
    std::size_t largest_unit = head;
    for (std::size_t u = 1; u < head; ++u) {
      if (device_of(u) == 0 && block(u) > largest) {
        largest = block(u);
        largest_unit = u;
      }
    }
    const std::size_t min_slots = 1 + min_depth();
    ExecutionPlan plan;
    plan.strategy = std::string(name());
    plan.budget = budget;
    plan.devices = request.devices;
    plan.device_budgets = request.budgets;
    plan.device_budgets[0] = budget;
    plan.geometry = geo;
    plan.n_ctx = n_ctx;
    plan.n_batch = n_batch;
    plan.buffers = buffers;
    plan.minimum_budget_bytes = fixed + min_slots * largest;
    if (budget.bytes() < plan.minimum_budget_bytes) {
      return fail(ErrorCode::kBudgetExceeded,
                  "[planner] budget " + budget.to_string() + " is below the minimum budget " +
                      format_bytes(plan.minimum_budget_bytes) + " (" + std::to_string(plan.minimum_budget_bytes) +
                      " bytes) of strategy " + std::string(name()) + ": KV cache and scratch for " +
                      std::to_string(n_ctx) + " tokens " + format_bytes(fixed) + " + " + std::to_string(min_slots) +
                      " x largest unit '" + units[largest_unit].name + "' " + format_bytes(largest));
    }

    // Everything fits: load once, keep across tokens. Tied weights are held once: the head shares the embedding.
    const model_ir::WeightRef* lm_head = units[head].find(model_ir::WeightRole::kLmHead);
    const model_ir::WeightRef* embedding = units[0].find(model_ir::WeightRole::kTokenEmbedding);
    const bool tied = lm_head && embedding && lm_head->source == embedding->source;
    auto share_head = [&](Group g) {
      if (tied && g.last_unit == n && g.device == 0) {
        g.lm_head_shared = true;
        g.weight_bytes -= weight_slot_bytes(lm_head->resident_bytes, /*matrix=*/true, geo);
        g.reserved_bytes = geo.size_class(g.weight_bytes);
      }
      return g;
    };
    std::vector<Group> resident;
    for (std::size_t u = 0; u < n;) {
      if (device_of(u) != 0) {
        u = emit_device(resident, u);
        continue;
      }
      std::size_t last = u + 1;  // packed runs of CPU units
      while (packs() && last < n && device_of(last) == 0) ++last;
      resident.push_back(share_head(make_group(units, geo, u, last, /*resident=*/true)));
      u = last;
    }
    std::uint64_t resident_total = fixed;
    for (const Group& g : resident) resident_total += g.device == 0 ? g.reserved_bytes : 0;
    if (resident_total <= budget.bytes()) {
      plan.groups = std::move(resident);
      if (device_depth != std::numeric_limits<std::size_t>::max()) plan.prefetch_depth = device_depth;
      finish(plan);
      EDGE_RT_TRY(plan.validate(units));
      return plan;
    }

    // Streaming. Pin units by bytes per token saved (a pinned unit saves its whole size every token), largest
    // first, as long as the rest can still stream through min_slots slots of the largest unpinned unit.
    const std::uint64_t free = budget.bytes() - fixed;
    const std::uint64_t head_min = geo.size_class(head_chunk_bytes(units[head], 0, 1, geo));
    std::vector<bool> pinned(n, false);
    for (std::size_t u = 0; u < n; ++u) pinned[u] = device_of(u) != 0;  // resident on their device
    std::uint64_t pinned_bytes = 0;
    auto largest_unpinned = [&]() {
      std::uint64_t m = pinned[head] ? 0 : head_min;
      for (std::size_t u = 1; u < head; ++u) {
        if (!pinned[u]) m = std::max(m, block(u));
      }
      return m;
    };
    std::vector<std::size_t> candidates;
    for (std::size_t u = 1; u < n; ++u) {
      if (!pinned[u]) candidates.push_back(u);
    }
    std::stable_sort(candidates.begin(), candidates.end(),
                     [&](std::size_t a, std::size_t b) { return block(a) > block(b); });
    for (std::size_t u : candidates) {
      pinned[u] = true;
      if (pinned_bytes + block(u) + min_slots * largest_unpinned() <= free) {
        pinned_bytes += block(u);
      } else {
        pinned[u] = false;
      }
    }
    const std::uint64_t stream_free = free - pinned_bytes;
    const std::uint64_t unit_slot = largest_unpinned();
    plan.prefetch_depth = std::min(depth(stream_free, unit_slot), device_depth);
    const std::uint64_t slot = packs() ? stream_free / (1 + plan.prefetch_depth) : unit_slot;

    Group gather;
    gather.first_unit = 0;
    gather.last_unit = 1;
    gather.placement = Placement::kGathered;
    plan.groups.push_back(gather);
    std::size_t u = 1;
    while (u < head) {
      if (device_of(u) != 0) {
        u = emit_device(plan.groups, u);
        continue;
      }
      if (pinned[u]) {
        plan.groups.push_back(make_group(units, geo, u, u + 1, /*resident=*/true));
        ++u;
        continue;
      }
      std::size_t last = u + 1;
      while (packs() && last < head && !pinned[last] &&
             geo.size_class(group_weight_bytes(units, u, last + 1, geo)) <= slot) {
        ++last;
      }
      plan.groups.push_back(make_group(units, geo, u, last, /*resident=*/false));
      u = last;
    }
    if (device_of(head) != 0) {
      emit_device(plan.groups, head);
    } else if (pinned[head]) {
      plan.groups.push_back(make_group(units, geo, head, n, /*resident=*/true));
    } else {
      const std::int64_t vocab = units[head].find(model_ir::WeightRole::kLmHead)->shape[0];
      // The most rows whose chunk, rounded to its size class, fits a slot (binary search; 1 row always fits).
      std::int64_t lo = 1, hi = vocab;
      while (lo < hi) {
        const std::int64_t mid = lo + (hi - lo + 1) / 2;
        if (geo.size_class(head_chunk_bytes(units[head], 0, mid, geo)) <= slot) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      const std::int64_t rows = lo;
      for (std::int64_t begin = 0; begin < vocab; begin += rows) {
        Group g;
        g.first_unit = head;
        g.last_unit = n;
        g.row_begin = begin;
        g.row_end = std::min(vocab, begin + rows);
        g.weight_bytes = head_chunk_bytes(units[head], g.row_begin, g.row_end, geo);
        g.reserved_bytes = geo.size_class(g.weight_bytes);
        plan.groups.push_back(g);
      }
    }
    finish(plan);
    EDGE_RT_TRY(plan.validate(units));
    return plan;
  }

 protected:
  virtual bool packs() const noexcept = 0;
  /// Loads in flight ahead of the compute, given the streaming budget and the largest unpinned unit.
  virtual std::size_t depth(std::uint64_t /*stream_free*/, std::uint64_t /*unit_slot*/) const noexcept { return 0; }

 private:
  // A device's units when they do not all fit its budget: pin the largest while the rest can still stream through
  // 1 + min_depth() slots of the largest unpinned one, as the host does.
  template <class Block>
  Result<DeviceStream> plan_device(std::span<const model_ir::Unit> units, const PlanRequest& r, DeviceIndex d,
                                   Block block) const {
    DeviceStream ds;
    ds.pinned.assign(units.size(), false);
    std::vector<std::size_t> mine;
    std::uint64_t total = 0;
    for (std::size_t u = 0; u < units.size(); ++u) {
      if (r.unit_device.empty() || r.unit_device[u] != d) continue;
      mine.push_back(u);
      total += block(u);
    }
    const std::uint64_t budget = r.budgets[d].bytes();
    if (total <= budget) {
      for (std::size_t u : mine) ds.pinned[u] = true;
      return ds;
    }
    const std::size_t min_slots = 1 + min_depth();
    auto largest_unpinned = [&]() {
      std::uint64_t m = 0;
      for (std::size_t u : mine) m = ds.pinned[u] ? m : std::max(m, block(u));
      return m;
    };
    const std::uint64_t largest = largest_unpinned();
    if (budget < min_slots * largest) {
      std::size_t big = mine.front();
      for (std::size_t u : mine) big = block(u) > block(big) ? u : big;
      return fail(ErrorCode::kBudgetExceeded,
                  "[planner] device " + r.devices[d] + ": budget " + r.budgets[d].to_string() +
                      " is below the minimum device budget " + format_bytes(min_slots * largest) + " (" +
                      std::to_string(min_slots * largest) + " bytes) of strategy " + std::string(name()) + ": " +
                      std::to_string(min_slots) + " x largest unit '" + units[big].name + "' " + format_bytes(largest));
    }
    std::vector<std::size_t> by_size = mine;
    std::stable_sort(by_size.begin(), by_size.end(), [&](std::size_t a, std::size_t b) { return block(a) > block(b); });
    std::uint64_t pinned_bytes = 0;
    for (std::size_t u : by_size) {
      ds.pinned[u] = true;
      if (pinned_bytes + block(u) + min_slots * largest_unpinned() <= budget) {
        pinned_bytes += block(u);
      } else {
        ds.pinned[u] = false;
      }
    }
    ds.streams = true;
    const std::uint64_t stream_free = budget - pinned_bytes;
    const std::uint64_t unit_slot = largest_unpinned();
    ds.depth = std::max(min_depth(), depth(stream_free, unit_slot));
    ds.slot = packs() ? stream_free / (1 + ds.depth) : unit_slot;
    return ds;
  }

  static void finish(ExecutionPlan& plan) {
    const std::uint64_t fixed = plan.buffers.reserved_bytes(plan.geometry);
    plan.device_resident_bytes.assign(plan.devices.size(), 0);
    plan.device_stream_block_bytes.assign(plan.devices.size(), 0);
    for (const Group& g : plan.groups) {
      if (g.resident()) {
        plan.device_resident_bytes[g.device] += g.reserved_bytes;
      } else {
        plan.device_stream_block_bytes[g.device] = std::max(plan.device_stream_block_bytes[g.device], g.reserved_bytes);
      }
    }
    plan.resident_bytes = plan.device_resident_bytes[0];
    plan.stream_block_bytes = plan.device_stream_block_bytes[0];
    // On each device, the computing load plus `depth` loads ahead are live at once (the prefetcher runs over all
    // streamed groups in forward order, whichever device they load into).
    plan.device_peak_bytes.assign(plan.devices.size(), 0);
    for (std::size_t d = 0; d < plan.devices.size(); ++d) {
      plan.device_peak_bytes[d] =
          plan.device_resident_bytes[d] + (1 + plan.prefetch_depth) * plan.device_stream_block_bytes[d];
    }
    plan.peak_bytes = fixed + plan.device_peak_bytes[0];
    plan.device_peak_bytes[0] = plan.peak_bytes;
  }
};

class Sequential final : public PlanningStrategy {
 public:
  std::string_view name() const noexcept override { return "sequential"; }

 protected:
  bool packs() const noexcept override { return false; }
};

class GreedyGrouping final : public PlanningStrategy {
 public:
  std::string_view name() const noexcept override { return "greedy-grouping"; }

 protected:
  bool packs() const noexcept override { return true; }
};

class SpeculativePrefetch final : public PlanningStrategy {
 public:
  std::string_view name() const noexcept override { return "speculative-prefetch"; }
  std::size_t min_depth() const noexcept override { return 1; }  // double buffering at least

 protected:
  bool packs() const noexcept override { return true; }
  // Deeper readahead absorbs uneven read latency; stop at 3 or when a load could no longer hold the largest unit.
  std::size_t depth(std::uint64_t stream_free, std::uint64_t unit_slot) const noexcept override {
    std::size_t d = 1;
    while (d < 3 && unit_slot > 0 && stream_free / (d + 2) >= unit_slot) ++d;
    return d;
  }
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
