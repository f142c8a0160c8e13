#pragma once
// Device presets: TOML files in configs/ whose keys mirror `edge-rt run` flags.

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

/// Parses a preset file (toml++). Errors: kIoError (unreadable), kInvalidFormat (TOML syntax, with line and column;
/// a key of the wrong type, naming the key and the expected type; an unknown key, naming it).
Result<Preset> load_preset(const std::filesystem::path& path);

}  // namespace edge_rt::cli
