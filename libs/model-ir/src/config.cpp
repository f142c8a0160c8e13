#include <edge_rt/model_ir/config.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace edge_rt::model_ir {

namespace json = boost::json;

namespace {

class Reader {
 public:
  Reader(const json::object& obj, const std::string& label) : obj_(obj), label_(label) {}

  Result<std::int64_t> integer(const char* key) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) return missing(key);
    return as_int(*v, key);
  }
  Result<std::optional<std::int64_t>> optional_integer(const char* key) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) return std::optional<std::int64_t>{};
    EDGE_RT_TRY(auto i, as_int(*v, key));
    return std::optional<std::int64_t>{i};
  }
  Result<float> number(const char* key, std::optional<float> fallback) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) {
      if (fallback) return *fallback;
      return missing(key);
    }
    if (!v->is_number()) return wrong(key, "a number");
    return static_cast<float>(v->to_number<double>());
  }
  Result<std::string> string(const char* key, std::optional<std::string> fallback) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) {
      if (fallback) return *fallback;
      return missing(key);
    }
    if (!v->is_string()) return wrong(key, "a string");
    return std::string(v->as_string());
  }
  Result<bool> boolean(const char* key, bool fallback) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) return fallback;
    if (!v->is_bool()) return wrong(key, "true or false");
    return v->as_bool();
  }
  Error error(ErrorCode code, const std::string& what) const { return Error{code, "[config] " + label_ + ": " + what}; }

 private:
  Result<std::int64_t> as_int(const json::value& v, const char* key) const {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      return static_cast<std::int64_t>(v.as_uint64());
    }
    return wrong(key, "an integer");
  }
  Error missing(const char* key) const {
    return error(ErrorCode::kMissingField, "missing key '" + std::string(key) + "'");
  }
  Error wrong(const char* key, const char* expected) const {
    return error(ErrorCode::kInvalidFormat, "key '" + std::string(key) + "' is " +
                                                json::serialize(*obj_.if_contains(key)) + ", expected " + expected);
  }
  const json::object& obj_;
  const std::string& label_;
};

Result<void> read_gpt2(const Reader& r, ModelConfig& c) {
  c.architecture = Architecture::kGpt2;
  EDGE_RT_TRY(c.d_model, r.integer("n_embd"));
  EDGE_RT_TRY(c.n_layers, r.integer("n_layer"));
  EDGE_RT_TRY(c.n_heads, r.integer("n_head"));
  EDGE_RT_TRY(c.vocab_size, r.integer("vocab_size"));
  EDGE_RT_TRY(auto positions, r.optional_integer("n_positions"));
  if (!positions) {
    EDGE_RT_TRY(c.max_context, r.integer("n_ctx"));
  } else {
    c.max_context = *positions;
  }
  EDGE_RT_TRY(c.norm_eps, r.number("layer_norm_epsilon", 1e-5f));
  EDGE_RT_TRY(auto act, r.string("activation_function", std::string("gelu_new")));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    return r.error(ErrorCode::kUnsupported,
                   "activation_function '" + act + "', expected gelu_new or gelu_pytorch_tanh");
  }
  c.activation = Activation::kGeluTanh;
  EDGE_RT_TRY(auto inner, r.optional_integer("n_inner"));
  c.d_ff = inner ? *inner : 4 * c.d_model;
  c.n_kv_heads = c.n_heads;
  c.tie_embeddings = true;
  return boost::outcome_v2::success();
}

Result<void> read_llama(const Reader& r, ModelConfig& c) {
  c.architecture = Architecture::kLlama;
  EDGE_RT_TRY(c.d_model, r.integer("hidden_size"));
  EDGE_RT_TRY(c.n_layers, r.integer("num_hidden_layers"));
  EDGE_RT_TRY(c.n_heads, r.integer("num_attention_heads"));
  EDGE_RT_TRY(auto kv, r.optional_integer("num_key_value_heads"));
  c.n_kv_heads = kv ? *kv : c.n_heads;
  EDGE_RT_TRY(c.d_ff, r.integer("intermediate_size"));
  EDGE_RT_TRY(c.vocab_size, r.integer("vocab_size"));
  EDGE_RT_TRY(c.max_context, r.integer("max_position_embeddings"));
  EDGE_RT_TRY(c.norm_eps, r.number("rms_norm_eps", 1e-6f));
  EDGE_RT_TRY(c.rope_theta, r.number("rope_theta", 10000.0f));
  EDGE_RT_TRY(auto act, r.string("hidden_act", std::string("silu")));
  if (act != "silu") return r.error(ErrorCode::kUnsupported, "hidden_act '" + act + "', expected silu");
  c.activation = Activation::kSilu;
  EDGE_RT_TRY(c.tie_embeddings, r.boolean("tie_word_embeddings", false));
  EDGE_RT_TRY(auto head_dim, r.optional_integer("head_dim"));
  if (head_dim) c.head_dim = *head_dim;
  return boost::outcome_v2::success();
}

}  // namespace

Result<ModelConfig> parse_hf_config_text(std::string_view text, const std::string& label) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec) return fail(ErrorCode::kInvalidFormat, "[config] " + label + ": not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) return fail(ErrorCode::kInvalidFormat, "[config] " + label + ": not a JSON object");
  const json::object& obj = root.as_object();
  Reader r(obj, label);
  ModelConfig c;
  if (const json::value* archs = obj.if_contains("architectures");
      archs && archs->is_array() && !archs->as_array().empty() && archs->as_array()[0].is_string()) {
    c.architecture_name = std::string(archs->as_array()[0].as_string());
  } else {
    EDGE_RT_TRY(c.architecture_name, r.string("model_type", std::nullopt));
  }
  const std::string& name = c.architecture_name;
  if (name == "GPT2LMHeadModel" || name == "gpt2") {
    EDGE_RT_TRY(read_gpt2(r, c));
  } else if (name == "LlamaForCausalLM" || name == "llama") {
    EDGE_RT_TRY(read_llama(r, c));
  } else {
    return r.error(ErrorCode::kUnsupported,
                   "architecture '" + name + "', expected GPT2LMHeadModel or LlamaForCausalLM");
  }
  if (const json::value* scaling = obj.if_contains("rope_scaling"); scaling && !scaling->is_null()) {
    return r.error(ErrorCode::kUnsupported, "rope_scaling is set; only plain RoPE is supported");
  }
  auto positive = [&](std::int64_t v, const char* what) -> Result<void> {
    if (v <= 0 || v > (std::int64_t{1} << 31)) {
      return r.error(ErrorCode::kInvalidFormat,
                     std::string(what) + " is " + std::to_string(v) + ", expected a positive value");
    }
    return boost::outcome_v2::success();
  };
  EDGE_RT_TRY(positive(c.d_model, "hidden size"));
  EDGE_RT_TRY(positive(c.n_layers, "layer count"));
  EDGE_RT_TRY(positive(c.n_heads, "head count"));
  EDGE_RT_TRY(positive(c.n_kv_heads, "KV head count"));
  EDGE_RT_TRY(positive(c.d_ff, "FFN size"));
  EDGE_RT_TRY(positive(c.vocab_size, "vocab_size"));
  EDGE_RT_TRY(positive(c.max_context, "context length"));
  if (c.head_dim == 0) {
    if (c.d_model % c.n_heads != 0) {
      return r.error(ErrorCode::kInvalidFormat, "hidden size " + std::to_string(c.d_model) +
                                                    " is not a multiple of the head count " +
                                                    std::to_string(c.n_heads));
    }
    c.head_dim = c.d_model / c.n_heads;
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return r.error(ErrorCode::kInvalidFormat, "num_attention_heads " + std::to_string(c.n_heads) +
                                                  " is not a multiple of num_key_value_heads " +
                                                  std::to_string(c.n_kv_heads));
  }
  if (c.architecture == Architecture::kLlama && c.head_dim % 2 != 0) {
    return r.error(ErrorCode::kInvalidFormat, "head_dim " + std::to_string(c.head_dim) + " is odd; RoPE needs it even");
  }
  if (!(c.norm_eps > 0.0f)) return r.error(ErrorCode::kInvalidFormat, "norm epsilon must be positive");
  auto token_id = [&](const char* key) -> std::optional<std::int32_t> {
    const json::value* v = obj.if_contains(key);
    if (!v || !v->is_int64() || v->as_int64() < 0 || v->as_int64() >= c.vocab_size) return std::nullopt;
    return static_cast<std::int32_t>(v->as_int64());
  };
  c.bos_id = token_id("bos_token_id");
  c.eos_id = token_id("eos_token_id");
  return c;
}

Result<ModelConfig> parse_hf_config(const std::filesystem::path& config_json) {
  std::ifstream in(config_json);
  if (!in) return fail(ErrorCode::kIoError, "[config] " + config_json.string() + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_hf_config_text(ss.str(), config_json.string());
}

}  // namespace edge_rt::model_ir
