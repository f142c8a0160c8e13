#include "placement.hpp"

#include <edge_rt/memory_manager/pool.hpp>

#include <algorithm>
#include <charconv>

namespace edge_rt::runtime::detail {

namespace {

using backend::Reason;
using model_ir::StepOp;
using model_ir::UnitKind;
using model_ir::Value;
using model_ir::WeightRole;
using partition_planner::DeviceIndex;

std::size_t role_index(WeightRole r) noexcept {
  return static_cast<std::size_t>(r);
}

// The program a unit runs (empty for the embedding and head, which the executor runs itself).
std::span<const model_ir::Step> program_of(const model_ir::Recipe& recipe, const model_ir::Unit& unit) {
  if (unit.kind == UnitKind::kAttention) return recipe.attention;
  if (unit.kind == UnitKind::kFeedForward) return recipe.feed_forward;
  return {};
}

backend::Op norm_op(const model_ir::Recipe& recipe) {
  return recipe.norm == model_ir::NormKind::kLayerNorm ? backend::Op::kLayerNorm : backend::Op::kRmsNorm;
}

backend::OpDesc matmul_desc(const model_ir::WeightRef& w) {
  return {backend::Op::kMatmul, w.dtype, w.shape[0], w.shape[1], w.transpose};
}

// One op of a unit, as placement sees it: what it is, what it reads, and a label for the report.
struct OpRef {
  backend::OpDesc desc;
  std::string label;                 // "matmul attn_q"
  std::optional<WeightRole> matrix;  // the matrix it reads, if any
};

std::vector<OpRef> ops_of(const model_ir::Recipe& recipe, const model_ir::ModelConfig& config,
                          const model_ir::Unit& unit) {
  std::vector<OpRef> ops;
  if (unit.kind == UnitKind::kEmbedding) {
    const model_ir::WeightRef* t = unit.find(WeightRole::kTokenEmbedding);
    ops.push_back({{backend::Op::kEmbeddingRows, t->dtype, t->shape[0], t->shape[1]}, "embedding_rows", {}});
    return ops;
  }
  if (unit.kind == UnitKind::kHead) {
    ops.push_back({{norm_op(recipe)}, std::string(backend::op_name(norm_op(recipe))), {}});
    ops.push_back({matmul_desc(*unit.find(WeightRole::kLmHead)), "matmul lm_head", WeightRole::kLmHead});
    return ops;
  }
  for (const model_ir::Step& s : program_of(recipe, unit)) {
    OpRef op;
    switch (s.op) {
      case StepOp::kNorm: op.desc.op = norm_op(recipe); break;
      case StepOp::kMatmul:
        op.desc = matmul_desc(*unit.find(s.weight));
        op.matrix = s.weight;
        break;
      case StepOp::kSplitQkv:
      case StepOp::kSplitGateUp: op.desc.op = backend::Op::kCopy; break;
      case StepOp::kHeadNorm: op.desc.op = backend::Op::kRmsNorm; break;
      case StepOp::kRope: op.desc.op = backend::Op::kRope; break;
      case StepOp::kAttention:
        op.desc.op = backend::Op::kAttention;
        op.desc.attention_extras = config.window_of(unit.layer) > 0 || config.attn_softcap > 0;
        break;
      case StepOp::kGeluTanh: op.desc.op = backend::Op::kGeluTanh; break;
      case StepOp::kSwiglu: op.desc.op = backend::Op::kSwiglu; break;
      case StepOp::kGeglu: op.desc.op = backend::Op::kGeglu; break;
      case StepOp::kAdd: op.desc.op = backend::Op::kAdd; break;
    }
    op.label = std::string(backend::op_name(op.desc.op));
    if (op.matrix) op.label.append(" ").append(model_ir::role_name(*op.matrix));
    ops.push_back(std::move(op));
  }
  return ops;
}

// "NAME[:INDEX]".
Result<std::pair<std::string, std::size_t>> parse_device(const std::string& text) {
  const auto colon = text.find(':');
  if (colon == std::string::npos) return std::pair{text, std::size_t{0}};
  std::size_t index = 0;
  const char* first = text.data() + colon + 1;
  const char* last = text.data() + text.size();
  const auto [end, ec] = std::from_chars(first, last, index);
  if (ec != std::errc() || end != last || first == last || index > 255) {
    return fail(ErrorCode::kInvalidArgument,
                "[engine] --device '" + text + "': expected NAME or NAME:INDEX with INDEX 0..255");
  }
  return std::pair{text.substr(0, colon), index};
}

std::string known_devices(const backend::Registry& registry) {
  std::string names = "cpu, auto";
  for (const auto& e : registry.entries()) {
    if (e.name != "cpu") names += ", " + e.name;
  }
  return names;
}

std::string list_refusals(const std::string& device, const std::vector<FallbackEntry>& entries) {
  std::string text = "[engine] " + std::to_string(entries.size()) + " unit(s)/op(s) would not run on " + device +
                     " and --fallback is fail:";
  for (const FallbackEntry& e : entries) {
    text += "\n  " + e.unit + ": " + e.op + " (" + e.reason + ": " + e.detail + ")";
  }
  return text;
}

}  // namespace
}  // namespace edge_rt::runtime::detail

namespace edge_rt::runtime {

Result<void> check_device_options(const DeviceOptions& options) {
  using detail::known_devices;
  using detail::parse_device;
  backend::Registry registry;
  EDGE_RT_TRY(backend::register_builtin_backends(registry));
  if (options.device != "cpu" && options.device != "auto") {
    EDGE_RT_TRY(auto name_index, parse_device(options.device));
    if (!registry.find(name_index.first)) {
      return fail(ErrorCode::kInvalidArgument, "[engine] --device '" + options.device +
                                                   "': unknown device, expected one of: " + known_devices(registry));
    }
  }
  for (const auto& [name, budget] : options.budgets) {
    if (name == "cpu") {
      return fail(ErrorCode::kInvalidArgument,
                  "[engine] --device-budget cpu=...: the CPU's budget is --memory-budget (the host's)");
    }
    if (!registry.find(name)) {
      return fail(ErrorCode::kInvalidArgument, "[engine] --device-budget " + name +
                                                   "=...: unknown device, expected one of: " + known_devices(registry));
    }
  }
  if (options.gpu_layers < -1) {
    return fail(ErrorCode::kInvalidArgument,
                "[engine] --gpu-layers " + std::to_string(options.gpu_layers) + ": expected >= 0, or -1 (all)");
  }
  return boost::outcome_v2::success();
}

}  // namespace edge_rt::runtime

namespace edge_rt::runtime::detail {

Result<DevicePlacement> place(const model_ir::ModelGraph<model_ir::Validated>& graph, const DeviceOptions& options,
                              memory_manager::MemoryBudget budget, std::size_t n_threads,
                              const partition_planner::BufferGeometry& geometry, std::size_t min_slots) {
  const model_ir::Recipe& recipe = graph.recipe();
  const std::span<const model_ir::Unit> units = graph.units();
  EDGE_RT_TRY(runtime::check_device_options(options));
  backend::Registry registry;
  EDGE_RT_TRY(backend::register_builtin_backends(registry));
  DevicePlacement p;
  p.coverage.requested = options.device;
  EDGE_RT_TRY(auto cpu, backend::make_cpu_backend({budget, n_threads, 0}));
  p.backends.push_back(std::move(cpu));

  // The device: by name, or the first automatic one that starts.
  std::unique_ptr<backend::Backend> device;
  const bool fail_closed = options.fallback == FallbackPolicy::kFail;
  auto start = [&](const backend::Registry::Entry& e, std::size_t index) {
    memory_manager::MemoryBudget b = memory_manager::MemoryBudget::unlimited();
    for (const auto& [name, given] : options.budgets) {
      if (name == e.name) b = given;  // the last one given wins
    }
    return e.factory({b, n_threads, index});
  };
  if (p.coverage.requested == "auto") {
    for (const auto& e : registry.entries()) {
      if (!e.automatic || e.kind == backend::DeviceKind::kCpu) continue;
      // A device emulated on the CPU (lavapipe) would only be slower than the CPU backend.
      if (auto started = start(e, 0); started && !started.value()->info().software) {
        device = std::move(started).value();
        break;
      }
    }
  } else if (p.coverage.requested != "cpu") {
    EDGE_RT_TRY(auto name_index, parse_device(p.coverage.requested));
    const backend::Registry::Entry* entry = registry.find(name_index.first);  // check_device_options found it
    if (entry->kind != backend::DeviceKind::kCpu) {
      auto started = start(*entry, name_index.second);
      if (started) {
        device = std::move(started).value();
      } else {
        FallbackEntry e{"*", "*", std::string(backend::reason_name(Reason::kInit)), started.error().message};
        if (fail_closed) return fail(ErrorCode::kUnsupported, list_refusals(p.coverage.requested, {e}));
        p.coverage.fallbacks.push_back(std::move(e));
      }
    }
  }

  // Units on the device: the last gpu_layers layers; "all" (-1) or more than the model has adds the head.
  p.units.resize(units.size());
  std::vector<DeviceIndex> unit_device(units.size(), 0);
  std::vector<std::vector<OpRef>> ops(units.size());
  for (std::size_t u = 0; u < units.size(); ++u) ops[u] = ops_of(recipe, graph.config(), units[u]);
  const auto n_layers = graph.config().n_layers;
  if (device) {
    const std::int64_t on_device =
        options.gpu_layers < 0 ? n_layers : std::min<std::int64_t>(options.gpu_layers, n_layers);
    const bool head = options.gpu_layers < 0 || options.gpu_layers > n_layers;
    for (std::size_t u = 0; u < units.size(); ++u) {
      const model_ir::Unit& unit = units[u];
      if ((unit.layer >= 0 && unit.layer >= n_layers - on_device) || (unit.kind == UnitKind::kHead && head)) {
        unit_device[u] = 1;
      }
    }
  }

  // Ops the device lacks: on a unified-memory device they run on the CPU over the same buffers; a unit with no op
  // left on the device, or on a device with its own memory, goes to the CPU whole.
  std::vector<FallbackEntry> refused;
  for (std::size_t u = 0; u < units.size(); ++u) {
    UnitPlacement& up = p.units[u];
    up.step_device.assign(ops[u].size(), unit_device[u]);
    if (unit_device[u] == 0) continue;
    std::size_t kept = 0;
    for (std::size_t i = 0; i < ops[u].size(); ++i) {
      const backend::Support s = device->supports(ops[u][i].desc);
      if (s.ok()) {
        ++kept;
        continue;
      }
      refused.push_back(
          {units[u].name, ops[u][i].label, std::string(backend::reason_name(s.reason)), std::string(s.detail)});
      up.step_device[i] = 0;
    }
    if (kept == 0 || (kept < ops[u].size() && !device->info().unified_memory)) {
      unit_device[u] = 0;
      std::fill(up.step_device.begin(), up.step_device.end(), DeviceIndex{0});
    }
  }

  // Device memory: the planner keeps a device's units resident when they fit its budget and streams the rest
  // through it; a unit of which min_slots loads do not fit the budget cannot even stream, so it runs on the CPU.
  if (device) {
    const std::uint64_t limit = device->info().budget.bytes();
    for (std::size_t u = 0; u < units.size(); ++u) {
      if (!unit_device[u]) continue;
      const std::uint64_t block = geometry.size_class(partition_planner::group_weight_bytes(units, u, u + 1, geometry));
      if (block <= limit / min_slots) continue;
      unit_device[u] = 0;
      std::fill(p.units[u].step_device.begin(), p.units[u].step_device.end(), DeviceIndex{0});
      refused.push_back({units[u].name, "*", std::string(backend::reason_name(Reason::kMemory)),
                         std::to_string(min_slots) + " load(s) of " + std::to_string(block) +
                             " bytes pass the device budget " + device->info().budget.to_string()});
    }
  }
  if (fail_closed && !refused.empty())
    return fail(ErrorCode::kUnsupported, list_refusals(p.coverage.requested, refused));
  p.coverage.fallbacks.insert(p.coverage.fallbacks.end(), refused.begin(), refused.end());

  // Weight readers: a matrix is prepared by its op's device; vectors are plain F32 wherever they live.
  for (std::size_t u = 0; u < units.size(); ++u) {
    UnitPlacement& up = p.units[u];
    up.weight_device.fill(unit_device[u]);
    for (std::size_t i = 0; i < ops[u].size(); ++i) {
      if (ops[u][i].matrix) up.weight_device[role_index(*ops[u][i].matrix)] = up.step_device[i];
    }
  }
  p.request.unit_device = unit_device;
  if (device) {
    p.request.devices.push_back(device->info().name);
    p.request.budgets.push_back(device->info().budget);
    p.backends.push_back(std::move(device));
  }
  p.request.budgets[0] = budget;
  return p;
}

void finish_coverage(DevicePlacement& p, const model_ir::ModelGraph<model_ir::Validated>& graph,
                     const partition_planner::ExecutionPlan& plan) {
  const std::span<const model_ir::Unit> units = graph.units();
  const model_ir::Recipe& recipe = graph.recipe();
  const model_ir::ModelConfig& c = graph.config();
  Coverage& cov = p.coverage;
  cov.devices.clear();
  for (const auto& b : p.backends) {
    cov.devices.push_back({b->info().name, std::string(backend::kind_name(b->info().kind))});
  }
  // The KV cache and activations live in host memory; a discrete device would hold its layers' share.
  cov.devices[0].kv_bytes = plan.buffers.kv_cache_bytes;
  for (std::size_t d = 0; d < cov.devices.size(); ++d) {
    cov.devices[d].streamed_bytes_per_token = plan.streamed_bytes_per_token(units, static_cast<DeviceIndex>(d));
    cov.devices[d].predicted_peak_bytes = plan.device_peak_bytes[d];
    cov.devices[d].budget_bytes = plan.device_budgets[d].bytes();
  }
  for (std::size_t u = 0; u < units.size(); ++u) {
    const DeviceIndex d = p.request.unit_device.empty() ? 0 : p.request.unit_device[u];
    cov.devices[d].units += 1;
    cov.devices[d].weight_bytes += units[u].weight_bytes;
    for (DeviceIndex s : p.units[u].step_device) cov.devices[s].ops += 1;
  }

  // One decoded token: which device last wrote each activation, and what an op reads from another device.
  const auto widths = recipe.value_widths(c);
  const auto kv_dim = static_cast<std::uint64_t>(c.n_kv_heads * c.head_dim);
  auto bytes_of = [&](Value v) -> std::uint64_t {
    return 4 * (v == Value::kKNew || v == Value::kVNew ? kv_dim : widths[static_cast<std::size_t>(v)]);
  };
  std::array<DeviceIndex, static_cast<std::size_t>(Value::kCount)> writer{};
  DeviceIndex current = 0;  // the embedding runs on the CPU
  cov.splits = 0;
  cov.bytes_across_devices_per_token = 0;
  auto run_on = [&](DeviceIndex d, std::initializer_list<Value> reads) {
    if (d != current) ++cov.splits;
    current = d;
    for (Value v : reads) {
      if (writer[static_cast<std::size_t>(v)] != d) cov.bytes_across_devices_per_token += bytes_of(v);
    }
  };
  auto wrote = [&](DeviceIndex d, Value v) { writer[static_cast<std::size_t>(v)] = d; };
  for (std::size_t u = 0; u < units.size(); ++u) {
    const std::span<const model_ir::Step> program = program_of(recipe, units[u]);
    const std::vector<DeviceIndex>& dev = p.units[u].step_device;
    if (units[u].kind == UnitKind::kHead) {
      run_on(dev[0], {Value::kResidual});
      wrote(dev[0], Value::kNormed);
      run_on(dev[1], {Value::kNormed});
      if (dev[1] != 0) cov.bytes_across_devices_per_token += 4 * static_cast<std::uint64_t>(c.vocab_size);
      continue;
    }
    for (std::size_t i = 0; i < program.size(); ++i) {
      const model_ir::Step& s = program[i];
      const DeviceIndex d = dev[i];
      switch (s.op) {
        case StepOp::kNorm:
        case StepOp::kMatmul: run_on(d, {s.in}); break;
        case StepOp::kSplitQkv:
          run_on(d, {s.in});
          wrote(d, Value::kQuery);
          wrote(d, Value::kKNew);
          wrote(d, Value::kVNew);
          break;
        case StepOp::kSplitGateUp:
          run_on(d, {s.in});
          wrote(d, s.in);
          break;
        case StepOp::kAttention:
          run_on(d, {Value::kQuery, Value::kKNew, Value::kVNew});
          wrote(d, Value::kAttnOut);
          break;
        case StepOp::kHeadNorm:
        case StepOp::kRope:
        case StepOp::kGeluTanh: run_on(d, {s.out}); break;
        case StepOp::kSwiglu:
        case StepOp::kGeglu:
        case StepOp::kAdd: run_on(d, {s.in, s.out}); break;
      }
      wrote(d, s.out);
    }
  }
  if (current != 0) ++cov.splits;  // logits go back to the host's sampler
}

}  // namespace edge_rt::runtime::detail
