#pragma once
// Chat templates: a model's Jinja2 chat_template (tokenizer_config.json, chat_template.jinja or GGUF
// tokenizer.chat_template) rendered as Hugging Face transformers' apply_chat_template renders it, and the
// end-of-turn tokens a chat stops at.

#include <edge_rt/core/result.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::tokenizer {

namespace detail::jinja {
class Template;
}

/// One message of a conversation. Copyable value.
struct ChatMessage {
  std::string role;  ///< "system", "user", "assistant", "tool"
  std::string content;
};

/// Variables a template sees besides `messages`. Copyable value.
struct ChatTemplateOptions {
  bool add_generation_prompt = true;  ///< End with the header of an assistant turn.
  std::string bos_token;              ///< Text of the BOS token ("" when the model has none).
  std::string eos_token;
  /// A JSON object of more variables, as transformers' **kwargs ("tools", "enable_thinking", "date_string");
  /// "" for none.
  std::string extra_json;
};

/// A parsed template. Copyable (copies share the parsed tree); immutable, so render() is thread-safe.
///
/// The Jinja2 subset (https://jinja.palletsprojects.com/en/3.1.x/templates/) covers what published chat templates
/// use: if/for/set/macro/break/continue, namespace(), loop.*, slices, string methods (strip, split, startswith,
/// ...), the filters trim, tojson, length, default, join, map, selectattr, items, ... and raise_exception().
/// Rendering follows transformers (chat_template_utils.py): trim_blocks and lstrip_blocks, tojson as
/// json.dumps(ensure_ascii=False), an immutable sandbox. tests/data/chat_templates/reference.json holds the
/// outputs of Python's jinja2 that the tests compare against byte for byte.
class ChatTemplate final {
 public:
  /// `label` names the source in messages. Errors: kInvalidFormat (syntax; the label, line and what was
  /// expected), kUnsupported (a tag outside the subset).
  static Result<ChatTemplate> parse(std::string_view source, std::string label);

  /// Renders `messages_json`, a JSON array of message objects ({"role", "content"} at least; content may be a
  /// list of parts, and tool_calls etc. pass through as the template reads them).
  /// Errors: kInvalidArgument (messages_json or extra_json is not the JSON expected, or the template called
  /// raise_exception(): its message), kInvalidFormat (a type error in the template, an undefined value used),
  /// kUnsupported (a filter, test or method outside the subset).
  Result<std::string> render(std::string_view messages_json, const ChatTemplateOptions& options) const;
  Result<std::string> render(std::span<const ChatMessage> messages, const ChatTemplateOptions& options) const;

  ChatTemplate(const ChatTemplate&);
  ChatTemplate& operator=(const ChatTemplate&);
  ChatTemplate(ChatTemplate&&) noexcept;
  ChatTemplate& operator=(ChatTemplate&&) noexcept;
  ~ChatTemplate();

 private:
  explicit ChatTemplate(std::unique_ptr<detail::jinja::Template> impl);
  std::unique_ptr<detail::jinja::Template> impl_;
};

/// Where a model's template was found, with the token texts it renders. Copyable value.
struct ChatTemplateSource {
  std::string text;   ///< Jinja2 source.
  std::string label;  ///< "<file>: chat_template" for messages.
  std::string bos_token;
  std::string eos_token;
};

/// The chat template of a model (a folder or a GGUF file): GGUF tokenizer.chat_template with BOS / EOS texts from
/// tokenizer.ggml.tokens; else tokenizer_config.json's chat_template (a string, or a list of {"name",
/// "template"}: the one named "default") or, without one, chat_template.jinja beside it, with the config's
/// bos_token / eos_token (a string or {"content"}). nullopt when the model has none.
/// Errors: kIoError, kInvalidFormat naming the file and field.
Result<std::optional<ChatTemplateSource>> find_chat_template(const std::filesystem::path& model);

/// Built-in templates for `--chat-template NAME`, in the formats their model cards give: "chatml" (Qwen,
/// SmolLM2), "llama2" (Llama-2-chat, Mistral-Instruct v0.1), "llama3", "gemma", "phi3", "mistral" ([INST] with
/// the system prompt in the last user turn). nullopt for another name.
std::optional<std::string_view> builtin_chat_template(std::string_view name);
std::vector<std::string_view> builtin_chat_template_names();

/// The id of a special token given by its text ("<|im_end|>"), when the tokenizer has one: the text encodes to
/// exactly one id whose piece is that text.
std::optional<TokenId> special_token_id(const Tokenizer& tokenizer, std::string_view text);

/// Tokens that end an assistant turn: EOS, and those of the common templates' end-of-turn texts the vocabulary
/// has ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eom_id|>"), as
/// llama.cpp's end-of-generation set does.
std::vector<TokenId> end_of_turn_ids(const Tokenizer& tokenizer);

}  // namespace edge_rt::tokenizer
