// `edge-rt template`: a conversation rendered in a model's chat template, and the template lookup `chat` shares.

#include "commands.hpp"

#include <edge_rt/core/data_dir.hpp>
#include <edge_rt/core/file.hpp>

#include <cstdio>
#include <memory>

namespace edge_rt::cli {

Result<ModelChatTemplate> model_chat_template(const std::filesystem::path& model, const std::string& name_or_file,
                                              const tokenizer::Tokenizer* tok) {
  const auto names = [] {
    std::string list;
    for (const std::string_view n : tokenizer::builtin_chat_template_names())
      list += (list.empty() ? "" : ", ") + std::string(n);
    return list;
  };
  std::string text;
  std::string label;
  tokenizer::ChatTemplateOptions options;
  if (!name_or_file.empty()) {
    if (const auto builtin = tokenizer::builtin_chat_template(name_or_file)) {
      text = *builtin;
      label = "built-in template '" + name_or_file + "'";
    } else if (path_present(name_or_file)) {
      EDGE_RT_TRY(text, read_regular_file(name_or_file, kMaxTextBytes, "[chat-template] --chat-template"));
      label = name_or_file;
    } else {
      return fail(ErrorCode::kInvalidArgument, "[chat-template] --chat-template " + name_or_file +
                                                   ": neither a built-in template (" + names() + ") nor a file");
    }
    // A built-in or a file renders the special tokens of the model's tokenizer.
    if (tok != nullptr) {
      if (tok->bos_id()) options.bos_token = tok->piece(*tok->bos_id());
      if (tok->eos_id()) options.eos_token = tok->piece(*tok->eos_id());
    }
  } else {
    EDGE_RT_TRY(auto source, tokenizer::find_chat_template(model));
    if (!source) {
      return fail(ErrorCode::kMissingField,
                  "[chat-template] " + model.string() +
                      " has no chat template (tokenizer_config.json chat_template, chat_template.jinja or GGUF "
                      "tokenizer.chat_template): give --chat-template with a name (" +
                      names() + ") or a Jinja file");
    }
    text = std::move(source->text);
    label = std::move(source->label);
    options.bos_token = std::move(source->bos_token);
    options.eos_token = std::move(source->eos_token);
  }
  EDGE_RT_TRY(tokenizer::ChatTemplate parsed, tokenizer::ChatTemplate::parse(text, label));
  return ModelChatTemplate{std::move(parsed), std::move(options), std::move(label)};
}

namespace {
struct TemplateArgs {
  std::string model;
  std::string messages;
  std::string chat_template;
  std::string extra;
  bool no_generation_prompt = false;
};

Result<int> render(const TemplateArgs& a) {
  const std::filesystem::path model = a.model;
  if (!path_present(model)) {
    return fail(ErrorCode::kIoError, "[template] -m " + a.model + ": no such file or folder");
  }
  std::unique_ptr<tokenizer::Tokenizer> tok;
  if (tokenizer::has_tokenizer_files(model)) {
    EDGE_RT_TRY(tok, tokenizer::load_tokenizer(model));
  }
  EDGE_RT_TRY(ModelChatTemplate t, model_chat_template(model, a.chat_template, tok.get()));
  std::string messages;
  if (a.messages == "-") {
    EDGE_RT_TRY(messages, read_stdin(kMaxTextBytes, "[template] --messages -"));
  } else {
    EDGE_RT_TRY(messages, read_regular_file(a.messages, kMaxTextBytes, "[template] --messages"));
  }
  t.options.add_generation_prompt = !a.no_generation_prompt;
  t.options.extra_json = a.extra;
  auto text = t.tmpl.render(messages, t.options);
  if (!text) {
    return fail(text.error().code, text.error().message + " (messages from " + a.messages + ")");
  }
  std::fwrite(text.value().data(), 1, text.value().size(), stdout);
  std::fflush(stdout);
  return 0;
}
}  // namespace

std::function<int()> add_template_command(CLI::App& app) {
  auto args = std::make_shared<TemplateArgs>();
  CLI::App* cmd = app.add_subcommand("template", "Print a conversation rendered in the model's chat template");
  cmd->add_option("-m,--model", args->model,
                  "Model folder or .gguf file; a folder with only tokenizer.json and tokenizer_config.json will do")
      ->required();
  cmd->add_option("--messages", args->messages,
                  "JSON array of {\"role\", \"content\"} messages (a file, or - for standard input)")
      ->required();
  cmd->add_flag("--no-generation-prompt", args->no_generation_prompt,
                "Do not end with the header of the assistant's turn");
  cmd->add_option("--chat-template", args->chat_template,
                  "A built-in template (chatml, llama2, llama3, gemma, phi3, mistral) or a Jinja file");
  cmd->add_option("--extra", args->extra,
                  "JSON object of more template variables, e.g. {\"enable_thinking\": false} or {\"tools\": [...]}");
  return [args]() -> int {
    auto status = render(*args);
    if (!status) return report(status.error());
    return status.value();
  };
}

}  // namespace edge_rt::cli
