#include <edge_rt/model_ir/model_graph.hpp>

#include <edge_rt/core/file.hpp>
#include <edge_rt/model_ir/gguf.hpp>

#include <boost/json.hpp>

#include "unit_builder.hpp"

#include <set>

namespace edge_rt::model_ir {

namespace detail {
struct GraphData {
  std::filesystem::path model_dir;
  ModelConfig config;
  Checkpoint checkpoint;
  std::vector<Unit> units;
};
}  // namespace detail

std::string_view role_name(WeightRole role) noexcept {
  switch (role) {
    case WeightRole::kTokenEmbedding: return "token_embedding";
    case WeightRole::kPositionEmbedding: return "position_embedding";
    case WeightRole::kAttnNorm: return "attn_norm";
    case WeightRole::kAttnNormBias: return "attn_norm_bias";
    case WeightRole::kQkv: return "attn_qkv";
    case WeightRole::kQkvBias: return "attn_qkv_bias";
    case WeightRole::kQ: return "attn_q";
    case WeightRole::kK: return "attn_k";
    case WeightRole::kV: return "attn_v";
    case WeightRole::kQBias: return "attn_q_bias";
    case WeightRole::kKBias: return "attn_k_bias";
    case WeightRole::kVBias: return "attn_v_bias";
    case WeightRole::kQNorm: return "attn_q_norm";
    case WeightRole::kKNorm: return "attn_k_norm";
    case WeightRole::kAttnOut: return "attn_out";
    case WeightRole::kAttnOutBias: return "attn_out_bias";
    case WeightRole::kFfnNorm: return "ffn_norm";
    case WeightRole::kFfnNormBias: return "ffn_norm_bias";
    case WeightRole::kFfnGate: return "ffn_gate";
    case WeightRole::kFfnUp: return "ffn_up";
    case WeightRole::kFfnUpBias: return "ffn_up_bias";
    case WeightRole::kFfnDown: return "ffn_down";
    case WeightRole::kFfnDownBias: return "ffn_down_bias";
    case WeightRole::kPostAttnNorm: return "post_attn_norm";
    case WeightRole::kFfnGateUp: return "ffn_gate_up";
    case WeightRole::kPostFfnNorm: return "post_ffn_norm";
    case WeightRole::kFinalNorm: return "final_norm";
    case WeightRole::kFinalNormBias: return "final_norm_bias";
    case WeightRole::kLmHead: return "lm_head";
  }
  return "?";
}

const WeightRef* Unit::find(WeightRole role) const noexcept {
  for (const WeightRef& w : weights) {
    if (w.role == role) return &w;
  }
  return nullptr;
}

namespace {

using tensor_core::Shape;

// Hugging Face's non-persistent buffers that older checkpoints still carry (the causal mask, RoPE frequencies): no
// weights, so skipping them is what transformers does too.
bool is_known_buffer(std::string_view name) {
  return name.ends_with(".attn.bias") || name.ends_with(".attn.masked_bias") || name.ends_with(".rotary_emb.inv_freq");
}

// Every tensor in the checkpoint must belong to the graph. A checkpoint with more layers than num_hidden_layers,
// or a tensor of another architecture, means config.json and the weights disagree: running the first N layers
// would print plausible but wrong text. (transformers warns about unused weights; an edge runtime refuses.)
Result<void> check_all_used(const detail::GraphData& g) {
  std::set<const TensorInfo*> used;
  for (const Unit& unit : g.units) {
    for (const WeightRef& w : unit.weights) used.insert(w.source);
  }
  std::vector<std::string> unused;
  std::size_t count = 0;
  for (const TensorInfo* t : g.checkpoint.tensors()) {
    if (used.contains(t) || is_known_buffer(t->name)) continue;
    // GGUF's Llama 3 frequency divisors are read into the config (config_from_gguf), not run as a weight.
    if (t->name == "rope_freqs.weight" && g.config.rope_scaling.kind == RopeScaling::Kind::kFactors) continue;
    // Phi-3's longrope factors likewise.
    if ((t->name == "rope_factors_long.weight" || t->name == "rope_factors_short.weight") &&
        g.config.rope_scaling.kind == RopeScaling::Kind::kLongRope) {
      continue;
    }
    if (++count <= 3) unused.push_back("'" + t->name + "'");
  }
  if (count == 0) return boost::outcome_v2::success();
  std::string names;
  for (const std::string& n : unused) names += (names.empty() ? "" : ", ") + n;
  if (count > unused.size()) names += " and " + std::to_string(count - unused.size()) + " more";
  const std::string graph = g.config.architecture_name + " graph of " + std::to_string(g.config.n_layers) + " layers";
  const bool gguf = g.checkpoint.gguf() != nullptr;
  return fail(ErrorCode::kInvalidFormat, "[model] " + g.model_dir.string() + ": " + std::to_string(count) +
                                             " tensor(s) of the checkpoint are not used by the " + graph + " that " +
                                             (gguf ? "the GGUF metadata" : "config.json") + " describes: " + names +
                                             "; expected " +
                                             (gguf ? "the metadata (<arch>.block_count, general.architecture)"
                                                   : "config.json (num_hidden_layers / n_layer, architecture)") +
                                             " and the weights to match");
}

// transformers' tokenizer_config.json decides whether prompts start with BOS (add_bos_token), for the families
// whose config.json does not say it. Absent file or key: unset (the recipe decides).
Result<std::optional<bool>> read_add_bos_token(const std::filesystem::path& path) {
  if (!path_present(path)) return std::optional<bool>();
  EDGE_RT_TRY(const std::string text, read_regular_file(path, kMaxConfigBytes, "[config]"));
  boost::system::error_code ec;
  const boost::json::value root = boost::json::parse(text, ec);
  if (ec || !root.is_object()) {
    return fail(ErrorCode::kInvalidFormat, "[config] " + path.string() + ": not a JSON object");
  }
  const boost::json::value* add_bos = root.as_object().if_contains("add_bos_token");
  if (!add_bos || add_bos->is_null()) return std::optional<bool>();
  if (!add_bos->is_bool()) {
    return fail(ErrorCode::kInvalidFormat, "[config] " + path.string() + ": key 'add_bos_token' is " +
                                               boost::json::serialize(*add_bos) + ", expected true or false");
  }
  return std::optional<bool>(add_bos->as_bool());
}

}  // namespace

template <class State>
ModelGraph<State>::ModelGraph(std::unique_ptr<detail::GraphData> data) noexcept : data_(std::move(data)) {}
template <class State>
ModelGraph<State>::ModelGraph(ModelGraph&&) noexcept = default;
template <class State>
ModelGraph<State>& ModelGraph<State>::operator=(ModelGraph&&) noexcept = default;
template <class State>
ModelGraph<State>::~ModelGraph() = default;

template <class State>
Result<ModelGraph<Loaded>> ModelGraph<State>::load(
    const std::filesystem::path& model_dir) requires std::same_as<State, Loaded> {
  std::error_code ec;
  const auto status = std::filesystem::status(model_dir, ec);
  if (!std::filesystem::exists(status)) {
    return fail(ErrorCode::kIoError, "[model] " + model_dir.string() + ": the model folder does not exist");
  }
  EDGE_RT_TRY(const auto gguf_path, find_gguf(model_dir));
  if (gguf_path) {
    EDGE_RT_TRY(auto file, GgufFile::open(*gguf_path));
    EDGE_RT_TRY(auto config, config_from_gguf(file));
    auto checkpoint = Checkpoint::from_gguf(std::move(file), config.architecture);
    return ModelGraph<Loaded>(std::make_unique<detail::GraphData>(
        detail::GraphData{model_dir, std::move(config), std::move(checkpoint), {}}));
  }
  if (!std::filesystem::is_directory(status)) {
    return fail(ErrorCode::kIoError, "[model] " + model_dir.string() +
                                         ": is not a folder or a .gguf file; expected a model folder or a GGUF file");
  }
  EDGE_RT_TRY(auto config, parse_hf_config(model_dir / "config.json"));
  EDGE_RT_TRY(config.add_bos, read_add_bos_token(model_dir / "tokenizer_config.json"));
  EDGE_RT_TRY(auto checkpoint, Checkpoint::open(model_dir));
  return ModelGraph<Loaded>(
      std::make_unique<detail::GraphData>(detail::GraphData{model_dir, std::move(config), std::move(checkpoint), {}}));
}

template <class State>
    Result<ModelGraph<Validated>> ModelGraph<State>::validate() && requires std::same_as<State, Loaded> {
  detail::UnitBuilder builder(data_->model_dir, data_->config, data_->checkpoint);
  auto units = recipe_for(data_->config.architecture).build_units(builder);
  if (!units) return units.error();
  data_->units = std::move(units).value();
  EDGE_RT_TRY(check_all_used(*data_));
  return ModelGraph<Validated>(std::move(data_));
}

template <class State>
const std::filesystem::path& ModelGraph<State>::model_dir() const noexcept {
  return data_->model_dir;
}
template <class State>
const ModelConfig& ModelGraph<State>::config() const noexcept {
  return data_->config;
}
template <class State>
const Recipe& ModelGraph<State>::recipe() const noexcept {
  return recipe_for(data_->config.architecture);
}
template <class State>
const Checkpoint& ModelGraph<State>::checkpoint() const noexcept {
  return data_->checkpoint;
}

template <class State>
const std::vector<Unit>& ModelGraph<State>::units() const noexcept requires std::same_as<State, Validated> {
  return data_->units;
}

template <class State>
std::uint64_t ModelGraph<State>::total_weight_bytes() const noexcept requires std::same_as<State, Validated> {
  std::uint64_t total = 0;
  for (const Unit& u : data_->units) total += u.weight_bytes;
  return total;
}

template <class State>
std::uint64_t ModelGraph<State>::parameter_count() const noexcept requires std::same_as<State, Validated> {
  std::set<const TensorInfo*> seen;
  std::uint64_t total = 0;
  for (const Unit& u : data_->units) {
    for (const WeightRef& w : u.weights) {
      if (seen.insert(w.source).second) total += static_cast<std::uint64_t>(w.source->shape.numel());
    }
  }
  return total;
}

template class ModelGraph<Loaded>;
template class ModelGraph<Validated>;

}  // namespace edge_rt::model_ir
