#include "commands.hpp"
#include "preset.hpp"

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/partition_planner/plan.hpp>

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <set>

namespace edge_rt::cli {

namespace {

using memory_manager::format_bytes;

struct InspectArgs {
  std::string model;  // empty: neither -m nor the preset gave one, so default_model_dir()
  std::string memory_budget;
  std::int64_t ctx_size = 0;
  std::int64_t batch = 0;
  std::int64_t ctx_cap = 0;  // a preset's ctx_size: capped at the model's maximum
  bool json = false;
  std::string preset;
  DeviceFlags devices;
};

const char* kind_name(model_ir::UnitKind kind) {
  switch (kind) {
    case model_ir::UnitKind::kEmbedding: return "embedding";
    case model_ir::UnitKind::kAttention: return "attention";
    case model_ir::UnitKind::kFeedForward: return "feed-forward";
    case model_ir::UnitKind::kHead: return "head";
  }
  return "?";
}

// "F32" or "F16+F32" for a unit whose matrices and vectors differ.
std::string unit_dtypes(const model_ir::Unit& unit) {
  std::set<std::string> names;
  for (const model_ir::WeightRef& w : unit.weights) names.insert(std::string(tensor_core::dtype_name(w.source->dtype)));
  std::string out;
  for (const std::string& n : names) out += (out.empty() ? "" : "+") + n;
  return out;
}

Result<int> inspect(const InspectArgs& a) {
  EDGE_RT_TRY(auto loaded, model_ir::ModelGraph<model_ir::Loaded>::load(a.model));
  EDGE_RT_TRY(auto graph, std::move(loaded).validate());
  const model_ir::ModelConfig& c = graph.config();
  const auto units = graph.units();
  std::size_t n_ctx = a.ctx_size > 0 ? static_cast<std::size_t>(a.ctx_size) : static_cast<std::size_t>(c.max_context);
  if (a.ctx_size == 0 && a.ctx_cap > 0) n_ctx = std::min(n_ctx, static_cast<std::size_t>(a.ctx_cap));
  const std::size_t n_batch = std::min(n_ctx, a.batch > 0 ? static_cast<std::size_t>(a.batch) : std::size_t{512});
  EDGE_RT_TRY(const memory_manager::MemoryBudget budget, resolve_budget(a.memory_budget));
  EDGE_RT_TRY(auto buffers, partition_planner::runtime_buffers(c, graph.recipe(), n_ctx, n_batch));
  const std::uint64_t kv_per_token = buffers.kv_cache_bytes / n_ctx;
  std::map<std::string, std::uint64_t> dtype_params;
  {
    std::set<const model_ir::TensorInfo*> seen;
    for (const model_ir::Unit& u : units) {
      for (const model_ir::WeightRef& w : u.weights) {
        if (seen.insert(w.source).second) {
          dtype_params[std::string(tensor_core::dtype_name(w.source->dtype))] +=
              static_cast<std::uint64_t>(w.source->shape.numel());
        }
      }
    }
  }

  // Weights in memory when everything is resident (tied embeddings held once).
  std::uint64_t all_resident_bytes = 0;
  {
    auto probe = partition_planner::make_strategy("sequential")
                     .value()
                     ->plan(graph, memory_manager::MemoryBudget::unlimited(), n_ctx, n_batch);
    if (probe) all_resident_bytes = probe.value().resident_bytes;
  }
  boost::json::object out{
      {"model", a.model},
      {"architecture", c.architecture_name},
      {"parameters", graph.parameter_count()},
      {"file_bytes", graph.checkpoint().total_file_bytes()},
      {"weight_bytes_resident", all_resident_bytes},
      {"d_model", c.d_model},
      {"n_layers", c.n_layers},
      {"n_heads", c.n_heads},
      {"n_kv_heads", c.n_kv_heads},
      {"vocab_size", c.vocab_size},
      {"context_length", c.max_context},
      {"n_ctx", n_ctx},
      {"n_batch", n_batch},
      {"kv_cache_bytes_per_token", kv_per_token},
      {"kv_cache_bytes", buffers.kv_cache_bytes},
      {"scratch_bytes", buffers.scratch_total_bytes()},
  };
  boost::json::object dtypes;
  for (const auto& [name, n] : dtype_params) dtypes[name] = n;
  out["parameters_by_dtype"] = std::move(dtypes);
  boost::json::array unit_rows;
  for (const model_ir::Unit& u : units) {
    unit_rows.push_back(boost::json::object{
        {"name", u.name}, {"kind", kind_name(u.kind)}, {"weight_bytes", u.weight_bytes}, {"dtype", unit_dtypes(u)}});
  }
  out["units"] = std::move(unit_rows);
  boost::json::array plans;
  for (std::string_view name : partition_planner::strategy_names()) {
    auto strategy = partition_planner::make_strategy(name).value();
    const auto probe = strategy->plan(graph, memory_manager::MemoryBudget::unlimited(), n_ctx, n_batch);
    boost::json::object row{{"strategy", std::string(name)}};
    if (probe) row["minimum_budget_bytes"] = probe.value().minimum_budget_bytes;
    auto plan = strategy->plan(graph, budget, n_ctx, n_batch);
    if (!plan) {
      row["error"] = plan.error().message;
    } else {
      const auto& p = plan.value();
      std::size_t streamed = 0;
      for (const auto& g : p.groups) streamed += g.resident() ? 0 : 1;
      row["groups"] = p.groups.size();
      row["streamed_groups"] = streamed;
      row["resident_bytes"] = p.resident_bytes;
      row["streamed_bytes_per_token"] = p.streamed_bytes_per_token(units);
      row["prefetch_depth"] = p.prefetch_depth;
      row["predicted_peak_bytes"] = p.peak_bytes;
      row["all_resident"] = p.all_resident();
    }
    plans.push_back(std::move(row));
  }
  out["budget_bytes"] = budget.is_unlimited() ? boost::json::value(nullptr) : boost::json::value(budget.bytes());
  out["plans"] = plans;
  // Placement as `run` would do it with these device flags (plans, allocates nothing).
  runtime::EngineOptions options;
  options.model_dir = a.model;
  options.budget = budget;
  options.n_ctx = n_ctx;
  options.n_batch = n_batch;
  EDGE_RT_TRY(options.devices, resolve_devices(a.devices));
  auto planned = runtime::InferenceEngine<runtime::Idle>::create().load_model(options);
  if (planned) {
    out["coverage"] = coverage_json(planned.value().coverage());
  } else {
    out["coverage_error"] = planned.error().message;  // e.g. --fallback fail refusing, or no plan at this budget
  }
  if (a.json) {
    std::cout << boost::json::serialize(out) << "\n";
    return 0;
  }

  std::printf("%s: %s, %llu parameters", a.model.c_str(), c.architecture_name.c_str(),
              static_cast<unsigned long long>(graph.parameter_count()));
  for (const auto& [name, n] : dtype_params) std::printf(", %s %llu", name.c_str(), static_cast<unsigned long long>(n));
  std::printf("\n  file %s, weights in memory %s (all resident)\n",
              format_bytes(graph.checkpoint().total_file_bytes()).c_str(), format_bytes(all_resident_bytes).c_str());
  std::printf("  d_model %lld, %lld layers, %lld heads / %lld KV heads, vocab %lld, context %lld\n",
              static_cast<long long>(c.d_model), static_cast<long long>(c.n_layers), static_cast<long long>(c.n_heads),
              static_cast<long long>(c.n_kv_heads), static_cast<long long>(c.vocab_size),
              static_cast<long long>(c.max_context));
  std::printf("  KV cache %s per token, %s at %zu tokens; activations+scratch %s for batches of %zu\n\n",
              format_bytes(kv_per_token).c_str(), format_bytes(buffers.kv_cache_bytes).c_str(), n_ctx,
              format_bytes(buffers.scratch_total_bytes()).c_str(), n_batch);
  std::printf("  %-18s %-13s %12s  %s\n", "unit", "kind", "bytes", "dtype");
  for (const model_ir::Unit& u : units) {
    std::printf("  %-18s %-13s %12s  %s\n", u.name.c_str(), kind_name(u.kind), format_bytes(u.weight_bytes).c_str(),
                unit_dtypes(u).c_str());
  }
  std::printf("\n  plans at budget %s:\n", budget.to_string().c_str());
  for (const auto& v : plans) {
    const auto& row = v.as_object();
    const std::string name(row.at("strategy").as_string());
    const auto minimum =
        row.contains("minimum_budget_bytes") ? row.at("minimum_budget_bytes").to_number<std::uint64_t>() : 0;
    if (row.contains("error")) {
      std::printf("  %-21s minimum %-10s  %s\n", name.c_str(), format_bytes(minimum).c_str(),
                  std::string(row.at("error").as_string()).c_str());
      continue;
    }
    std::printf(
        "  %-21s minimum %-10s  %llu groups (%llu streamed, prefetch depth %llu), resident %s, "
        "streamed %s per token, predicted peak %s\n",
        name.c_str(), format_bytes(minimum).c_str(),
        static_cast<unsigned long long>(row.at("groups").to_number<std::uint64_t>()),
        static_cast<unsigned long long>(row.at("streamed_groups").to_number<std::uint64_t>()),
        static_cast<unsigned long long>(row.at("prefetch_depth").to_number<std::uint64_t>()),
        format_bytes(row.at("resident_bytes").to_number<std::uint64_t>()).c_str(),
        format_bytes(row.at("streamed_bytes_per_token").to_number<std::uint64_t>()).c_str(),
        format_bytes(row.at("predicted_peak_bytes").to_number<std::uint64_t>()).c_str());
  }
  if (planned) {
    std::printf("\n  %s", coverage_text(planned.value().coverage()).c_str());
  } else {
    std::printf("\n  devices: %s\n", planned.error().message.c_str());
  }
  return 0;
}

}  // namespace

std::function<int()> add_inspect_command(CLI::App& app) {
  auto args = std::make_shared<InspectArgs>();
  CLI::App* cmd =
      app.add_subcommand("inspect", "Show a model's architecture, units and memory plans without loading it");
  cmd->add_option("-m,--model", args->model, "Model folder (default: the embedded stories260K)");
  cmd->add_option("--memory-budget", args->memory_budget, "Budget to plan for: 512M, 1G, auto (default: none)");
  cmd->add_option("--ctx-size", args->ctx_size, "KV cache length in tokens (default: the model's context)")
      ->check(CLI::Range(std::int64_t{0}, model_ir::kMaxContext));
  cmd->add_option("--batch", args->batch, "Prefill batch in tokens (default: min(512, context))")
      ->check(CLI::Range(std::int64_t{0}, model_ir::kMaxContext));
  cmd->add_flag("--json", args->json, "One JSON object instead of text");
  add_device_flags(*cmd, args->devices);
  cmd->add_option("-c,--config", args->preset, "Preset TOML (model, memory_budget, ctx_size); flags override it");
  return [args, cmd]() -> int {
    return with_preset(args->preset, [&](const Preset& p) {
      InspectArgs a = *args;
      apply(p.model, *cmd, "--model", a.model);
      if (a.model.empty() && cmd->get_option("--model")->count() == 0) {
        auto dir = default_model_dir();
        if (!dir) return Result<int>(dir.as_failure());
        a.model = dir.value().string();
      }
      apply(p.memory_budget, *cmd, "--memory-budget", a.memory_budget);
      apply(p.ctx_size, *cmd, "--ctx-size", a.ctx_cap);
      apply_device_preset(p, *cmd, a.devices);
      return inspect(a);
    });
  };
}

}  // namespace edge_rt::cli
