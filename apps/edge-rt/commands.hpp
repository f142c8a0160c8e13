#pragma once
// Subcommands of the edge-rt CLI. Each registers its flags on a CLI11 subcommand and returns the exit code.

#include <CLI/CLI.hpp>

#include <edge_rt/core/result.hpp>
#include <edge_rt/runtime/engine.hpp>
#include <edge_rt/tokenizer/chat_template.hpp>

#include <boost/json/object.hpp>

#include <functional>

namespace edge_rt::cli {

/// Exit codes: 0 success, 1 a runtime error (bad model, budget, I/O), 2 bad usage (unknown flag, bad value).
inline constexpr int kExitError = 1;

/// Prints "edge-rt: error: <message>" to stderr and returns kExitError.
int report(const Error& error);

/// Peak resident set size of this process (VmHWM of /proc/self/status), in bytes; 0 where unavailable.
std::uint64_t peak_rss_bytes();
/// Resets VmHWM to the current RSS (/proc/self/clear_refs "5", Linux >= 4.0); does nothing where unavailable.
void reset_peak_rss();

/// The coverage report as JSON: {"requested", "devices": [{name, kind, units, ops, weight_bytes, kv_bytes}],
/// "fallbacks": [{unit, op, reason, detail}], "splits", "bytes_across_devices_per_token"}.
boost::json::object coverage_json(const runtime::Coverage& coverage);
/// Says once on stderr how many units/ops fell back to the CPU and why (nothing when none did).
void print_fallbacks(const runtime::Coverage& coverage);
/// The coverage report as text lines (inspect, run -v).
std::string coverage_text(const runtime::Coverage& coverage);

/// Standard input (a pipe or a file), at most max_bytes; `what` ("[run] -p -") names it in errors.
/// Errors: kInvalidArgument past max_bytes, kIoError when reading fails.
Result<std::string> read_stdin(std::uint64_t max_bytes, const std::string& what);

/// Each returns the action to run once parsing succeeded.
std::function<int()> add_run_command(CLI::App& app);
std::function<int()> add_tokenize_command(CLI::App& app);
std::function<int()> add_convert_command(CLI::App& app);
std::function<int()> add_inspect_command(CLI::App& app);
std::function<int()> add_status_command(CLI::App& app);
std::function<int()> add_quantize_command(CLI::App& app);
std::function<int()> add_perplexity_command(CLI::App& app);
std::function<int()> add_benchmark_command(CLI::App& app);
std::function<int()> add_template_command(CLI::App& app);

/// A model's chat template ready to render, with the BOS / EOS texts it sees.
struct ModelChatTemplate {
  tokenizer::ChatTemplate tmpl;
  tokenizer::ChatTemplateOptions options;
  std::string label;
};
/// `name_or_file`: a built-in template name or a Jinja file (the special-token texts then come from `tok`, which
/// may be null); empty: the model's own (tokenizer::find_chat_template). Errors: kMissingField when the model has
/// none, kInvalidArgument for an unknown name, the template's parse errors.
Result<ModelChatTemplate> model_chat_template(const std::filesystem::path& model, const std::string& name_or_file,
                                              const tokenizer::Tokenizer* tok);

}  // namespace edge_rt::cli
