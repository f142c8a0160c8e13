#pragma once
// Device presets: TOML files in configs/ whose keys mirror the CLI's flags, and the settings every command
// resolves the same way (`--memory-budget auto`, the run-time adaptation policy).

#include "commands.hpp"

#include <CLI/CLI.hpp>

#include <edge_rt/core/result.hpp>
#include <edge_rt/memory_manager/budget.hpp>
#include <edge_rt/resource_monitor/adapt.hpp>
#include <edge_rt/runtime/engine.hpp>

#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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
  // Run-time adaptation thresholds (resource_monitor::AdaptPolicy).
  std::optional<double> thermal_margin_c;           ///< thermal_margin_c = 5.0
  std::optional<std::int64_t> battery_low_percent;  ///< battery_low_percent = 20 (0 disables)
  std::optional<std::int64_t> pace_ms;              ///< pace_ms = 50
  std::optional<std::int64_t> monitor_interval_ms;  ///< monitor_interval_ms = 1000
  // Devices (runtime::DeviceOptions).
  std::optional<std::string> device;                      ///< device = "npu-sim"
  std::optional<std::string> gpu_layers;                  ///< gpu_layers = 12 or "all"
  std::optional<std::vector<std::string>> device_budget;  ///< device_budget = ["npu-sim=64M"] (or one string)
  std::optional<std::string> fallback;                    ///< fallback = "cpu" | "fail"
  std::string label;                                      ///< The file it came from, for messages ("" when none).

  /// The adaptation policy: AdaptPolicy's defaults where a key is absent. Errors: kInvalidArgument when a value is
  /// out of range (naming the key).
  Result<resource_monitor::AdaptPolicy> adapt_policy() const;
};

/// Sets `target` from a preset value where `flag` was not given on the command line (explicit flags win).
template <class T, class U>
void apply(const std::optional<U>& preset_value, const CLI::App& cmd, const char* flag, T& target) {
  if (preset_value && cmd.get_option(flag)->count() == 0) target = static_cast<T>(*preset_value);
}

/// Most threads a command accepts (-t, num_threads): far above any edge device, far below what makes thread
/// creation fail.
inline constexpr std::int64_t kMaxThreads = runtime::kMaxThreads;
/// Largest token count or top-k a flag or key accepts (int32 range: the runtime's ids and counts).
inline constexpr std::int64_t kMaxCount = std::numeric_limits<std::int32_t>::max();

/// Parses a preset file (toml++): a regular file of at most 16 MiB. Errors: kIoError (unreadable), kInvalidFormat
/// (not a regular file; TOML syntax, with line and column; a key of the wrong type, naming the key and the
/// expected type; an unknown key, naming it), kInvalidArgument (a value out of range, naming the key, the value
/// and the range: num_threads 0..kMaxThreads, ctx_size, n_predict, top_k, temperature, top_p, min_p,
/// repeat_penalty, strategy, memory_budget and the adaptation thresholds; NaN never passes).
Result<Preset> load_preset(const std::filesystem::path& path);

/// The same from TOML text; `label` names the source in messages. Exposed for fuzzing.
Result<Preset> parse_preset(std::string_view text, const std::string& label);

/// A comma-separated list of integers ("1,2,3"), each within [min, max]. Errors: kInvalidArgument naming `flag`
/// and the item that is empty, not an integer, or out of range.
Result<std::vector<std::int64_t>> parse_int_list(std::string_view text, std::string_view flag, std::int64_t min,
                                                 std::int64_t max);

/// A CLI11 check for an integer in [lo, hi], parsed exactly (no saturation or wrap-around of huge values).
CLI::Validator integer_range(std::int64_t lo, std::int64_t hi);

/// A CLI11 check for a finite number in [lo, hi] (or (lo, hi] with lo_open). CLI::Range lets NaN through.
CLI::Validator finite_range(double lo, double hi, bool lo_open = false);

/// Errors unless `dir` is an existing folder: kIoError naming `flag` and the path, saying whether it does not exist
/// or is not a folder (a file, a FIFO, /dev/zero).
Result<void> check_model_folder(const std::filesystem::path& dir, const char* flag);

/// The preset named by -c, or an empty Preset when `path` is empty. Errors as load_preset.
Result<Preset> load_preset_or_empty(const std::string& path);

/// A command's action with its -c preset: loads the preset at `path` (an empty one when `path` is empty), calls
/// `body(const Preset&)` -> Result<int>, and turns either's error into report()'s exit code.
template <class Body>
int with_preset(const std::string& path, Body body) {
  auto preset = load_preset_or_empty(path);
  if (!preset) return report(preset.error());
  auto status = body(preset.value());
  if (!status) return report(status.error());
  return status.value();
}

/// For commands whose `flag` names a folder that a preset's `model` may give instead (quantize's source, convert's
/// output): loads the preset at `preset_path` (none when empty) and fills `target` from its model where `flag` was
/// not given. Errors: load_preset's; kInvalidArgument naming `command` and `flag` when neither gives a folder.
Result<void> folder_from_preset(const std::string& preset_path, const CLI::App& cmd, const char* flag,
                                std::string& target, std::string_view command);

/// The bytes of a model's weights: the size of its GGUF file (model_ir::find_gguf), else the sum of the folder's
/// *.safetensors files. Errors: kIoError (no folder, no *.safetensors files), find_gguf's.
Result<std::uint64_t> model_weight_bytes(const std::filesystem::path& dir, const char* flag = "-m");

/// A --memory-budget value: "" (none), a size ("512M", "1G", "64MiB", bytes) or "auto". "auto" reads the live
/// system and takes resource_monitor::recommend()'s budget: min(MemAvailable, cgroup limit) minus a margin of
/// max(128 MiB, 10%), at least 64 MiB; it prints the choice and its reason to stderr. Errors: kInvalidArgument
/// from MemoryBudget::parse, prefixed with `flag`.
Result<memory_manager::MemoryBudget> resolve_budget(const std::string& text, const char* flag = "--memory-budget");

/// The device flags run, benchmark and inspect share: --device, --gpu-layers/-ngl, --device-budget, --fallback.
struct DeviceFlags {
  std::string device = "cpu";
  std::string gpu_layers = "all";
  std::vector<std::string> device_budgets;  ///< "NAME=SIZE" each
  std::string fallback = "cpu";
};
void add_device_flags(CLI::App& cmd, DeviceFlags& flags);
/// Fills `flags` from the preset's device keys where the flag was not given.
void apply_device_preset(const Preset& preset, const CLI::App& cmd, DeviceFlags& flags);
/// Errors: kInvalidArgument naming the flag: --gpu-layers not 0..kMaxLayers or "all", --device-budget not
/// NAME=SIZE, --fallback not cpu|fail.
Result<runtime::DeviceOptions> resolve_devices(const DeviceFlags& flags);

/// How messages name where the model folder came from: "-m" when given on the command line (or nowhere), else
/// the preset's model key and file.
std::string model_flag(const CLI::App& cmd, const Preset& preset);

}  // namespace edge_rt::cli
