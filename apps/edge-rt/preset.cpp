#include "preset.hpp"

#include <toml++/toml.h>

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

}  // namespace

Result<Preset> load_preset(const std::filesystem::path& path) {
  const std::string label = path.string();
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return fail(ErrorCode::kIoError, "[preset] " + label + ": no such file");
  }
  toml::table table;
  try {  // Debian's toml++ is built with exceptions: parse errors arrive as toml::parse_error
    table = toml::parse_file(label);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << "[preset] " << label << ":" << e.source().begin.line << ":" << e.source().begin.column << ": "
       << e.description();
    return fail(ErrorCode::kInvalidFormat, os.str());
  }
  static const std::set<std::string, std::less<>> kKeys = {"model",    "memory_budget", "strategy",       "num_threads",
                                                           "ctx_size", "n_predict",     "temperature",    "top_k",
                                                           "top_p",    "min_p",         "repeat_penalty", "seed"};
  for (const auto& [key, node] : table) {
    if (!kKeys.contains(key.str())) {
      return fail(ErrorCode::kInvalidFormat, "[preset] " + label + ": unknown key '" + std::string(key.str()) +
                                                 "' (known: model, memory_budget, strategy, num_threads, ctx_size, "
                                                 "n_predict, temperature, top_k, top_p, min_p, repeat_penalty, seed)");
    }
  }
  Preset p;
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
  return p;
}

}  // namespace edge_rt::cli
