#pragma once
// Converting other checkpoint formats into the HF-layout folders edge-rt runs.

#include <edge_rt/core/result.hpp>

#include <filesystem>

namespace edge_rt::runtime {

/// Converts a llama2.c "legacy" checkpoint (run.c's format: 7 int32 header fields dim, hidden_dim, n_layers,
/// n_heads, n_kv_heads, vocab_size (negative: unshared classifier), seq_len; then F32 token_embedding, rms_att, wq,
/// wk, wv, wo, rms_ffn, w1, w2, w3, rms_final, the old RoPE tables, and the classifier when unshared) and its
/// tokenizer.bin into `out_dir`: model.safetensors (HF Llama names, F32), config.json (LlamaForCausalLM) and
/// tokenizer.json (SentencePiece-style BPE). q/k rows are permuted from llama2.c's interleaved RoPE pairs to HF's
/// rotate-half layout (the inverse of HF's convert_llama_weights_to_hf permutation). Creates out_dir if needed.
/// Errors: kIoError (unreadable input, unwritable output), kInvalidFormat (header values out of range, a file size
/// that disagrees with the header: the message gives both sizes).
Result<void> convert_llama2c(const std::filesystem::path& checkpoint_bin, const std::filesystem::path& tokenizer_bin,
                             const std::filesystem::path& out_dir);

}  // namespace edge_rt::runtime
