// ModelGraph: the three real models load and validate into the right units, roles, shapes and byte counts; a
// checkpoint that disagrees with config.json fails with the exact ErrorCode naming the tensor; F16/BF16 copies keep
// their dtype in memory; the type-states allow only the legal calls.

#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/tensor_core/dtype.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <concepts>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "model_ir_test_util.hpp"

namespace edge_rt::model_ir {
namespace {

using tensor_core::DType;
using tensor_core::Shape;
using test::expect_error;
using test::ScopedTempDir;

// ---- type-states, checked at compile time ----

template <class G>
concept CanValidate = requires(G g) {
  std::move(g).validate();
};
template <class G>
concept CanValidateLvalue = requires(G& g) {
  g.validate();
};
template <class G>
concept HasUnits = requires(const G& g) {
  g.units();
};
template <class G>
concept HasWeightTotals = requires(const G& g) {
  g.total_weight_bytes();
  g.parameter_count();
};
template <class G>
concept CanLoad = requires(const std::filesystem::path& p) {
  G::load(p);
};

static_assert(CanValidate<ModelGraph<Loaded>>);
static_assert(!CanValidate<ModelGraph<Validated>>, "a validated graph cannot be validated again");
static_assert(!CanValidateLvalue<ModelGraph<Loaded>>, "validate() consumes the graph: rvalues only");
static_assert(!CanValidateLvalue<const ModelGraph<Loaded>>);
static_assert(HasUnits<ModelGraph<Validated>>);
static_assert(!HasUnits<ModelGraph<Loaded>>, "units exist only after validation");
static_assert(HasWeightTotals<ModelGraph<Validated>>);
static_assert(!HasWeightTotals<ModelGraph<Loaded>>);
static_assert(CanLoad<ModelGraph<Loaded>>);
static_assert(!CanLoad<ModelGraph<Validated>>);
static_assert(!std::is_copy_constructible_v<ModelGraph<Loaded>> && !std::is_copy_assignable_v<ModelGraph<Loaded>>);
static_assert(!std::is_copy_constructible_v<ModelGraph<Validated>> &&
              !std::is_copy_assignable_v<ModelGraph<Validated>>);
static_assert(std::is_nothrow_move_constructible_v<ModelGraph<Validated>> &&
              std::is_nothrow_move_assignable_v<ModelGraph<Validated>>);
static_assert(std::is_same_v<decltype(std::declval<ModelGraph<Validated>&>().units()), const std::vector<Unit>&>,
              "a validated graph hands out const units only");
static_assert(!std::is_copy_constructible_v<SafetensorsFile> && std::is_nothrow_move_constructible_v<SafetensorsFile>);

// ---- helpers ----

std::filesystem::path capp_dir() {
  return test::shared_models_dir() / "capp-gpt2-tiny";
}
std::filesystem::path tiny_gpt2_dir() {
  return test::shared_models_dir() / "tiny-random-gpt2";
}

Result<ModelGraph<Validated>> load_validated(const std::filesystem::path& dir) {
  EDGE_RT_TRY(auto loaded, ModelGraph<Loaded>::load(dir));
  return std::move(loaded).validate();
}

std::uint64_t numel(const Shape& s) {
  return static_cast<std::uint64_t>(s.numel());
}

/// Copies config.json of `from` into `to` and rewrites its model.safetensors through `edit`, which may drop a
/// tensor (return nullopt) or replace it. Replacement bytes must outlive the call: `storage` keeps them.
using TensorEdit = std::function<std::optional<TensorToWrite>(const SafetensorsFile&, const TensorInfo&)>;
void copy_model_with(const std::filesystem::path& from, const std::filesystem::path& to, const TensorEdit& edit) {
  std::filesystem::copy_file(from / "config.json", to / "config.json");
  auto source = SafetensorsFile::open(from / "model.safetensors");
  ASSERT_TRUE(source) << source.error().message;
  std::vector<TensorToWrite> tensors;
  for (const TensorInfo& t : source.value().tensors()) {
    if (auto w = edit(source.value(), t)) tensors.push_back(std::move(*w));
  }
  auto written = write_safetensors(to / "model.safetensors", tensors, source.value().metadata());
  ASSERT_TRUE(written) << written.error().message;
}

TensorToWrite unchanged(const SafetensorsFile& file, const TensorInfo& t) {
  return {t.name, t.dtype, t.shape, file.bytes(t)};
}

/// Sum of resident bytes of the rank-2 weights (matrices) over all units.
std::uint64_t matrix_bytes(const ModelGraph<Validated>& g) {
  std::uint64_t total = 0;
  for (const Unit& u : g.units()) {
    for (const WeightRef& w : u.weights) {
      if (w.shape.rank() == 2) total += w.resident_bytes;
    }
  }
  return total;
}

void expect_units_consistent(const ModelGraph<Validated>& g) {
  std::uint64_t total = 0;
  for (const Unit& u : g.units()) {
    std::uint64_t unit_bytes = 0;
    for (const WeightRef& w : u.weights) {
      SCOPED_TRACE(u.name + " " + std::string(role_name(w.role)));
      ASSERT_NE(w.file, nullptr);
      ASSERT_NE(w.source, nullptr);
      EXPECT_EQ(w.resident_bytes, numel(w.shape) * tensor_core::dtype_size(w.dtype));
      EXPECT_EQ(numel(w.shape), numel(w.source->shape));
      EXPECT_EQ(g.checkpoint().find(w.source->name).info, w.source);
      EXPECT_EQ(u.find(w.role), &w);
      unit_bytes += w.resident_bytes;
    }
    EXPECT_EQ(u.weight_bytes, unit_bytes) << u.name;
    total += u.weight_bytes;
  }
  EXPECT_EQ(g.total_weight_bytes(), total);
  std::set<const TensorInfo*> seen;
  std::uint64_t params = 0;
  for (const Unit& u : g.units()) {
    for (const WeightRef& w : u.weights) {
      if (seen.insert(w.source).second) params += numel(w.source->shape);
    }
  }
  EXPECT_EQ(g.parameter_count(), params);
}

void expect_unit_layout(const ModelGraph<Validated>& g) {
  const std::vector<Unit>& units = g.units();
  ASSERT_EQ(units.size(), 2 * static_cast<std::size_t>(g.config().n_layers) + 2);
  EXPECT_EQ(units.front().kind, UnitKind::kEmbedding);
  EXPECT_EQ(units.front().name, "embedding");
  EXPECT_EQ(units.front().layer, -1);
  EXPECT_EQ(units.back().kind, UnitKind::kHead);
  EXPECT_EQ(units.back().name, "head");
  EXPECT_EQ(units.back().layer, -1);
  for (std::int64_t i = 0; i < g.config().n_layers; ++i) {
    const Unit& attn = units[2 * static_cast<std::size_t>(i) + 1];
    const Unit& ffn = units[2 * static_cast<std::size_t>(i) + 2];
    EXPECT_EQ(attn.kind, UnitKind::kAttention);
    EXPECT_EQ(ffn.kind, UnitKind::kFeedForward);
    EXPECT_EQ(attn.layer, i);
    EXPECT_EQ(ffn.layer, i);
    EXPECT_EQ(attn.name, "layer." + std::to_string(i) + ".attn");
    EXPECT_EQ(ffn.name, "layer." + std::to_string(i) + ".ffn");
  }
}

void expect_weight(const Unit& u, WeightRole role, Shape shape, bool transpose, DType dtype = DType::kF32) {
  SCOPED_TRACE(u.name + " " + std::string(role_name(role)));
  const WeightRef* w = u.find(role);
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->role, role);
  EXPECT_EQ(w->shape, shape);
  EXPECT_EQ(w->transpose, transpose);
  EXPECT_EQ(w->dtype, dtype);
  if (transpose) {
    EXPECT_EQ(w->source->shape, (Shape{shape[1], shape[0]}));
  } else {
    EXPECT_EQ(w->source->shape, shape);
  }
}

// GPT-2 parameter count from the config alone (tied head, biases everywhere).
std::uint64_t gpt2_parameters(const ModelConfig& c) {
  const auto d = static_cast<std::uint64_t>(c.d_model), ff = static_cast<std::uint64_t>(c.d_ff);
  const auto v = static_cast<std::uint64_t>(c.vocab_size), p = static_cast<std::uint64_t>(c.max_context);
  const std::uint64_t layer = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * ff + ff) + (ff * d + d);
  return v * d + p * d + static_cast<std::uint64_t>(c.n_layers) * layer + 2 * d;
}

// ---- the real models ----

TEST(ModelGraph, CappGpt2Tiny) {
  auto graph = load_validated(capp_dir());
  ASSERT_TRUE(graph) << graph.error().message;
  const ModelGraph<Validated>& g = graph.value();
  EXPECT_EQ(g.model_dir(), capp_dir());
  EXPECT_EQ(g.config().architecture, Architecture::kGpt2);
  expect_unit_layout(g);
  expect_units_consistent(g);
  const std::vector<Unit>& units = g.units();
  ASSERT_EQ(units.size(), 10u);
  expect_weight(units[0], WeightRole::kTokenEmbedding, {53, 64}, false);
  expect_weight(units[0], WeightRole::kPositionEmbedding, {512, 64}, false);
  EXPECT_EQ(units[0].weights.size(), 2u);
  for (std::size_t i = 0; i < 4; ++i) {
    const Unit& attn = units[2 * i + 1];
    const Unit& ffn = units[2 * i + 2];
    EXPECT_EQ(attn.weights.size(), 6u);
    EXPECT_EQ(ffn.weights.size(), 6u);
    expect_weight(attn, WeightRole::kAttnNorm, {64}, false);
    expect_weight(attn, WeightRole::kAttnNormBias, {64}, false);
    expect_weight(attn, WeightRole::kQkv, {192, 64}, true);  // Conv1D [64, 192] in the file
    expect_weight(attn, WeightRole::kQkvBias, {192}, false);
    expect_weight(attn, WeightRole::kAttnOut, {64, 64}, true);
    expect_weight(attn, WeightRole::kAttnOutBias, {64}, false);
    expect_weight(ffn, WeightRole::kFfnNorm, {64}, false);
    expect_weight(ffn, WeightRole::kFfnNormBias, {64}, false);
    expect_weight(ffn, WeightRole::kFfnUp, {256, 64}, true);
    expect_weight(ffn, WeightRole::kFfnUpBias, {256}, false);
    expect_weight(ffn, WeightRole::kFfnDown, {64, 256}, true);
    expect_weight(ffn, WeightRole::kFfnDownBias, {64}, false);
    EXPECT_EQ(attn.find(WeightRole::kQ), nullptr);
    EXPECT_EQ(ffn.find(WeightRole::kFfnGate), nullptr);
    EXPECT_EQ(attn.find(WeightRole::kQkv)->source->name, "transformer.h." + std::to_string(i) + ".attn.c_attn.weight");
  }
  expect_weight(units[9], WeightRole::kFinalNorm, {64}, false);
  expect_weight(units[9], WeightRole::kFinalNormBias, {64}, false);
  expect_weight(units[9], WeightRole::kLmHead, {53, 64}, false);
  // Tied: the head reads the token embedding tensor, counted once in the parameters but in both units' bytes.
  EXPECT_EQ(units[9].find(WeightRole::kLmHead)->source, units[0].find(WeightRole::kTokenEmbedding)->source);
  EXPECT_EQ(units[9].find(WeightRole::kLmHead)->source->name, "transformer.wte.weight");
  EXPECT_EQ(g.parameter_count(), gpt2_parameters(g.config()));
  std::uint64_t file_params = 0;
  for (const TensorInfo* t : g.checkpoint().tensors()) file_params += numel(t->shape);
  EXPECT_EQ(g.parameter_count(), file_params);  // every tensor in the file is used
  EXPECT_EQ(g.total_weight_bytes(), 4 * (g.parameter_count() + 53 * 64));
}

TEST(ModelGraph, TinyRandomGpt2) {
  auto graph = load_validated(tiny_gpt2_dir());
  ASSERT_TRUE(graph) << graph.error().message;
  const ModelGraph<Validated>& g = graph.value();
  expect_unit_layout(g);
  expect_units_consistent(g);
  ASSERT_EQ(g.units().size(), 4u);
  expect_weight(g.units()[0], WeightRole::kTokenEmbedding, {50257, 16}, false);
  expect_weight(g.units()[0], WeightRole::kPositionEmbedding, {256, 16}, false);
  expect_weight(g.units()[1], WeightRole::kQkv, {48, 16}, true);
  expect_weight(g.units()[2], WeightRole::kFfnUp, {64, 16}, true);
  expect_weight(g.units()[2], WeightRole::kFfnDown, {16, 64}, true);
  expect_weight(g.units()[3], WeightRole::kLmHead, {50257, 16}, false);
  EXPECT_EQ(g.parameter_count(), gpt2_parameters(g.config()));
  EXPECT_EQ(g.total_weight_bytes(), 4 * (g.parameter_count() + 50257 * 16));
}

TEST(ModelGraph, Stories260K) {
  auto graph = load_validated(test::default_model_dir());
  ASSERT_TRUE(graph) << graph.error().message;
  const ModelGraph<Validated>& g = graph.value();
  const ModelConfig& c = g.config();
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  expect_unit_layout(g);
  expect_units_consistent(g);
  const std::vector<Unit>& units = g.units();
  ASSERT_EQ(units.size(), 12u);
  expect_weight(units[0], WeightRole::kTokenEmbedding, {512, 64}, false);
  EXPECT_EQ(units[0].find(WeightRole::kPositionEmbedding), nullptr);  // RoPE, no learned positions
  for (std::size_t i = 0; i < 5; ++i) {
    const Unit& attn = units[2 * i + 1];
    const Unit& ffn = units[2 * i + 2];
    EXPECT_EQ(attn.weights.size(), 5u);
    EXPECT_EQ(ffn.weights.size(), 4u);
    expect_weight(attn, WeightRole::kAttnNorm, {64}, false);
    expect_weight(attn, WeightRole::kQ, {64, 64}, false);  // 8 heads x 8
    expect_weight(attn, WeightRole::kK, {32, 64}, false);  // GQA: 4 KV heads x 8
    expect_weight(attn, WeightRole::kV, {32, 64}, false);
    expect_weight(attn, WeightRole::kAttnOut, {64, 64}, false);
    expect_weight(ffn, WeightRole::kFfnNorm, {64}, false);
    expect_weight(ffn, WeightRole::kFfnGate, {172, 64}, false);
    expect_weight(ffn, WeightRole::kFfnUp, {172, 64}, false);
    expect_weight(ffn, WeightRole::kFfnDown, {64, 172}, false);
    for (WeightRole absent : {WeightRole::kQkv, WeightRole::kQkvBias, WeightRole::kAttnNormBias,
                              WeightRole::kAttnOutBias, WeightRole::kFfnUpBias, WeightRole::kFfnDownBias}) {
      EXPECT_EQ(attn.find(absent), nullptr) << role_name(absent);
      EXPECT_EQ(ffn.find(absent), nullptr) << role_name(absent);
    }
  }
  expect_weight(units[11], WeightRole::kFinalNorm, {64}, false);
  expect_weight(units[11], WeightRole::kLmHead, {512, 64}, false);
  EXPECT_EQ(units[11].find(WeightRole::kFinalNormBias), nullptr);
  EXPECT_EQ(units[11].find(WeightRole::kLmHead)->source, units[0].find(WeightRole::kTokenEmbedding)->source);

  // From the config alone: embedding (shared with the head), per layer 2 norms + q, k, v, o + 3 FFN, final norm.
  const auto d = static_cast<std::uint64_t>(c.d_model), ff = static_cast<std::uint64_t>(c.d_ff);
  const auto kv = static_cast<std::uint64_t>(c.n_kv_heads * c.head_dim);
  const std::uint64_t per_layer = 2 * d + d * d + 2 * kv * d + d * d + 3 * ff * d;
  const std::uint64_t expected =
      static_cast<std::uint64_t>(c.vocab_size) * d + static_cast<std::uint64_t>(c.n_layers) * per_layer + d;
  EXPECT_EQ(expected, 512u * 64 + 5 * (2 * 64 + 2 * 64 * 64 + 2 * 32 * 64 + 3 * 172 * 64) + 64);
  EXPECT_EQ(g.parameter_count(), expected);
  EXPECT_EQ(g.total_weight_bytes(), 4 * (expected + 512 * 64));
}

TEST(ModelGraph, MovedGraphKeepsItsUnits) {
  auto graph = load_validated(capp_dir());
  ASSERT_TRUE(graph) << graph.error().message;
  const Unit* first = &graph.value().units()[0];
  ModelGraph<Validated> moved = std::move(graph).value();
  EXPECT_EQ(&moved.units()[0], first);  // O(1) move: the data stays where it was
  ModelGraph<Validated> assigned = std::move(moved);
  EXPECT_EQ(assigned.units().size(), 10u);
  EXPECT_EQ(assigned.config().d_model, 64);
}

TEST(ModelGraph, LoadedGraphExposesConfigAndCheckpoint) {
  auto loaded = ModelGraph<Loaded>::load(test::default_model_dir());
  ASSERT_TRUE(loaded) << loaded.error().message;
  EXPECT_EQ(loaded.value().config().n_layers, 5);
  EXPECT_NE(loaded.value().checkpoint().find("model.norm.weight").info, nullptr);
  EXPECT_EQ(loaded.value().model_dir(), test::default_model_dir());
}

// ---- errors ----

TEST(ModelGraphError, NotAFolderIsIoError) {
  expect_error(ModelGraph<Loaded>::load("/nonexistent/edge_rt/model"), ErrorCode::kIoError,
               {"/nonexistent/edge_rt/model"});
  expect_error(ModelGraph<Loaded>::load(capp_dir() / "config.json"), ErrorCode::kIoError, {"config.json"});
}

TEST(ModelGraphError, FolderWithoutConfigIsIoError) {
  ScopedTempDir dir;
  std::filesystem::copy_file(capp_dir() / "model.safetensors", dir / "model.safetensors");
  expect_error(ModelGraph<Loaded>::load(dir.path()), ErrorCode::kIoError, {"config.json"});
}

TEST(ModelGraphError, FolderWithoutCheckpointIsIoError) {
  ScopedTempDir dir;
  std::filesystem::copy_file(capp_dir() / "config.json", dir / "config.json");
  expect_error(ModelGraph<Loaded>::load(dir.path()), ErrorCode::kIoError, {"model.safetensors"});
}

TEST(ModelGraphError, MissingTensorIsMissingField) {
  ScopedTempDir dir;
  const std::string dropped = "transformer.h.2.mlp.c_fc.bias";
  copy_model_with(capp_dir(), dir.path(), [&](const SafetensorsFile& f, const TensorInfo& t) {
    return t.name == dropped ? std::nullopt : std::optional<TensorToWrite>(unchanged(f, t));
  });
  auto loaded = ModelGraph<Loaded>::load(dir.path());
  ASSERT_TRUE(loaded) << loaded.error().message;  // the checkpoint itself is well-formed
  expect_error(std::move(loaded).value().validate(), ErrorCode::kMissingField,
               {"[model]", dir.path().string(), "'" + dropped + "'", "ffn_up_bias"});
}

TEST(ModelGraphError, MissingLlamaTensorIsMissingField) {
  ScopedTempDir dir;
  copy_model_with(test::default_model_dir(), dir.path(), [](const SafetensorsFile& f, const TensorInfo& t) {
    return t.name == "model.layers.4.self_attn.k_proj.weight" ? std::nullopt
                                                              : std::optional<TensorToWrite>(unchanged(f, t));
  });
  expect_error(load_validated(dir.path()), ErrorCode::kMissingField,
               {"'model.layers.4.self_attn.k_proj.weight'", "attn_k"});
}

TEST(ModelGraphError, UntiedLlamaWithoutLmHeadIsMissingField) {
  ScopedTempDir dir;
  copy_model_with(test::default_model_dir(), dir.path(), unchanged);
  std::string config = test::read_file(dir / "config.json");
  const std::size_t at = config.find("\"tie_word_embeddings\":true");
  ASSERT_NE(at, std::string::npos) << config;
  config.replace(at, std::string("\"tie_word_embeddings\":true").size(), "\"tie_word_embeddings\":false");
  test::write_file(dir / "config.json", config);
  expect_error(load_validated(dir.path()), ErrorCode::kMissingField, {"'lm_head.weight'", "tie_word_embeddings"});
}

TEST(ModelGraphError, WrongShapeIsInvalidFormatNamingBothShapes) {
  ScopedTempDir dir;
  const std::string reshaped = "transformer.h.1.attn.c_proj.weight";  // [64, 64] in the file
  copy_model_with(capp_dir(), dir.path(), [&](const SafetensorsFile& f, const TensorInfo& t) {
    TensorToWrite w = unchanged(f, t);
    if (t.name == reshaped) {
      w.shape = Shape{64, 32};
      w.data = w.data.first(w.data.size() / 2);
    }
    return std::optional<TensorToWrite>(w);
  });
  expect_error(load_validated(dir.path()), ErrorCode::kInvalidFormat,
               {"[model]", "model.safetensors", "'" + reshaped + "'", "[64, 32]", "expected [64, 64]"});
}

TEST(ModelGraphError, TransposedConv1DIsInvalidFormat) {
  // A checkpoint that stores c_fc as [out, in] (as a Linear would) disagrees with the Conv1D layout.
  ScopedTempDir dir;
  copy_model_with(capp_dir(), dir.path(), [](const SafetensorsFile& f, const TensorInfo& t) {
    TensorToWrite w = unchanged(f, t);
    if (t.name == "transformer.h.0.mlp.c_fc.weight") w.shape = Shape{256, 64};
    return std::optional<TensorToWrite>(w);
  });
  expect_error(load_validated(dir.path()), ErrorCode::kInvalidFormat,
               {"'transformer.h.0.mlp.c_fc.weight'", "[256, 64]", "expected [64, 256]"});
}

TEST(ModelGraphError, ConfigThatDisagreesWithTheCheckpoint) {
  ScopedTempDir dir;
  copy_model_with(capp_dir(), dir.path(), unchanged);
  std::string config = test::read_file(dir / "config.json");
  const std::size_t at = config.find("\"vocab_size\": 53");
  ASSERT_NE(at, std::string::npos);
  config.replace(at, std::string("\"vocab_size\": 53").size(), "\"vocab_size\": 54");
  test::write_file(dir / "config.json", config);
  expect_error(load_validated(dir.path()), ErrorCode::kInvalidFormat,
               {"'transformer.wte.weight'", "[53, 64]", "expected [54, 64]", "vocab_size 54"});
}

// A checkpoint with more layers than config.json says, or a tensor of another model, must not run the first N
// layers and say nothing (issue 12): the unused tensors are named.
TEST(ModelGraphError, UnusedTensorsAreInvalidFormatNamingThem) {
  ScopedTempDir dir;
  copy_model_with(capp_dir(), dir.path(), unchanged);
  std::string config = test::read_file(dir / "config.json");
  const std::size_t at = config.find("\"n_layer\": ");
  ASSERT_NE(at, std::string::npos) << config;
  const std::size_t end = config.find_first_of(",}", at);
  config.replace(at, end - at, "\"n_layer\": 1");
  test::write_file(dir / "config.json", config);
  expect_error(load_validated(dir.path()), ErrorCode::kInvalidFormat,
               {"not used", "'transformer.h.1.", "1 layers", "num_hidden_layers / n_layer"});
}

// ---- half-precision checkpoints ----

class HalfPrecisionCapp : public ::testing::TestWithParam<DType> {};

TEST_P(HalfPrecisionCapp, ValidatesWithHalfTheMatrixBytes) {
  const DType half = GetParam();
  ScopedTempDir dir;
  std::vector<std::vector<std::uint16_t>> storage;
  copy_model_with(capp_dir(), dir.path(), [&](const SafetensorsFile& f, const TensorInfo& t) {
    EXPECT_EQ(t.dtype, DType::kF32) << t.name;
    const std::span<const std::byte> src = f.bytes(t);
    std::vector<std::uint16_t> converted(src.size() / sizeof(float));
    for (std::size_t i = 0; i < converted.size(); ++i) {
      float v = 0.0F;
      std::memcpy(&v, src.data() + i * sizeof(float), sizeof(float));
      converted[i] = half == DType::kF16 ? tensor_core::f32_to_f16(v) : tensor_core::f32_to_bf16(v);
    }
    storage.push_back(std::move(converted));
    return std::optional<TensorToWrite>(
        TensorToWrite{t.name, half, t.shape, std::as_bytes(std::span<const std::uint16_t>(storage.back()))});
  });
  auto f32 = load_validated(capp_dir());
  ASSERT_TRUE(f32) << f32.error().message;
  auto converted = load_validated(dir.path());
  ASSERT_TRUE(converted) << converted.error().message;
  const ModelGraph<Validated>& g = converted.value();
  expect_units_consistent(g);
  EXPECT_EQ(g.parameter_count(), f32.value().parameter_count());
  // Matrices keep the file's dtype (half the bytes); vectors are converted to F32 in memory.
  EXPECT_EQ(2 * matrix_bytes(g), matrix_bytes(f32.value()));
  const std::uint64_t vector_bytes = f32.value().total_weight_bytes() - matrix_bytes(f32.value());
  EXPECT_EQ(g.total_weight_bytes(), matrix_bytes(g) + vector_bytes);
  for (const Unit& u : g.units()) {
    for (const WeightRef& w : u.weights) {
      SCOPED_TRACE(u.name + " " + std::string(role_name(w.role)));
      EXPECT_EQ(w.source->dtype, half);
      EXPECT_EQ(w.dtype, w.shape.rank() == 2 ? half : DType::kF32);
    }
  }
  // The bytes are the converted ones.
  const WeightRef* qkv = g.units()[1].find(WeightRole::kQkv);
  const WeightRef* qkv32 = f32.value().units()[1].find(WeightRole::kQkv);
  ASSERT_NE(qkv, nullptr);
  std::vector<float> back(numel(qkv->source->shape));
  tensor_core::to_f32(half, qkv->file->mapped(qkv->source->offset_bytes, qkv->source->size_bytes).data(), back.size(),
                      back.data());
  std::vector<float> original(back.size());
  std::memcpy(original.data(), qkv32->file->mapped(qkv32->source->offset_bytes, qkv32->source->size_bytes).data(),
              original.size() * sizeof(float));
  const float tolerance = half == DType::kF16 ? 1e-3F : 1e-2F;
  for (std::size_t i = 0; i < back.size(); ++i) {
    ASSERT_NEAR(back[i], original[i], tolerance * (1.0F + std::abs(original[i]))) << i;
  }
}

INSTANTIATE_TEST_SUITE_P(Dtypes, HalfPrecisionCapp, ::testing::Values(DType::kF16, DType::kBF16),
                         [](const ::testing::TestParamInfo<DType>& param_info) {
                           return std::string(tensor_core::dtype_name(param_info.param));
                         });

}  // namespace
}  // namespace edge_rt::model_ir
