#pragma once
// Re-storing a model's weights in another format (edge-rt quantize).

#include <edge_rt/core/result.hpp>
#include <edge_rt/tensor_core/dtype.hpp>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace edge_rt::convert {

/// What quantize_model did. Copyable value.
struct QuantizeReport {
  std::size_t tensors = 0;
  std::uint64_t bytes_in = 0;   ///< Weight bytes read from the source checkpoint.
  std::uint64_t bytes_out = 0;  ///< Data bytes of the written model.safetensors.
  /// "name: F16 (in 172 is not a multiple of 32)" for every matrix not stored in the requested format.
  std::vector<std::string> fallbacks;
};

/// Writes `out_dir`/model.safetensors with the weights of the model in `model_dir` stored as `type` (F16, BF16, or
/// a block format: Q8_0, Q6_K, Q5_K, Q5_1, Q5_0, Q4_K, Q4_1, Q4_0), and copies the folder's other files
/// (config.json, tokenizer files) except the shard index.
///
/// Choices, following llama.cpp's practice:
///  - norms and biases stay F32;
///  - block formats: every matrix whose input dimension is a multiple of 32 is quantized. The formats below 6 bits
///    keep at Q8_0 the token embedding and the LM head, tied or not (the output layer is the most sensitive;
///    llama.cpp uses Q6_K there), and a separate attention V projection (llama.cpp's Q4_K mixes give attn_v more
///    bits; on stories260K this takes the Q4_0 perplexity cost from +6.0% to +3.9%). A K-quant matrix whose input
///    dimension is not a multiple of 256 takes llama.cpp's fallback (Q4_K -> Q5_0, Q5_K -> Q5_1, Q6_K -> Q8_0).
///    Other matrices, and position embeddings, are stored F16; every exception is listed in the report;
///  - GPT-2's Conv1D weights are written output-major [out, in]: quantized ones because blocks run along the input
///    dimension, F16/BF16 ones because decode streams output-major rows faster (each is marked
///    "edge_rt.layout.<name>" = "out_in" in the metadata). `hf_layout` keeps F16/BF16 in the source layout, so the
///    file stays a standard HF checkpoint.
///
/// Streams: rows are read with pread a block at a time and written as they are converted. Memory is bounded by
/// one transposed matrix (Conv1D weights quantized) plus a few MiB, so models larger than RAM convert.
/// Output: every file is written to a temporary file and renamed into place (never through a link), out_dir must
/// be new or empty unless `force`, and with `force` the loader files of out_dir that were not written (a shard
/// index, shards, other tokenizer files) are removed afterwards so that the new model is what loads.
/// Errors: kInvalidArgument (type F32, out_dir == model_dir, a source already quantized, a
/// non-empty out_dir without `force`, an output file that is an input through a link), errors of
/// ModelGraph::load/validate, kIoError (unreadable source, unwritable output, with strerror).
Result<QuantizeReport> quantize_model(const std::filesystem::path& model_dir, tensor_core::DType type,
                                      const std::filesystem::path& out_dir, bool hf_layout = false, bool force = false);

}  // namespace edge_rt::convert
