#include <edge_rt/core/data_dir.hpp>

#include <cstdlib>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace edge_rt {

namespace fs = std::filesystem;

namespace {
// A model folder: a directory holding a regular config.json (links followed).
bool is_model_folder(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return false;
  return fs::is_regular_file(dir / "config.json", ec);
}
}  // namespace

Result<fs::path> find_default_model_dir(const fs::path& data_dir, const fs::path& exe_path) {
  std::vector<fs::path> searched;
  const auto found = [&searched](const fs::path& folder) {
    searched.push_back(folder);
    return is_model_folder(folder);
  };
  if (!data_dir.empty()) {
    // Set on purpose: a wrong value is an error, not a reason to look elsewhere.
    fs::path candidate = data_dir / kDefaultModelSubdir;
    if (found(candidate)) return candidate;
    return fail(ErrorCode::kIoError, std::string("[data] ") + kDataDirEnv + " is " + data_dir.string() + ", but " +
                                         candidate.string() + " is not a model folder (a folder holding config.json)" +
                                         ". Pass -m/--model DIR, or point " + kDataDirEnv + " at a folder holding " +
                                         std::string(kDefaultModelSubdir));
  }
  // The executable's folder and each parent: <prefix>/bin/.. (installed), <build>/apps/edge-rt/../.. (build tree).
  for (fs::path dir = exe_path.parent_path(); !dir.empty();) {
    fs::path candidate = dir / kDataSubdir / kDefaultModelSubdir;
    if (found(candidate)) return candidate;
    fs::path parent = dir.parent_path();
    if (parent == dir) break;  // the root
    dir = std::move(parent);
  }

  std::string message = "[data] no default model found (a folder holding config.json) in: ";
  for (std::size_t i = 0; i < searched.size(); ++i) message += (i == 0 ? "" : ", ") + searched[i].string();
  if (searched.empty()) message += "nowhere";
  if (data_dir.empty()) message += std::string("; ") + kDataDirEnv + " is not set";
  if (exe_path.empty()) message += "; the executable's path is unknown (/proc/self/exe unreadable)";
  message += std::string(". Pass -m/--model DIR, or set ") + kDataDirEnv + " to a folder holding " +
             std::string(kDefaultModelSubdir);
  return fail(ErrorCode::kIoError, std::move(message));
}

Result<fs::path> default_model_dir() {
  const char* env = std::getenv(kDataDirEnv);
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) exe.clear();
  return find_default_model_dir(env != nullptr ? fs::path(env) : fs::path(), exe);
}

}  // namespace edge_rt
