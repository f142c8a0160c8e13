#include "preset.hpp"

#include <edge_rt/core/file.hpp>
#include <edge_rt/core/format.hpp>
#include <edge_rt/model_ir/config.hpp>
#include <edge_rt/model_ir/gguf.hpp>
#include <edge_rt/partition_planner/plan.hpp>
#include <edge_rt/resource_monitor/probe.hpp>
#include <edge_rt/resource_monitor/recommend.hpp>

#include <toml++/toml.h>

#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>
#include <sstream>

namespace edge_rt::cli {

namespace {

template <class T>
Result<void> read(const toml::table& table, std::string_view key, std::optional<T>& out, const std::string& label,
                  const char* expected) {
  const toml::node* node = table.get(key);
  if (!node) return boost::outcome_v2::success();
  std::optional<T> value;
  if constexpr (std::is_same_v<T, double>) {
    if (node->is_floating_point() || node->is_integer()) value = node->value<double>();
  } else if constexpr (std::is_same_v<T, std::int64_t>) {
    if (node->is_integer()) value = node->value<std::int64_t>();
  } else {
    if (node->is_string()) value = node->value<std::string>();
  }
  if (!value) {
    return fail(ErrorCode::kInvalidFormat,
                "[preset] " + label + ": key '" + std::string(key) + "' must be " + expected);
  }
  out = std::move(value);
  return boost::outcome_v2::success();
}

Error out_of_range(const std::string& label, const char* key, const std::string& value, const std::string& expected) {
  return Error{ErrorCode::kInvalidArgument,
               "[preset] " + label + ": key '" + key + "' is " + value + ", expected " + expected};
}

Result<void> check_int(const std::string& label, const char* key, const std::optional<std::int64_t>& v, std::int64_t lo,
                       std::int64_t hi) {
  if (v && (*v < lo || *v > hi)) {
    return out_of_range(label, key, std::to_string(*v), std::to_string(lo) + ".." + std::to_string(hi));
  }
  return boost::outcome_v2::success();
}

// NaN fails every comparison, so the test is written as "inside", not "outside".
Result<void> check_real(const std::string& label, const char* key, const std::optional<double>& v, double lo, double hi,
                        bool lo_open) {
  if (v && !(std::isfinite(*v) && (lo_open ? *v > lo : *v >= lo) && *v <= hi)) {
    std::ostringstream range;
    range << "a finite number in " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
    std::ostringstream value;
    value << *v;
    return out_of_range(label, key, value.str(), range.str());
  }
  return boost::outcome_v2::success();
}

// Every key's range, so that a preset never reaches a command with a value its flag would refuse.
Result<void> check_ranges(const Preset& p, const std::string& label) {
  EDGE_RT_TRY(check_int(label, "num_threads", p.num_threads, 0, kMaxThreads));
  EDGE_RT_TRY(check_int(label, "ctx_size", p.ctx_size, 0, model_ir::kMaxContext));
  EDGE_RT_TRY(check_int(label, "n_predict", p.n_predict, 0, kMaxCount));
  EDGE_RT_TRY(check_int(label, "top_k", p.top_k, -kMaxCount, kMaxCount));
  EDGE_RT_TRY(check_real(label, "temperature", p.temperature, 0.0, 1e6, false));
  EDGE_RT_TRY(check_real(label, "top_p", p.top_p, 0.0, 1.0, true));
  EDGE_RT_TRY(check_real(label, "min_p", p.min_p, 0.0, 1.0, false));
  EDGE_RT_TRY(check_real(label, "repeat_penalty", p.repeat_penalty, 0.0, 1e6, true));
  if (p.strategy) {
    if (auto s = partition_planner::make_strategy(*p.strategy); !s) {
      return out_of_range(label, "strategy", "\"" + *p.strategy + "\"",
                          "sequential, greedy-grouping or speculative-prefetch");
    }
  }
  // Each device key alone through the flags' own check, so that the message names the key.
  auto check_device_key = [&](const char* key, auto set) -> Result<void> {
    DeviceFlags flags;
    set(flags);
    if (auto d = resolve_devices(flags); !d) {
      // The flag's message gives the value and what was expected; the key says where it came from.
      return Error{ErrorCode::kInvalidArgument, "[preset] " + label + ": key '" + key + "': " + d.error().message};
    }
    return boost::outcome_v2::success();
  };
  if (p.device) {
    EDGE_RT_TRY(check_device_key("device", [&](DeviceFlags& f) { f.device = *p.device; }));
  }
  if (p.gpu_layers) {
    EDGE_RT_TRY(check_device_key("gpu_layers", [&](DeviceFlags& f) { f.gpu_layers = *p.gpu_layers; }));
  }
  if (p.fallback) {
    EDGE_RT_TRY(check_device_key("fallback", [&](DeviceFlags& f) { f.fallback = *p.fallback; }));
  }
  if (p.device_budget) {
    for (const std::string& item : *p.device_budget) {
      EDGE_RT_TRY(check_device_key("device_budget", [&](DeviceFlags& f) { f.device_budgets = {item}; }));
    }
  }
  if (p.memory_budget && *p.memory_budget != "auto") {
    if (auto b = memory_manager::MemoryBudget::parse(*p.memory_budget); !b) {
      return out_of_range(label, "memory_budget", "\"" + *p.memory_budget + "\"",
                          "a size such as \"256M\", \"1G\" or \"auto\" (" + b.error().message + ")");
    }
  }
  return boost::outcome_v2::success();
}

}  // namespace

Result<Preset> load_preset(const std::filesystem::path& path) {
  EDGE_RT_TRY(const std::string text, read_regular_file(path, kMaxConfigBytes, "[preset]"));
  return parse_preset(text, path.string());
}

Result<Preset> parse_preset(std::string_view text, const std::string& label) {
  toml::table table;
  try {  // Debian's toml++ is built with exceptions: parse errors arrive as toml::parse_error
    table = toml::parse(text, label);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "[preset] " << label << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    return fail(ErrorCode::kInvalidFormat, os.str());
  }
  static const std::set<std::string, std::less<>> kKeys = {"model",
                                                           "memory_budget",
                                                           "strategy",
                                                           "num_threads",
                                                           "ctx_size",
                                                           "n_predict",
                                                           "temperature",
                                                           "top_k",
                                                           "top_p",
                                                           "min_p",
                                                           "repeat_penalty",
                                                           "seed",
                                                           "thermal_margin_c",
                                                           "pace_ms",
                                                           "battery_low_percent",
                                                           "monitor_interval_ms",
                                                           "device",
                                                           "gpu_layers",
                                                           "device_budget",
                                                           "fallback"};
  for (const auto& [key, node] : table) {
    if (!kKeys.contains(key.str())) {
      std::string known;
      for (const std::string& k : kKeys) known += (known.empty() ? "" : ", ") + k;
      return fail(ErrorCode::kInvalidFormat,
                  "[preset] " + label + ": unknown key '" + std::string(key.str()) + "' (known: " + known + ")");
    }
  }
  Preset p;
  p.label = label;
  EDGE_RT_TRY(read(table, "model", p.model, label, "a string"));
  EDGE_RT_TRY(read(table, "memory_budget", p.memory_budget, label, "a string such as \"256M\""));
  EDGE_RT_TRY(read(table, "strategy", p.strategy, label, "a string"));
  EDGE_RT_TRY(read(table, "num_threads", p.num_threads, label, "an integer"));
  EDGE_RT_TRY(read(table, "ctx_size", p.ctx_size, label, "an integer"));
  EDGE_RT_TRY(read(table, "n_predict", p.n_predict, label, "an integer"));
  EDGE_RT_TRY(read(table, "temperature", p.temperature, label, "a number"));
  EDGE_RT_TRY(read(table, "top_k", p.top_k, label, "an integer"));
  EDGE_RT_TRY(read(table, "top_p", p.top_p, label, "a number"));
  EDGE_RT_TRY(read(table, "min_p", p.min_p, label, "a number"));
  EDGE_RT_TRY(read(table, "repeat_penalty", p.repeat_penalty, label, "a number"));
  EDGE_RT_TRY(read(table, "seed", p.seed, label, "an integer"));
  EDGE_RT_TRY(read(table, "thermal_margin_c", p.thermal_margin_c, label, "a number of degrees Celsius"));
  EDGE_RT_TRY(read(table, "battery_low_percent", p.battery_low_percent, label, "an integer percentage"));
  EDGE_RT_TRY(read(table, "pace_ms", p.pace_ms, label, "an integer of milliseconds"));
  EDGE_RT_TRY(read(table, "monitor_interval_ms", p.monitor_interval_ms, label, "an integer of milliseconds"));
  EDGE_RT_TRY(read(table, "device", p.device, label, "a string such as \"cpu\" or \"npu-sim\""));
  EDGE_RT_TRY(read(table, "fallback", p.fallback, label, "\"cpu\" or \"fail\""));
  if (const toml::node* n = table.get("gpu_layers")) {
    if (n->is_integer()) {
      p.gpu_layers = std::to_string(*n->value<std::int64_t>());
    } else if (n->is_string()) {
      p.gpu_layers = *n->value<std::string>();
    } else {
      return fail(ErrorCode::kInvalidFormat, "[preset] " + label + ": key 'gpu_layers' must be an integer or \"all\"");
    }
  }
  if (const toml::node* n = table.get("device_budget")) {
    std::vector<std::string> items;
    bool ok = n->is_string() || n->is_array();
    if (n->is_string()) items.push_back(*n->value<std::string>());
    if (const toml::array* a = n->as_array()) {
      for (const toml::node& item : *a) {
        if (!item.is_string())
          ok = false;
        else
          items.push_back(*item.value<std::string>());
      }
    }
    if (!ok) {
      return fail(ErrorCode::kInvalidFormat,
                  "[preset] " + label + ": key 'device_budget' must be a string \"NAME=SIZE\" or an array of them");
    }
    p.device_budget = std::move(items);
  }
  EDGE_RT_TRY(check_ranges(p, label));
  EDGE_RT_TRY(p.adapt_policy());  // range errors surface when the preset is loaded, not mid-run
  return p;
}

Result<resource_monitor::AdaptPolicy> Preset::adapt_policy() const {
  EDGE_RT_TRY(check_real(label, "thermal_margin_c", thermal_margin_c, 0, 50, false));
  EDGE_RT_TRY(check_int(label, "battery_low_percent", battery_low_percent, 0, 100));
  EDGE_RT_TRY(check_int(label, "pace_ms", pace_ms, 0, 10'000));
  EDGE_RT_TRY(check_int(label, "monitor_interval_ms", monitor_interval_ms, 1, 600'000));
  resource_monitor::AdaptPolicy policy;
  if (thermal_margin_c) policy.thermal_margin_c = *thermal_margin_c;
  if (battery_low_percent) policy.battery_low_percent = static_cast<int>(*battery_low_percent);
  if (pace_ms) policy.pace_ms = static_cast<std::uint32_t>(*pace_ms);
  if (monitor_interval_ms) policy.interval = std::chrono::milliseconds(*monitor_interval_ms);
  return policy;
}

void add_device_flags(CLI::App& cmd, DeviceFlags& flags) {
  cmd.add_option("--device", flags.device,
                 "cpu | auto | vulkan[:INDEX] | npu-sim (the int8/int4 NPU test delegate); default cpu");
  cmd.add_option("--gpu-layers,--ngl", flags.gpu_layers,
                 "Layers on the device (-ngl): the last N, or all (adds the head); default all");
  cmd.add_option("--device-budget", flags.device_budgets, "NAME=SIZE, a device's memory budget (repeatable)");
  cmd.add_option("--fallback", flags.fallback, "What the device cannot run: cpu (run it there, say so) | fail")
      ->check(CLI::IsMember({"cpu", "fail"}));
}

void apply_device_preset(const Preset& p, const CLI::App& cmd, DeviceFlags& flags) {
  apply(p.device, cmd, "--device", flags.device);
  apply(p.gpu_layers, cmd, "--gpu-layers", flags.gpu_layers);
  apply(p.device_budget, cmd, "--device-budget", flags.device_budgets);
  apply(p.fallback, cmd, "--fallback", flags.fallback);
}

Result<runtime::DeviceOptions> resolve_devices(const DeviceFlags& flags) {
  runtime::DeviceOptions o;
  o.device = flags.device;
  if (flags.gpu_layers == "all") {
    o.gpu_layers = -1;
  } else {
    std::int64_t n = -1;
    const char* first = flags.gpu_layers.data();
    const char* last = first + flags.gpu_layers.size();
    const auto [end, ec] = std::from_chars(first, last, n);
    if (ec != std::errc() || end != last || n < 0 || n > model_ir::kMaxLayers + 1) {
      return fail(ErrorCode::kInvalidArgument, "--gpu-layers '" + flags.gpu_layers + "': expected 0.." +
                                                   std::to_string(model_ir::kMaxLayers + 1) + " or all");
    }
    o.gpu_layers = static_cast<std::int32_t>(n);
  }
  for (const std::string& item : flags.device_budgets) {
    const auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return fail(ErrorCode::kInvalidArgument, "--device-budget '" + item + "': expected NAME=SIZE, e.g. npu-sim=64M");
    }
    auto budget = memory_manager::MemoryBudget::parse(std::string_view(item).substr(eq + 1));
    if (!budget) return fail(ErrorCode::kInvalidArgument, "--device-budget '" + item + "': " + budget.error().message);
    o.budgets.emplace_back(item.substr(0, eq), budget.value());
  }
  if (flags.fallback != "cpu" && flags.fallback != "fail") {
    return fail(ErrorCode::kInvalidArgument, "--fallback '" + flags.fallback + "': expected cpu or fail");
  }
  o.fallback = flags.fallback == "fail" ? runtime::FallbackPolicy::kFail : runtime::FallbackPolicy::kCpu;
  if (auto checked = runtime::check_device_options(o); !checked) {
    std::string message = checked.error().message;
    if (message.starts_with("[engine] ")) message.erase(0, 9);  // it names the flag: a usage error
    return fail(ErrorCode::kInvalidArgument, message);
  }
  return o;
}

std::string model_flag(const CLI::App& cmd, const Preset& preset) {
  if (cmd.get_option("--model")->count() > 0 || !preset.model) return "-m";
  return "model = in preset " + preset.label + ":";
}

Result<void> folder_from_preset(const std::string& preset_path, const CLI::App& cmd, const char* flag,
                                std::string& target, std::string_view command) {
  EDGE_RT_TRY(const Preset preset, load_preset_or_empty(preset_path));
  apply(preset.model, cmd, flag, target);
  if (target.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                std::string(command) + " needs " + flag + " (or a preset with model = \"DIR\")");
  }
  return boost::outcome_v2::success();
}

Result<Preset> load_preset_or_empty(const std::string& path) {
  if (path.empty()) return Preset{};
  return load_preset(path);
}

Result<void> check_model_folder(const std::filesystem::path& dir, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status status = fs::status(dir, ec);
  if (!fs::exists(status)) {
    return fail(ErrorCode::kIoError, std::string(flag) + " " + dir.string() + ": the model folder does not exist");
  }
  if (!fs::is_directory(status) && !(fs::is_regular_file(status) && dir.extension() == ".gguf")) {
    return fail(ErrorCode::kIoError, std::string(flag) + " " + dir.string() +
                                         ": is not a folder or a .gguf file; expected a model folder (config.json, "
                                         "model.safetensors, tokenizer files) or a GGUF file");
  }
  return boost::outcome_v2::success();
}

Result<std::vector<std::int64_t>> parse_int_list(std::string_view text, std::string_view flag, std::int64_t min,
                                                 std::int64_t max) {
  std::vector<std::int64_t> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string_view item = text.substr(start, comma - start);
    std::int64_t v = 0;
    const auto [end, ec] = std::from_chars(item.data(), item.data() + item.size(), v);
    if (item.empty() || ec != std::errc() || end != item.data() + item.size() || v < min || v > max) {
      return fail(ErrorCode::kInvalidArgument, std::string(flag) + ": '" + std::string(item) +
                                                   "' is not an integer in " + std::to_string(min) + ".." +
                                                   std::to_string(max));
    }
    out.push_back(v);
    if (comma == text.size()) return out;
    start = comma + 1;
  }
}

CLI::Validator integer_range(std::int64_t lo, std::int64_t hi) {
  const std::string desc = "integer in " + std::to_string(lo) + ".." + std::to_string(hi);
  return CLI::Validator(
      [lo, hi, desc](std::string& value) -> std::string {
        std::int64_t v = 0;
        const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (value.empty() || ec != std::errc() || end != value.data() + value.size() || v < lo || v > hi) {
          return "value " + value + " is not an " + desc;
        }
        return {};
      },
      desc);
}

CLI::Validator finite_range(double lo, double hi, bool lo_open) {
  std::ostringstream desc;
  desc << "finite number in " << (lo_open ? "(" : "[") << lo << ", " << hi << "]";
  return CLI::Validator(
      [lo, hi, lo_open, text = desc.str()](std::string& value) -> std::string {
        char* end = nullptr;
        const double x = std::strtod(value.c_str(), &end);
        const bool inside = std::isfinite(x) && (lo_open ? x > lo : x >= lo) && x <= hi;
        if (value.empty() || end != value.c_str() + value.size() || !inside) {
          return "value " + value + " is not a " + text;
        }
        return {};
      },
      desc.str());
}

Result<std::uint64_t> model_weight_bytes(const std::filesystem::path& dir, const char* flag) {
  namespace fs = std::filesystem;
  std::error_code ec;
  EDGE_RT_TRY(check_model_folder(dir, flag));
  EDGE_RT_TRY(const auto gguf, model_ir::find_gguf(dir));
  if (gguf) {
    const auto size = fs::file_size(*gguf, ec);
    if (ec) return fail(ErrorCode::kIoError, gguf->string() + ": " + ec.message());
    return static_cast<std::uint64_t>(size);
  }
  std::uint64_t total = 0;
  bool any = false;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".safetensors") continue;
    std::error_code size_ec;
    const auto size = fs::file_size(it->path(), size_ec);
    if (size_ec) continue;
    total += size;
    any = true;
  }
  if (ec) return fail(ErrorCode::kIoError, dir.string() + ": " + ec.message());
  if (!any) return fail(ErrorCode::kIoError, dir.string() + ": no *.safetensors files");
  return total;
}

Result<memory_manager::MemoryBudget> resolve_budget(const std::string& text, const char* flag) {
  if (text.empty()) return memory_manager::MemoryBudget::unlimited();
  if (text != "auto") {
    auto budget = memory_manager::MemoryBudget::parse(text);
    if (!budget) return Error{budget.error().code, std::string(flag) + ": " + budget.error().message};
    return budget;
  }
  const resource_monitor::Recommendation r =
      resource_monitor::recommend(resource_monitor::SystemProbe::live().read(), std::nullopt);
  std::fprintf(stderr, "edge-rt: --memory-budget auto: %s (%s)\n", format_bytes(r.budget_bytes).c_str(),
               r.budget_reason.c_str());
  return memory_manager::MemoryBudget::from_bytes(r.budget_bytes);
}

}  // namespace edge_rt::cli
