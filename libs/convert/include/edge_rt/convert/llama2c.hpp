#pragma once
// Converting other checkpoint formats into the HF-layout folders edge-rt runs.

#include <edge_rt/core/result.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

namespace edge_rt::convert {

/// Converts a llama2.c "legacy" checkpoint (run.c's format: 7 int32 header fields dim, hidden_dim, n_layers,
/// n_heads, n_kv_heads, vocab_size (negative: unshared classifier), seq_len; then F32 token_embedding, rms_att, wq,
/// wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, the old RoPE tables, and the classifier when unshared) and its
/// tokenizer.bin into `out_dir`: model.safetensors (HF Llama names, F32), config.json (LlamaForCausalLM) and
/// tokenizer.json (SentencePiece-style BPE). q/k rows are permuted from llama2.c's interleaved RoPE pairs to HF's
/// rotate-half layout (the inverse of HF's convert_llama_weights_to_hf permutation). Creates out_dir if needed.
/// Errors: kIoError (unreadable input, unwritable output), kInvalidFormat (header values out of range, a file size
/// that disagrees with the header: the message gives both sizes).
/// Output files are written as quantize_model writes them (temporary file and rename; out_dir new or empty
/// unless `force`; stale loader files removed with `force`; no output file may be an input through a link).
Result<void> convert_llama2c(const std::filesystem::path& checkpoint_bin, const std::filesystem::path& tokenizer_bin,
                             const std::filesystem::path& out_dir, bool force = false);

/// The 7 int32 fields of a llama2.c checkpoint header, and the F32 count they imply.
struct Llama2cHeader {
  std::int32_t dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
  std::uint64_t n_floats = 0;  ///< Every weight and the RoPE tables, in floats.
};
inline constexpr std::size_t kLlama2cHeaderBytes = 7 * sizeof(std::int32_t);

/// Validates a header (the first bytes of the file, at least 28) against the file's size in bytes: every field
/// 1..2^20 (vocab_size may be negative: an unshared classifier), the head layout consistent, the implied size
/// computed with checked arithmetic and equal to file_size. Exposed for fuzzing. Errors: kInvalidFormat naming
/// `label`, the fields, and both sizes when they disagree.
Result<Llama2cHeader> parse_llama2c_header(std::string_view first_bytes, std::uint64_t file_size,
                                           const std::string& label);

}  // namespace edge_rt::convert
