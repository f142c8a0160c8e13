// edge-rt: run transformer language models on edge devices under a memory budget.
#include "commands.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <fstream>
#include <new>
#include <string>
#include <vector>

namespace edge_rt::cli {
int report(const Error& error) {
  std::fprintf(stderr, "edge-rt: error: %s\n", error.message.c_str());
  return kExitError;
}

std::uint64_t peak_rss_bytes() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmHWM:", 0) == 0) return std::stoull(line.substr(6)) * 1024;  // "VmHWM:   123456 kB"
  }
  return 0;
}

void reset_peak_rss() {
  std::ofstream("/proc/self/clear_refs") << "5";
}
}  // namespace edge_rt::cli

int main(int argc, char** argv) {
  CLI::App app{"edge-rt: transformer inference for edge devices under a strict memory budget"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "edge-rt 0.1.0");
  auto run = edge_rt::cli::add_run_command(app);
  auto tokenize = edge_rt::cli::add_tokenize_command(app);
  auto convert = edge_rt::cli::add_convert_command(app);
  auto inspect = edge_rt::cli::add_inspect_command(app);
  auto status = edge_rt::cli::add_status_command(app);
  auto quantize = edge_rt::cli::add_quantize_command(app);
  auto perplexity = edge_rt::cli::add_perplexity_command(app);
  auto benchmark = edge_rt::cli::add_benchmark_command(app);
  auto chat_template = edge_rt::cli::add_template_command(app);
  // llama.cpp spells --gpu-layers "-ngl", --conversation "-cnv" and --system-prompt "-sys"; CLI11 takes
  // single-dash names of one letter only, so they get the spellings "--ngl", "--cnv", "--sys" before parsing.
  std::vector<std::string> args(argv + 1, argv + argc);
  for (std::string& arg : args) {
    for (const char* name : {"-ngl", "-cnv", "-sys"}) {
      if (arg == name || (arg.starts_with(name) && arg[std::string_view(name).size()] == '=')) arg.insert(0, "-");
    }
  }
  std::reverse(args.begin(), args.end());  // CLI11 takes the vector form last argument first
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2 (CLI11's own codes vary by error kind).
    return app.exit(e) == 0 ? 0 : 2;
  }
  // The libraries return errors as Result; what can still escape is the standard library's own (allocation
  // failure, a filesystem or thread error). It ends the command with the usual error line, never an abort.
  try {
    if (app.got_subcommand("run") || app.got_subcommand("chat")) return run();
    if (app.got_subcommand("template")) return chat_template();
    if (app.got_subcommand("tokenize")) return tokenize();
    if (app.got_subcommand("inspect")) return inspect();
    if (app.got_subcommand("status")) return status();
    if (app.got_subcommand("quantize")) return quantize();
    if (app.got_subcommand("perplexity")) return perplexity();
    if (app.got_subcommand("benchmark")) return benchmark();
    return convert();
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "edge-rt: error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "edge-rt: error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "edge-rt: error: unknown exception\n");
  }
  return edge_rt::cli::kExitError;
}
