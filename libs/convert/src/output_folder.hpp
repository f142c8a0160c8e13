#pragma once
// The output folder of quantize and convert. Writing a model into a folder that already holds one must neither
// destroy an input (a linked model.safetensors) nor leave stale files that the loader prefers over the new ones
// (a shard index beside a new model.safetensors, an old tokenizer.bin beside nothing).

#include <edge_rt/core/result.hpp>

#include <filesystem>
#include <span>
#include <string>

namespace edge_rt::convert::detail {

/// Checks and creates `out_dir`: it must be absent, an empty folder, or (with `force`) any folder; a non-empty one
/// without `force` is kInvalidArgument naming a few of its entries and --force. No file the loader reads in it may
/// be (by symlink or hard link) one of `inputs` (kInvalidArgument). Errors: kIoError when it is not a folder or
/// cannot be created.
Result<void> prepare_output_folder(const std::filesystem::path& out_dir, bool force,
                                   std::span<const std::filesystem::path> inputs, const char* component);

/// After a successful write: removes every file in `out_dir` that the model loader reads (config, checkpoint,
/// index, shards, tokenizer files) and is not in `written` (file names). Errors: kIoError naming the file.
Result<void> remove_stale_model_files(const std::filesystem::path& out_dir, std::span<const std::string> written,
                                      const char* component);

}  // namespace edge_rt::convert::detail
