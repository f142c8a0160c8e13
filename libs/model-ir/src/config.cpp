#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/tensor_core/attention.hpp>

#include <boost/json.hpp>

#include <edge_rt/core/file.hpp>

#include <cmath>
#include <cstdio>

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
  // A number within [lo, hi] (as a double, before narrowing to float: 1e300 would become inf). `lo_open`
  // excludes lo itself. NaN and infinities never pass.
  Result<float> number(const char* key, std::optional<float> fallback, double lo, double hi, bool lo_open) const {
    const json::value* v = obj_.if_contains(key);
    if (!v || v->is_null()) {
      if (fallback) return *fallback;
      return missing(key);
    }
    if (!v->is_number()) return wrong(key, "a number");
    const double x = v->to_number<double>();
    if (!std::isfinite(x) || x > hi || (lo_open ? x <= lo : x < lo)) {
      return error(ErrorCode::kInvalidFormat, "key '" + std::string(key) + "' is " + json::serialize(*v) +
                                                  ", expected a finite number in " + (lo_open ? "(" : "[") +
                                                  format_number(lo) + ", " + format_number(hi) + "]");
    }
    // A positive value too small for a float would become 0 (an epsilon of 1e-50): that is out of range too.
    if (lo_open && !(static_cast<float>(x) > static_cast<float>(lo))) {
      return error(ErrorCode::kInvalidFormat, "key '" + std::string(key) + "' is " + json::serialize(*v) +
                                                  ", which rounds to " + format_number(static_cast<float>(x)) +
                                                  " as a float; expected a value above " + format_number(lo));
    }
    return static_cast<float>(x);
  }
  // An integer within [lo, hi]; the message names the key, its value and the range.
  Result<std::int64_t> ranged(const char* key, std::int64_t value, std::int64_t lo, std::int64_t hi) const {
    if (value < lo || value > hi) {
      return error(ErrorCode::kInvalidFormat, "key '" + std::string(key) + "' is " + std::to_string(value) +
                                                  ", expected " + std::to_string(lo) + ".." + std::to_string(hi));
    }
    return value;
  }
  Result<std::int64_t> ranged_integer(const char* key, std::int64_t lo, std::int64_t hi) const {
    EDGE_RT_TRY(const std::int64_t v, integer(key));
    return ranged(key, v, lo, hi);
  }
  Result<std::optional<std::int64_t>> optional_ranged(const char* key, std::int64_t lo, std::int64_t hi) const {
    EDGE_RT_TRY(const auto v, optional_integer(key));
    if (v) {
      EDGE_RT_TRY(ranged(key, *v, lo, hi));
    }
    return v;
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
  const std::string& label() const noexcept { return label_; }

 private:
  Result<std::int64_t> as_int(const json::value& v, const char* key) const {
    if (v.is_int64()) return v.as_int64();
    if (v.is_uint64() && v.as_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
      return static_cast<std::int64_t>(v.as_uint64());
    }
    return wrong(key, "an integer");
  }
  static std::string format_number(double x) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", x);
    return buf;
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
  EDGE_RT_TRY(c.d_model, r.ranged_integer("n_embd", 1, kMaxModelWidth));
  EDGE_RT_TRY(c.n_layers, r.ranged_integer("n_layer", 1, kMaxLayers));
  EDGE_RT_TRY(c.n_heads, r.ranged_integer("n_head", 1, kMaxHeads));
  EDGE_RT_TRY(c.vocab_size, r.ranged_integer("vocab_size", 1, kMaxVocab));
  EDGE_RT_TRY(auto positions, r.optional_ranged("n_positions", 1, kMaxContext));
  if (!positions) {
    EDGE_RT_TRY(c.max_context, r.ranged_integer("n_ctx", 1, kMaxContext));
  } else {
    c.max_context = *positions;
  }
  EDGE_RT_TRY(c.norm_eps, r.number("layer_norm_epsilon", 1e-5f, 0.0, 1.0, true));
  EDGE_RT_TRY(auto act, r.string("activation_function", std::string("gelu_new")));
  if (act != "gelu_new" && act != "gelu_pytorch_tanh") {
    return r.error(ErrorCode::kUnsupported,
                   "activation_function '" + act + "', expected gelu_new or gelu_pytorch_tanh");
  }
  c.activation = Activation::kGeluTanh;
  EDGE_RT_TRY(auto inner, r.optional_ranged("n_inner", 1, kMaxModelWidth));
  c.d_ff = inner ? *inner : 4 * c.d_model;
  if (c.d_ff > kMaxModelWidth) {
    return r.error(ErrorCode::kInvalidFormat, "4 x n_embd (" + std::to_string(c.d_ff) + ") exceeds " +
                                                  std::to_string(kMaxModelWidth) + ": set n_inner");
  }
  if (c.d_model % c.n_heads != 0) {
    return r.error(ErrorCode::kInvalidFormat, "key 'n_embd' " + std::to_string(c.d_model) +
                                                  " is not a multiple of n_head " + std::to_string(c.n_heads));
  }
  c.n_kv_heads = c.n_heads;
  c.head_dim = c.d_model / c.n_heads;
  c.tie_embeddings = true;
  return boost::outcome_v2::success();
}

// The Llama keys; `gelu`: Gemma's GELU (tanh) MLP, named by hidden_activation (or hidden_act), not SiLU.
Result<void> read_llama(const Reader& r, ModelConfig& c, bool gelu = false) {
  c.architecture = Architecture::kLlama;
  EDGE_RT_TRY(c.d_model, r.ranged_integer("hidden_size", 1, kMaxModelWidth));
  EDGE_RT_TRY(c.n_layers, r.ranged_integer("num_hidden_layers", 1, kMaxLayers));
  EDGE_RT_TRY(c.n_heads, r.ranged_integer("num_attention_heads", 1, kMaxHeads));
  EDGE_RT_TRY(auto kv, r.optional_ranged("num_key_value_heads", 1, c.n_heads));
  c.n_kv_heads = kv ? *kv : c.n_heads;
  if (c.n_heads % c.n_kv_heads != 0) {
    return r.error(ErrorCode::kInvalidFormat, "key 'num_attention_heads' " + std::to_string(c.n_heads) +
                                                  " is not a multiple of num_key_value_heads " +
                                                  std::to_string(c.n_kv_heads));
  }
  EDGE_RT_TRY(c.d_ff, r.ranged_integer("intermediate_size", 1, kMaxModelWidth));
  EDGE_RT_TRY(c.vocab_size, r.ranged_integer("vocab_size", 1, kMaxVocab));
  EDGE_RT_TRY(c.max_context, r.ranged_integer("max_position_embeddings", 1, kMaxContext));
  EDGE_RT_TRY(c.norm_eps, r.number("rms_norm_eps", 1e-6f, 0.0, 1.0, true));
  EDGE_RT_TRY(c.rope_theta, r.number("rope_theta", 10000.0f, 0.0, 1e12, true));
  if (gelu) {
    EDGE_RT_TRY(std::string act, r.string("hidden_activation", std::string()));
    if (act.empty()) {
      EDGE_RT_TRY(act, r.string("hidden_act", std::string("gelu_pytorch_tanh")));
    }
    if (act != "gelu_pytorch_tanh") {
      return r.error(ErrorCode::kUnsupported, "hidden_activation '" + act + "', expected gelu_pytorch_tanh");
    }
    c.activation = Activation::kGeluTanh;
  } else {
    EDGE_RT_TRY(auto act, r.string("hidden_act", std::string("silu")));
    if (act != "silu") return r.error(ErrorCode::kUnsupported, "hidden_act '" + act + "', expected silu");
    c.activation = Activation::kSilu;
  }
  EDGE_RT_TRY(c.tie_embeddings, r.boolean("tie_word_embeddings", false));
  EDGE_RT_TRY(auto head_dim, r.optional_ranged("head_dim", 2, kMaxHeadDim));
  if (head_dim) {
    c.head_dim = *head_dim;
  } else if (c.d_model % c.n_heads != 0) {
    return r.error(ErrorCode::kInvalidFormat, "key 'hidden_size' " + std::to_string(c.d_model) +
                                                  " is not a multiple of num_attention_heads " +
                                                  std::to_string(c.n_heads) + " (and head_dim is not set)");
  } else {
    c.head_dim = c.d_model / c.n_heads;
  }
  if (c.head_dim % 2 != 0) {
    return r.error(ErrorCode::kInvalidFormat,
                   "head_dim " + std::to_string(c.head_dim) + " is odd, expected an even value (RoPE rotates pairs)");
  }
  // Bounded factors keep every product below 2^63; the attention width still gets its own cap.
  if (c.n_heads * c.head_dim > kMaxModelWidth) {
    return r.error(ErrorCode::kInvalidFormat,
                   "num_attention_heads x head_dim = " + std::to_string(c.n_heads * c.head_dim) +
                       ", expected at most " + std::to_string(kMaxModelWidth));
  }
  return boost::outcome_v2::success();
}

// Gemma 2 / Gemma 3 (text): Llama keys with a GELU MLP, tied embeddings by default, embeddings scaled by
// sqrt(hidden_size), RMSNorm weights stored as w - 1, query_pre_attn_scalar, soft-capping (Gemma 2), and sliding
// layers from layer_types, else every other layer (Gemma 2: even ones) or all but every sliding_window_pattern-th
// (Gemma 3, default 6); Gemma 3's sliding layers use rope_local_base_freq (default 10000) without rope_scaling.
Result<void> read_gemma(const Reader& r, const json::object& obj, ModelConfig& c, bool gemma3) {
  EDGE_RT_TRY(read_llama(r, c, /*gelu=*/true));
  c.architecture = gemma3 ? Architecture::kGemma3 : Architecture::kGemma2;
  EDGE_RT_TRY(c.tie_embeddings, r.boolean("tie_word_embeddings", true));
  c.embedding_scale = std::sqrt(static_cast<float>(c.d_model));
  c.norm_weight_offset = 1.0f;
  EDGE_RT_TRY(const float qpas, r.number("query_pre_attn_scalar", static_cast<float>(c.head_dim), 0.0, 1e9, true));
  c.attn_scale = 1.0f / std::sqrt(qpas);
  EDGE_RT_TRY(const auto window, r.optional_ranged("sliding_window", 1, kMaxContext));
  c.sliding_window = window.value_or(0);
  for (auto [key, out] :
       {std::pair{"attn_logit_softcapping", &c.attn_softcap}, std::pair{"final_logit_softcapping", &c.final_softcap}}) {
    if (const json::value* v = obj.if_contains(key); v && !v->is_null()) {
      EDGE_RT_TRY(*out, r.number(key, std::nullopt, 0.0, 1e9, true));
    }
  }
  c.sliding_layers.assign(static_cast<std::size_t>(c.n_layers), false);
  if (const json::value* types = obj.if_contains("layer_types"); types && !types->is_null()) {
    const json::array* list = types->if_array();
    if (!list || list->size() != c.sliding_layers.size()) {
      return r.error(ErrorCode::kInvalidFormat,
                     "key 'layer_types' is not a list of " + std::to_string(c.n_layers) + " layer types");
    }
    for (std::size_t i = 0; i < list->size(); ++i) {
      const json::value& t = (*list)[i];
      if (!t.is_string() || (t.as_string() != "sliding_attention" && t.as_string() != "full_attention")) {
        return r.error(ErrorCode::kInvalidFormat, "key 'layer_types' item " + std::to_string(i) + " is " +
                                                      json::serialize(t) +
                                                      ", expected \"sliding_attention\" or \"full_attention\"");
      }
      c.sliding_layers[i] = t.as_string() == "sliding_attention";
    }
  } else {
    std::int64_t pattern = 2;
    if (gemma3) {
      EDGE_RT_TRY(const auto p, r.optional_ranged("sliding_window_pattern", 1, kMaxLayers));
      pattern = p.value_or(6);
    }
    for (std::int64_t i = 0; i < c.n_layers; ++i)
      c.sliding_layers[static_cast<std::size_t>(i)] = (i + 1) % pattern != 0;
  }
  if (gemma3) {
    EDGE_RT_TRY(c.rope_theta_local, r.number("rope_local_base_freq", 10000.0f, 0.0, 1e12, true));
  }
  return boost::outcome_v2::success();
}

// Token ids: an integer or a list of integers (Hugging Face writes eos_token_id both ways). Ids outside the
// vocabulary are dropped (GPT-2 configs name 50256 in 53-token test models); a value of another type is an error.
Result<std::vector<std::int32_t>> token_ids(const Reader& r, const json::object& obj, const char* key,
                                            std::int64_t vocab_size) {
  std::vector<std::int32_t> ids;
  const json::value* v = obj.if_contains(key);
  if (!v || v->is_null()) return ids;
  std::vector<const json::value*> items;
  if (const json::array* arr = v->if_array()) {
    for (const json::value& item : *arr) items.push_back(&item);
  } else {
    items.push_back(v);
  }
  for (const json::value* item : items) {
    if (!item->is_int64() && !item->is_uint64()) {
      return r.error(ErrorCode::kInvalidFormat, "key '" + std::string(key) + "' is " + json::serialize(*v) +
                                                    ", expected a token id or a list of them");
    }
    if (item->is_int64() && item->as_int64() >= 0 && item->as_int64() < vocab_size) {
      ids.push_back(static_cast<std::int32_t>(item->as_int64()));
    }
  }
  return ids;
}

// Phi-3's rope_scaling {"type": "longrope" (or "su"), "short_factor": [...], "long_factor": [...]} with
// original_max_position_embeddings beside it in config.json (or inside), as transformers'
// _compute_longrope_parameters: attention_factor, unless given, is sqrt(1 + ln(s) / ln(original)) for
// s = max_position_embeddings / original > 1, else 1.
Result<RopeScaling> read_longrope(const Reader& outer, const Reader& r, const json::object& scaling,
                                  const ModelConfig& c) {
  RopeScaling s;
  s.kind = RopeScaling::Kind::kLongRope;
  const auto half = static_cast<std::size_t>(c.head_dim / 2);
  for (auto [key, out] : {std::pair{"short_factor", &s.freq_factors}, std::pair{"long_factor", &s.long_factors}}) {
    const json::value* v = scaling.if_contains(key);
    const json::array* list = v ? v->if_array() : nullptr;
    if (!list || list->size() != half) {
      return outer.error(ErrorCode::kInvalidFormat, std::string("rope_scaling ") + key + " is not a list of " +
                                                        std::to_string(half) + " numbers (head_dim / 2)");
    }
    for (const json::value& x : *list) {
      const double f = x.is_number() ? x.to_number<double>() : -1.0;
      if (!std::isfinite(f) || f <= 0.0 || f > 1e6) {
        return outer.error(ErrorCode::kInvalidFormat, std::string("rope_scaling ") + key + " holds " +
                                                          json::serialize(x) + ", expected numbers in (0, 1e6]");
      }
      out->push_back(static_cast<float>(f));
    }
  }
  if (scaling.if_contains("original_max_position_embeddings")) {
    EDGE_RT_TRY(s.original_context, r.ranged_integer("original_max_position_embeddings", 1, kMaxContext));
  } else {
    EDGE_RT_TRY(s.original_context, outer.ranged_integer("original_max_position_embeddings", 1, kMaxContext));
  }
  s.factor = static_cast<float>(c.max_context) / static_cast<float>(s.original_context);
  if (scaling.if_contains("attention_factor")) {
    EDGE_RT_TRY(s.attention_factor, r.number("attention_factor", std::nullopt, 0.0, 1e6, true));
  } else if (s.factor > 1.0f) {
    s.attention_factor = static_cast<float>(
        std::sqrt(1.0 + std::log(static_cast<double>(s.factor)) / std::log(static_cast<double>(s.original_context))));
  }
  return s;
}

// rope_scaling: {"rope_type" (or "type"): "linear" | "llama3", "factor", and for llama3 "low_freq_factor",
// "high_freq_factor", "original_max_position_embeddings"}.
Result<RopeScaling> read_rope_scaling(const Reader& outer, const json::value& v, const ModelConfig& c) {
  const json::object* obj = v.if_object();
  if (obj == nullptr) return outer.error(ErrorCode::kInvalidFormat, "rope_scaling is not an object");
  if (c.architecture == Architecture::kGpt2) {
    return outer.error(ErrorCode::kUnsupported, "rope_scaling on a GPT-2 model, which has no RoPE");
  }
  const std::string label = outer.label() + " rope_scaling";  // Reader keeps a reference
  Reader r(*obj, label);
  EDGE_RT_TRY(std::string type, r.string("rope_type", std::string()));
  if (type.empty()) {
    EDGE_RT_TRY(type, r.string("type", std::string("default")));
  }
  RopeScaling s;
  if (type == "default") return s;
  if (type == "longrope" || type == "su") return read_longrope(outer, r, *obj, c);
  EDGE_RT_TRY(s.factor, r.number("factor", std::nullopt, 1.0, 1e6, false));
  if (type == "linear") {
    s.kind = RopeScaling::Kind::kLinear;
    return s;
  }
  if (type != "llama3") {
    return outer.error(ErrorCode::kUnsupported, "rope_scaling type '" + type +
                                                    "'; linear, llama3 and longrope are supported (yarn, dynamic "
                                                    "are not)");
  }
  s.kind = RopeScaling::Kind::kLlama3;
  EDGE_RT_TRY(s.low_freq_factor, r.number("low_freq_factor", 1.0f, 0.0, 1e6, true));
  EDGE_RT_TRY(s.high_freq_factor, r.number("high_freq_factor", 4.0f, 0.0, 1e6, true));
  EDGE_RT_TRY(s.original_context, r.ranged_integer("original_max_position_embeddings", 1, kMaxContext));
  if (!(s.high_freq_factor > s.low_freq_factor)) {
    return outer.error(ErrorCode::kInvalidFormat,
                       "rope_scaling high_freq_factor " + std::to_string(s.high_freq_factor) +
                           " is not above low_freq_factor " + std::to_string(s.low_freq_factor));
  }
  return s;
}

}  // namespace

std::vector<float> rope_inv_freq(const ModelConfig& c, std::int64_t layer, std::size_t n_ctx) {
  if (c.rope_theta_local > 0 && c.window_of(layer) > 0) {
    return tensor_core::rope_inv_freq(c.rope_theta_local, static_cast<std::size_t>(c.head_dim));
  }
  const RopeScaling& s = c.rope_scaling;
  if (s.kind == RopeScaling::Kind::kLongRope && n_ctx > static_cast<std::size_t>(s.original_context)) {
    std::vector<float> freq = tensor_core::rope_inv_freq(c.rope_theta, static_cast<std::size_t>(c.head_dim));
    for (std::size_t i = 0; i < freq.size() && i < s.long_factors.size(); ++i) freq[i] /= s.long_factors[i];
    return freq;
  }
  return rope_inv_freq(c);
}

std::vector<float> rope_inv_freq(const ModelConfig& c) {
  std::vector<float> freq = tensor_core::rope_inv_freq(c.rope_theta, static_cast<std::size_t>(c.head_dim));
  const RopeScaling& s = c.rope_scaling;
  switch (s.kind) {
    case RopeScaling::Kind::kNone: break;
    case RopeScaling::Kind::kLinear:
      for (float& f : freq) f /= s.factor;
      break;
    case RopeScaling::Kind::kFactors:
    case RopeScaling::Kind::kLongRope:
      for (std::size_t i = 0; i < freq.size() && i < s.freq_factors.size(); ++i) freq[i] /= s.freq_factors[i];
      break;
    case RopeScaling::Kind::kLlama3: {
      // Wavelengths above original_context / low_freq_factor are interpolated by `factor`, those below
      // original_context / high_freq_factor kept, and a linear ramp in original_context / wavelength in between.
      const double two_pi = 6.283185307179586;
      const double low_wavelen = static_cast<double>(s.original_context) / s.low_freq_factor;
      const double high_wavelen = static_cast<double>(s.original_context) / s.high_freq_factor;
      for (float& f : freq) {
        const double wavelen = two_pi / f;
        if (wavelen < high_wavelen) continue;
        if (wavelen > low_wavelen) {
          f = static_cast<float>(f / s.factor);
          continue;
        }
        const double smooth = (static_cast<double>(s.original_context) / wavelen - s.low_freq_factor) /
                              (s.high_freq_factor - s.low_freq_factor);
        f = static_cast<float>((1.0 - smooth) * f / s.factor + smooth * f);
      }
      break;
    }
  }
  return freq;
}

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
  } else if (name == "Qwen2ForCausalLM" || name == "qwen2") {
    EDGE_RT_TRY(read_llama(r, c));
    c.architecture = Architecture::kQwen2;
    EDGE_RT_TRY(const bool sliding, r.boolean("use_sliding_window", false));
    if (sliding) return r.error(ErrorCode::kUnsupported, "use_sliding_window is true; sliding-window attention");
  } else if (name == "Qwen3ForCausalLM" || name == "qwen3") {
    EDGE_RT_TRY(read_llama(r, c));
    c.architecture = Architecture::kQwen3;
    EDGE_RT_TRY(const bool sliding, r.boolean("use_sliding_window", false));
    if (sliding) return r.error(ErrorCode::kUnsupported, "use_sliding_window is true; sliding-window attention");
  } else if (name == "Gemma2ForCausalLM" || name == "gemma2") {
    EDGE_RT_TRY(read_gemma(r, obj, c, /*gemma3=*/false));
  } else if (name == "Gemma3ForCausalLM" || name == "gemma3_text") {
    EDGE_RT_TRY(read_gemma(r, obj, c, /*gemma3=*/true));
  } else if (name == "Phi3ForCausalLM" || name == "phi3") {
    EDGE_RT_TRY(read_llama(r, c));
    c.architecture = Architecture::kPhi3;
    EDGE_RT_TRY(const auto window, r.optional_ranged("sliding_window", 1, kMaxContext));
    c.sliding_window = window.value_or(0);
    EDGE_RT_TRY(const float rotary, r.number("partial_rotary_factor", 1.0f, 0.0, 1.0, true));
    if (rotary != 1.0f) {
      return r.error(ErrorCode::kUnsupported, "partial_rotary_factor " + std::to_string(rotary) +
                                                  " (RoPE on part of each head, Phi-4-mini); expected 1");
    }
  } else if (name == "MistralForCausalLM" || name == "mistral") {
    EDGE_RT_TRY(read_llama(r, c));
    c.architecture = Architecture::kMistral;
    EDGE_RT_TRY(const auto window, r.optional_ranged("sliding_window", 1, kMaxContext));
    c.sliding_window = window.value_or(0);
  } else {
    return r.error(ErrorCode::kUnsupported, "architecture '" + name +
                                                "', expected GPT2LMHeadModel, LlamaForCausalLM, Qwen2ForCausalLM, "
                                                "Qwen3ForCausalLM, MistralForCausalLM, Gemma2ForCausalLM, "
                                                "Gemma3ForCausalLM or Phi3ForCausalLM");
  }
  if (c.architecture != Architecture::kGpt2) {
    for (const char* key : {"attention_bias", "mlp_bias"}) {
      EDGE_RT_TRY(const bool bias, r.boolean(key, false));
      if (bias) return r.error(ErrorCode::kUnsupported, std::string(key) + " is true; these projections have no bias");
    }
  }
  if (const json::value* scaling = obj.if_contains("rope_scaling"); scaling && !scaling->is_null()) {
    EDGE_RT_TRY(c.rope_scaling, read_rope_scaling(r, *scaling, c));
  }
  EDGE_RT_TRY(const auto bos, token_ids(r, obj, "bos_token_id", c.vocab_size));
  if (!bos.empty()) c.bos_id = bos.front();
  EDGE_RT_TRY(c.eos_ids, token_ids(r, obj, "eos_token_id", c.vocab_size));
  return c;
}

Result<ModelConfig> parse_hf_config(const std::filesystem::path& config_json) {
  EDGE_RT_TRY(const std::string text, read_regular_file(config_json, kMaxConfigBytes, "[config]"));
  return parse_hf_config_text(text, config_json.string());
}

}  // namespace edge_rt::model_ir
