#pragma once
// Converting a GGUF file into the HF-layout folder edge-rt (and transformers) read.

#include <edge_rt/core/result.hpp>

#include <filesystem>

namespace edge_rt::convert {

/// Converts a GGUF file of the llama or gpt2 architecture (model_ir::GgufFile, config_from_gguf) into `out_dir`:
///  - model.safetensors: every tensor under its Hugging Face name (model_ir::hf_name_of_gguf) in the file's own
///    dtype, block formats as U8 tensors described by kQuantMetadataPrefix metadata; Llama's Q and K rows permuted
///    back from Meta's interleaved RoPE order to HF's rotate-half order (the inverse of convert_hf_to_gguf.py's
///    permute); GPT-2's matrices stay [out, in] and are marked kLayoutMetadataPrefix "out_in" (quantized ones are
///    output-major anyway);
///  - config.json (LlamaForCausalLM or GPT2LMHeadModel) from the metadata;
///  - tokenizer.json from tokenizer.ggml.*: byte-level BPE (vocab, merges, control and user-defined tokens as
///    added tokens; the smollm pre-tokenizer as Sequence[Split(\p{N}), ByteLevel]), or SentencePiece BPE for
///    "llama" vocabularies whose ids 0-2 are <unk>, <s>, </s> (tokenizer::ggml_tokenizer_json);
///  - tokenizer_config.json with bos_token / eos_token, and add_bos_token when the file says it.
/// The converted folder holds the same weights and tokenizer: GPT-2 files give the GGUF file's logits to the bit;
/// for Llama the rotate-half layout sums q.k in another order, so logits agree to float rounding, which 8-bit
/// activations of quantized models amplify (SmolLM2 Q4_1: 0.3-1.0 after a few positions, as against llama.cpp).
/// Streams one tensor at a time. Output
/// files are written as quantize_model writes them (temporary file and rename; out_dir new or empty unless
/// `force`; stale loader files removed with `force`; no output file may be the input through a link).
/// Errors: those of GgufFile::open and config_from_gguf; kUnsupported (a tensor the architecture does not have, a
/// vocabulary or pre-tokenizer with no tokenizer.json form here); kIoError (unwritable output).
Result<void> convert_gguf(const std::filesystem::path& gguf, const std::filesystem::path& out_dir, bool force = false);

}  // namespace edge_rt::convert
