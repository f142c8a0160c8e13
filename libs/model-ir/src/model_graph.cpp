#include <edge_rt/model_ir/model_graph.hpp>

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
    case WeightRole::kAttnOut: return "attn_out";
    case WeightRole::kAttnOutBias: return "attn_out_bias";
    case WeightRole::kFfnNorm: return "ffn_norm";
    case WeightRole::kFfnNormBias: return "ffn_norm_bias";
    case WeightRole::kFfnGate: return "ffn_gate";
    case WeightRole::kFfnUp: return "ffn_up";
    case WeightRole::kFfnUpBias: return "ffn_up_bias";
    case WeightRole::kFfnDown: return "ffn_down";
    case WeightRole::kFfnDownBias: return "ffn_down_bias";
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

// The config.json keys that decide tensor shapes, with their values, for shape-mismatch messages.
std::string config_keys(const ModelConfig& c) {
  auto kv = [](const char* key, std::int64_t v) { return std::string(key) + " " + std::to_string(v); };
  if (c.architecture == Architecture::kGpt2) {
    return kv("n_embd", c.d_model) + ", n_inner " + std::to_string(c.d_ff) + ", " + kv("n_head", c.n_heads) + ", " +
           kv("vocab_size", c.vocab_size) + ", " + kv("n_positions", c.max_context);
  }
  return kv("hidden_size", c.d_model) + ", " + kv("intermediate_size", c.d_ff) + ", " +
         kv("num_attention_heads", c.n_heads) + ", " + kv("num_key_value_heads", c.n_kv_heads) + ", " +
         kv("head_dim", c.head_dim) + ", " + kv("vocab_size", c.vocab_size);
}

// Builds units while checking each tensor against the shape the config implies.
class UnitBuilder {
 public:
  explicit UnitBuilder(const detail::GraphData& g) : g_(g) {}

  // `file_shape` is the shape expected in the file; Conv1D weights are given as [in, out] with transpose = true.
  Result<void> add(Unit& unit, WeightRole role, const std::string& name, Shape file_shape, bool transpose = false) {
    const Checkpoint::Entry e = g_.checkpoint.find(name);
    if (!e.info) {
      return fail(ErrorCode::kMissingField, "[model] " + g_.model_dir.string() + ": tensor '" + name + "' (" +
                                                std::string(role_name(role)) + ") is missing from the checkpoint");
    }
    const auto& meta = e.file->metadata();
    const auto layout = meta.find(std::string(kLayoutMetadataPrefix) + name);
    const bool output_major = layout != meta.end() && layout->second == "out_in";
    if (layout != meta.end() && !output_major) {
      return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": __metadata__['" +
                                                 std::string(kLayoutMetadataPrefix) + name + "'] is '" +
                                                 layout->second + "', expected 'out_in'");
    }
    if ((tensor_core::is_quantized(e.info->dtype) || output_major) && transpose) {
      // Quantized matrices are stored output-major, and so are those marked out_in: a Conv1D weight arrives
      // already transposed.
      file_shape = Shape{file_shape[1], file_shape[0]};
      transpose = false;
    }
    if (tensor_core::is_quantized(e.info->dtype) && file_shape.rank() != 2) {
      return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": tensor '" + name + "' (" +
                                                 std::string(role_name(role)) + ") is " +
                                                 std::string(tensor_core::dtype_name(e.info->dtype)) +
                                                 ", expected F32/F16/BF16 for a vector");
    }
    if (!(e.info->shape == file_shape)) {
      return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": tensor '" + name +
                                                 "' has shape " + e.info->shape.to_string() + ", expected " +
                                                 file_shape.to_string() + " from config.json (" +
                                                 config_keys(g_.config) + ")");
    }
    WeightRef w;
    w.role = role;
    w.file = e.file;
    w.source = e.info;
    w.transpose = transpose;
    if (file_shape.rank() == 1) {
      w.dtype = tensor_core::DType::kF32;
      w.shape = file_shape;
    } else {
      w.dtype = e.info->dtype;
      w.shape = transpose ? Shape{file_shape[1], file_shape[0]} : file_shape;
    }
    w.resident_bytes = tensor_core::storage_bytes(w.dtype, w.shape);
    unit.weight_bytes += w.resident_bytes;
    unit.weights.push_back(w);
    return boost::outcome_v2::success();
  }

 private:
  const detail::GraphData& g_;
};

Result<std::vector<Unit>> build_gpt2(const detail::GraphData& g) {
  const ModelConfig& c = g.config;
  const std::string p = g.checkpoint.find("wte.weight").info ? "" : "transformer.";
  const std::int64_t d = c.d_model;
  UnitBuilder b(g);
  std::vector<Unit> units;
  Unit emb{UnitKind::kEmbedding, -1, "embedding", {}, 0};
  EDGE_RT_TRY(b.add(emb, WeightRole::kTokenEmbedding, p + "wte.weight", {c.vocab_size, d}));
  EDGE_RT_TRY(b.add(emb, WeightRole::kPositionEmbedding, p + "wpe.weight", {c.max_context, d}));
  units.push_back(std::move(emb));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string h = p + "h." + std::to_string(i) + ".";
    const std::string name = "layer." + std::to_string(i);
    Unit attn{UnitKind::kAttention, i, name + ".attn", {}, 0};
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnNorm, h + "ln_1.weight", {d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnNormBias, h + "ln_1.bias", {d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kQkv, h + "attn.c_attn.weight", {d, 3 * d}, true));
    EDGE_RT_TRY(b.add(attn, WeightRole::kQkvBias, h + "attn.c_attn.bias", {3 * d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnOut, h + "attn.c_proj.weight", {d, d}, true));
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnOutBias, h + "attn.c_proj.bias", {d}));
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnNorm, h + "ln_2.weight", {d}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnNormBias, h + "ln_2.bias", {d}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnUp, h + "mlp.c_fc.weight", {d, c.d_ff}, true));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnUpBias, h + "mlp.c_fc.bias", {c.d_ff}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnDown, h + "mlp.c_proj.weight", {c.d_ff, d}, true));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnDownBias, h + "mlp.c_proj.bias", {d}));
    units.push_back(std::move(ffn));
  }
  Unit head{UnitKind::kHead, -1, "head", {}, 0};
  EDGE_RT_TRY(b.add(head, WeightRole::kFinalNorm, p + "ln_f.weight", {d}));
  EDGE_RT_TRY(b.add(head, WeightRole::kFinalNormBias, p + "ln_f.bias", {d}));
  const bool untied = g.checkpoint.find("lm_head.weight").info != nullptr;
  EDGE_RT_TRY(b.add(head, WeightRole::kLmHead, untied ? "lm_head.weight" : p + "wte.weight", {c.vocab_size, d}));
  units.push_back(std::move(head));
  return units;
}

Result<std::vector<Unit>> build_llama(const detail::GraphData& g) {
  const ModelConfig& c = g.config;
  const std::int64_t d = c.d_model;
  const std::int64_t q_dim = c.n_heads * c.head_dim;
  const std::int64_t kv_dim = c.n_kv_heads * c.head_dim;
  UnitBuilder b(g);
  std::vector<Unit> units;
  Unit emb{UnitKind::kEmbedding, -1, "embedding", {}, 0};
  EDGE_RT_TRY(b.add(emb, WeightRole::kTokenEmbedding, "model.embed_tokens.weight", {c.vocab_size, d}));
  units.push_back(std::move(emb));
  for (std::int64_t i = 0; i < c.n_layers; ++i) {
    const std::string l = "model.layers." + std::to_string(i) + ".";
    const std::string name = "layer." + std::to_string(i);
    Unit attn{UnitKind::kAttention, i, name + ".attn", {}, 0};
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnNorm, l + "input_layernorm.weight", {d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kQ, l + "self_attn.q_proj.weight", {q_dim, d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kK, l + "self_attn.k_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kV, l + "self_attn.v_proj.weight", {kv_dim, d}));
    EDGE_RT_TRY(b.add(attn, WeightRole::kAttnOut, l + "self_attn.o_proj.weight", {d, q_dim}));
    units.push_back(std::move(attn));
    Unit ffn{UnitKind::kFeedForward, i, name + ".ffn", {}, 0};
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnNorm, l + "post_attention_layernorm.weight", {d}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnGate, l + "mlp.gate_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnUp, l + "mlp.up_proj.weight", {c.d_ff, d}));
    EDGE_RT_TRY(b.add(ffn, WeightRole::kFfnDown, l + "mlp.down_proj.weight", {d, c.d_ff}));
    units.push_back(std::move(ffn));
  }
  Unit head{UnitKind::kHead, -1, "head", {}, 0};
  EDGE_RT_TRY(b.add(head, WeightRole::kFinalNorm, "model.norm.weight", {d}));
  const bool has_head = g.checkpoint.find("lm_head.weight").info != nullptr;
  if (!has_head && !c.tie_embeddings) {
    return fail(ErrorCode::kMissingField, "[model] " + g.model_dir.string() +
                                              ": tensor 'lm_head.weight' is missing and tie_word_embeddings is false");
  }
  EDGE_RT_TRY(
      b.add(head, WeightRole::kLmHead, has_head ? "lm_head.weight" : "model.embed_tokens.weight", {c.vocab_size, d}));
  units.push_back(std::move(head));
  return units;
}

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
  for (const SafetensorsFile& file : g.checkpoint.files()) {
    for (const TensorInfo& t : file.tensors()) {
      if (used.contains(&t) || is_known_buffer(t.name)) continue;
      if (++count <= 3) unused.push_back("'" + t.name + "'");
    }
  }
  if (count == 0) return boost::outcome_v2::success();
  std::string names;
  for (const std::string& n : unused) names += (names.empty() ? "" : ", ") + n;
  if (count > unused.size()) names += " and " + std::to_string(count - unused.size()) + " more";
  const std::string graph = g.config.architecture_name + " graph of " + std::to_string(g.config.n_layers) + " layers";
  return fail(ErrorCode::kInvalidFormat,
              "[model] " + g.model_dir.string() + ": " + std::to_string(count) +
                  " tensor(s) of the checkpoint are not used by the " + graph +
                  " that config.json describes: " + names +
                  "; expected config.json and the weights to match (num_hidden_layers / n_layer, architecture)");
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
  if (!std::filesystem::is_directory(status)) {
    return fail(ErrorCode::kIoError, "[model] " + model_dir.string() + ": is not a folder; expected a model folder");
  }
  EDGE_RT_TRY(auto config, parse_hf_config(model_dir / "config.json"));
  EDGE_RT_TRY(auto checkpoint, Checkpoint::open(model_dir));
  return ModelGraph<Loaded>(
      std::make_unique<detail::GraphData>(detail::GraphData{model_dir, std::move(config), std::move(checkpoint), {}}));
}

template <class State>
    Result<ModelGraph<Validated>> ModelGraph<State>::validate() && requires std::same_as<State, Loaded> {
  auto units = data_->config.architecture == Architecture::kGpt2 ? build_gpt2(*data_) : build_llama(*data_);
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
