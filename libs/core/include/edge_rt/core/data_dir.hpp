#pragma once
// Where edge-rt finds its data (the default model) at run time. No source path is compiled in: the data folder is
// named by EDGE_RT_DATA_DIR, or found relative to the running executable, as an installed tree
// (<prefix>/bin/edge-rt beside <prefix>/share/edge-rt) or a build tree (<build>/share/edge-rt, copied there by CMake)
// lays it out.

#include <edge_rt/core/result.hpp>

#include <filesystem>
#include <string_view>

namespace edge_rt {

/// The environment variable naming a data folder that holds models/stories260K.
inline constexpr const char* kDataDirEnv = "EDGE_RT_DATA_DIR";
/// The data folder under an install prefix or a build folder.
inline constexpr std::string_view kDataSubdir = "share/edge-rt";
/// The default model under a data folder.
inline constexpr std::string_view kDefaultModelSubdir = "models/stories260K";

/// Finds the default model folder (one holding config.json): first `<$EDGE_RT_DATA_DIR>/models/stories260K` when
/// the variable is set and non-empty, then `<dir>/share/edge-rt/models/stories260K` for the running executable's
/// folder (/proc/self/exe, links resolved) and each of its parents up to the root (so <prefix>/bin/../share and
/// <build>/apps/edge-rt/../../share both match). Reads the environment and the file system; thread-safe as far as
/// getenv is (no concurrent setenv). Errors: kIoError listing every folder searched and saying to pass -m/--model or
/// set EDGE_RT_DATA_DIR; kIoError naming the folder when EDGE_RT_DATA_DIR is set but holds no model there (a value
/// given on purpose is not silently passed over).
Result<std::filesystem::path> default_model_dir();

/// The same search with explicit inputs (for tests): `data_dir` is EDGE_RT_DATA_DIR's value (empty: unset),
/// `exe_path` the executable's path (empty: unknown, only `data_dir` is searched). Errors as default_model_dir().
Result<std::filesystem::path> find_default_model_dir(const std::filesystem::path& data_dir,
                                                     const std::filesystem::path& exe_path);

}  // namespace edge_rt
