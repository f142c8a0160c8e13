#pragma once
// GGUF files (llama.cpp's model format), versions 2 and 3: the header parsed over a WeightFile, the model config
// from its metadata, and the tensor names of the recipes.
// Format: ggml's docs/gguf.md (https://github.com/ggml-org/ggml/blob/master/docs/gguf.md): "GGUF", uint32 version,
// uint64 tensor count, uint64 metadata count, metadata (string key, uint32 type, value), tensor infos (string
// name, uint32 n_dims, uint64 ne[n_dims] innermost first, uint32 ggml type, uint64 offset from the data start),
// padding to general.alignment (default 32), then the data. Little-endian; strings are uint64 length + bytes.

#include <edge_rt/core/result.hpp>
#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/model_ir/weight_file.hpp>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::model_ir {

/// gguf.md's value types.
enum class GgufType : std::uint32_t {
  kUint8 = 0,
  kInt8 = 1,
  kUint16 = 2,
  kInt16 = 3,
  kUint32 = 4,
  kInt32 = 5,
  kFloat32 = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kUint64 = 10,
  kInt64 = 11,
  kFloat64 = 12,
};
std::string_view gguf_type_name(GgufType type) noexcept;  ///< "uint32", "string", "array"...

/// One metadata value. Copyable. Integers and bools are held in `integer` (uint64 values above 2^63 are refused),
/// floats in `real`; arrays hold their elements in `strings` or `numbers` (integers as doubles are exact below
/// 2^53, which every id and count in practice is; larger array elements are refused), arrays of arrays are
/// skipped (element_type kArray, no elements kept).
struct GgufValue {
  GgufType type = GgufType::kUint32;
  GgufType element_type = GgufType::kUint32;  ///< Arrays only.
  std::int64_t integer = 0;
  double real = 0.0;
  std::string string;
  std::vector<std::string> strings;
  std::vector<double> numbers;
  std::uint64_t array_size = 0;
  bool is_integer() const noexcept;  ///< Any integer type or bool.
};

/// Bounds a hostile header cannot pass: counts far above any released model's (272 tensors and 33 keys for
/// SmolLM2-135M; ~1000 tensors for 400B-class models; vocabularies ~256K strings).
inline constexpr std::uint64_t kMaxGgufTensors = 1u << 20;
inline constexpr std::uint64_t kMaxGgufKeys = 1u << 16;
inline constexpr std::uint64_t kMaxGgufArray = 1u << 24;
inline constexpr std::uint64_t kMaxGgufString = 64u << 20;

/// Move-only: owns the WeightFile. Thread-safe for concurrent reads.
class GgufFile final {
 public:
  /// Maps and validates `path`: magic, version 2 or 3, counts within the bounds above, every string, array and
  /// tensor info inside the file, general.alignment a power of two <= 1 MiB, tensor types F32/F16/BF16/Q8_0/
  /// Q4_0/Q4_1/Q5_0/Q5_1/Q4_K/Q5_K/Q6_K, 1-4 dimensions with a row a whole number of blocks, offsets aligned,
  /// data inside the file and tensors not overlapping, names unique. Errors: kIoError (open/stat/mmap),
  /// kInvalidFormat (any check above; the message names the file, the field or tensor, its value and what was
  /// expected), kUnsupported (another version or tensor type).
  static Result<GgufFile> open(const std::filesystem::path& path);

  GgufFile(GgufFile&&) noexcept = default;
  GgufFile& operator=(GgufFile&&) noexcept = default;

  const std::filesystem::path& path() const noexcept { return file_.path(); }
  std::uint32_t version() const noexcept { return version_; }
  /// Tensors in file order. Names are ggml's ("blk.0.attn_q.weight"); shapes are [ne1, ne0] (rows, then the
  /// innermost dimension), i.e. the [out, in] of a matrix.
  const std::vector<TensorInfo>& tensors() const noexcept { return tensors_; }
  const TensorInfo* find(std::string_view name) const noexcept;
  const std::map<std::string, GgufValue, std::less<>>& metadata() const noexcept { return metadata_; }
  const GgufValue* value(std::string_view key) const noexcept;
  const WeightFile& file() const noexcept { return file_; }

  /// Typed metadata. Errors: kMissingField (absent key), kInvalidFormat (another type, or out of [lo, hi]); the
  /// message names the file and key.
  Result<std::int64_t> integer(std::string_view key, std::int64_t lo, std::int64_t hi) const;
  Result<double> real(std::string_view key) const;  ///< Float or integer values.
  Result<std::string> string(std::string_view key) const;

 private:
  explicit GgufFile(WeightFile file) noexcept : file_(std::move(file)) {}
  WeightFile file_;
  std::uint32_t version_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, GgufValue, std::less<>> metadata_;
};

/// Parses a GGUF header already in memory (`bytes`: the file's first bytes, `file_size`: the whole file's size,
/// for the data bounds). Exposed for fuzzing and tests; open() calls it on the mapping. Errors as open().
Result<std::pair<std::vector<TensorInfo>, std::map<std::string, GgufValue, std::less<>>>> parse_gguf_header(
    std::span<const std::byte> bytes, std::uint64_t file_size, const std::string& label,
    std::uint32_t* version = nullptr);

/// The GGUF file `path` names: `path` itself when it is a file whose name ends in ".gguf", or the one *.gguf
/// file in the folder `path` when the folder has no config.json; std::nullopt otherwise (an HF-layout folder).
/// Errors: kInvalidFormat for a folder with several *.gguf files and no config.json (which one is meant?).
Result<std::optional<std::filesystem::path>> find_gguf(const std::filesystem::path& path);

/// The model config from GGUF metadata (general.architecture "llama" or "gpt2"; the keys `<arch>.block_count`,
/// `.embedding_length`, `.feed_forward_length`, `.attention.head_count`, `.attention.head_count_kv`,
/// `.context_length`, `.attention.layer_norm_rms_epsilon` / `.attention.layer_norm_epsilon`, `.rope.freq_base`,
/// `.rope.dimension_count`; vocabulary size from tokenizer.ggml.tokens or token_embd.weight; BOS/EOS from
/// tokenizer.ggml.*_token_id). llama GGUF files keep Q and K rows in Meta's interleaved RoPE order
/// (convert_hf_to_gguf.py permutes them), so rope_interleaved is set. Bounds as parse_hf_config. Errors:
/// kMissingField, kInvalidFormat, kUnsupported (another architecture, rope scaling), naming file and key.
Result<ModelConfig> config_from_gguf(const GgufFile& file);

/// The Hugging Face tensor name of a GGUF tensor of `architecture` ("blk.3.attn_q.weight" ->
/// "model.layers.3.self_attn.q_proj.weight"), so the recipes resolve both formats alike; std::nullopt for a
/// name the architecture does not have.
std::optional<std::string> hf_name_of_gguf(Architecture architecture, std::string_view gguf_name);

}  // namespace edge_rt::model_ir
