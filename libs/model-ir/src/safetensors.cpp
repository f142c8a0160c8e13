#include <edge_rt/model_ir/safetensors.hpp>

#include <edge_rt/model_ir/gguf.hpp>

#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <boost/json.hpp>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

namespace edge_rt::model_ir {

namespace json = boost::json;
using tensor_core::DType;

namespace {

Error format_error(const std::string& file, const std::string& what) {
  return Error{ErrorCode::kInvalidFormat, "[safetensors] " + file + ": " + what};
}

// A U8 tensor is a quantized matrix when the metadata describes it as "<Q8_0|Q4_0> [rows, cols]"; its stored
// shape must then be [rows, row bytes]. Rewrites info's dtype and shape to the logical ones.
Result<void> describe_quantized(const std::map<std::string, std::string>& meta, const std::string& file_label,
                                TensorInfo& info) {
  const std::string key = std::string(kQuantMetadataPrefix) + info.name;
  const auto it = meta.find(key);
  const std::string where = "tensor '" + info.name + "'";
  if (it == meta.end()) {
    return Error{ErrorCode::kUnsupported, "[safetensors] " + file_label + ": " + where +
                                              " has dtype U8 but __metadata__ has no '" + key +
                                              "' entry naming its quantization"};
  }
  const std::string& text = it->second;
  const std::size_t space = text.find(' ');
  auto parsed = tensor_core::parse_dtype(text.substr(0, space));
  long long rows = -1;
  long long cols = -1;
  char tail = 0;
  const bool shape_ok = space != std::string::npos &&
                        std::sscanf(text.c_str() + space, " [%lld, %lld]%c", &rows, &cols, &tail) == 2 && rows >= 0 &&
                        cols > 0;
  if (!parsed || !tensor_core::is_quantized(parsed.value()) || !shape_ok ||
      cols % static_cast<long long>(tensor_core::block_elems(parsed.value())) != 0) {
    return format_error(file_label, "__metadata__['" + key + "'] is '" + text +
                                        "', expected 'TYPE [rows, cols]' with TYPE a block format (Q8_0, Q4_0, "
                                        "Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) and cols a multiple of its block (32, "
                                        "or 256 for the K-quants)");
  }
  // Shape::from rejects element counts that overflow; row bytes are at most cols x 34/32 once that passed.
  const std::int64_t dims[] = {rows, cols};
  auto logical = tensor_core::Shape::from(dims);
  if (!logical) {
    return format_error(file_label, "__metadata__['" + key + "'] is '" + text + "': " + logical.error().message);
  }
  const auto stored_cols =
      static_cast<std::int64_t>(tensor_core::row_bytes(parsed.value(), static_cast<std::size_t>(cols)));
  if (!(info.shape == tensor_core::Shape{rows, stored_cols})) {
    return format_error(file_label, where + " has U8 shape " + info.shape.to_string() + ", expected [" +
                                        std::to_string(rows) + ", " + std::to_string(stored_cols) + "] for " + text);
  }
  info.dtype = parsed.value();
  info.shape = logical.value();
  return boost::outcome_v2::success();
}

}  // namespace

Result<std::vector<TensorInfo>> parse_safetensors_header(std::string_view header_json, std::uint64_t data_bytes,
                                                         const std::string& file_label,
                                                         std::map<std::string, std::string>* metadata) {
  boost::system::error_code ec;
  json::value root = json::parse(header_json, ec);
  if (ec) return format_error(file_label, "header is not valid JSON (" + ec.message() + ")");
  if (!root.is_object()) return format_error(file_label, "header is not a JSON object");
  std::vector<TensorInfo> tensors;
  std::map<std::string, std::string> meta;
  std::set<std::string> quant_keys_used;  // every quantization entry must describe one of this file's U8 tensors
  if (const json::value* value = root.as_object().if_contains("__metadata__")) {
    if (!value->is_object()) return format_error(file_label, "__metadata__ is not an object of strings");
    for (const auto& [mk, mv] : value->as_object()) {
      if (!mv.is_string()) return format_error(file_label, "__metadata__['" + std::string(mk) + "'] is not a string");
      meta[std::string(mk)] = std::string(mv.as_string());
    }
  }
  for (const auto& [key, value] : root.as_object()) {
    const std::string name(key);
    if (name == "__metadata__") continue;
    const std::string where = "tensor '" + name + "'";
    if (!value.is_object()) return format_error(file_label, where + " entry is not an object");
    const json::object& entry = value.as_object();
    const json::value* dtype = entry.if_contains("dtype");
    const json::value* shape = entry.if_contains("shape");
    const json::value* offsets = entry.if_contains("data_offsets");
    if (!dtype || !dtype->is_string()) return format_error(file_label, where + " has no string field 'dtype'");
    if (!shape || !shape->is_array()) return format_error(file_label, where + " has no array field 'shape'");
    if (!offsets || !offsets->is_array() || offsets->as_array().size() != 2) {
      return format_error(file_label, where + " field 'data_offsets' is not [begin, end]");
    }
    TensorInfo info;
    info.name = name;
    const std::string dtype_text(dtype->as_string());
    const bool raw_bytes = dtype_text == "U8";
    if (!raw_bytes) {
      auto parsed_dtype = tensor_core::parse_dtype(dtype_text);
      if (!parsed_dtype || tensor_core::is_quantized(parsed_dtype.value())) {
        return Error{ErrorCode::kUnsupported, "[safetensors] " + file_label + ": " + where + " has dtype " +
                                                  dtype_text + ", expected F32/F16/BF16 (or U8 with quantization " +
                                                  "metadata)"};
      }
      info.dtype = parsed_dtype.value();
    }
    std::vector<std::int64_t> dims;
    for (const json::value& d : shape->as_array()) {
      if (!d.is_int64() && !d.is_uint64()) return format_error(file_label, where + " shape has a non-integer entry");
      const std::int64_t v = d.is_int64() ? d.as_int64() : static_cast<std::int64_t>(d.as_uint64());
      if (v < 0 || (d.is_uint64() && d.as_uint64() > static_cast<std::uint64_t>(INT64_MAX))) {
        return format_error(file_label, where + " shape has a negative or huge dimension");
      }
      dims.push_back(v);
    }
    auto parsed_shape = tensor_core::Shape::from(dims);
    if (!parsed_shape) return format_error(file_label, where + " shape: " + parsed_shape.error().message);
    info.shape = parsed_shape.value();
    if (raw_bytes) {
      EDGE_RT_TRY(describe_quantized(meta, file_label, info));
      quant_keys_used.insert(std::string(kQuantMetadataPrefix) + info.name);
    }
    std::uint64_t range[2];
    for (int i = 0; i < 2; ++i) {
      const json::value& o = offsets->as_array()[static_cast<std::size_t>(i)];
      if (o.is_uint64()) {
        range[i] = o.as_uint64();
      } else if (o.is_int64() && o.as_int64() >= 0) {
        range[i] = static_cast<std::uint64_t>(o.as_int64());
      } else {
        return format_error(file_label, where + " data_offsets has a negative or non-integer entry");
      }
    }
    if (range[0] > range[1] || range[1] > data_bytes) {
      return format_error(file_label, where + " data_offsets [" + std::to_string(range[0]) + ", " +
                                          std::to_string(range[1]) + "] lie outside the data buffer of " +
                                          std::to_string(data_bytes) + " bytes");
    }
    const std::uint64_t expected = tensor_core::storage_bytes(info.dtype, info.shape);
    if (expected != range[1] - range[0]) {
      return format_error(file_label, where + " holds " + std::to_string(range[1] - range[0]) + " bytes, expected " +
                                          std::to_string(expected) + " for shape " + info.shape.to_string() + " " +
                                          std::string(tensor_core::dtype_name(info.dtype)));
    }
    info.offset_bytes = range[0];
    info.size_bytes = range[1] - range[0];
    tensors.push_back(std::move(info));
  }
  // Quantization metadata on anything but a U8 tensor of this file would be silently ignored.
  for (const auto& [key, value] : meta) {
    if (key.starts_with(kQuantMetadataPrefix) && !quant_keys_used.contains(key)) {
      return format_error(file_label, "__metadata__['" + key + "'] describes tensor '" +
                                          key.substr(kQuantMetadataPrefix.size()) +
                                          "', which is not a U8 tensor of this file; expected quantization metadata "
                                          "only for U8 tensors");
    }
  }
  if (metadata) *metadata = std::move(meta);
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset_bytes != b.offset_bytes ? a.offset_bytes < b.offset_bytes : a.size_bytes < b.size_bytes;
  });
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    const TensorInfo& prev = tensors[i - 1];
    if (prev.offset_bytes + prev.size_bytes > tensors[i].offset_bytes) {
      return format_error(file_label, "tensors '" + prev.name + "' and '" + tensors[i].name + "' overlap");
    }
  }
  return tensors;
}

SafetensorsFile::~SafetensorsFile() = default;

Result<SafetensorsFile> SafetensorsFile::open(const std::filesystem::path& path) {
  const std::string label = path.string();
  EDGE_RT_TRY(WeightFile weights, WeightFile::open(path, "[safetensors]"));
  SafetensorsFile file(std::move(weights));
  const int fd = file.file_.fd();
  const std::uint64_t file_size = file.file_.size_bytes();
  if (file_size < 8)
    return format_error(label,
                        "file is " + std::to_string(file_size) + " bytes, shorter than the 8-byte header length");
  // The header is read with pread, not through the mapping: a file truncated meanwhile gives an error, not SIGBUS.
  unsigned char length_bytes[8];
  EDGE_RT_TRY(read_exactly_at(fd, length_bytes, 8, 0, path, "[safetensors]"));
  std::uint64_t header_bytes = 0;
  for (int i = 7; i >= 0; --i) header_bytes = header_bytes << 8 | length_bytes[i];
  if (header_bytes > kMaxSafetensorsHeaderBytes || header_bytes > file_size - 8) {
    return format_error(label,
                        "header length " + std::to_string(header_bytes) + " exceeds " +
                            (header_bytes > kMaxSafetensorsHeaderBytes ? "the 100 MiB cap"
                                                                       : "the file size " + std::to_string(file_size)));
  }
  std::string header(static_cast<std::size_t>(header_bytes), '\0');
  EDGE_RT_TRY(read_exactly_at(fd, header.data(), header_bytes, 8, path, "[safetensors]"));
  const std::uint64_t data_start = 8 + header_bytes;
  EDGE_RT_TRY(auto tensors, parse_safetensors_header(header, file_size - data_start, label, &file.metadata_));
  for (TensorInfo& t : tensors) t.offset_bytes += data_start;
  file.tensors_ = std::move(tensors);
  return file;
}

const TensorInfo* SafetensorsFile::find(std::string_view name) const noexcept {
  for (const TensorInfo& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

std::span<const std::byte> SafetensorsFile::bytes(const TensorInfo& info) const noexcept {
  return file_.mapped(info.offset_bytes, info.size_bytes);
}

tensor_core::TensorView SafetensorsFile::view(const TensorInfo& info) const noexcept {
  return tensor_core::TensorView::contiguous(bytes(info).data(), info.dtype, info.shape);
}

namespace {
// The metadata key that describes quantized tensor `name`.
std::string quant_key(const std::string& name) {
  return std::string(kQuantMetadataPrefix) + name;
}
}  // namespace

Result<SafetensorsWriter> SafetensorsWriter::create(const std::filesystem::path& path,
                                                    std::span<const TensorSpec> tensors,
                                                    const std::map<std::string, std::string>& metadata) {
  json::object meta;
  for (const auto& [k, v] : metadata) meta[k] = v;
  json::object entries;
  std::set<std::string> names;
  std::uint64_t offset = 0;
  for (const TensorSpec& t : tensors) {
    if (!names.insert(t.name).second) {
      return fail(ErrorCode::kInvalidArgument,
                  "[safetensors] writing " + path.string() + ": duplicate tensor '" + t.name + "'");
    }
    const std::uint64_t bytes = tensor_core::storage_bytes(t.dtype, t.shape);
    json::array shape;
    std::string dtype(tensor_core::dtype_name(t.dtype));
    if (tensor_core::is_quantized(t.dtype)) {
      const std::size_t rank = t.shape.rank();
      const auto block = static_cast<std::int64_t>(tensor_core::block_elems(t.dtype));
      if (rank != 2 || t.shape[1] % block != 0) {
        return fail(ErrorCode::kInvalidArgument, "[safetensors] writing " + path.string() + ": quantized tensor '" +
                                                     t.name + "' must be rank 2 with columns a multiple of " +
                                                     std::to_string(block) + ", got " + t.shape.to_string());
      }
      meta[quant_key(t.name)] = dtype + " " + t.shape.to_string();
      shape = json::array{t.shape[0], static_cast<std::int64_t>(bytes) / std::max<std::int64_t>(t.shape[0], 1)};
      dtype = "U8";
    } else {
      for (std::int64_t d : t.shape.dims()) shape.push_back(d);
    }
    entries[t.name] = json::object{
        {"dtype", dtype}, {"shape", std::move(shape)}, {"data_offsets", json::array{offset, offset + bytes}}};
    offset += bytes;
  }
  json::object header;
  if (!meta.empty()) header["__metadata__"] = std::move(meta);  // first, as the Python library writes it
  for (auto& [k, v] : entries) header[k] = std::move(v);
  std::string text = json::serialize(header);
  while ((8 + text.size()) % 8 != 0) text.push_back(' ');  // pad so the data buffer starts 8-byte aligned
  SafetensorsWriter writer;
  writer.path_ = path;
  writer.expected_bytes_ = offset;
  EDGE_RT_TRY(auto out, AtomicFileWriter::create(path, "[safetensors]"));
  writer.out_.emplace(std::move(out));
  char len[8];
  std::uint64_t n = text.size();
  for (char& c : len) {
    c = static_cast<char>(n & 0xff);
    n >>= 8;
  }
  EDGE_RT_TRY(writer.out_->write(std::string_view(len, 8)));
  EDGE_RT_TRY(writer.out_->write(text));
  return writer;
}

Result<void> SafetensorsWriter::append(std::span<const std::byte> bytes) {
  if (written_ + bytes.size() > expected_bytes_) {
    return fail(ErrorCode::kInvalidArgument, "[safetensors] writing " + path_.string() + ": more data than the " +
                                                 std::to_string(expected_bytes_) + " bytes the header declares");
  }
  EDGE_RT_TRY(out_->write(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size())));
  written_ += bytes.size();
  return boost::outcome_v2::success();
}

Result<void> SafetensorsWriter::finish() {
  if (written_ != expected_bytes_) {
    return fail(ErrorCode::kInvalidArgument,
                "[safetensors] writing " + path_.string() + ": " + std::to_string(written_) +
                    " data bytes written, the header declares " + std::to_string(expected_bytes_));
  }
  return out_->commit();
}

SafetensorsWriter::SafetensorsWriter() = default;
SafetensorsWriter::SafetensorsWriter(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter& SafetensorsWriter::operator=(SafetensorsWriter&&) noexcept = default;
SafetensorsWriter::~SafetensorsWriter() = default;

Result<void> write_safetensors(const std::filesystem::path& path, std::span<const TensorToWrite> tensors,
                               const std::map<std::string, std::string>& metadata) {
  std::vector<TensorSpec> specs;
  for (const TensorToWrite& t : tensors) {
    const std::uint64_t expected = tensor_core::storage_bytes(t.dtype, t.shape);
    if (expected != t.data.size()) {
      return fail(ErrorCode::kInvalidArgument, "[safetensors] writing " + path.string() + ": tensor '" + t.name +
                                                   "' has " + std::to_string(t.data.size()) + " bytes, expected " +
                                                   std::to_string(expected));
    }
    specs.push_back({t.name, t.dtype, t.shape});
  }
  EDGE_RT_TRY(auto writer, SafetensorsWriter::create(path, specs, metadata));
  for (const TensorToWrite& t : tensors) {
    EDGE_RT_TRY(writer.append(t.data));
  }
  return writer.finish();
}

Result<std::map<std::string, std::string>> parse_safetensors_index(std::string_view text, const std::string& label) {
  boost::system::error_code ec;
  json::value root = json::parse(text, ec);
  if (ec || !root.is_object()) return format_error(label, "not a JSON object");
  const json::value* weight_map = root.as_object().if_contains("weight_map");
  if (!weight_map || !weight_map->is_object()) {
    return fail(ErrorCode::kMissingField, "[safetensors] " + label + ": missing object field 'weight_map'");
  }
  std::map<std::string, std::string> out;
  for (const auto& [name, shard] : weight_map->as_object()) {
    if (!shard.is_string()) return format_error(label, "weight_map['" + std::string(name) + "'] is not a string");
    const std::string shard_name(shard.as_string());
    if (shard_name.empty() || shard_name.find('/') != std::string::npos || shard_name.find("..") != std::string::npos ||
        shard_name.find('\0') != std::string::npos) {
      return format_error(label, "weight_map['" + std::string(name) + "'] is '" + shard_name +
                                     "', a path outside the model folder; expected a plain file name in it");
    }
    out.emplace(std::string(name), shard_name);
  }
  return out;
}

Result<Checkpoint> Checkpoint::open(const std::filesystem::path& model_dir) {
  Checkpoint checkpoint;
  const auto index_path = model_dir / "model.safetensors.index.json";
  const auto single_path = model_dir / "model.safetensors";
  if (path_present(index_path)) {
    const std::string label = index_path.string();
    EDGE_RT_TRY(const std::string text, read_regular_file(index_path, kMaxConfigBytes, "[safetensors]"));
    EDGE_RT_TRY(const auto weight_map, parse_safetensors_index(text, label));
    std::map<std::string, std::size_t> shard_index;
    for (const auto& [name, shard_name] : weight_map) {
      auto it = shard_index.find(shard_name);
      if (it == shard_index.end()) {
        EDGE_RT_TRY(auto file, SafetensorsFile::open(model_dir / shard_name));
        checkpoint.files_.push_back(std::move(file));
        it = shard_index.emplace(shard_name, checkpoint.files_.size() - 1).first;
      }
      if (!checkpoint.files_[it->second].find(name)) {
        return format_error(label, "weight_map maps '" + std::string(name) + "' to " + shard_name + ", which lacks it");
      }
      checkpoint.index_[std::string(name)] = it->second;
    }
    for (std::size_t f = 0; f < checkpoint.files_.size(); ++f) {
      for (const TensorInfo& t : checkpoint.files_[f].tensors()) {
        auto owner = checkpoint.index_.find(t.name);
        if (owner != checkpoint.index_.end() && owner->second != f) {
          return format_error(label, "tensor '" + t.name + "' is in both " +
                                         checkpoint.files_[owner->second].path().filename().string() + " and " +
                                         checkpoint.files_[f].path().filename().string());
        }
      }
    }
  } else if (path_present(single_path)) {
    EDGE_RT_TRY(auto file, SafetensorsFile::open(single_path));
    checkpoint.files_.push_back(std::move(file));
    for (const TensorInfo& t : checkpoint.files_[0].tensors()) checkpoint.index_[t.name] = 0;
  } else {
    return fail(ErrorCode::kIoError,
                "[safetensors] " + model_dir.string() + ": no model.safetensors or model.safetensors.index.json");
  }
  return checkpoint;
}

Checkpoint::Checkpoint() = default;
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

Checkpoint Checkpoint::from_gguf(GgufFile file, Architecture architecture) {
  Checkpoint checkpoint;
  checkpoint.gguf_ = std::make_unique<GgufFile>(std::move(file));
  for (const TensorInfo& t : checkpoint.gguf_->tensors()) {
    const std::optional<std::string> hf = hf_name_of_gguf(architecture, t.name);
    if (!hf) continue;  // left unused: the graph's check names it
    if (architecture == Architecture::kGpt2 && t.shape.rank() == 2 && !hf->ends_with("wte.weight") &&
        !hf->ends_with("wpe.weight") && *hf != "lm_head.weight") {
      checkpoint.gguf_metadata_[std::string(kLayoutMetadataPrefix) + *hf] = "out_in";
    }
    checkpoint.gguf_index_.emplace(*hf, &t);
  }
  return checkpoint;
}

Checkpoint::Entry Checkpoint::find(std::string_view name) const noexcept {
  if (gguf_) {
    auto it = gguf_index_.find(name);
    if (it == gguf_index_.end()) return {};
    return {&gguf_->file(), it->second, &gguf_metadata_};
  }
  auto it = index_.find(name);
  if (it == index_.end()) return {};
  const SafetensorsFile& file = files_[it->second];
  return {&file.file(), file.find(name), &file.metadata()};
}

std::vector<const TensorInfo*> Checkpoint::tensors() const {
  std::vector<const TensorInfo*> all;
  if (gguf_) {
    for (const TensorInfo& t : gguf_->tensors()) all.push_back(&t);
  }
  for (const SafetensorsFile& f : files_) {
    for (const TensorInfo& t : f.tensors()) all.push_back(&t);
  }
  return all;
}

std::uint64_t Checkpoint::total_file_bytes() const noexcept {
  std::uint64_t total = gguf_ ? gguf_->file().size_bytes() : 0;
  for (const SafetensorsFile& f : files_) total += f.file_size_bytes();
  return total;
}

}  // namespace edge_rt::model_ir
