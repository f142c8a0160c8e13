#include <edge_rt/model_ir/gguf.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <set>

namespace edge_rt::model_ir {

using tensor_core::DType;

std::string_view gguf_type_name(GgufType type) noexcept {
  switch (type) {
    case GgufType::kUint8: return "uint8";
    case GgufType::kInt8: return "int8";
    case GgufType::kUint16: return "uint16";
    case GgufType::kInt16: return "int16";
    case GgufType::kUint32: return "uint32";
    case GgufType::kInt32: return "int32";
    case GgufType::kFloat32: return "float32";
    case GgufType::kBool: return "bool";
    case GgufType::kString: return "string";
    case GgufType::kArray: return "array";
    case GgufType::kUint64: return "uint64";
    case GgufType::kInt64: return "int64";
    case GgufType::kFloat64: return "float64";
  }
  return "?";
}

bool GgufValue::is_integer() const noexcept {
  return type != GgufType::kFloat32 && type != GgufType::kFloat64 && type != GgufType::kString &&
         type != GgufType::kArray;
}

namespace {

constexpr std::uint64_t kMaxAlignment = 1u << 20;
constexpr std::uint32_t kMaxDims = 4;
constexpr std::size_t kMaxArrayDepth = 4;

// ggml_type ids (ggml.h) of the types edge-rt reads.
std::optional<DType> dtype_of_ggml(std::uint32_t t) {
  switch (t) {
    case 0: return DType::kF32;
    case 1: return DType::kF16;
    case 2: return DType::kQ4_0;
    case 3: return DType::kQ4_1;
    case 6: return DType::kQ5_0;
    case 7: return DType::kQ5_1;
    case 8: return DType::kQ8_0;
    case 12: return DType::kQ4_K;
    case 13: return DType::kQ5_K;
    case 14: return DType::kQ6_K;
    case 30: return DType::kBF16;
    default: return std::nullopt;
  }
}

std::string ggml_type_label(std::uint32_t t) {
  static constexpr const char* kNames[] = {
      "F32",   "F16",    "Q4_0", "Q4_1", "Q4_2", "Q4_3",    "Q5_0",   "Q5_1",    "Q8_0",  "Q8_1",   "Q2_K",
      "Q3_K",  "Q4_K",   "Q5_K", "Q6_K", "Q8_K", "IQ2_XXS", "IQ2_XS", "IQ3_XXS", "IQ1_S", "IQ4_NL", "IQ3_S",
      "IQ2_S", "IQ4_XS", "I8",   "I16",  "I32",  "I64",     "F64",    "IQ1_M",   "BF16"};
  return (t < std::size(kNames) ? std::string(kNames[t]) : std::string("unknown")) + " (" + std::to_string(t) + ")";
}

// A bounds-checked little-endian cursor over the header bytes.
class Cursor {
 public:
  Cursor(std::span<const std::byte> bytes, const std::string& label) : bytes_(bytes), label_(label) {}

  std::uint64_t offset() const noexcept { return pos_; }

  template <class T>
  Result<T> scalar(const std::string& what) {
    if (bytes_.size() - pos_ < sizeof(T)) return truncated(what, sizeof(T));
    T v;
    std::memcpy(&v, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  Result<std::string> string(const std::string& what) {
    EDGE_RT_TRY(const auto n, scalar<std::uint64_t>(what + " length"));
    if (n > kMaxGgufString) {
      return error(what + " is " + std::to_string(n) + " bytes long, expected at most " +
                   std::to_string(kMaxGgufString));
    }
    if (bytes_.size() - pos_ < n) return truncated(what, n);
    std::string s(reinterpret_cast<const char*>(bytes_.data() + pos_), static_cast<std::size_t>(n));
    pos_ += n;
    return s;
  }
  Error error(const std::string& what) const {
    return Error{ErrorCode::kInvalidFormat, "[gguf] " + label_ + ": " + what};
  }
  Error truncated(const std::string& what, std::uint64_t need) const {
    return error(what + " at byte " + std::to_string(pos_) + " needs " + std::to_string(need) +
                 " bytes, but the header ends at byte " + std::to_string(bytes_.size()) + " (file truncated?)");
  }

 private:
  std::span<const std::byte> bytes_;
  const std::string& label_;
  std::uint64_t pos_ = 0;
};

Result<double> number_of(Cursor& c, GgufType t, const std::string& what) {
  switch (t) {
    case GgufType::kUint8: {
      EDGE_RT_TRY(auto v, c.scalar<std::uint8_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kInt8: {
      EDGE_RT_TRY(auto v, c.scalar<std::int8_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kUint16: {
      EDGE_RT_TRY(auto v, c.scalar<std::uint16_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kInt16: {
      EDGE_RT_TRY(auto v, c.scalar<std::int16_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kUint32: {
      EDGE_RT_TRY(auto v, c.scalar<std::uint32_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kInt32: {
      EDGE_RT_TRY(auto v, c.scalar<std::int32_t>(what));
      return static_cast<double>(v);
    }
    case GgufType::kFloat32: {
      EDGE_RT_TRY(auto v, c.scalar<float>(what));
      return static_cast<double>(v);
    }
    case GgufType::kBool: {
      EDGE_RT_TRY(auto v, c.scalar<std::uint8_t>(what));
      if (v > 1) return c.error(what + " is a bool of value " + std::to_string(v) + ", expected 0 or 1");
      return static_cast<double>(v);
    }
    case GgufType::kUint64: {
      EDGE_RT_TRY(auto v, c.scalar<std::uint64_t>(what));
      if (v > (std::uint64_t{1} << 53)) return c.error(what + " is " + std::to_string(v) + ", expected below 2^53");
      return static_cast<double>(v);
    }
    case GgufType::kInt64: {
      EDGE_RT_TRY(auto v, c.scalar<std::int64_t>(what));
      if (v > (std::int64_t{1} << 53) || v < -(std::int64_t{1} << 53)) {
        return c.error(what + " is " + std::to_string(v) + ", expected within +-2^53");
      }
      return static_cast<double>(v);
    }
    case GgufType::kFloat64: return c.scalar<double>(what);
    default: return c.error(what + " has type " + std::to_string(static_cast<std::uint32_t>(t)) + ", not a number");
  }
}

bool valid_type(std::uint32_t t) {
  return t <= static_cast<std::uint32_t>(GgufType::kFloat64);
}

// Reads one value of type `t` into `out` (arrays: their elements; arrays of arrays are walked and dropped).
Result<void> read_value(Cursor& c, GgufType t, GgufValue& out, const std::string& what, std::size_t depth) {
  out.type = t;
  if (t == GgufType::kString) {
    EDGE_RT_TRY(out.string, c.string(what));
    return boost::outcome_v2::success();
  }
  if (t != GgufType::kArray) {
    if (t == GgufType::kUint64) {  // integers keep all 64 bits up to 2^63
      EDGE_RT_TRY(const auto v, c.scalar<std::uint64_t>(what));
      if (v > static_cast<std::uint64_t>(INT64_MAX)) {
        return c.error(what + " is " + std::to_string(v) + ", expected below 2^63");
      }
      out.integer = static_cast<std::int64_t>(v);
      out.real = static_cast<double>(v);
      return boost::outcome_v2::success();
    }
    if (t == GgufType::kInt64) {
      EDGE_RT_TRY(out.integer, c.scalar<std::int64_t>(what));
      out.real = static_cast<double>(out.integer);
      return boost::outcome_v2::success();
    }
    EDGE_RT_TRY(out.real, number_of(c, t, what));
    // Integers up to 32 bits and bools are exact as doubles; a float stays a float (1e300 is no int64).
    if (out.is_integer()) out.integer = static_cast<std::int64_t>(out.real);
    return boost::outcome_v2::success();
  }
  if (depth >= kMaxArrayDepth) {
    return c.error(what + " nests arrays " + std::to_string(depth + 1) + " deep, expected at most " +
                   std::to_string(kMaxArrayDepth));
  }
  EDGE_RT_TRY(const auto et, c.scalar<std::uint32_t>(what + " element type"));
  if (!valid_type(et)) {
    return c.error(what + " has element type " + std::to_string(et) + ", expected a GGUF value type 0..12");
  }
  EDGE_RT_TRY(const auto n, c.scalar<std::uint64_t>(what + " element count"));
  if (n > kMaxGgufArray) {
    return c.error(what + " has " + std::to_string(n) + " elements, expected at most " + std::to_string(kMaxGgufArray));
  }
  out.element_type = static_cast<GgufType>(et);
  out.array_size = n;
  const std::string element = what + " element";
  if (out.element_type == GgufType::kString) {
    out.strings.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 16)));
    for (std::uint64_t i = 0; i < n; ++i) {
      EDGE_RT_TRY(auto s, c.string(element));
      out.strings.push_back(std::move(s));
    }
  } else if (out.element_type == GgufType::kArray) {
    for (std::uint64_t i = 0; i < n; ++i) {
      GgufValue inner;
      EDGE_RT_TRY(read_value(c, GgufType::kArray, inner, element, depth + 1));
    }
  } else {
    out.numbers.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(n, 1u << 16)));
    for (std::uint64_t i = 0; i < n; ++i) {
      EDGE_RT_TRY(const double v, number_of(c, out.element_type, element));
      out.numbers.push_back(v);
    }
  }
  return boost::outcome_v2::success();
}

}  // namespace

Result<std::pair<std::vector<TensorInfo>, std::map<std::string, GgufValue, std::less<>>>> parse_gguf_header(
    std::span<const std::byte> bytes, std::uint64_t file_size, const std::string& label, std::uint32_t* version) {
  Cursor c(bytes, label);
  if (bytes.size() < 4 || std::memcmp(bytes.data(), "GGUF", 4) != 0) {
    return c.error("does not start with the GGUF magic \"GGUF\"; expected a GGUF file");
  }
  EDGE_RT_TRY(c.scalar<std::uint32_t>("magic"));
  EDGE_RT_TRY(const auto v, c.scalar<std::uint32_t>("version"));
  if (v != 2 && v != 3) {
    return fail(ErrorCode::kUnsupported, "[gguf] " + label + ": version " + std::to_string(v) +
                                             ", expected 2 or 3 (big-endian files and "
                                             "version 1 are not read)");
  }
  if (version) *version = v;
  EDGE_RT_TRY(const auto n_tensors, c.scalar<std::uint64_t>("tensor_count"));
  EDGE_RT_TRY(const auto n_kv, c.scalar<std::uint64_t>("metadata_kv_count"));
  if (n_tensors > kMaxGgufTensors) {
    return c.error("tensor_count is " + std::to_string(n_tensors) + ", expected at most " +
                   std::to_string(kMaxGgufTensors));
  }
  if (n_kv > kMaxGgufKeys) {
    return c.error("metadata_kv_count is " + std::to_string(n_kv) + ", expected at most " +
                   std::to_string(kMaxGgufKeys));
  }
  std::map<std::string, GgufValue, std::less<>> meta;
  for (std::uint64_t i = 0; i < n_kv; ++i) {
    EDGE_RT_TRY(std::string key, c.string("metadata key " + std::to_string(i)));
    EDGE_RT_TRY(const auto t, c.scalar<std::uint32_t>("type of '" + key + "'"));
    if (!valid_type(t)) {
      return c.error("metadata '" + key + "' has type " + std::to_string(t) + ", expected a GGUF value type 0..12");
    }
    GgufValue value;
    EDGE_RT_TRY(read_value(c, static_cast<GgufType>(t), value, "metadata '" + key + "'", 0));
    if (meta.contains(key)) return c.error("metadata key '" + key + "' appears twice");
    meta.emplace(std::move(key), std::move(value));
  }
  std::uint64_t alignment = 32;
  if (auto it = meta.find("general.alignment"); it != meta.end()) {
    const GgufValue& a = it->second;
    if (!a.is_integer() || a.integer <= 0 || static_cast<std::uint64_t>(a.integer) > kMaxAlignment ||
        (a.integer & (a.integer - 1)) != 0) {
      return c.error("general.alignment is " + std::to_string(a.integer) + " (" + std::string(gguf_type_name(a.type)) +
                     "), expected a power of two up to 1 MiB");
    }
    alignment = static_cast<std::uint64_t>(a.integer);
  }
  struct Raw {
    TensorInfo info;
    std::uint64_t relative = 0;
  };
  std::vector<Raw> raw;
  raw.reserve(static_cast<std::size_t>(n_tensors));
  std::set<std::string, std::less<>> names;
  for (std::uint64_t i = 0; i < n_tensors; ++i) {
    Raw r;
    EDGE_RT_TRY(r.info.name, c.string("tensor " + std::to_string(i) + " name"));
    const std::string where = "tensor '" + r.info.name + "'";
    if (!names.insert(r.info.name).second) return c.error(where + " appears twice");
    EDGE_RT_TRY(const auto n_dims, c.scalar<std::uint32_t>(where + " n_dims"));
    if (n_dims < 1 || n_dims > kMaxDims) {
      return c.error(where + " has n_dims " + std::to_string(n_dims) + ", expected 1.." + std::to_string(kMaxDims));
    }
    std::int64_t dims[kMaxDims];
    for (std::uint32_t d = 0; d < n_dims; ++d) {
      EDGE_RT_TRY(const auto ne, c.scalar<std::uint64_t>(where + " ne[" + std::to_string(d) + "]"));
      if (ne == 0 || ne > (std::uint64_t{1} << 40)) {
        return c.error(where + " has ne[" + std::to_string(d) + "] = " + std::to_string(ne) + ", expected 1..2^40");
      }
      dims[n_dims - 1 - d] = static_cast<std::int64_t>(ne);  // ggml lists the innermost dimension first
    }
    auto shape = tensor_core::Shape::from(std::span<const std::int64_t>(dims, n_dims));
    if (!shape) return c.error(where + ": " + shape.error().message);
    r.info.shape = shape.value();
    EDGE_RT_TRY(const auto type, c.scalar<std::uint32_t>(where + " type"));
    const std::optional<DType> dtype = dtype_of_ggml(type);
    if (!dtype) {
      return fail(ErrorCode::kUnsupported,
                  "[gguf] " + label + ": " + where + " has ggml type " + ggml_type_label(type) +
                      ", which edge-rt does not read; expected F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, "
                      "Q5_K or Q6_K");
    }
    r.info.dtype = *dtype;
    const auto row = static_cast<std::uint64_t>(dims[n_dims - 1]);
    if (row % tensor_core::block_elems(*dtype) != 0) {
      return c.error(where + " is " + std::string(tensor_core::dtype_name(*dtype)) + " with rows of " +
                     std::to_string(row) + " elements, expected a multiple of " +
                     std::to_string(tensor_core::block_elems(*dtype)));
    }
    r.info.size_bytes = tensor_core::storage_bytes(*dtype, r.info.shape);
    EDGE_RT_TRY(r.relative, c.scalar<std::uint64_t>(where + " offset"));
    if (r.relative % alignment != 0) {
      return c.error(where + " has offset " + std::to_string(r.relative) + ", expected a multiple of " +
                     std::to_string(alignment) + " (general.alignment)");
    }
    raw.push_back(std::move(r));
  }
  const std::uint64_t data_start = (c.offset() + alignment - 1) / alignment * alignment;
  if (data_start > file_size) {
    return c.error("the tensor data would start at byte " + std::to_string(data_start) + ", past the end of the " +
                   std::to_string(file_size) + "-byte file");
  }
  std::vector<TensorInfo> tensors;
  tensors.reserve(raw.size());
  for (Raw& r : raw) {
    if (r.relative > file_size - data_start || r.info.size_bytes > file_size - data_start - r.relative) {
      return c.error("tensor '" + r.info.name + "' occupies bytes " + std::to_string(r.relative) + ".." +
                     std::to_string(r.relative + r.info.size_bytes) + " of the data, which ends at " +
                     std::to_string(file_size - data_start) + " (file truncated?)");
    }
    r.info.offset_bytes = data_start + r.relative;
    tensors.push_back(std::move(r.info));
  }
  std::vector<const TensorInfo*> by_offset;
  for (const TensorInfo& t : tensors) by_offset.push_back(&t);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const TensorInfo* a, const TensorInfo* b) { return a->offset_bytes < b->offset_bytes; });
  for (std::size_t i = 1; i < by_offset.size(); ++i) {
    const TensorInfo& prev = *by_offset[i - 1];
    if (prev.offset_bytes + prev.size_bytes > by_offset[i]->offset_bytes) {
      return c.error("tensors '" + prev.name + "' and '" + by_offset[i]->name + "' overlap");
    }
  }
  return std::make_pair(std::move(tensors), std::move(meta));
}

Result<GgufFile> GgufFile::open(const std::filesystem::path& path) {
  EDGE_RT_TRY(WeightFile wf, WeightFile::open(path, "[gguf]"));
  GgufFile file(std::move(wf));
  const std::span<const std::byte> all = file.file_.mapped(0, file.file_.size_bytes());
  EDGE_RT_TRY(auto parsed, parse_gguf_header(all, file.file_.size_bytes(), path.string(), &file.version_));
  file.tensors_ = std::move(parsed.first);
  file.metadata_ = std::move(parsed.second);
  return file;
}

const TensorInfo* GgufFile::find(std::string_view name) const noexcept {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const GgufValue* GgufFile::value(std::string_view key) const noexcept {
  const auto it = metadata_.find(key);
  return it == metadata_.end() ? nullptr : &it->second;
}

Result<std::int64_t> GgufFile::integer(std::string_view key, std::int64_t lo, std::int64_t hi) const {
  const GgufValue* v = value(key);
  const std::string where = "[gguf] " + path().string() + ": metadata '" + std::string(key) + "'";
  if (!v) return fail(ErrorCode::kMissingField, where + " is missing");
  if (!v->is_integer()) {
    return fail(ErrorCode::kInvalidFormat,
                where + " is a " + std::string(gguf_type_name(v->type)) + ", expected an integer");
  }
  if (v->integer < lo || v->integer > hi) {
    return fail(ErrorCode::kInvalidFormat, where + " is " + std::to_string(v->integer) + ", expected " +
                                               std::to_string(lo) + ".." + std::to_string(hi));
  }
  return v->integer;
}

Result<double> GgufFile::real(std::string_view key) const {
  const GgufValue* v = value(key);
  const std::string where = "[gguf] " + path().string() + ": metadata '" + std::string(key) + "'";
  if (!v) return fail(ErrorCode::kMissingField, where + " is missing");
  if (v->type == GgufType::kString || v->type == GgufType::kArray) {
    return fail(ErrorCode::kInvalidFormat,
                where + " is a " + std::string(gguf_type_name(v->type)) + ", expected a number");
  }
  return v->real;
}

Result<std::string> GgufFile::string(std::string_view key) const {
  const GgufValue* v = value(key);
  const std::string where = "[gguf] " + path().string() + ": metadata '" + std::string(key) + "'";
  if (!v) return fail(ErrorCode::kMissingField, where + " is missing");
  if (v->type != GgufType::kString) {
    return fail(ErrorCode::kInvalidFormat,
                where + " is a " + std::string(gguf_type_name(v->type)) + ", expected a string");
  }
  return v->string;
}

Result<std::optional<std::filesystem::path>> find_gguf(const std::filesystem::path& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::is_regular_file(status)) {
    if (path.extension() == ".gguf") return std::optional<std::filesystem::path>(path);
    return std::optional<std::filesystem::path>();
  }
  if (!std::filesystem::is_directory(status) || std::filesystem::exists(path / "config.json", ec)) {
    return std::optional<std::filesystem::path>();
  }
  std::vector<std::filesystem::path> found;
  for (const auto& entry : std::filesystem::directory_iterator(path, ec)) {
    if (entry.path().extension() == ".gguf") found.push_back(entry.path());
  }
  if (found.size() > 1) {
    std::sort(found.begin(), found.end());
    return fail(ErrorCode::kInvalidFormat, "[model] " + path.string() + ": holds " + std::to_string(found.size()) +
                                               " .gguf files (" + found[0].filename().string() + ", " +
                                               found[1].filename().string() +
                                               "...) and no config.json; expected one: pass the file itself with -m");
  }
  if (found.empty()) return std::optional<std::filesystem::path>();
  return std::optional<std::filesystem::path>(found[0]);
}

namespace {

Result<float> positive_real(const GgufFile& f, std::string_view key, std::optional<float> fallback, double hi) {
  if (!f.value(key) && fallback) return *fallback;
  EDGE_RT_TRY(const double v, f.real(key));
  if (!std::isfinite(v) || v <= 0.0 || v > hi || !(static_cast<float>(v) > 0.0f)) {
    return fail(ErrorCode::kInvalidFormat, "[gguf] " + f.path().string() + ": metadata '" + std::string(key) + "' is " +
                                               std::to_string(v) + ", expected a finite number in (0, " +
                                               std::to_string(hi) + "]");
  }
  return static_cast<float>(v);
}

// A [head_dim / 2] F32 tensor of positive finite factors (rope_freqs.weight, rope_factors_*.weight).
Result<std::vector<float>> read_factors(const GgufFile& f, const TensorInfo& t, const std::string& label,
                                        std::int64_t head_dim) {
  const auto half = static_cast<std::int64_t>(head_dim / 2);
  if (t.dtype != tensor_core::DType::kF32 || t.shape.rank() != 1 || t.shape[0] != half) {
    return fail(ErrorCode::kInvalidFormat,
                label + "tensor '" + t.name + "' is not F32 [" + std::to_string(half) + "] (head size / 2)");
  }
  std::vector<std::byte> bytes(static_cast<std::size_t>(half) * sizeof(float));
  EDGE_RT_TRY(f.file().read(t.offset_bytes, bytes, t.name.c_str()));
  std::vector<float> factors(static_cast<std::size_t>(half));
  std::memcpy(factors.data(), bytes.data(), bytes.size());
  for (const float x : factors) {
    if (!std::isfinite(x) || !(x > 0.0f)) {
      return fail(ErrorCode::kInvalidFormat,
                  label + "tensor '" + t.name + "' holds " + std::to_string(x) + ", expected finite factors above 0");
    }
  }
  return factors;
}

// Phi-3 128k files (convert_hf_to_gguf.py Phi3MiniModel): rope_factors_short/long.weight, the original context in
// rope.scaling.original_context_length and the attention factor in rope.scaling.attn_factor (computed as
// transformers does when absent).
Result<void> read_longrope_factors(const GgufFile& f, const std::string& p, const std::string& label, ModelConfig& c) {
  RopeScaling& s = c.rope_scaling;
  const TensorInfo* short_t = f.find("rope_factors_short.weight");
  if (!short_t) return fail(ErrorCode::kMissingField, label + "rope_factors_long.weight without rope_factors_short");
  s.kind = RopeScaling::Kind::kLongRope;
  EDGE_RT_TRY(s.long_factors, read_factors(f, *f.find("rope_factors_long.weight"), label, c.head_dim));
  EDGE_RT_TRY(s.freq_factors, read_factors(f, *short_t, label, c.head_dim));
  EDGE_RT_TRY(s.original_context, f.integer(p + "rope.scaling.original_context_length", 1, kMaxContext));
  s.factor = static_cast<float>(c.max_context) / static_cast<float>(s.original_context);
  if (f.value(p + "rope.scaling.attn_factor")) {
    EDGE_RT_TRY(s.attention_factor, positive_real(f, p + "rope.scaling.attn_factor", std::nullopt, 1e6));
  } else if (s.factor > 1.0f) {
    s.attention_factor = static_cast<float>(
        std::sqrt(1.0 + std::log(static_cast<double>(s.factor)) / std::log(static_cast<double>(s.original_context))));
  }
  return boost::outcome_v2::success();
}

// Gemma 2 / 3 as llama.cpp writes and reads them (convert_hf_to_gguf.py, llama-model.cpp): norm weights already
// hold 1 + w; embeddings scaled by sqrt(embedding_length); scores by 1/sqrt(key_length) (llama.cpp's choice for
// every size but Gemma 2 27B, whose query_pre_attn_scalar GGUF does not carry); soft-capping keys (Gemma 2);
// sliding layers every other one (Gemma 2: even ones) or all but every 6th (Gemma 3), or as
// attention.sliding_window_pattern says; Gemma 3's sliding layers use RoPE base 10000.
Result<void> read_gemma_keys(const GgufFile& f, const std::string& p, ModelConfig& c) {
  const bool gemma3 = c.architecture == Architecture::kGemma3;
  c.embedding_scale = std::sqrt(static_cast<float>(c.d_model));
  c.norm_weight_offset = 0.0f;
  for (auto [key, out] :
       {std::pair{"attn_logit_softcapping", &c.attn_softcap}, std::pair{"final_logit_softcapping", &c.final_softcap}}) {
    if (f.value(p + key)) {
      EDGE_RT_TRY(*out, positive_real(f, p + key, std::nullopt, 1e9));
    }
  }
  std::int64_t pattern = gemma3 ? 6 : 2;
  if (f.value(p + "attention.sliding_window_pattern")) {
    EDGE_RT_TRY(pattern, f.integer(p + "attention.sliding_window_pattern", 1, kMaxLayers));
  }
  c.sliding_layers.assign(static_cast<std::size_t>(c.n_layers), false);
  for (std::int64_t i = 0; i < c.n_layers; ++i) c.sliding_layers[static_cast<std::size_t>(i)] = (i + 1) % pattern != 0;
  if (gemma3) c.rope_theta_local = 10000.0f;
  return boost::outcome_v2::success();
}

}  // namespace

Result<ModelConfig> config_from_gguf(const GgufFile& f) {
  const std::string label = "[gguf] " + f.path().string() + ": ";
  EDGE_RT_TRY(const std::string arch, f.string("general.architecture"));
  ModelConfig c;
  c.architecture_name = arch;
  if (arch == "llama") {
    c.architecture = Architecture::kLlama;
    c.activation = Activation::kSilu;
    c.rope_interleaved = true;  // llama.cpp's converter permutes Q and K rows to Meta's order
  } else if (arch == "qwen2" || arch == "qwen3") {
    c.architecture = arch == "qwen2" ? Architecture::kQwen2 : Architecture::kQwen3;
    c.activation = Activation::kSilu;
    c.rope_interleaved = false;  // NEOX-style RoPE: the rows stay as Hugging Face has them
  } else if (arch == "phi3") {
    c.architecture = Architecture::kPhi3;
    c.activation = Activation::kSilu;
    c.rope_interleaved = false;  // NEOX-style RoPE
  } else if (arch == "gemma2" || arch == "gemma3") {
    c.architecture = arch == "gemma2" ? Architecture::kGemma2 : Architecture::kGemma3;
    c.activation = Activation::kGeluTanh;
    c.rope_interleaved = false;
  } else if (arch == "gpt2") {
    c.architecture = Architecture::kGpt2;
    c.activation = Activation::kGeluTanh;
    c.tie_embeddings = true;
  } else {
    return fail(ErrorCode::kUnsupported, label + "general.architecture is '" + arch +
                                             "', expected llama, qwen2, qwen3, gemma2, gemma3, phi3 or gpt2");
  }
  const std::string p = arch + ".";
  EDGE_RT_TRY(c.n_layers, f.integer(p + "block_count", 1, kMaxLayers));
  EDGE_RT_TRY(c.d_model, f.integer(p + "embedding_length", 1, kMaxModelWidth));
  EDGE_RT_TRY(c.d_ff, f.integer(p + "feed_forward_length", 1, kMaxModelWidth));
  EDGE_RT_TRY(c.n_heads, f.integer(p + "attention.head_count", 1, kMaxHeads));
  c.n_kv_heads = c.n_heads;
  if (f.value(p + "attention.head_count_kv")) {
    EDGE_RT_TRY(c.n_kv_heads, f.integer(p + "attention.head_count_kv", 1, c.n_heads));
  }
  if (c.n_heads % c.n_kv_heads != 0) {
    return fail(ErrorCode::kInvalidFormat, label + "attention.head_count " + std::to_string(c.n_heads) +
                                               " is not a multiple of attention.head_count_kv " +
                                               std::to_string(c.n_kv_heads));
  }
  EDGE_RT_TRY(c.max_context, f.integer(p + "context_length", 1, kMaxContext));
  const bool llama_like = c.architecture != Architecture::kGpt2;
  if (llama_like) {
    EDGE_RT_TRY(c.norm_eps, positive_real(f, p + "attention.layer_norm_rms_epsilon", std::nullopt, 1.0));
    EDGE_RT_TRY(c.rope_theta, positive_real(f, p + "rope.freq_base", 10000.0f, 1e12));
    if (f.value(p + "rope.scaling.type")) {
      EDGE_RT_TRY(const std::string scaling, f.string(p + "rope.scaling.type"));
      if (scaling == "linear") {
        c.rope_scaling.kind = RopeScaling::Kind::kLinear;
        EDGE_RT_TRY(c.rope_scaling.factor, positive_real(f, p + "rope.scaling.factor", std::nullopt, 1e6));
      } else if (scaling != "none") {
        return fail(ErrorCode::kUnsupported,
                    label + p + "rope.scaling.type is '" + scaling + "'; none and linear are supported");
      }
    }
  } else {
    EDGE_RT_TRY(c.norm_eps, positive_real(f, p + "attention.layer_norm_epsilon", std::nullopt, 1.0));
  }
  if (llama_like && f.value(p + "attention.sliding_window")) {  // Mistral v0.1 as llama with a window
    EDGE_RT_TRY(c.sliding_window, f.integer(p + "attention.sliding_window", 1, kMaxContext));
  }
  if (c.architecture == Architecture::kGemma2 || c.architecture == Architecture::kGemma3) {
    EDGE_RT_TRY(read_gemma_keys(f, p, c));
  }
  if (llama_like && f.value(p + "attention.key_length")) {  // Qwen3: head_dim is not d_model / heads
    EDGE_RT_TRY(c.head_dim, f.integer(p + "attention.key_length", 2, kMaxHeadDim));
    if (f.value(p + "attention.value_length")) {
      EDGE_RT_TRY(const auto value_length, f.integer(p + "attention.value_length", 2, kMaxHeadDim));
      if (value_length != c.head_dim) {
        return fail(ErrorCode::kUnsupported, label + p + "attention.value_length " + std::to_string(value_length) +
                                                 " differs from attention.key_length " + std::to_string(c.head_dim));
      }
    }
    if (c.n_heads * c.head_dim > kMaxModelWidth) {
      return fail(ErrorCode::kInvalidFormat,
                  label + "attention.head_count x attention.key_length is over " + std::to_string(kMaxModelWidth));
    }
  } else if (c.d_model % c.n_heads != 0) {
    return fail(ErrorCode::kInvalidFormat, label + "embedding_length " + std::to_string(c.d_model) +
                                               " is not a multiple of attention.head_count " +
                                               std::to_string(c.n_heads));
  } else {
    c.head_dim = c.d_model / c.n_heads;
  }
  if (f.value(p + "rope.dimension_count") && llama_like) {
    EDGE_RT_TRY(const auto rope_dims, f.integer(p + "rope.dimension_count", 2, kMaxHeadDim));
    if (rope_dims != c.head_dim) {
      return fail(ErrorCode::kUnsupported, label + "rope.dimension_count " + std::to_string(rope_dims) +
                                               " differs from the head size " + std::to_string(c.head_dim) +
                                               "; partial RoPE is not supported");
    }
  }
  if (c.head_dim % 2 != 0) {
    return fail(ErrorCode::kInvalidFormat,
                label + "head size " + std::to_string(c.head_dim) + " is odd, expected even");
  }
  // The vocabulary: the token list, else the embedding's rows.
  if (const GgufValue* tokens = f.value("tokenizer.ggml.tokens"); tokens && tokens->type == GgufType::kArray) {
    c.vocab_size = static_cast<std::int64_t>(tokens->array_size);
  } else if (const TensorInfo* emb = f.find("token_embd.weight"); emb && emb->shape.rank() == 2) {
    c.vocab_size = emb->shape[0];
  }
  if (c.vocab_size < 1 || c.vocab_size > kMaxVocab) {
    return fail(ErrorCode::kInvalidFormat, label + "vocabulary of " + std::to_string(c.vocab_size) +
                                               " tokens (tokenizer.ggml.tokens), expected 1.." +
                                               std::to_string(kMaxVocab));
  }
  if (llama_like) c.tie_embeddings = f.find("output.weight") == nullptr;
  // Llama 3.1+ files carry the llama3 frequency scaling as per-frequency divisors (convert_hf_to_gguf.py).
  if (const TensorInfo* factors = f.find("rope_freqs.weight"); factors && llama_like) {
    c.rope_scaling.kind = RopeScaling::Kind::kFactors;
    EDGE_RT_TRY(c.rope_scaling.freq_factors, read_factors(f, *factors, label, c.head_dim));
  }
  if (c.architecture == Architecture::kPhi3 && f.find("rope_factors_long.weight")) {
    EDGE_RT_TRY(read_longrope_factors(f, p, label, c));
  }
  const auto token_id = [&](std::string_view key) -> std::optional<std::int32_t> {
    const GgufValue* v = f.value(key);
    if (!v || !v->is_integer() || v->integer < 0 || v->integer >= c.vocab_size) return std::nullopt;
    return static_cast<std::int32_t>(v->integer);
  };
  c.bos_id = token_id("tokenizer.ggml.bos_token_id");
  if (f.value("tokenizer.ggml.add_bos_token")) {
    EDGE_RT_TRY(const std::int64_t add_bos, f.integer("tokenizer.ggml.add_bos_token", 0, 1));
    c.add_bos = add_bos != 0;
  }
  if (auto eos = token_id("tokenizer.ggml.eos_token_id")) c.eos_ids.push_back(*eos);
  if (auto eot = token_id("tokenizer.ggml.eot_token_id"); eot && (c.eos_ids.empty() || *eot != c.eos_ids[0])) {
    c.eos_ids.push_back(*eot);
  }
  return c;
}

std::optional<std::string> hf_name_of_gguf(Architecture architecture, std::string_view name) {
  struct Pair {
    std::string_view gguf, hf;
  };
  static constexpr Pair kLlamaGlobal[] = {{"token_embd.weight", "model.embed_tokens.weight"},
                                          {"output_norm.weight", "model.norm.weight"},
                                          {"output.weight", "lm_head.weight"}};
  static constexpr Pair kLlamaBlock[] = {
      {"attn_norm.weight", "input_layernorm.weight"},
      {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},
      {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},
      {"ffn_down.weight", "mlp.down_proj.weight"},
      // Qwen2's biases and Qwen3's per-head norms: absent from Llama files, so harmless to know there.
      {"attn_q.bias", "self_attn.q_proj.bias"},
      {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},
      {"attn_k_norm.weight", "self_attn.k_norm.weight"}};
  // Gemma: ffn_norm is the norm before the MLP; the post-norms have their own names.
  static constexpr Pair kGemmaBlock[] = {{"attn_norm.weight", "input_layernorm.weight"},
                                         {"attn_q.weight", "self_attn.q_proj.weight"},
                                         {"attn_k.weight", "self_attn.k_proj.weight"},
                                         {"attn_v.weight", "self_attn.v_proj.weight"},
                                         {"attn_output.weight", "self_attn.o_proj.weight"},
                                         {"attn_q_norm.weight", "self_attn.q_norm.weight"},
                                         {"attn_k_norm.weight", "self_attn.k_norm.weight"},
                                         {"post_attention_norm.weight", "post_attention_layernorm.weight"},
                                         {"ffn_norm.weight", "pre_feedforward_layernorm.weight"},
                                         {"ffn_gate.weight", "mlp.gate_proj.weight"},
                                         {"ffn_up.weight", "mlp.up_proj.weight"},
                                         {"ffn_down.weight", "mlp.down_proj.weight"},
                                         {"post_ffw_norm.weight", "post_feedforward_layernorm.weight"}};
  // Phi-3: fused QKV, and ffn_up holding gate and up.
  static constexpr Pair kPhi3Block[] = {
      {"attn_norm.weight", "input_layernorm.weight"},    {"attn_qkv.weight", "self_attn.qkv_proj.weight"},
      {"attn_output.weight", "self_attn.o_proj.weight"}, {"ffn_norm.weight", "post_attention_layernorm.weight"},
      {"ffn_up.weight", "mlp.gate_up_proj.weight"},      {"ffn_down.weight", "mlp.down_proj.weight"}};
  static constexpr Pair kGpt2Global[] = {{"token_embd.weight", "transformer.wte.weight"},
                                         {"position_embd.weight", "transformer.wpe.weight"},
                                         {"output_norm.weight", "transformer.ln_f.weight"},
                                         {"output_norm.bias", "transformer.ln_f.bias"},
                                         {"output.weight", "lm_head.weight"}};
  static constexpr Pair kGpt2Block[] = {
      {"attn_norm.weight", "ln_1.weight"},          {"attn_norm.bias", "ln_1.bias"},
      {"attn_qkv.weight", "attn.c_attn.weight"},    {"attn_qkv.bias", "attn.c_attn.bias"},
      {"attn_output.weight", "attn.c_proj.weight"}, {"attn_output.bias", "attn.c_proj.bias"},
      {"ffn_norm.weight", "ln_2.weight"},           {"ffn_norm.bias", "ln_2.bias"},
      {"ffn_up.weight", "mlp.c_fc.weight"},         {"ffn_up.bias", "mlp.c_fc.bias"},
      {"ffn_down.weight", "mlp.c_proj.weight"},     {"ffn_down.bias", "mlp.c_proj.bias"}};
  const bool llama = architecture != Architecture::kGpt2;
  for (const Pair& p : llama ? std::span<const Pair>(kLlamaGlobal) : std::span<const Pair>(kGpt2Global)) {
    if (name == p.gguf) return std::string(p.hf);
  }
  if (!name.starts_with("blk.")) return std::nullopt;
  const std::size_t dot = name.find('.', 4);
  if (dot == std::string_view::npos || dot == 4 || dot - 4 > 6) return std::nullopt;
  const std::string_view layer = name.substr(4, dot - 4);
  if (!std::all_of(layer.begin(), layer.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) return std::nullopt;
  if (layer.size() > 1 && layer[0] == '0') return std::nullopt;
  const std::string_view rest = name.substr(dot + 1);
  const bool gemma = architecture == Architecture::kGemma2 || architecture == Architecture::kGemma3;
  const std::span<const Pair> block = gemma                                 ? std::span<const Pair>(kGemmaBlock)
                                      : architecture == Architecture::kPhi3 ? std::span<const Pair>(kPhi3Block)
                                      : llama                               ? std::span<const Pair>(kLlamaBlock)
                                                                            : std::span<const Pair>(kGpt2Block);
  for (const Pair& p : block) {
    if (rest == p.gguf) {
      return (llama ? "model.layers." : "transformer.h.") + std::string(layer) + "." + std::string(p.hf);
    }
  }
  return std::nullopt;
}

}  // namespace edge_rt::model_ir
