#pragma once
// SafeTensors files over a read-only mmap, with zero-copy tensor views, and a writer.
// Format: https://github.com/huggingface/safetensors (8-byte little-endian header length N, N bytes of JSON
// {name: {dtype, shape, data_offsets: [begin, end]}, "__metadata__": {str: str}}, then the data buffer).

#include <edge_rt/core/file.hpp>
#include <edge_rt/core/result.hpp>
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

/// Move-only: owns a read-only mapping of the whole file (unmapped on destruction). Views it hands out are valid
/// while it lives. Thread-safe for concurrent reads.
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

  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t file_size_bytes() const noexcept { return file_size_; }
  /// Tensors in file order (ascending offset).
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  /// nullptr when absent.
  const TensorInfo* find(std::string_view name) const noexcept;
  /// The "__metadata__" map (empty when absent).
  const std::map<std::string, std::string>& metadata() const noexcept { return metadata_; }
  /// Zero-copy bytes / view of a tensor of this file. The data may be unaligned: read through memcpy or to_f32.
  std::span<const std::byte> bytes(const TensorInfo& info) const noexcept;
  tensor_core::TensorView view(const TensorInfo& info) const noexcept;

  /// Copies out.size() bytes of a tensor, starting `offset_bytes` into it, with pread(2): the copy leaves no file
  /// pages mapped into the process (the runtime streams weights this way so that its resident set stays within the
  /// memory budget). Thread-safe. Errors: kIoError when the read fails or the file is shorter than its header says
  /// (truncated after open). Precondition: offset_bytes + out.size() <= info.size_bytes.
  Result<void> read(const TensorInfo& info, std::uint64_t offset_bytes, std::span<std::byte> out) const;
  /// Like read(), with O_DIRECT: the device's data bypasses the page cache. Reads whole 4 KiB-aligned blocks into
  /// `bounce` (4096-aligned, a multiple of 4096 bytes, at least 8 KiB) and copies the wanted bytes out.
  /// Errors: kIoError as read(), and kUnsupported when the file system refused O_DIRECT (see supports_direct_io).
  Result<void> read_direct(const TensorInfo& info, std::uint64_t offset_bytes, std::span<std::byte> out,
                           std::span<std::byte> bounce) const;
  /// O_DIRECT with no bounce copy: reads tensor bytes [offset_bytes, offset_bytes + size_bytes) into `window`,
  /// whole 4 KiB blocks at a time, so they land at window[head] where head = (their file position) % 4096; the
  /// bytes around them are overwritten with the file's neighbours. `window` must be 4096-aligned and at least
  /// round_up(head + size_bytes, 4096) bytes. Returns the address of the first tensor byte. Errors as read_direct.
  Result<std::byte*> read_direct_in_place(const TensorInfo& info, std::uint64_t offset_bytes, std::uint64_t size_bytes,
                                          std::span<std::byte> window) const;
  /// Copies out.size() bytes of a tensor from the mapping, like read() but through memory. A file truncated after
  /// open makes the copy fault (SIGBUS): a handler turns a fault inside this copy's source range into kIoError
  /// naming the file and tensor, and the file size is checked before each copy. Faults anywhere else keep their
  /// default action. Thread-safe.
  Result<void> copy_mapped(const TensorInfo& info, std::uint64_t offset_bytes, std::span<std::byte> out) const;
  /// Whether the file could be opened with O_DIRECT (tmpfs and some network file systems refuse it).
  bool supports_direct_io() const noexcept { return direct_fd_.get() >= 0; }
  /// Drops the process's mapped pages of a range of a tensor (madvise MADV_DONTNEED on the whole pages inside it),
  /// so copying from bytes() does not leave the range in the resident set. Advisory: never fails.
  void release_mapped(const TensorInfo& info, std::uint64_t offset_bytes, std::uint64_t size_bytes) const noexcept;
  /// Asks the kernel to drop the page cache of a range of a tensor (posix_fadvise POSIX_FADV_DONTNEED), so that
  /// the next read comes from the device. Advisory: never fails.
  void drop_page_cache(const TensorInfo& info, std::uint64_t offset_bytes, std::uint64_t size_bytes) const noexcept;

 private:
  struct Unmap {
    std::size_t size;
    void operator()(std::byte* p) const noexcept;
  };
  SafetensorsFile() = default;
  std::filesystem::path path_;
  std::uint64_t file_size_ = 0;
  std::unique_ptr<std::byte, Unmap> map_{nullptr, Unmap{0}};
  UniqueFd fd_;
  UniqueFd direct_fd_;  // O_DIRECT, or -1 where the file system refuses it
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

/// A checkpoint: one model.safetensors, or shards listed by model.safetensors.index.json ("weight_map").
/// Move-only.
class Checkpoint final {
 public:
  /// Errors: kIoError when neither file exists; kInvalidFormat for a broken index (names the field; the index is
  /// read as a regular file of at most 16 MiB), a shard that lacks a tensor the index maps to it, or a tensor in two
  /// shards; errors of SafetensorsFile::open.
  static Result<Checkpoint> open(const std::filesystem::path& model_dir);

  Checkpoint(Checkpoint&&) noexcept = default;
  Checkpoint& operator=(Checkpoint&&) noexcept = default;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;

  /// The tensor and the file that holds it; nullptr when absent.
  struct Entry {
    const SafetensorsFile* file;
    const TensorInfo* info;
  };
  Entry find(std::string_view name) const noexcept;
  const std::vector<SafetensorsFile>& files() const noexcept { return files_; }
  std::uint64_t total_file_bytes() const noexcept;

 private:
  Checkpoint() = default;
  std::vector<SafetensorsFile> files_;
  std::map<std::string, std::size_t, std::less<>> index_;  // tensor name -> files_ index
};

}  // namespace edge_rt::model_ir
