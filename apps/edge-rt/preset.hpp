#pragma once
// Device presets: TOML files in configs/ whose keys mirror `edge-rt run` flags.

#include <CLI/CLI.hpp>

#include <edge_rt/core/result.hpp>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace edge_rt::cli {

/// Every key a preset may set; absent keys stay unset. Copyable value.
struct Preset {
  std::optional<std::string> model;          ///< model = "path"
  std::optional<std::string> memory_budget;  ///< memory_budget = "256M"
  std::optional<std::string> strategy;       ///< strategy = "sequential"
  std::optional<std::int64_t> num_threads;   ///< num_threads = 4
  std::optional<std::int64_t> ctx_size;      ///< ctx_size = 512
  std::optional<std::int64_t> n_predict;     ///< n_predict = 128
  std::optional<double> temperature;
  std::optional<std::int64_t> top_k;
  std::optional<double> top_p;
  std::optional<double> min_p;
  std::optional<double> repeat_penalty;
  std::optional<std::int64_t> seed;
};

/// Sets `target` from a preset value where `flag` was not given on the command line (explicit flags win).
template <class T, class U>
void apply(const std::optional<U>& preset_value, const CLI::App& cmd, const char* flag, T& target) {
  if (preset_value && cmd.get_option(flag)->count() == 0) target = static_cast<T>(*preset_value);
}

/// Parses a preset file (toml++). Errors: kIoError (unreadable), kInvalidFormat (TOML syntax, with line and column;
/// a key of the wrong type, naming the key and the expected type; an unknown key, naming it).
Result<Preset> load_preset(const std::filesystem::path& path);

}  // namespace edge_rt::cli
