#include "output_folder.hpp"

#include <edge_rt/convert/quantize.hpp>
#include <edge_rt/core/file.hpp>

#include <edge_rt/model_ir/model_graph.hpp>
#include <edge_rt/model_ir/safetensors.hpp>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <system_error>

namespace edge_rt::convert {

namespace {

namespace tc = tensor_core;
using model_ir::WeightRef;
using model_ir::WeightRole;

// One tensor to write: where it comes from and how it is stored.
struct Job {
  const WeightRef* weight = nullptr;
  model_ir::TensorSpec spec;
  bool transpose = false;  // source [in, out] written as [out, in]
};

// Rows converted per read when streaming a non-transposed matrix: about 4 MiB of F32.
constexpr std::size_t kChunkFloats = std::size_t{1} << 20;

Result<Job> plan_tensor(const WeightRef& w, tc::DType type, bool hf_layout, std::vector<std::string>& fallbacks) {
  Job job;
  job.weight = &w;
  job.spec.name = w.source->name;
  if (w.shape.rank() == 1) {  // norms and biases
    job.spec.dtype = tc::DType::kF32;
    job.spec.shape = w.source->shape;
    return job;
  }
  if (!tc::is_quantized(type)) {  // F16/BF16: Conv1D output-major unless the HF layout is asked for
    job.spec.dtype = type;
    job.transpose = w.transpose && !hf_layout;
    job.spec.shape = job.transpose ? w.shape : w.source->shape;
    return job;
  }
  const auto in = static_cast<std::size_t>(w.shape[1]);
  tc::DType want = type;
  // Below 6 bits the token embedding, the LM head and attention V stay at 8 bits (llama.cpp's Q4_K mixes give
  // attn_v and the output more bits: V is small with GQA and its error reaches every head's output).
  const bool low_bits = type != tc::DType::kQ8_0 && type != tc::DType::kQ6_K;
  const bool sensitive =
      w.role == WeightRole::kTokenEmbedding || w.role == WeightRole::kLmHead || w.role == WeightRole::kV;
  if (low_bits && sensitive) want = tc::DType::kQ8_0;
  // K-quants need rows of whole 256-weight blocks; llama.cpp falls back to a 32-block format of similar size.
  if (tc::is_k_quant(want) && in % tc::kSuperBlock != 0) {
    want = want == tc::DType::kQ4_K ? tc::DType::kQ5_0 : want == tc::DType::kQ5_K ? tc::DType::kQ5_1 : tc::DType::kQ8_0;
    fallbacks.push_back(job.spec.name + ": " + std::string(tc::dtype_name(want)) + " (input dimension " +
                        std::to_string(in) + " is not a multiple of 256)");
  }
  if (w.role == WeightRole::kPositionEmbedding) {
    fallbacks.push_back(job.spec.name + ": F16 (position embedding)");
    want = tc::DType::kF16;
  } else if (in % tc::kQuantBlock != 0) {
    fallbacks.push_back(job.spec.name + ": F16 (input dimension " + std::to_string(in) + " is not a multiple of 32)");
    want = tc::DType::kF16;
  } else if (low_bits && sensitive) {
    fallbacks.push_back(job.spec.name + ": Q8_0 (token embedding, LM head and attention V kept at 8 bits)");
  }
  job.spec.dtype = want;
  if (tc::is_quantized(want)) {
    job.spec.shape = w.shape;  // logical [out, in]
    job.transpose = w.transpose;
  } else {
    job.spec.shape = w.source->shape;
  }
  return job;
}

// Streams one tensor stored as in the source (row chunks).
Result<void> write_straight(const Job& job, model_ir::SafetensorsWriter& writer, QuantizeReport& report) {
  const WeightRef& w = *job.weight;
  const tc::Shape& src_shape = w.source->shape;
  const auto cols = static_cast<std::size_t>(src_shape[src_shape.rank() - 1]);
  const std::size_t rows = cols == 0 ? 0 : static_cast<std::size_t>(src_shape.numel()) / cols;
  const std::size_t src_row = tc::row_bytes(w.source->dtype, cols);
  const std::size_t dst_row = tc::row_bytes(job.spec.dtype, cols);
  const std::size_t step = std::max<std::size_t>(1, kChunkFloats / std::max<std::size_t>(cols, 1));
  std::vector<std::byte> raw(std::min(rows, step) * src_row);
  std::vector<float> floats(std::min(rows, step) * cols);
  std::vector<std::byte> out(std::min(rows, step) * dst_row);
  for (std::size_t r = 0; r < rows; r += step) {
    const std::size_t n = std::min(step, rows - r);
    EDGE_RT_TRY(w.file->read(w.source->offset_bytes + r * src_row, std::span(raw.data(), n * src_row), w.source->name));
    w.file->drop_page_cache(w.source->offset_bytes + r * src_row,
                            n * src_row);  // larger-than-RAM models: keep the cache flat
    for (std::size_t i = 0; i < n; ++i) {
      tc::to_f32(w.source->dtype, raw.data() + i * src_row, cols, floats.data() + i * cols);
      tc::from_f32(job.spec.dtype, floats.data() + i * cols, cols, out.data() + i * dst_row);
    }
    EDGE_RT_TRY(writer.append(std::span(out.data(), n * dst_row)));
    report.bytes_in += n * src_row;
    report.bytes_out += n * dst_row;
  }
  return boost::outcome_v2::success();
}

// A Conv1D weight [in, out] written output-major: bands of input rows as long as one block (32, or 256 for the
// K-quants) give one block of every output row, so the source is read once, in order.
Result<void> write_transposed(const Job& job, model_ir::SafetensorsWriter& writer, QuantizeReport& report) {
  const WeightRef& w = *job.weight;
  const auto in = static_cast<std::size_t>(w.source->shape[0]);
  const auto out_features = static_cast<std::size_t>(w.source->shape[1]);
  const std::size_t src_row = tc::row_bytes(w.source->dtype, out_features);
  const std::size_t dst_row = tc::row_bytes(job.spec.dtype, in);
  std::vector<std::byte> result(out_features * dst_row);
  const std::size_t band_rows = std::max(tc::kQuantBlock, tc::block_elems(job.spec.dtype));
  std::vector<std::byte> raw(band_rows * src_row);
  std::vector<float> band(band_rows * out_features);
  std::vector<float> column(band_rows);
  for (std::size_t c0 = 0; c0 < in; c0 += band_rows) {
    const std::size_t rows = std::min(band_rows, in - c0);  // short only for an unquantized tail
    EDGE_RT_TRY(
        w.file->read(w.source->offset_bytes + c0 * src_row, std::span(raw.data(), rows * src_row), w.source->name));
    w.file->drop_page_cache(w.source->offset_bytes + c0 * src_row, rows * src_row);
    for (std::size_t i = 0; i < rows; ++i) {
      tc::to_f32(w.source->dtype, raw.data() + i * src_row, out_features, band.data() + i * out_features);
    }
    for (std::size_t j = 0; j < out_features; ++j) {
      for (std::size_t i = 0; i < rows; ++i) column[i] = band[i * out_features + j];
      tc::from_f32(job.spec.dtype, column.data(), rows,
                   result.data() + j * dst_row + tc::row_bytes(job.spec.dtype, c0));
    }
  }
  EDGE_RT_TRY(writer.append(result));
  report.bytes_in += in * src_row;
  report.bytes_out += result.size();
  return boost::outcome_v2::success();
}

}  // namespace

Result<QuantizeReport> quantize_model(const std::filesystem::path& model_dir, tc::DType type,
                                      const std::filesystem::path& out_dir, bool hf_layout, bool force) {
  if (type == tc::DType::kF32) {
    return fail(ErrorCode::kInvalidArgument,
                "[quantize] type F32: expected F16, BF16, Q8_0, Q6_K, Q5_K, Q5_1, Q5_0, Q4_K, Q4_1 or Q4_0");
  }
  std::error_code ec;
  if (std::filesystem::exists(out_dir, ec) && std::filesystem::equivalent(model_dir, out_dir, ec)) {
    return fail(ErrorCode::kInvalidArgument, "[quantize] --out " + out_dir.string() + " is the source folder");
  }
  EDGE_RT_TRY(auto loaded, model_ir::ModelGraph<model_ir::Loaded>::load(model_dir));
  EDGE_RT_TRY(auto graph, std::move(loaded).validate());
  QuantizeReport report;
  std::vector<Job> jobs;
  std::set<const model_ir::TensorInfo*> seen;  // a tied LM head is the embedding's tensor: written once
  for (const model_ir::Unit& unit : graph.units()) {
    for (const WeightRef& w : unit.weights) {
      if (!seen.insert(w.source).second) continue;
      if (tc::is_quantized(w.source->dtype)) {
        return fail(ErrorCode::kInvalidArgument, "[quantize] " + w.file->path().string() + ": tensor '" +
                                                     w.source->name + "' is already " +
                                                     std::string(tc::dtype_name(w.source->dtype)) +
                                                     "; quantize from an F32, F16 or BF16 checkpoint");
      }
      EDGE_RT_TRY(auto job, plan_tensor(w, type, hf_layout, report.fallbacks));
      jobs.push_back(std::move(job));
    }
  }
  // Every file of the source folder is an input: none may be reached through the output folder.
  std::vector<std::filesystem::path> inputs;
  for (const auto& entry : std::filesystem::directory_iterator(model_dir, ec)) inputs.push_back(entry.path());
  EDGE_RT_TRY(detail::prepare_output_folder(out_dir, force, inputs, "[quantize]"));
  std::vector<model_ir::TensorSpec> specs;
  std::map<std::string, std::string> metadata = {
      {"format", "pt"},
      {"edge_rt.weight_format", std::string(tc::dtype_name(type))},
  };
  for (const Job& job : jobs) {
    specs.push_back(job.spec);
    if (job.transpose && !tc::is_quantized(job.spec.dtype)) {
      metadata[std::string(model_ir::kLayoutMetadataPrefix) + job.spec.name] = "out_in";
    }
  }
  EDGE_RT_TRY(auto writer, model_ir::SafetensorsWriter::create(out_dir / "model.safetensors", specs, metadata));
  for (const Job& job : jobs) {
    if (job.transpose) {
      EDGE_RT_TRY(write_transposed(job, writer, report));
    } else {
      EDGE_RT_TRY(write_straight(job, writer, report));
    }
    ++report.tensors;
  }
  EDGE_RT_TRY(writer.finish());
  std::vector<std::string> written = {"model.safetensors"};
  for (const std::filesystem::path& input : inputs) {
    const std::string name = input.filename().string();
    std::error_code type_ec;
    if (!std::filesystem::is_regular_file(input, type_ec) || name.ends_with(".safetensors") ||
        name == "model.safetensors.index.json") {
      continue;
    }
    EDGE_RT_TRY(copy_file_atomically(input, out_dir / name, "[quantize]"));
    written.push_back(name);
  }
  EDGE_RT_TRY(detail::remove_stale_model_files(out_dir, written, "[quantize]"));
  return report;
}

}  // namespace edge_rt::convert
