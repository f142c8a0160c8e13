#include "model_data.hpp"

#include <edge_rt/runtime/engine.hpp>
#include <edge_rt/runtime/session.hpp>

#include <algorithm>
#include <map>
#include <thread>

namespace edge_rt::runtime {

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
  std::shared_ptr<ModelData> model;  // Planned: planned; Ready: prepared
  std::optional<Session> session;    // Ready: the engine's one session
};
}  // namespace detail

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
  auto data = std::move(data_);
  EDGE_RT_TRY(data->model, detail::plan_model(options));
  return InferenceEngine<Planned>(std::move(data));
}

template <class State>
    Result<InferenceEngine<Ready>> InferenceEngine<State>::prepare() && requires std::same_as<State, Planned> {
  auto data = std::move(data_);
  EDGE_RT_TRY(detail::prepare_model(*data->model));
  EDGE_RT_TRY(data->session, Session::create(Model(data->model)));
  return InferenceEngine<Ready>(std::move(data));
}

template <class State>
Result<GenerationResult> InferenceEngine<State>::generate(
    std::span<const TokenId> prompt, const GenerateOptions& options,
    const TokenCallback& on_token) requires std::same_as<State, Ready> {
  return data_->session->run(prompt, options, on_token);
}

template <class State>
Session& InferenceEngine<State>::session() noexcept requires std::same_as<State, Ready> {
  return *data_->session;
}

template <class State>
const model_ir::ModelConfig& InferenceEngine<State>::config() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->graph->config();
}

template <class State>
const partition_planner::ExecutionPlan& InferenceEngine<State>::plan() const noexcept
    requires(!std::same_as<State, Idle>) {
  return data_->model->plan;
}

template <class State>
const tokenizer::Tokenizer* InferenceEngine<State>::tokenizer() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->tokenizer.get();
}

template <class State>
std::uint64_t InferenceEngine<State>::weight_bytes() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->graph->total_weight_bytes();
}

template <class State>
std::uint64_t InferenceEngine<State>::parameter_count() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->graph->parameter_count();
}

template <class State>
std::uint64_t InferenceEngine<State>::streamed_bytes_per_token() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->plan.streamed_bytes_per_token(data_->model->graph->units());
}

template <class State>
bool InferenceEngine<State>::adds_bos() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->prepends_bos(false);
}

template <class State>
std::string InferenceEngine<State>::describe_plan() const requires(!std::same_as<State, Idle>) {
  return data_->model->plan.describe(data_->model->graph->units());
}

template <class State>
const Coverage& InferenceEngine<State>::coverage() const noexcept requires(!std::same_as<State, Idle>) {
  return data_->model->coverage;
}

template class InferenceEngine<Idle>;
template class InferenceEngine<Planned>;
template class InferenceEngine<Ready>;

}  // namespace edge_rt::runtime
