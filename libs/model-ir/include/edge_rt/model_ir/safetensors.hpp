#pragma once
// SafeTensors files: the header parsed over a WeightFile (zero-copy tensor views through its mapping), and a
// writer.
// Format: https://github.com/huggingface/safetensors (8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data buffer).

#include <edge_rt/core/file.hpp>
#include <edge_rt/core/result.hpp>
#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/model_ir/weight_file.hpp>
#include <edge_rt/tensor_core/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace edge_rt::model_ir {

/// One tensor's entry in a safetensors header. offset_bytes is absolute in the file.
struct TensorInfo {
  std::string name;
  tensor_core::DType dtype = tensor_core::DType::kF32;
  tensor_core::Shape shape;
  std::uint64_t offset_bytes = 0;
  std::uint64_t size_bytes = 0;
};

/// Largest header accepted (the safetensors reference implementation's limit).
inline constexpr std::uint64_t kMaxSafetensorsHeaderBytes = 100ull << 20;

/// Move-only: owns the WeightFile (its mapping is unmapped on destruction). Views it hands out are valid while it
/// lives. Thread-safe for concurrent reads.
class SafetensorsFile final {
 public:
  /// Maps and validates `path`: header length within kMaxSafetensorsHeaderBytes and the file, JSON well-formed,
  /// every dtype F32/F16/BF16 or U8 described as quantized by the metadata (kQuantMetadataPrefix), shapes non-negative,
  /// data_offsets in range, sorted and non-overlapping, and numel x dtype size == end - begin. Errors: kIoError
  /// (open/stat/mmap), kInvalidFormat (any check above; the message names the file, the tensor and the field),
  /// kUnsupported (another dtype).
  static Result<SafetensorsFile> open(const std::filesystem::path& path);

  SafetensorsFile(SafetensorsFile&&) noexcept = default;
  SafetensorsFile& operator=(SafetensorsFile&&) noexcept = default;
  ~SafetensorsFile();

  const std::filesystem::path& path() const noexcept { return file_.path(); }
  std::uint64_t file_size_bytes() const noexcept { return file_.size_bytes(); }
  /// Tensors in file order (ascending offset).
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  /// nullptr when absent.
  const TensorInfo* find(std::string_view name) const noexcept;
  /// The "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// Zero-copy bytes / view of a tensor of this file. The data may be unaligned: read through memcpy or to_f32.
  std::span<const std::byte> bytes(const TensorInfo& info) const noexcept;
  tensor_core::TensorView view(const TensorInfo& info) const noexcept;

  /// The opened file: how its bytes are read (see WeightSource).
  const WeightFile& file() const noexcept { return file_; }

 private:
  explicit SafetensorsFile(WeightFile file) noexcept : file_(std::move(file)) {}
  WeightFile file_;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

/// Validates a header already in memory (the part after the 8 length bytes) against a data buffer of
/// `data_bytes`. Exposed for fuzzing and tests. `file_label` names the file in messages; offsets returned are
/// relative to the data buffer.
Result<std::vector<TensorInfo>> parse_safetensors_header(std::string_view header_json, std::uint64_t data_bytes,
                                                         const std::string& file_label,
                                                         std::map<std::string, std::string>* metadata = nullptr);

/// Parses model.safetensors.index.json text: its "weight_map" object, tensor name -> shard file name. Shard names
/// must be plain file names (no '/', no ".."). `label` names the file in messages. Exposed for fuzzing and tests.
/// Errors: kInvalidFormat (not JSON, a value not a string, a path outside the folder), kMissingField (no weight_map).
Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view text, const std::string& label);

/// Quantized matrices (Q8_0, Q4_0) are stored as U8 tensors of shape [rows, row bytes], with the metadata entry
/// "edge_rt.quant.<tensor name>" = "Q8_0 [rows, cols]" (or Q4_0) giving the format and the logical shape, so any
/// safetensors reader can open the file and edge-rt recovers the blocks. Rows are output features.
inline constexpr std::string_view kQuantMetadataPrefix = "edge_rt.quant.";
/// "edge_rt.layout.<tensor name>" = "out_in": an F32/F16/BF16 matrix that its architecture stores input-major
/// (GPT-2's Conv1D) is stored output-major [out, in] instead, as edge-rt quantize writes it for fast decode.
inline constexpr std::string_view kLayoutMetadataPrefix = "edge_rt.layout.";

/// What a tensor to write is: name, dtype and (logical) shape.
struct TensorSpec {
  std::string name;
  tensor_core::DType dtype = tensor_core::DType::kF32;
  tensor_core::Shape shape;
};

/// Move-only streaming writer: the header first, then each tensor's bytes in order, so a file larger than memory
/// can be written a block at a time.
class SafetensorsWriter final {
 public:
  /// Writes the header (8-byte aligned) to a temporary file beside `path`; finish() renames it over `path`
  /// (AtomicFileWriter), so an error or a crash never leaves a partial `path` nor writes through a link at it.
  /// Quantized specs must be rank 2 with cols % 32 == 0.
  /// Errors: kInvalidArgument (duplicate name, bad quantized shape), kIoError (with strerror).
  static Result<SafetensorsWriter> create(const std::filesystem::path& path, std::span<const TensorSpec> tensors,
                                          const std::map<std::string, std::string>& metadata = {});
  SafetensorsWriter(SafetensorsWriter&&) noexcept;
  SafetensorsWriter& operator=(SafetensorsWriter&&) noexcept;
  ~SafetensorsWriter();
  /// Appends data bytes (tensors back to back, in spec order). Errors: kInvalidArgument past the declared total,
  /// kIoError.
  Result<void> append(std::span<const std::byte> bytes);
  /// Checks that exactly the declared bytes were written, then commits the file. Errors: kInvalidArgument, kIoError.
  Result<void> finish();

 private:
  SafetensorsWriter();
  std::filesystem::path path_;
  std::optional<AtomicFileWriter> out_;
  std::uint64_t expected_bytes_ = 0;
  std::uint64_t written_ = 0;
};

/// A tensor to write: name, dtype, shape and its raw little-endian bytes (size must match).
struct TensorToWrite {
  std::string name;
  tensor_core::DType dtype = tensor_core::DType::kF32;
  tensor_core::Shape shape;
  std::span<const std::byte> data;
};

/// Writes a safetensors file (tensors in the given order, 8-byte aligned header). Errors: kInvalidArgument on a
/// size mismatch or duplicate name; kIoError when the file cannot be written.
Result<void> write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                               const std::map<std::string, std::string>& metadata = {});

class GgufFile;

/// A checkpoint: one model.safetensors, shards listed by model.safetensors.index.json ("weight_map"), or one GGUF
/// file whose tensors are found under their Hugging Face names (hf_name_of_gguf). Move-only.
class Checkpoint final {
 public:
  /// Errors: kIoError when neither file exists; kInvalidFormat for a broken index (names the field; the index is
  /// read as a regular file of at most 16 MiB), a shard that lacks a tensor the index maps to it, or a tensor in two
  /// shards; errors of SafetensorsFile::open.
  static Result<Checkpoint> open(const std::filesystem::path& model_dir);
  /// Takes an opened GGUF file of `architecture`. Its GPT-2 matrices are stored [out, in] (convert_hf_to_gguf.py
  /// transposes Conv1D weights), which the entries' metadata says as kLayoutMetadataPrefix "out_in".
  static Checkpoint from_gguf(GgufFile file, Architecture architecture);

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;
  ~Checkpoint();

  /// The tensor, the file that holds it and that file's metadata (safetensors __metadata__); nullptrs when absent.
  struct Entry {
    const WeightFile* file = nullptr;
    const TensorInfo* info = nullptr;
    const std::map<std::string, std::string>* metadata = nullptr;
  };
  /// By Hugging Face name (GGUF tensors too).
  Entry find(std::string_view name) const noexcept;
  /// Every tensor of every file, in file order (GGUF tensors under their own names).
  std::vector<const TensorInfo*> tensors() const;
  /// The GGUF file, or nullptr for safetensors.
  const GgufFile* gguf() const noexcept { return gguf_.get(); }
  std::uint64_t total_file_bytes() const noexcept;

 private:
  Checkpoint();
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t, std::less<>> index_;  // tensor name -> files_ index
  std::unique_ptr<GgufFile> gguf_;
  std::map<std::string, const TensorInfo*, std::less<>> gguf_index_;  // HF name -> tensor of gguf_
  std::map<std::string, std::string> gguf_metadata_;                  // layout entries, as safetensors spells them
};

}  // namespace edge_rt::model_ir
