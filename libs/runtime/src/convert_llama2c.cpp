#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/runtime/convert.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <boost/json.hpp>

#include <cstring>
#include <fstream>
#include <vector>

namespace edge_rt::runtime {

namespace {

struct Header {
  std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
};

// Rows of w [n_heads * head_dim, cols]: llama2.c rotates pairs (2i, 2i+1) of each head, HF rotates (i, i + hd/2).
std::vector<float> permute_rope_rows(const float* w, std::size_t n_heads, std::size_t head_dim, std::size_t cols) {
  std::vector<float> out(n_heads * head_dim * cols);
  const std::size_t half = head_dim / 2;
  for (std::size_t h = 0; h < n_heads; ++h) {
    for (std::size_t i = 0; i < half; ++i) {
      for (std::size_t j = 0; j < 2; ++j) {
        const float* src = w + (h * head_dim + 2 * i + j) * cols;
        std::memcpy(out.data() + (h * head_dim + j * half + i) * cols, src, cols * sizeof(float));
      }
    }
  }
  return out;
}

std::span<const std::byte> as_bytes(const float* p, std::size_t n) {
  return {reinterpret_cast<const std::byte*>(p), n * sizeof(float)};
}

}  // namespace

Result<void> convert_llama2c(const std::filesystem::path& checkpoint_bin, const std::filesystem::path& tokenizer_bin,
                             const std::filesystem::path& out_dir) {
  const std::string label = "[convert] " + checkpoint_bin.string() + ": ";
  std::ifstream in(checkpoint_bin, std::ios::binary);
  if (!in) return fail(ErrorCode::kIoError, label + "cannot open");
  std::vector<char> raw((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (raw.size() < sizeof(Header)) {
    return fail(ErrorCode::kInvalidFormat,
                label + "file is " + std::to_string(raw.size()) + " bytes, shorter than the 28-byte header");
  }
  Header h;
  std::memcpy(&h, raw.data(), sizeof(Header));
  const bool shared = h.vocab_size > 0;
  const std::int64_t vocab = shared ? h.vocab_size : -static_cast<std::int64_t>(h.vocab_size);
  auto in_range = [](std::int64_t v) { return v > 0 && v <= (1 << 20); };
  if (!in_range(h.dim) || !in_range(h.hidden_dim) || !in_range(h.n_layers) || !in_range(h.n_heads) ||
      !in_range(h.n_kv_heads) || !in_range(vocab) || !in_range(h.seq_len) || h.dim % h.n_heads != 0 ||
      h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0) {
    return fail(ErrorCode::kInvalidFormat,
                label + "header (dim " + std::to_string(h.dim) + ", hidden_dim " + std::to_string(h.hidden_dim) +
                    ", layers " + std::to_string(h.n_layers) + ", heads " + std::to_string(h.n_heads) + "/" +
                    std::to_string(h.n_kv_heads) + ", vocab " + std::to_string(h.vocab_size) + ", seq_len " +
                    std::to_string(h.seq_len) + ") is not a valid model");
  }
  const std::size_t d = static_cast<std::size_t>(h.dim), ff = static_cast<std::size_t>(h.hidden_dim);
  const std::size_t L = static_cast<std::size_t>(h.n_layers), V = static_cast<std::size_t>(vocab);
  const std::size_t head_dim = d / static_cast<std::size_t>(h.n_heads);
  const std::size_t kv_dim = head_dim * static_cast<std::size_t>(h.n_kv_heads);
  const std::size_t rope_floats = static_cast<std::size_t>(h.seq_len) * head_dim;  // two tables of seq_len x hd/2
  const std::size_t n_floats = V * d + L * d + L * d * d + 2 * L * kv_dim * d + L * d * d + L * d + 3 * L * ff * d + d +
                               rope_floats + (shared ? 0 : V * d);
  const std::size_t expected = sizeof(Header) + n_floats * sizeof(float);
  if (raw.size() != expected) {
    return fail(ErrorCode::kInvalidFormat, label + "file is " + std::to_string(raw.size()) + " bytes, expected " +
                                               std::to_string(expected) + " for its header");
  }
  std::vector<float> w(n_floats);
  std::memcpy(w.data(), raw.data() + sizeof(Header), n_floats * sizeof(float));
  const float* p = w.data();
  auto take = [&](std::size_t n) {
    const float* q = p;
    p += n;
    return q;
  };
  const float* emb = take(V * d);
  const float* rms_att = take(L * d);
  const float* wq = take(L * d * d);
  const float* wk = take(L * kv_dim * d);
  const float* wv = take(L * kv_dim * d);
  const float* wo = take(L * d * d);
  const float* rms_ffn = take(L * d);
  const float* w1 = take(L * ff * d);
  const float* w2 = take(L * d * ff);
  const float* w3 = take(L * ff * d);
  const float* rms_final = take(d);
  take(rope_floats);
  const float* classifier = shared ? emb : take(V * d);

  using tensor_core::DType;
  using tensor_core::Shape;
  const auto sd = static_cast<std::int64_t>(d), sff = static_cast<std::int64_t>(ff);
  const auto skv = static_cast<std::int64_t>(kv_dim), sV = static_cast<std::int64_t>(V);
  std::vector<std::vector<float>> permuted;  // keeps permuted q/k alive until written
  std::vector<model_ir::TensorToWrite> tensors;
  tensors.push_back({"model.embed_tokens.weight", DType::kF32, Shape{sV, sd}, as_bytes(emb, V * d)});
  for (std::size_t l = 0; l < L; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    permuted.push_back(permute_rope_rows(wq + l * d * d, static_cast<std::size_t>(h.n_heads), head_dim, d));
    tensors.push_back(
        {pre + "self_attn.q_proj.weight", DType::kF32, Shape{sd, sd}, as_bytes(permuted.back().data(), d * d)});
    permuted.push_back(permute_rope_rows(wk + l * kv_dim * d, static_cast<std::size_t>(h.n_kv_heads), head_dim, d));
    tensors.push_back(
        {pre + "self_attn.k_proj.weight", DType::kF32, Shape{skv, sd}, as_bytes(permuted.back().data(), kv_dim * d)});
    tensors.push_back(
        {pre + "self_attn.v_proj.weight", DType::kF32, Shape{skv, sd}, as_bytes(wv + l * kv_dim * d, kv_dim * d)});
    tensors.push_back({pre + "self_attn.o_proj.weight", DType::kF32, Shape{sd, sd}, as_bytes(wo + l * d * d, d * d)});
    tensors.push_back({pre + "mlp.gate_proj.weight", DType::kF32, Shape{sff, sd}, as_bytes(w1 + l * ff * d, ff * d)});
    tensors.push_back({pre + "mlp.down_proj.weight", DType::kF32, Shape{sd, sff}, as_bytes(w2 + l * d * ff, d * ff)});
    tensors.push_back({pre + "mlp.up_proj.weight", DType::kF32, Shape{sff, sd}, as_bytes(w3 + l * ff * d, ff * d)});
    tensors.push_back({pre + "input_layernorm.weight", DType::kF32, Shape{sd}, as_bytes(rms_att + l * d, d)});
    tensors.push_back({pre + "post_attention_layernorm.weight", DType::kF32, Shape{sd}, as_bytes(rms_ffn + l * d, d)});
  }
  tensors.push_back({"model.norm.weight", DType::kF32, Shape{sd}, as_bytes(rms_final, d)});
  if (!shared) tensors.push_back({"lm_head.weight", DType::kF32, Shape{sV, sd}, as_bytes(classifier, V * d)});

  EDGE_RT_TRY(auto vocab_data, tokenizer::read_llama2c_vocab(tokenizer_bin));
  if (vocab_data.pieces.size() != V) {
    return fail(ErrorCode::kInvalidFormat, "[convert] " + tokenizer_bin.string() + ": " +
                                               std::to_string(vocab_data.pieces.size()) +
                                               " tokens, but the checkpoint's vocab_size is " + std::to_string(V));
  }
  std::error_code ec;
  std::filesystem::create_directories(out_dir, ec);
  if (ec) return fail(ErrorCode::kIoError, "[convert] cannot create " + out_dir.string() + ": " + ec.message());
  EDGE_RT_TRY(model_ir::write_safetensors(out_dir / "model.safetensors", tensors, {{"format", "pt"}}));

  boost::json::object config{
      {"architectures", boost::json::array{"LlamaForCausalLM"}},
      {"model_type", "llama"},
      {"hidden_size", h.dim},
      {"intermediate_size", h.hidden_dim},
      {"num_hidden_layers", h.n_layers},
      {"num_attention_heads", h.n_heads},
      {"num_key_value_heads", h.n_kv_heads},
      {"vocab_size", vocab},
      {"max_position_embeddings", h.seq_len},
      {"rms_norm_eps", 1e-5},
      {"rope_theta", 10000.0},
      {"hidden_act", "silu"},
      {"tie_word_embeddings", shared},
      {"bos_token_id", 1},
      {"eos_token_id", 2},
      {"torch_dtype", "float32"},
  };
  std::ofstream cfg(out_dir / "config.json");
  cfg << boost::json::serialize(config) << "\n";
  std::ofstream tok(out_dir / "tokenizer.json");
  tok << tokenizer::sentencepiece_tokenizer_json(vocab_data);
  if (!cfg.flush() || !tok.flush()) return fail(ErrorCode::kIoError, "[convert] cannot write " + out_dir.string());
  return boost::outcome_v2::success();
}

}  // namespace edge_rt::runtime
