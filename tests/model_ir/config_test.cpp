// parse_hf_config: the real configs give the right hyper-parameters; each kind of bad config.json gives the exact
// ErrorCode and a message naming the file and the key.

#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/model_ir/recipe.hpp>
#include <edge_rt/tensor_core/attention.hpp>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <string>

#include "model_ir_test_util.hpp"

namespace edge_rt::model_ir {
namespace {

using test::expect_error;

constexpr const char* kLlamaGqa = R"({
  "architectures": ["LlamaForCausalLM"], "model_type": "llama",
  "hidden_size": 256, "intermediate_size": 688, "num_hidden_layers": 3,
  "num_attention_heads": 8, "num_key_value_heads": 4, "vocab_size": 1000,
  "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 500000.0,
  "hidden_act": "silu", "tie_word_embeddings": false, "bos_token_id": 1, "eos_token_id": 2
})";

constexpr const char* kGpt2 = R"({
  "architectures": ["GPT2LMHeadModel"], "n_embd": 64, "n_layer": 2, "n_head": 4, "n_positions": 128,
  "vocab_size": 100, "layer_norm_epsilon": 1e-5, "activation_function": "gelu_new", "n_inner": null
})";

/// `base` with `key` replaced by `raw_value` (raw JSON), or removed when raw_value is empty.
std::string with_key(std::string base, const std::string& key, const std::string& raw_value) {
  const std::string quoted = "\"" + key + "\"";
  const std::size_t at = base.find(quoted);
  if (at == std::string::npos) {
    if (raw_value.empty()) return base;
    return "{" + quoted + ": " + raw_value + ", " + base.substr(base.find('{') + 1);
  }
  std::size_t value_end = at + quoted.size();
  int depth = 0;
  bool in_string = false;
  for (std::size_t i = base.find(':', at) + 1; i < base.size(); ++i) {
    const char c = base[i];
    if (in_string) {
      if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    if (c == '[' || c == '{') ++depth;
    if (c == ']' || c == '}') {
      if (depth == 0) {
        value_end = i;
        break;
      }
      --depth;
    }
    if (c == ',' && depth == 0) {
      value_end = i;
      break;
    }
  }
  if (raw_value.empty()) {
    if (base[value_end] == ',') return base.erase(at, value_end + 1 - at);
    const std::size_t comma = base.rfind(',', at);  // the last key: drop the comma before it instead
    const std::size_t from = comma == std::string::npos ? at : comma;
    return base.erase(from, value_end - from);
  }
  return base.replace(at, value_end - at, quoted + ": " + raw_value);
}

TEST(ConfigTestHelper, WithKeyEditsJson) {
  EXPECT_EQ(with_key(R"({"a": 1, "b": [1, 2], "c": "x"})", "b", ""), R"({"a": 1,  "c": "x"})");
  EXPECT_EQ(with_key(R"({"a": 1, "b": [1, 2], "c": "x"})", "b", "3"), R"({"a": 1, "b": 3, "c": "x"})");
  EXPECT_EQ(with_key(R"({"a": 1, "c": "x"})", "c", "\"y\""), R"({"a": 1, "c": "y"})");
  EXPECT_EQ(with_key(R"({"a": 1})", "z", "2"), R"({"z": 2, "a": 1})");
  EXPECT_EQ(with_key(R"({"a": 1, "b": 2})", "b", ""), R"({"a": 1})");
}

// ---- real configs ----

TEST(HfConfig, CappGpt2Tiny) {
  auto parsed = parse_hf_config(test::shared_models_dir() / "capp-gpt2-tiny" / "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kGpt2);
  EXPECT_EQ(c.architecture_name, "GPT2LMHeadModel");
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_layers, 4);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.d_ff, 256);  // n_inner null: 4 x n_embd
  EXPECT_EQ(c.vocab_size, 53);
  EXPECT_EQ(c.max_context, 512);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5F);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  EXPECT_EQ(c.bos_id, std::nullopt);  // 50256 lies outside the 53-token vocabulary
  EXPECT_THAT(c.eos_ids, ::testing::ElementsAre(51));
}

TEST(HfConfig, TinyRandomGpt2) {
  auto parsed = parse_hf_config(test::shared_models_dir() / "tiny-random-gpt2" / "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kGpt2);
  EXPECT_EQ(c.d_model, 16);
  EXPECT_EQ(c.n_layers, 1);
  EXPECT_EQ(c.n_heads, 1);
  EXPECT_EQ(c.n_kv_heads, 1);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.d_ff, 64);
  EXPECT_EQ(c.vocab_size, 50257);
  EXPECT_EQ(c.max_context, 256);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5F);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  EXPECT_EQ(c.bos_id, 50256);
  EXPECT_THAT(c.eos_ids, ::testing::ElementsAre(50256));
}

TEST(HfConfig, Stories260K) {
  auto parsed = parse_hf_config(test::default_model_dir() / "config.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  EXPECT_EQ(c.architecture_name, "LlamaForCausalLM");
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.d_ff, 172);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_context, 512);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-5F);
  EXPECT_FLOAT_EQ(c.rope_theta, 10000.0F);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_EQ(c.activation, Activation::kSilu);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_THAT(c.eos_ids, ::testing::ElementsAre(2));
}

// Qwen3-0.6B's config.json keys (head_dim is not hidden_size / heads); Qwen2.5's have no head_dim.
constexpr const char* kQwen3 = R"({"architectures": ["Qwen3ForCausalLM"], "attention_bias": false, "head_dim": 128,
  "hidden_act": "silu", "hidden_size": 1024, "intermediate_size": 3072, "max_position_embeddings": 40960,
  "model_type": "qwen3", "num_attention_heads": 16, "num_hidden_layers": 28, "num_key_value_heads": 8,
  "rms_norm_eps": 1e-06, "rope_scaling": null, "rope_theta": 1000000, "tie_word_embeddings": true,
  "use_sliding_window": false, "sliding_window": null, "vocab_size": 151936, "bos_token_id": 151643,
  "eos_token_id": 151645})";

TEST(HfConfig, QwenFamilies) {
  auto parsed = parse_hf_config_text(kQwen3, "qwen3.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().architecture, Architecture::kQwen3);
  EXPECT_EQ(parsed.value().head_dim, 128);
  EXPECT_EQ(parsed.value().n_kv_heads, 8);
  EXPECT_FLOAT_EQ(parsed.value().rope_theta, 1e6F);
  EXPECT_EQ(recipe_for(Architecture::kQwen3).family, "qwen3");
  std::string qwen2 = kQwen3;
  qwen2.replace(qwen2.find("Qwen3ForCausalLM"), 16, "Qwen2ForCausalLM");
  parsed = parse_hf_config_text(qwen2, "qwen2.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().architecture, Architecture::kQwen2);
  EXPECT_EQ(recipe_for(Architecture::kQwen2).family, "qwen2");
  EXPECT_FALSE(recipe_for(Architecture::kQwen2).prepends_bos);

  std::string sliding = kQwen3;
  const std::string off = "\"use_sliding_window\": false";
  sliding.replace(sliding.find(off), off.size(), "\"use_sliding_window\": true");
  auto r = parse_hf_config_text(sliding, "qwen3.json");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find("use_sliding_window"), std::string::npos) << r.error().message;
  std::string bias = kQwen3;
  const std::string no_bias = "\"attention_bias\": false";
  bias.replace(bias.find(no_bias), no_bias.size(), "\"attention_bias\": true");
  r = parse_hf_config_text(bias, "qwen3.json");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("qwen3.json: attention_bias is true"), std::string::npos) << r.error().message;
}

// Mistral-7B-v0.1's config.json keys: Llama with a sliding window (v0.2 and later: null, no window).
TEST(HfConfig, MistralSlidingWindow) {
  std::string mistral = R"({"architectures": ["MistralForCausalLM"], "hidden_size": 4096, "intermediate_size": 14336,
    "max_position_embeddings": 32768, "model_type": "mistral", "num_attention_heads": 32, "num_hidden_layers": 32,
    "num_key_value_heads": 8, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 4096,
    "tie_word_embeddings": false, "vocab_size": 32000, "bos_token_id": 1, "eos_token_id": 2})";
  auto parsed = parse_hf_config_text(mistral, "mistral.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().architecture, Architecture::kMistral);
  EXPECT_EQ(parsed.value().sliding_window, 4096);
  EXPECT_EQ(parsed.value().window_of(0), 4096);
  EXPECT_EQ(parsed.value().window_of(31), 4096);
  EXPECT_EQ(recipe_for(Architecture::kMistral).family, "mistral");
  EXPECT_TRUE(recipe_for(Architecture::kMistral).prepends_bos);
  mistral.replace(mistral.find("\"sliding_window\": 4096"), 22, "\"sliding_window\": null");
  parsed = parse_hf_config_text(mistral, "mistral.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().window_of(5), 0);
  mistral.replace(mistral.find("\"sliding_window\": null"), 22, "\"sliding_window\": -1");
  parsed = parse_hf_config_text(mistral, "mistral.json");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("sliding_window"), std::string::npos) << parsed.error().message;
}

// Gemma-2-2B's and Gemma-3-1B's config.json keys.
TEST(HfConfig, GemmaFamilies) {
  const std::string gemma2 = R"({"architectures": ["Gemma2ForCausalLM"], "attn_logit_softcapping": 50.0,
    "final_logit_softcapping": 30.0, "head_dim": 256, "hidden_act": "gelu_pytorch_tanh",
    "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 2304, "intermediate_size": 9216,
    "max_position_embeddings": 8192, "model_type": "gemma2", "num_attention_heads": 8, "num_hidden_layers": 26,
    "num_key_value_heads": 4, "query_pre_attn_scalar": 256, "rms_norm_eps": 1e-06, "rope_theta": 10000.0,
    "sliding_window": 4096, "vocab_size": 256000, "bos_token_id": 2, "eos_token_id": [1, 107]})";
  auto parsed = parse_hf_config_text(gemma2, "gemma2.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kGemma2);
  EXPECT_EQ(c.activation, Activation::kGeluTanh);
  EXPECT_TRUE(c.tie_embeddings);
  EXPECT_FLOAT_EQ(c.attn_softcap, 50.0f);
  EXPECT_FLOAT_EQ(c.final_softcap, 30.0f);
  EXPECT_FLOAT_EQ(c.attn_scale, 1.0f / 16.0f);
  EXPECT_FLOAT_EQ(c.embedding_scale, 48.0f);  // sqrt(2304)
  EXPECT_FLOAT_EQ(c.norm_weight_offset, 1.0f);
  EXPECT_EQ(c.window_of(0), 4096);  // even layers slide
  EXPECT_EQ(c.window_of(1), 0);
  EXPECT_EQ(c.window_of(24), 4096);
  EXPECT_EQ(recipe_for(Architecture::kGemma2).family, "gemma2");
  EXPECT_TRUE(recipe_for(Architecture::kGemma2).prepends_bos);

  const std::string gemma3 = R"({"architectures": ["Gemma3ForCausalLM"], "attn_logit_softcapping": null,
    "final_logit_softcapping": null, "head_dim": 256, "hidden_activation": "gelu_pytorch_tanh", "hidden_size": 1152,
    "intermediate_size": 6912, "max_position_embeddings": 32768, "model_type": "gemma3_text",
    "num_attention_heads": 4, "num_hidden_layers": 26, "num_key_value_heads": 1, "query_pre_attn_scalar": 256,
    "rms_norm_eps": 1e-06, "rope_local_base_freq": 10000, "rope_scaling": null, "rope_theta": 1000000,
    "sliding_window": 512, "sliding_window_pattern": 6, "vocab_size": 262144})";
  parsed = parse_hf_config_text(gemma3, "gemma3.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& g = parsed.value();
  EXPECT_EQ(g.architecture, Architecture::kGemma3);
  EXPECT_EQ(g.attn_softcap, 0.0f);
  EXPECT_EQ(g.window_of(0), 512);
  EXPECT_EQ(g.window_of(5), 0);  // every 6th layer is global
  EXPECT_EQ(g.window_of(11), 0);
  EXPECT_EQ(g.window_of(12), 512);
  EXPECT_FLOAT_EQ(g.rope_theta_local, 10000.0f);
  // Sliding layers take the local base, global ones rope_theta.
  EXPECT_FLOAT_EQ(rope_inv_freq(g, 0, 4096)[1], tensor_core::rope_inv_freq(10000.0f, 256)[1]);
  EXPECT_FLOAT_EQ(rope_inv_freq(g, 5, 4096)[1], tensor_core::rope_inv_freq(1e6f, 256)[1]);

  std::string list;
  for (int i = 0; i < 26; ++i)
    list += std::string(i ? ", " : "") + (i == 3 ? "\"full_attention\"" : "\"sliding_attention\"");
  std::string typed = gemma3;
  typed.replace(typed.find("\"sliding_window_pattern\": 6"), 27, "\"layer_types\": [" + list + "]");
  parsed = parse_hf_config_text(typed, "gemma3.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().window_of(3), 0);
  EXPECT_EQ(parsed.value().window_of(5), 512);
  std::string bad = gemma3;
  bad.replace(bad.find("\"sliding_window_pattern\": 6"), 27, "\"layer_types\": [\"local\"]");
  parsed = parse_hf_config_text(bad, "gemma3.json");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("layer_types"), std::string::npos) << parsed.error().message;
  bad = gemma3;
  bad.replace(bad.find("gelu_pytorch_tanh"), 17, "relu");
  parsed = parse_hf_config_text(bad, "gemma3.json");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kUnsupported);
}

// Phi-3-mini-128k-instruct's config.json keys (48 factors each, shortened here to head_dim 16's 8).
TEST(HfConfig, Phi3LongRope) {
  const std::string phi3 = R"({"architectures": ["Phi3ForCausalLM"], "hidden_act": "silu", "hidden_size": 64,
    "intermediate_size": 160, "max_position_embeddings": 131072, "original_max_position_embeddings": 4096,
    "model_type": "phi3", "num_attention_heads": 4, "num_hidden_layers": 2, "num_key_value_heads": 4,
    "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "sliding_window": 262144, "tie_word_embeddings": false,
    "rope_scaling": {"type": "longrope", "short_factor": [1, 1, 1, 1, 1.1, 1.2, 1.3, 1.5],
                     "long_factor": [1, 2, 3, 4, 5, 6, 7, 8]}, "vocab_size": 512})";
  auto parsed = parse_hf_config_text(phi3, "phi3.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kPhi3);
  EXPECT_EQ(recipe_for(Architecture::kPhi3).family, "phi3");
  EXPECT_EQ(c.sliding_window, 262144);
  ASSERT_EQ(c.rope_scaling.kind, RopeScaling::Kind::kLongRope);
  EXPECT_EQ(c.rope_scaling.original_context, 4096);
  // sqrt(1 + ln(131072 / 4096) / ln(4096))
  EXPECT_NEAR(c.rope_scaling.attention_factor, std::sqrt(1.0 + std::log(32.0) / std::log(4096.0)), 1e-6);
  const auto base = tensor_core::rope_inv_freq(10000.0f, 16);
  EXPECT_FLOAT_EQ(rope_inv_freq(c, 0, 4096)[7], base[7] / 1.5f);  // within the original context: short factors
  EXPECT_FLOAT_EQ(rope_inv_freq(c, 0, 4097)[7], base[7] / 8.0f);  // beyond it: long factors

  std::string partial = phi3;
  partial.replace(partial.find("\"rms_norm_eps\""), 0, "\"partial_rotary_factor\": 0.75, ");
  parsed = parse_hf_config_text(partial, "phi4.json");
  ASSERT_FALSE(parsed);
  EXPECT_EQ(parsed.error().code, ErrorCode::kUnsupported);
  std::string short_list = phi3;
  short_list.replace(short_list.find("[1, 2, 3, 4, 5, 6, 7, 8]"), 24, "[1, 2]");
  parsed = parse_hf_config_text(short_list, "phi3.json");
  ASSERT_FALSE(parsed);
  EXPECT_NE(parsed.error().message.find("long_factor is not a list of 8 numbers"), std::string::npos)
      << parsed.error().message;
}

TEST(HfConfig, LlamaWithGroupedQueryAttention) {
  auto parsed = parse_hf_config_text(kLlamaGqa, "gqa.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const ModelConfig& c = parsed.value();
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  EXPECT_EQ(c.d_model, 256);
  EXPECT_EQ(c.n_layers, 3);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 32);
  EXPECT_EQ(c.d_ff, 688);
  EXPECT_EQ(c.vocab_size, 1000);
  EXPECT_EQ(c.max_context, 2048);
  EXPECT_FLOAT_EQ(c.norm_eps, 1e-6F);
  EXPECT_FLOAT_EQ(c.rope_theta, 500000.0F);
  EXPECT_FALSE(c.tie_embeddings);
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_THAT(c.eos_ids, ::testing::ElementsAre(2));
}

TEST(HfConfig, LlamaDefaults) {
  // No num_key_value_heads (MHA), rope_theta, hidden_act or tie_word_embeddings; model_type instead of architectures.
  std::string text = with_key(kLlamaGqa, "num_key_value_heads", "");
  text = with_key(text, "rope_theta", "");
  text = with_key(text, "hidden_act", "");
  text = with_key(text, "tie_word_embeddings", "");
  text = with_key(text, "architectures", "");
  auto parsed = parse_hf_config_text(text, "defaults.json");
  ASSERT_TRUE(parsed) << parsed.error().message << "\n" << text;
  EXPECT_EQ(parsed.value().architecture, Architecture::kLlama);
  EXPECT_EQ(parsed.value().n_kv_heads, 8);
  EXPECT_FLOAT_EQ(parsed.value().rope_theta, 10000.0F);
  EXPECT_EQ(parsed.value().activation, Activation::kSilu);
  EXPECT_FALSE(parsed.value().tie_embeddings);
}

TEST(HfConfig, ExplicitHeadDim) {
  auto parsed = parse_hf_config_text(with_key(kLlamaGqa, "head_dim", "64"), "head_dim.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().head_dim, 64);
}

TEST(HfConfig, Gpt2NInnerAndNCtx) {
  auto parsed = parse_hf_config_text(with_key(kGpt2, "n_inner", "100"), "inner.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().d_ff, 100);
  // n_ctx is used when n_positions is absent.
  parsed = parse_hf_config_text(with_key(with_key(kGpt2, "n_positions", ""), "n_ctx", "77"), "n_ctx.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().max_context, 77);
  parsed = parse_hf_config_text(with_key(kGpt2, "activation_function", "\"gelu_pytorch_tanh\""), "act.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().activation, Activation::kGeluTanh);
  parsed = parse_hf_config_text(with_key(kGpt2, "architectures", ""), "no_arch.json");
  ASSERT_FALSE(parsed) << "no architectures and no model_type";
  parsed = parse_hf_config_text(with_key(with_key(kGpt2, "architectures", ""), "model_type", "\"gpt2\""), "mt.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().architecture, Architecture::kGpt2);
}

TEST(HfConfig, TokenIdsOutsideTheVocabularyAreDropped) {
  std::string text = with_key(kLlamaGqa, "bos_token_id", "1000");  // == vocab_size
  text = with_key(text, "eos_token_id", "-1");
  auto parsed = parse_hf_config_text(text, "ids.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().bos_id, std::nullopt);
  EXPECT_TRUE(parsed.value().eos_ids.empty());
  parsed = parse_hf_config_text(with_key(kLlamaGqa, "bos_token_id", "999"), "ids.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().bos_id, 999);
}

// ---- errors ----

TEST(HfConfigError, MissingFileIsIoError) {
  expect_error(parse_hf_config("/nonexistent/edge_rt/config.json"), ErrorCode::kIoError,
               {"[config] /nonexistent/edge_rt/config.json"});
}

TEST(HfConfigError, NotJson) {
  expect_error(parse_hf_config_text("{\"n_embd\": ", "c.json"), ErrorCode::kInvalidFormat, {"[config] c.json", "JSON"});
  expect_error(parse_hf_config_text("", "c.json"), ErrorCode::kInvalidFormat, {"[config] c.json"});
  expect_error(parse_hf_config_text("[1]", "c.json"), ErrorCode::kInvalidFormat, {"[config] c.json", "object"});
}

TEST(HfConfigError, MissingGpt2KeysNameTheKey) {
  for (const char* key : {"n_embd", "n_layer", "n_head", "vocab_size"}) {
    SCOPED_TRACE(key);
    expect_error(parse_hf_config_text(with_key(kGpt2, key, ""), "gpt2.json"), ErrorCode::kMissingField,
                 {"[config] gpt2.json", std::string("'") + key + "'"});
  }
  // Neither n_positions nor n_ctx.
  expect_error(parse_hf_config_text(with_key(kGpt2, "n_positions", ""), "gpt2.json"), ErrorCode::kMissingField,
               {"gpt2.json", "n_ctx"});
  // null counts as missing.
  expect_error(parse_hf_config_text(with_key(kGpt2, "n_embd", "null"), "gpt2.json"), ErrorCode::kMissingField,
               {"gpt2.json", "'n_embd'"});
}

TEST(HfConfigError, MissingLlamaKeysNameTheKey) {
  for (const char* key : {"hidden_size", "num_hidden_layers", "num_attention_heads", "intermediate_size", "vocab_size",
                          "max_position_embeddings"}) {
    SCOPED_TRACE(key);
    expect_error(parse_hf_config_text(with_key(kLlamaGqa, key, ""), "llama.json"), ErrorCode::kMissingField,
                 {"[config] llama.json", std::string("'") + key + "'"});
  }
}

TEST(HfConfigError, RealConfigMissingAKey) {
  test::ScopedTempDir dir;
  const std::string real = test::read_file(test::shared_models_dir() / "capp-gpt2-tiny" / "config.json");
  test::write_file(dir / "config.json", with_key(real, "n_embd", ""));
  expect_error(parse_hf_config(dir / "config.json"), ErrorCode::kMissingField,
               {(dir / "config.json").string(), "'n_embd'"});
}

TEST(HfConfigError, UnknownArchitectureIsUnsupported) {
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "architectures", R"(["FalconForCausalLM"])"), "m.json"),
               ErrorCode::kUnsupported, {"[config] m.json", "FalconForCausalLM"});
  expect_error(parse_hf_config_text(with_key(kGpt2, "architectures", R"(["BertModel"])"), "b.json"),
               ErrorCode::kUnsupported, {"[config] b.json", "BertModel"});
  expect_error(parse_hf_config_text(R"({"model_type": "t5"})", "t5.json"), ErrorCode::kUnsupported,
               {"[config] t5.json", "t5"});
}

TEST(HfConfigError, WrongTypesAreInvalidFormat) {
  struct Case {
    const char* base;
    const char* key;
    const char* value;
  };
  const Case cases[] = {
      {kGpt2, "n_embd", "\"64\""},
      {kGpt2, "n_layer", "2.5"},
      {kGpt2, "n_head", "true"},
      {kGpt2, "vocab_size", "[100]"},
      {kGpt2, "n_positions", "\"128\""},
      {kGpt2, "layer_norm_epsilon", "\"1e-5\""},
      {kGpt2, "activation_function", "7"},
      {kGpt2, "n_inner", "\"x\""},
      {kLlamaGqa, "hidden_size", "256.5"},
      {kLlamaGqa, "num_key_value_heads", "\"4\""},
      {kLlamaGqa, "rms_norm_eps", "{}"},
      {kLlamaGqa, "rope_theta", "\"10000\""},
      {kLlamaGqa, "hidden_act", "false"},
      {kLlamaGqa, "tie_word_embeddings", "\"true\""},
      {kLlamaGqa, "tie_word_embeddings", "1"},
      {kLlamaGqa, "head_dim", "\"32\""},
      {kLlamaGqa, "vocab_size", "18446744073709551615"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.key) + " = " + c.value);
    expect_error(parse_hf_config_text(with_key(c.base, c.key, c.value), "types.json"), ErrorCode::kInvalidFormat,
                 {"[config] types.json", std::string("'") + c.key + "'"});
  }
}

TEST(HfConfigError, OutOfRangeValuesAreInvalidFormat) {
  expect_error(parse_hf_config_text(with_key(kGpt2, "n_embd", "0"), "r.json"), ErrorCode::kInvalidFormat,
               {"r.json", "'n_embd' is 0", "expected 1..1048576"});
  expect_error(parse_hf_config_text(with_key(kGpt2, "n_layer", "-2"), "r.json"), ErrorCode::kInvalidFormat,
               {"r.json", "'n_layer' is -2", "expected 1..4096"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "vocab_size", "0"), "r.json"), ErrorCode::kInvalidFormat,
               {"r.json", "vocab_size"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "max_position_embeddings", "-1"), "r.json"),
               ErrorCode::kInvalidFormat, {"r.json", "'max_position_embeddings' is -1"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "rms_norm_eps", "0"), "r.json"), ErrorCode::kInvalidFormat,
               {"r.json", "'rms_norm_eps' is 0", "(0, 1]"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "num_key_value_heads", "0"), "r.json"),
               ErrorCode::kInvalidFormat, {"r.json", "'num_key_value_heads' is 0"});
}

// Values that once crashed or silently misran (issue 12): each is refused, naming the key and the range.
TEST(HfConfigError, HostileValuesAreRefusedWithTheirRange) {
  struct Case {
    const char* base;
    const char* key;
    const char* value;
    const char* want;
  };
  const Case cases[] = {
      {kLlamaGqa, "head_dim", "-4", "'head_dim' is -4"},
      {kLlamaGqa, "head_dim", "4611686018427387912", "'head_dim' is 4611686018427387912, expected 2..4096"},
      {kLlamaGqa, "hidden_size", "9223372036854775807", "'hidden_size' is 9223372036854775807"},
      {kLlamaGqa, "rope_theta", "0", "'rope_theta' is 0"},
      {kLlamaGqa, "rope_theta", "-10000", "'rope_theta' is -10000"},
      {kLlamaGqa, "rms_norm_eps", "1e300", "'rms_norm_eps' is 1E300"},
      {kLlamaGqa, "rms_norm_eps", "1e-50", "rounds to 0"},
      {kGpt2, "layer_norm_epsilon", "1e300", "'layer_norm_epsilon' is 1E300"},
      {kGpt2, "n_inner", "0", "'n_inner' is 0"},
      {kLlamaGqa, "eos_token_id", "\"x\"", "'eos_token_id' is \"x\""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(std::string(c.key) + " = " + c.value);
    expect_error(parse_hf_config_text(with_key(c.base, c.key, c.value), "x.json"), ErrorCode::kInvalidFormat,
                 {"x.json", c.want});
  }
}

TEST(HfConfig, EosTokenIdListStopsAtEach) {
  auto parsed = parse_hf_config_text(with_key(kLlamaGqa, "eos_token_id", "[2, 5, 99999999]"), "l.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_THAT(parsed.value().eos_ids, ::testing::ElementsAre(2, 5));  // the id outside the vocabulary is dropped
}

TEST(HfConfigError, HeadsThatDoNotDivideAreInvalidFormat) {
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "num_key_value_heads", "3"), "h.json"),
               ErrorCode::kInvalidFormat, {"h.json", "'num_attention_heads' 8", "num_key_value_heads 3"});
  expect_error(parse_hf_config_text(with_key(kGpt2, "n_head", "3"), "h.json"), ErrorCode::kInvalidFormat,
               {"h.json", "'n_embd' 64", "n_head 3"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "head_dim", "7"), "h.json"), ErrorCode::kInvalidFormat,
               {"h.json", "head_dim 7"});
}

TEST(HfConfigError, UnsupportedActivation) {
  expect_error(parse_hf_config_text(with_key(kGpt2, "activation_function", "\"relu\""), "a.json"),
               ErrorCode::kUnsupported, {"[config] a.json", "activation_function", "relu"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "hidden_act", "\"relu\""), "a.json"), ErrorCode::kUnsupported,
               {"[config] a.json", "hidden_act", "relu"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "hidden_act", "\"gelu\""), "a.json"), ErrorCode::kUnsupported,
               {"a.json", "hidden_act", "gelu"});
}

TEST(HfConfig, RopeScaling) {
  // null means "no scaling".
  auto parsed = parse_hf_config_text(with_key(kLlamaGqa, "rope_scaling", "null"), "rs.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::vector<float> plain = rope_inv_freq(parsed.value());
  ASSERT_EQ(plain.size(), static_cast<std::size_t>(parsed.value().head_dim / 2));

  parsed = parse_hf_config_text(with_key(kLlamaGqa, "rope_scaling", R"({"type": "linear", "factor": 2.0})"), "rs.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  const std::vector<float> linear = rope_inv_freq(parsed.value());
  for (std::size_t i = 0; i < plain.size(); ++i) EXPECT_FLOAT_EQ(linear[i], plain[i] / 2.0f) << i;

  // Llama 3.1's keys with an original context of 64: each band is met (kept, ramped, divided by the factor).
  parsed = parse_hf_config_text(
      with_key(kLlamaGqa, "rope_scaling",
               R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                   "original_max_position_embeddings": 64})"),
      "rs.json");
  ASSERT_TRUE(parsed) << parsed.error().message;
  EXPECT_EQ(parsed.value().rope_scaling.kind, RopeScaling::Kind::kLlama3);
  const std::vector<float> llama3 = rope_inv_freq(parsed.value());
  int kept = 0, divided = 0, ramped = 0;
  for (std::size_t i = 0; i < plain.size(); ++i) {
    const double wavelen = 6.283185307179586 / plain[i];
    if (wavelen < 16.0) {
      EXPECT_FLOAT_EQ(llama3[i], plain[i]) << i;
      ++kept;
    } else if (wavelen > 64.0) {
      EXPECT_FLOAT_EQ(llama3[i], plain[i] / 8.0f) << i;
      ++divided;
    } else {
      const double smooth = (64.0 / wavelen - 1.0) / 3.0;
      EXPECT_NEAR(llama3[i], (1 - smooth) * plain[i] / 8.0 + smooth * plain[i], 1e-6 * plain[i]) << i;
      ++ramped;
    }
  }
  EXPECT_GT(kept, 0);
  EXPECT_GT(divided, 0);
  EXPECT_GT(ramped, 0);

  expect_error(
      parse_hf_config_text(with_key(kLlamaGqa, "rope_scaling", R"({"rope_type": "yarn", "factor": 4.0})"), "rs.json"),
      ErrorCode::kUnsupported, {"[config] rs.json", "rope_scaling type 'yarn'"});
  expect_error(parse_hf_config_text(with_key(kLlamaGqa, "rope_scaling",
                                             R"({"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 4.0,
                                                 "high_freq_factor": 1.0, "original_max_position_embeddings": 64})"),
                                    "rs.json"),
               ErrorCode::kInvalidFormat, {"rs.json", "high_freq_factor"});
  expect_error(
      parse_hf_config_text(with_key(kLlamaGqa, "rope_scaling", R"({"rope_type": "llama3", "factor": 8.0})"), "rs.json"),
      ErrorCode::kMissingField, {"rs.json rope_scaling", "original_max_position_embeddings"});
}

}  // namespace
}  // namespace edge_rt::model_ir
