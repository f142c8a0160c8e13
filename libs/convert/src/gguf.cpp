#include <edge_rt/convert/gguf.hpp>

#include "output_folder.hpp"
#include "rope_rows.hpp"

#include <edge_rt/core/file.hpp>
#include <edge_rt/model_ir/gguf.hpp>
#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <boost/json.hpp>

#include <string>
#include <vector>

namespace edge_rt::convert {

namespace {

namespace json = boost::json;
namespace tc = tensor_core;
using model_ir::Architecture;
using model_ir::ModelConfig;
using model_ir::TensorInfo;

json::value token_ids(const ModelConfig& c) {
  if (c.eos_ids.size() == 1) return c.eos_ids[0];
  json::array ids;
  for (std::int32_t id : c.eos_ids) ids.push_back(id);
  return ids;
}

// Gemma's config.json carries keys (soft-capping, query_pre_attn_scalar, layer types) and its GGUF norm weights
// a +1, Phi-3's fused tensors and longrope factors, that a Llama-style config.json cannot express.
bool convertible(const ModelConfig& c) {
  return c.architecture != Architecture::kGemma2 && c.architecture != Architecture::kGemma3 &&
         c.architecture != Architecture::kPhi3;
}

std::string config_json(const ModelConfig& c) {
  json::object o;
  if (c.architecture != Architecture::kGpt2) {
    // A llama GGUF with a sliding window is Mistral v0.1 (llama.cpp writes it as llama).
    const bool mistral = c.architecture == Architecture::kMistral || c.sliding_window > 0;
    const char* type = c.architecture == Architecture::kQwen2   ? "qwen2"
                       : c.architecture == Architecture::kQwen3 ? "qwen3"
                       : mistral                                ? "mistral"
                                                                : "llama";
    const char* name = c.architecture == Architecture::kQwen2   ? "Qwen2ForCausalLM"
                       : c.architecture == Architecture::kQwen3 ? "Qwen3ForCausalLM"
                       : mistral                                ? "MistralForCausalLM"
                                                                : "LlamaForCausalLM";
    o = {{"architectures", json::array{name}},
         {"model_type", type},
         {"hidden_size", c.d_model},
         {"intermediate_size", c.d_ff},
         {"num_hidden_layers", c.n_layers},
         {"num_attention_heads", c.n_heads},
         {"num_key_value_heads", c.n_kv_heads},
         {"head_dim", c.head_dim},
         {"vocab_size", c.vocab_size},
         {"max_position_embeddings", c.max_context},
         {"rms_norm_eps", c.norm_eps},
         {"rope_theta", c.rope_theta},
         {"hidden_act", "silu"},
         {"tie_word_embeddings", c.tie_embeddings}};
    if (mistral) o["sliding_window"] = c.sliding_window > 0 ? json::value(c.sliding_window) : json::value(nullptr);
  } else {
    o = {{"architectures", json::array{"GPT2LMHeadModel"}},
         {"model_type", "gpt2"},
         {"n_embd", c.d_model},
         {"n_inner", c.d_ff},
         {"n_layer", c.n_layers},
         {"n_head", c.n_heads},
         {"vocab_size", c.vocab_size},
         {"n_positions", c.max_context},
         {"n_ctx", c.max_context},
         {"layer_norm_epsilon", c.norm_eps},
         {"activation_function", "gelu_new"}};
  }
  if (c.bos_id) o["bos_token_id"] = *c.bos_id;
  if (!c.eos_ids.empty()) o["eos_token_id"] = token_ids(c);
  return json::serialize(o) + "\n";
}

// GPT-2 matrices other than the embeddings arrive [out, in] (convert_hf_to_gguf.py transposes Conv1D weights).
bool conv1d_stored_out_in(const std::string& hf_name, const TensorInfo& t) {
  return t.shape.rank() == 2 && !hf_name.ends_with("wte.weight") && !hf_name.ends_with("wpe.weight") &&
         hf_name != "lm_head.weight";
}

}  // namespace

Result<void> convert_gguf(const std::filesystem::path& gguf, const std::filesystem::path& out_dir, bool force) {
  EDGE_RT_TRY(const model_ir::GgufFile file, model_ir::GgufFile::open(gguf));
  EDGE_RT_TRY(const ModelConfig config, model_ir::config_from_gguf(file));
  if (!convertible(config)) {
    return fail(ErrorCode::kUnsupported,
                "[convert] " + gguf.string() + ": general.architecture " + config.architecture_name +
                    ": converting Gemma and Phi-3 GGUF files to safetensors is not supported; run "
                    "the GGUF file itself");
  }
  const bool has_tokenizer = file.value("tokenizer.ggml.model") != nullptr;
  std::string tokenizer_json;
  json::object tokenizer_config;  // what transformers and load_tokenizer read beside tokenizer.json
  if (config.add_bos) tokenizer_config["add_bos_token"] = *config.add_bos;
  if (has_tokenizer) {
    EDGE_RT_TRY(const tokenizer::GgmlVocab vocab, tokenizer::ggml_vocab_of(file));
    EDGE_RT_TRY(tokenizer_json, tokenizer::ggml_tokenizer_json(vocab, gguf.string()));
    if (vocab.bos_id) tokenizer_config["bos_token"] = vocab.tokens[static_cast<std::size_t>(*vocab.bos_id)];
    if (vocab.eos_id) tokenizer_config["eos_token"] = vocab.tokens[static_cast<std::size_t>(*vocab.eos_id)];
  }
  // Specs first: the writer puts the header before any data.
  std::vector<model_ir::TensorSpec> specs;
  std::vector<const TensorInfo*> sources;
  std::map<std::string, std::string> metadata{{"format", "pt"}};
  for (const TensorInfo& t : file.tensors()) {
    const std::optional<std::string> hf = model_ir::hf_name_of_gguf(config.architecture, t.name);
    if (!hf) {
      return fail(ErrorCode::kUnsupported, "[convert] " + gguf.string() + ": tensor '" + t.name + "' has no " +
                                               config.architecture_name + " counterpart in the Hugging Face layout");
    }
    if (config.architecture == Architecture::kGpt2 && !tc::is_quantized(t.dtype) && conv1d_stored_out_in(*hf, t)) {
      metadata[std::string(model_ir::kLayoutMetadataPrefix) + *hf] = "out_in";
    }
    specs.push_back({*hf, t.dtype, t.shape});
    sources.push_back(&t);
  }
  const std::filesystem::path inputs[] = {gguf};
  EDGE_RT_TRY(detail::prepare_output_folder(out_dir, force, inputs, "[convert]"));
  EDGE_RT_TRY(auto writer, model_ir::SafetensorsWriter::create(out_dir / "model.safetensors", specs, metadata));
  std::vector<std::byte> data;
  for (std::size_t i = 0; i < specs.size(); ++i) {
    const TensorInfo& t = *sources[i];
    data.resize(t.size_bytes);
    EDGE_RT_TRY(file.file().read(t.offset_bytes, data, t.name));
    const bool q = specs[i].name.ends_with("self_attn.q_proj.weight");
    const bool k = specs[i].name.ends_with("self_attn.k_proj.weight");
    if (config.rope_interleaved && (q || k) && t.shape.rank() == 2) {
      const auto rows = static_cast<std::size_t>(t.shape[0]);
      const auto head_dim = static_cast<std::size_t>(config.head_dim);
      if (rows % head_dim != 0) {
        return fail(ErrorCode::kInvalidFormat, "[convert] " + gguf.string() + ": tensor '" + t.name + "' has " +
                                                   std::to_string(rows) + " rows, not whole heads of " +
                                                   std::to_string(head_dim));
      }
      data = detail::rotate_half_rows(data, rows / head_dim, head_dim, t.size_bytes / rows);
    }
    EDGE_RT_TRY(writer.append(data));
  }
  EDGE_RT_TRY(writer.finish());
  EDGE_RT_TRY(write_file_atomically(out_dir / "config.json", config_json(config), "[convert]"));
  std::vector<std::string> written = {"model.safetensors", "config.json"};
  if (has_tokenizer) {
    EDGE_RT_TRY(write_file_atomically(out_dir / "tokenizer.json", tokenizer_json, "[convert]"));
    written.push_back("tokenizer.json");
  }
  if (!tokenizer_config.empty()) {
    EDGE_RT_TRY(write_file_atomically(out_dir / "tokenizer_config.json", json::serialize(tokenizer_config) + "\n",
                                      "[convert]"));
    written.push_back("tokenizer_config.json");
  }
  return detail::remove_stale_model_files(out_dir, written, "[convert]");
}

}  // namespace edge_rt::convert
