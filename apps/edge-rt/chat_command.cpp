// `edge-rt chat` (and `run -cnv`): an interactive loop over a model's chat template. Each turn renders the whole
// conversation and hands it to the engine with reuse_kv, so only the tokens after the cached prefix (the new user
// turn, and the end of the last reply as the template writes it) are prefilled.

#include "commands.hpp"
#include "generation.hpp"

#include <edge_rt/core/file.hpp>
#include <edge_rt/tokenizer/chat_template.hpp>

#include <boost/json.hpp>

#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <limits>

namespace edge_rt::cli {
namespace {

std::atomic<bool> g_interrupted{false};
extern "C" void on_sigint(int) {
  g_interrupted.store(true);
}

/// SIGINT sets g_interrupted while it lives: a reply stops at the next token; at the prompt, reading the line fails
/// (no SA_RESTART) and the chat ends. The previous handler comes back on destruction.
class SigintGuard final {
 public:
  SigintGuard() {
    struct sigaction sa {};
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    sigaction(SIGINT, &sa, &old_);
  }
  ~SigintGuard() { sigaction(SIGINT, &old_, nullptr); }
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;

 private:
  struct sigaction old_ {};
};

Result<void> save_conversation(const std::string& path, const std::vector<tokenizer::ChatMessage>& messages) {
  std::string text = "[\n";
  for (std::size_t i = 0; i < messages.size(); ++i) {
    text += "  " +
            boost::json::serialize(boost::json::object{{"role", messages[i].role}, {"content", messages[i].content}});
    text += i + 1 < messages.size() ? ",\n" : "\n";
  }
  text += "]\n";
  return write_file_atomically(path, text, "chat");
}

constexpr const char* kHelp =
    "edge-rt chat: type a message and press Enter ('\\' at the end of a line continues it).\n"
    "  /reset       start a new conversation (the system prompt stays)\n"
    "  /save FILE   write the conversation as JSON messages (edge-rt template --messages FILE)\n"
    "  /exit        quit (also Ctrl-D); Ctrl-C stops the current reply\n";

}  // namespace

Result<int> run_chat(const RunArgs& a) {
  // run's one-shot flags mean nothing to a chat; taking them silently would hide a mistake.
  const std::pair<bool, const char*> one_shot[] = {
      {!a.prompt.empty(), "-p"},     {!a.prompt_file.empty(), "-f"},    {!a.prompt_tokens.empty(), "--prompt-tokens"},
      {!a.stop.empty(), "--stop"},   {!a.reverse_prompt.empty(), "-r"}, {a.output != "text", "--output"},
      {a.all_logits, "--all-logits"}};
  for (const auto& [given, flag] : one_shot) {
    if (given) {
      return fail(ErrorCode::kInvalidArgument, std::string("[chat] ") + flag +
                                                   " does not apply to a chat: type the messages, and give the "
                                                   "system prompt with -sys");
    }
  }
  EDGE_RT_TRY(runtime::EngineOptions options, engine_options(a));
  if (!options.tokenizer) {
    return fail(ErrorCode::kInvalidArgument, "[chat] " + a.model + " has no tokenizer: chat needs one");
  }
  const tokenizer::Tokenizer& tok = *options.tokenizer;
  EDGE_RT_TRY(ModelChatTemplate t, model_chat_template(options.model_dir, a.chat_template, &tok));
  // Context: --ctx-size, else the preset's, else 4096 (llama.cpp's default), capped at the model's maximum.
  options.n_ctx = static_cast<std::size_t>(a.ctx_size > 0 ? a.ctx_size : (a.ctx_cap > 0 ? a.ctx_cap : 4096));
  if (auto config = model_ir::parse_hf_config(options.model_dir / "config.json"); config && a.ctx_size == 0) {
    options.n_ctx = std::min<std::size_t>(options.n_ctx, static_cast<std::size_t>(config.value().max_context));
  }
  options.n_batch = std::min<std::size_t>(512, options.n_ctx);
  EDGE_RT_TRY(auto planned, runtime::InferenceEngine<runtime::Idle>::create().load_model(options));
  if (a.verbose) std::cerr << planned.describe_plan() << "\n" << coverage_text(planned.coverage());
  print_fallbacks(planned.coverage());
  EDGE_RT_TRY(auto engine, std::move(planned).prepare());
  const std::size_t n_ctx = engine.plan().n_ctx;

  runtime::GenerateOptions gen = generate_options(a);
  gen.reuse_kv = true;
  gen.add_bos = false;  // the template writes BOS where the model wants it, as apply_chat_template does
  gen.stop_ids = tokenizer::end_of_turn_ids(tok);

  std::vector<tokenizer::ChatMessage> messages;
  if (!a.system_prompt.empty()) messages.push_back({"system", a.system_prompt});
  const std::size_t kept = messages.size();  // /reset keeps the system prompt
  const bool interactive = isatty(STDIN_FILENO) != 0;
  if (interactive) std::fputs(kHelp, stderr);
  SigintGuard sigint;
  std::size_t turn = 0;
  std::string line;
  while (true) {
    g_interrupted.store(false);
    std::fputs(interactive ? "\n> " : "", stdout);
    std::fflush(stdout);
    if (!std::getline(std::cin, line)) break;  // end of input, or Ctrl-C at the prompt
    while (line.ends_with('\\')) {
      line.back() = '\n';
      std::string more;
      if (!std::getline(std::cin, more)) break;
      line += more;
    }
    if (line.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    if (!interactive) std::printf("> %s\n", line.c_str());  // piped input: the transcript shows both sides
    if (line.starts_with('/')) {
      const std::string command = line.substr(0, line.find(' '));
      const std::string rest = line.find(' ') == std::string::npos ? "" : line.substr(line.find(' ') + 1);
      if (command == "/exit" || command == "/quit") break;
      if (command == "/reset") {
        messages.resize(kept);
        std::fputs("edge-rt: new conversation\n", stderr);
      } else if (command == "/save" && !rest.empty()) {
        if (auto saved = save_conversation(rest, messages); !saved) {
          std::fprintf(stderr, "edge-rt: error: %s\n", saved.error().message.c_str());
        } else {
          std::fprintf(stderr, "edge-rt: saved %zu messages to %s\n", messages.size(), rest.c_str());
        }
      } else {
        std::fputs(kHelp, stderr);
      }
      continue;
    }
    messages.push_back({"user", line});
    auto rendered = t.tmpl.render(messages, t.options);
    if (!rendered) {  // e.g. the template's raise_exception(): the turn is not taken
      std::fprintf(stderr, "edge-rt: error: %s\n", rendered.error().message.c_str());
      messages.pop_back();
      continue;
    }
    const std::vector<tokenizer::TokenId> prompt = tok.encode(rendered.value());
    if (prompt.size() >= n_ctx) {
      std::fprintf(stderr, "edge-rt: the conversation is %zu tokens, the context %zu: /reset, or a larger --ctx-size\n",
                   prompt.size(), n_ctx);
      messages.pop_back();
      continue;
    }
    gen.max_new_tokens = n_ctx - prompt.size();
    if (a.n_predict_given) gen.max_new_tokens = std::min(gen.max_new_tokens, static_cast<std::size_t>(a.n_predict));
    tokenizer::StreamingDecoder decoder(tok);
    std::string reply;
    const auto show = [&](const std::string& piece) {
      reply += piece;
      std::fputs(piece.c_str(), stdout);
      std::fflush(stdout);
    };
    EDGE_RT_TRY(const runtime::GenerationResult result, engine.generate(prompt, gen, [&](tokenizer::TokenId id) {
      show(decoder.push(id));
      return !g_interrupted.load();
    }));
    show(decoder.flush());
    std::fputs("\n", stdout);
    std::fflush(stdout);
    if (g_interrupted.load()) std::fputs("edge-rt: reply stopped\n", stderr);
    if (result.stop_reason == runtime::StopReason::kContextFull) {
      std::fputs("edge-rt: the context is full: /reset, or a larger --ctx-size\n", stderr);
    }
    ++turn;
    if (a.verbose) {
      const runtime::Metrics& m = result.metrics;
      std::fprintf(stderr,
                   "edge-rt: turn %zu: %zu tokens reused from the KV cache, %zu prefilled (%.1f tok/s), %zu generated "
                   "(%.1f tok/s), TTFT %.1f ms, peak pool %s\n",
                   turn, m.n_reused_tokens, m.n_prompt_tokens, m.prefill_tok_s, m.n_generated_tokens, m.decode_tok_s,
                   m.ttft_ms, memory_manager::format_bytes(m.peak_pool_bytes).c_str());
    }
    messages.push_back({"assistant", tokenizer::to_valid_utf8(reply)});
  }
  return 0;
}

}  // namespace edge_rt::cli
