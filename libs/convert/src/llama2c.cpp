#include "output_folder.hpp"
#include "rope_rows.hpp"

#include <edge_rt/convert/llama2c.hpp>
#include <edge_rt/core/checked.hpp>
#include <edge_rt/core/file.hpp>
#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <boost/json.hpp>

#include <algorithm>
#include <cstring>
#include <optional>
#include <vector>

namespace edge_rt::convert {

namespace {

// Rows of w [n_heads * head_dim, cols]: llama2.c rotates pairs (2i, 2i+1) of each head, HF rotates (i, i + hd/2).
std::span<const std::byte> as_bytes(const float* p, std::size_t n) {
  return {reinterpret_cast<const std::byte*>(p), n * sizeof(float)};
}

}  // namespace

Result<Llama2cHeader> parse_llama2c_header(std::string_view first_bytes, std::uint64_t file_size,
                                           const std::string& label) {
  const std::string where = "[convert] " + label + ": ";
  if (first_bytes.size() < kLlama2cHeaderBytes || file_size < kLlama2cHeaderBytes) {
    return fail(ErrorCode::kInvalidFormat,
                where + "file is " + std::to_string(file_size) + " bytes, shorter than the 28-byte header");
  }
  std::int32_t f[7];
  std::memcpy(f, first_bytes.data(), sizeof f);
  Llama2cHeader h{f[0], f[1], f[2], f[3], f[4], f[5], f[6]};
  const std::int64_t vocab = h.vocab_size > 0 ? h.vocab_size : -static_cast<std::int64_t>(h.vocab_size);
  auto in_range = [](std::int64_t v) { return v > 0 && v <= (1 << 20); };
  if (!in_range(h.dim) || !in_range(h.hidden_dim) || !in_range(h.n_layers) || !in_range(h.n_heads) ||
      !in_range(h.n_kv_heads) || !in_range(vocab) || !in_range(h.seq_len) || h.dim % h.n_heads != 0 ||
      h.n_heads % h.n_kv_heads != 0 || (h.dim / h.n_heads) % 2 != 0) {
    return fail(ErrorCode::kInvalidFormat, where + "header (dim " + std::to_string(h.dim) + ", hidden_dim " +
                                               std::to_string(h.hidden_dim) + ", layers " + std::to_string(h.n_layers) +
                                               ", heads " + std::to_string(h.n_heads) + "/" +
                                               std::to_string(h.n_kv_heads) + ", vocab " +
                                               std::to_string(h.vocab_size) + ", seq_len " + std::to_string(h.seq_len) +
                                               ") is not a valid model: each field must be 1..2^20, dim a "
                                               "multiple of n_heads, n_heads of n_kv_heads, and dim / n_heads even");
  }
  // Each field passed its 2^20 cap, but their products do not have to fit: every step is checked.
  const auto d = static_cast<std::uint64_t>(h.dim), ff = static_cast<std::uint64_t>(h.hidden_dim);
  const auto L = static_cast<std::uint64_t>(h.n_layers), V = static_cast<std::uint64_t>(vocab);
  const std::uint64_t head_dim = d / static_cast<std::uint64_t>(h.n_heads);
  const std::uint64_t kv_dim = head_dim * static_cast<std::uint64_t>(h.n_kv_heads);
  const bool shared = h.vocab_size > 0;
  const std::optional<std::uint64_t> parts[] = {checked_product(V, d),
                                                checked_product(L, d),
                                                checked_product(L, d, d),
                                                checked_product(L, kv_dim, d, std::uint64_t{2}),
                                                checked_product(L, d, d),
                                                checked_product(L, d),
                                                checked_product(L, ff, d, std::uint64_t{3}),
                                                std::optional<std::uint64_t>(d),
                                                checked_product(static_cast<std::uint64_t>(h.seq_len), head_dim),
                                                shared ? std::optional<std::uint64_t>(0) : checked_product(V, d)};
  std::optional<std::uint64_t> n_floats = 0;
  for (const auto& part : parts) n_floats = n_floats && part ? checked_add(*n_floats, *part) : std::nullopt;
  const std::optional<std::uint64_t> data_bytes =
      n_floats ? checked_mul<std::uint64_t>(*n_floats, sizeof(float)) : std::nullopt;
  const std::optional<std::uint64_t> bytes =
      data_bytes ? checked_add<std::uint64_t>(kLlama2cHeaderBytes, *data_bytes) : std::nullopt;
  if (!bytes) return fail(ErrorCode::kInvalidFormat, where + "the header's sizes overflow 64 bits: not a valid model");
  if (file_size != *bytes) {
    return fail(ErrorCode::kInvalidFormat, where + "file is " + std::to_string(file_size) + " bytes, expected " +
                                               std::to_string(*bytes) + " for its header");
  }
  h.n_floats = *n_floats;
  return h;
}

Result<void> convert_llama2c(const std::filesystem::path& checkpoint_bin, const std::filesystem::path& tokenizer_bin,
                             const std::filesystem::path& out_dir, bool force) {
  EDGE_RT_TRY(RegularFile file, open_regular_file(checkpoint_bin, "[convert]"));
  std::string head(std::min<std::uint64_t>(kLlama2cHeaderBytes, file.size_bytes), '\0');
  EDGE_RT_TRY(read_exactly_at(file.fd.get(), head.data(), head.size(), 0, checkpoint_bin, "[convert]"));
  EDGE_RT_TRY(const Llama2cHeader h, parse_llama2c_header(head, file.size_bytes, checkpoint_bin.string()));
  const bool shared = h.vocab_size > 0;
  const std::int64_t vocab = shared ? h.vocab_size : -static_cast<std::int64_t>(h.vocab_size);
  const std::size_t d = static_cast<std::size_t>(h.dim), ff = static_cast<std::size_t>(h.hidden_dim);
  const std::size_t L = static_cast<std::size_t>(h.n_layers), V = static_cast<std::size_t>(vocab);
  const std::size_t head_dim = d / static_cast<std::size_t>(h.n_heads);
  const std::size_t kv_dim = head_dim * static_cast<std::size_t>(h.n_kv_heads);
  const std::size_t rope_floats = static_cast<std::size_t>(h.seq_len) * head_dim;  // two tables of seq_len x hd/2
  const std::size_t n_floats = static_cast<std::size_t>(h.n_floats);
  // The size matched the header, so the weights are read straight into place (converting needs them all in memory).
  std::vector<float> w(n_floats);
  EDGE_RT_TRY(read_exactly_at(file.fd.get(), w.data(), n_floats * sizeof(float), kLlama2cHeaderBytes, checkpoint_bin,
                              "[convert]"));
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
  std::vector<std::vector<std::byte>> permuted;  // keeps permuted q/k alive until written
  std::vector<model_ir::TensorToWrite> tensors;
  tensors.push_back({"model.embed_tokens.weight", DType::kF32, Shape{sV, sd}, as_bytes(emb, V * d)});
  for (std::size_t l = 0; l < L; ++l) {
    const std::string pre = "model.layers." + std::to_string(l) + ".";
    permuted.push_back(detail::rotate_half_rows(as_bytes(wq + l * d * d, d * d), static_cast<std::size_t>(h.n_heads),
                                                head_dim, d * sizeof(float)));
    tensors.push_back({pre + "self_attn.q_proj.weight", DType::kF32, Shape{sd, sd}, permuted.back()});
    permuted.push_back(detail::rotate_half_rows(as_bytes(wk + l * kv_dim * d, kv_dim * d),
                                                static_cast<std::size_t>(h.n_kv_heads), head_dim, d * sizeof(float)));
    tensors.push_back({pre + "self_attn.k_proj.weight", DType::kF32, Shape{skv, sd}, permuted.back()});
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
  const std::filesystem::path inputs[] = {checkpoint_bin, tokenizer_bin};
  EDGE_RT_TRY(detail::prepare_output_folder(out_dir, force, inputs, "[convert]"));
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
  EDGE_RT_TRY(write_file_atomically(out_dir / "config.json", boost::json::serialize(config) + "\n", "[convert]"));
  EDGE_RT_TRY(write_file_atomically(out_dir / "tokenizer.json", tokenizer::sentencepiece_tokenizer_json(vocab_data),
                                    "[convert]"));
  const std::string written[] = {"model.safetensors", "config.json", "tokenizer.json"};
  return detail::remove_stale_model_files(out_dir, written, "[convert]");
}

}  // namespace edge_rt::convert
