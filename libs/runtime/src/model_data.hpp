#pragma once
// What a Model handle and an InferenceEngine share: the loaded graph, the plan and, once prepared, the executor.

#include "executor.hpp"

#include <edge_rt/runtime/engine.hpp>

#include <memory>
#include <optional>

namespace edge_rt::runtime::detail {

/// Planned by plan_model(), prepared by prepare_model(). Neither copy nor move (the executor points into graph).
struct ModelData {
  EngineOptions options;
  std::optional<model_ir::ModelGraph<model_ir::Validated>> graph;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  partition_planner::ExecutionPlan plan;
  std::optional<DevicePlacement> placement;        // until prepare_model() hands the backends to the executor
  std::unique_ptr<model_ir::WeightSource> source;  // chosen in plan_model (the plan's geometry), used from prepare
  Coverage coverage;
  double load_ms = 0;
  std::unique_ptr<Executor> executor;  // last: destroyed before the graph it points into

  ModelData() = default;
  ModelData(const ModelData&) = delete;
  ModelData& operator=(const ModelData&) = delete;

  /// BOS: config.json's, else the tokenizer's.
  std::optional<tokenizer::TokenId> bos() const noexcept;
  /// Whether a prompt gets BOS: Llama-family models before every prompt, others only before an empty one.
  bool prepends_bos(bool prompt_empty) const noexcept;
};

/// InferenceEngine::load_model's work: opens, validates, places and plans. Errors: as load_model.
Result<std::shared_ptr<ModelData>> plan_model(const EngineOptions& options);
/// InferenceEngine::prepare's shared part: loads the resident groups and starts the weight stream.
Result<void> prepare_model(ModelData& data);

}  // namespace edge_rt::runtime::detail
