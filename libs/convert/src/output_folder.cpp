#include "output_folder.hpp"

#include <edge_rt/core/file.hpp>

#include <algorithm>
#include <array>
#include <string_view>

namespace edge_rt::convert::detail {

namespace fs = std::filesystem;

namespace {
// What the loader reads from a model folder (model_ir::Checkpoint, tokenizer::load_tokenizer, parse_hf_config,
// add_bos_token of tokenizer_config.json).
bool loader_reads(const std::string& name) {
  static constexpr std::array<std::string_view, 8> kNames = {
      "config.json", "model.safetensors", "model.safetensors.index.json", "tokenizer.json", "vocab.json",
      "merges.txt",  "tokenizer.bin",     "tokenizer_config.json"};
  return std::ranges::find(kNames, name) != kNames.end() || name.ends_with(".safetensors");
}
}  // namespace

Result<void> prepare_output_folder(const fs::path& out_dir, bool force, std::span<const fs::path> inputs,
                                   const char* component) {
  const std::string label = std::string(component) + " " + out_dir.string() + ": ";
  std::error_code ec;
  const fs::file_status status = fs::status(out_dir, ec);
  if (fs::exists(status)) {
    if (!fs::is_directory(status)) return fail(ErrorCode::kIoError, label + "exists and is not a folder");
    std::vector<std::string> entries;
    for (fs::directory_iterator it(out_dir, ec), end; !ec && it != end; it.increment(ec)) {
      entries.push_back(it->path().filename().string());
    }
    if (ec) return fail(ErrorCode::kIoError, label + "cannot list: " + ec.message());
    if (!entries.empty() && !force) {
      std::ranges::sort(entries);
      std::string names;
      for (std::size_t i = 0; i < std::min<std::size_t>(3, entries.size()); ++i) {
        names += (i ? ", '" : "'") + entries[i] + "'";
      }
      if (entries.size() > 3) names += " and " + std::to_string(entries.size() - 3) + " more";
      return fail(ErrorCode::kInvalidArgument,
                  label + "the folder is not empty (" + names +
                      "); expected a new or empty folder, or --force to replace the model files in it");
    }
    for (const std::string& name : entries) {
      if (loader_reads(name)) {
        EDGE_RT_TRY(refuse_same_file(out_dir / name, inputs, component));
      }
    }
    return boost::outcome_v2::success();
  }
  fs::create_directories(out_dir, ec);
  if (ec) return fail(ErrorCode::kIoError, label + "cannot create the folder: " + ec.message());
  return boost::outcome_v2::success();
}

Result<void> remove_stale_model_files(const fs::path& out_dir, std::span<const std::string> written,
                                      const char* component) {
  std::error_code ec;
  std::vector<fs::path> stale;
  for (fs::directory_iterator it(out_dir, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (loader_reads(name) && std::ranges::find(written, name) == written.end()) stale.push_back(it->path());
  }
  if (ec) return fail(ErrorCode::kIoError, std::string(component) + " " + out_dir.string() + ": " + ec.message());
  for (const fs::path& path : stale) {
    if (!fs::remove(path, ec) && ec) {
      return fail(ErrorCode::kIoError,
                  std::string(component) + " " + path.string() + ": cannot remove the stale file: " + ec.message());
    }
  }
  return boost::outcome_v2::success();
}

}  // namespace edge_rt::convert::detail
