#include "unit_builder.hpp"

namespace edge_rt::model_ir::detail {

using tensor_core::Shape;

Result<void> UnitBuilder::add(Unit& unit, WeightRole role, const std::string& name, Shape file_shape, bool transpose) {
  const Checkpoint::Entry e = checkpoint_.find(name);
  if (!e.info) {
    return fail(ErrorCode::kMissingField, "[model] " + model_dir_.string() + ": tensor '" + name + "' (" +
                                              std::string(role_name(role)) + ") is missing from the checkpoint");
  }
  const auto& meta = *e.metadata;
  const auto layout = meta.find(std::string(kLayoutMetadataPrefix) + name);
  const bool output_major = layout != meta.end() && layout->second == "out_in";
  if (layout != meta.end() && !output_major) {
    return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": __metadata__['" +
                                               std::string(kLayoutMetadataPrefix) + name + "'] is '" + layout->second +
                                               "', expected 'out_in'");
  }
  if ((tensor_core::is_quantized(e.info->dtype) || output_major) && transpose) {
    // Quantized matrices are stored output-major, and so are those marked out_in: a Conv1D weight arrives
    // already transposed.
    file_shape = Shape{file_shape[1], file_shape[0]};
    transpose = false;
  }
  if (tensor_core::is_quantized(e.info->dtype) && file_shape.rank() != 2) {
    return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": tensor '" + name + "' (" +
                                               std::string(role_name(role)) + ") is " +
                                               std::string(tensor_core::dtype_name(e.info->dtype)) +
                                               ", expected F32/F16/BF16 for a vector");
  }
  if (!(e.info->shape == file_shape)) {
    return fail(ErrorCode::kInvalidFormat, "[model] " + e.file->path().string() + ": tensor '" + name + "' has shape " +
                                               e.info->shape.to_string() + ", expected " + file_shape.to_string() +
                                               " from config.json (" +
                                               recipe_for(config_.architecture).shape_keys(config_) + ")");
  }
  WeightRef w;
  w.role = role;
  w.file = e.file;
  w.source = e.info;
  w.transpose = transpose;
  if (file_shape.rank() == 1) {
    w.dtype = tensor_core::DType::kF32;
    w.shape = file_shape;
  } else {
    w.dtype = e.info->dtype;
    w.shape = transpose ? Shape{file_shape[1], file_shape[0]} : file_shape;
  }
  w.resident_bytes = tensor_core::storage_bytes(w.dtype, w.shape);
  unit.weight_bytes += w.resident_bytes;
  unit.weights.push_back(w);
  return boost::outcome_v2::success();
}

}  // namespace edge_rt::model_ir::detail
