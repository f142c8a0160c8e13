// ChatTemplate over the Jinja subset, where a model keeps its template, the built-in templates and end-of-turn ids.

#include "internal.hpp"
#include "jinja.hpp"

#include <edge_rt/core/file.hpp>
#include <edge_rt/model_ir/gguf.hpp>
#include <edge_rt/tokenizer/chat_template.hpp>

#include <array>
#include <utility>

namespace edge_rt::tokenizer {
namespace json = boost::json;

ChatTemplate::ChatTemplate(std::unique_ptr<detail::jinja::Template> impl) : impl_(std::move(impl)) {}
ChatTemplate::ChatTemplate(const ChatTemplate& other)
    : impl_(std::make_unique<detail::jinja::Template>(*other.impl_)) {}
ChatTemplate& ChatTemplate::operator=(const ChatTemplate& other) {
  if (this != &other) impl_ = std::make_unique<detail::jinja::Template>(*other.impl_);
  return *this;
}
ChatTemplate::ChatTemplate(ChatTemplate&&) noexcept = default;
ChatTemplate& ChatTemplate::operator=(ChatTemplate&&) noexcept = default;
ChatTemplate::~ChatTemplate() = default;

Result<ChatTemplate> ChatTemplate::parse(std::string_view source, std::string label) {
  EDGE_RT_TRY(detail::jinja::Template t, detail::jinja::Template::parse(source, std::move(label)));
  return ChatTemplate(std::make_unique<detail::jinja::Template>(std::move(t)));
}

namespace {
// Any JSON value (parse_json_text wants an object).
Result<json::value> parse_any(std::string_view text, const char* what) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, std::string("[chat-template] ") + what + ": " + ec.message());
  return v;
}

Result<std::string> render_with(const detail::jinja::Template& t, json::array messages,
                                const ChatTemplateOptions& options) {
  json::object vars;
  if (!options.extra_json.empty()) {
    auto extra = detail::parse_json_text(options.extra_json, "extra template variables");
    if (!extra || !extra.value().is_object()) {
      return fail(ErrorCode::kInvalidArgument, "[chat-template] extra template variables: expected a JSON object" +
                                                   (extra ? std::string() : " (" + extra.error().message + ")"));
    }
    vars = std::move(extra.value().as_object());
  }
  vars["messages"] = std::move(messages);
  vars["add_generation_prompt"] = options.add_generation_prompt;
  vars["bos_token"] = options.bos_token;
  vars["eos_token"] = options.eos_token;
  return t.render(vars);
}
}  // namespace

Result<std::string> ChatTemplate::render(std::string_view messages_json, const ChatTemplateOptions& options) const {
  EDGE_RT_TRY(json::value parsed, parse_any(messages_json, "messages"));
  if (!parsed.is_array()) {
    return fail(ErrorCode::kInvalidArgument, "[chat-template] messages: expected a JSON array of message objects");
  }
  for (const json::value& m : parsed.as_array()) {
    if (!m.is_object() || !detail::member(m, "role") || !detail::member(m, "role")->is_string()) {
      return fail(ErrorCode::kInvalidArgument,
                  "[chat-template] messages: each message must be an object with a "
                  "string \"role\", got " +
                      json::serialize(m));
    }
  }
  return render_with(*impl_, std::move(parsed.as_array()), options);
}

Result<std::string> ChatTemplate::render(std::span<const ChatMessage> messages,
                                         const ChatTemplateOptions& options) const {
  json::array array;
  for (const ChatMessage& m : messages) array.push_back(json::object{{"role", m.role}, {"content", m.content}});
  return render_with(*impl_, std::move(array), options);
}

namespace {
// "text" or {"content": "text"}; "" when null or absent.
Result<std::string> token_text(const json::value& config, std::string_view key, const std::string& file) {
  const json::value* v = detail::member(config, key);
  if (v == nullptr || v->is_null()) return std::string();
  const json::value* content = v->is_object() ? detail::member(*v, "content") : v;
  if (content == nullptr || !content->is_string()) {
    return fail(ErrorCode::kInvalidFormat,
                "[chat-template] " + file + ": " + std::string(key) + " is neither a string nor {\"content\": string}");
  }
  return std::string(content->get_string());
}

Result<std::optional<std::string>> config_template(const json::value& config, const std::string& file) {
  const json::value* t = detail::member(config, "chat_template");
  if (t == nullptr || t->is_null()) return std::optional<std::string>();
  if (t->is_string()) return std::optional<std::string>(std::string(t->get_string()));
  if (t->is_array()) {  // [{"name": "default", "template": ...}, {"name": "tool_use", ...}]
    for (const json::value& e : t->get_array()) {
      if (detail::is_string(detail::member(e, "name"), "default")) {
        const json::value* text = detail::member(e, "template");
        if (text && text->is_string()) return std::optional<std::string>(std::string(text->get_string()));
      }
    }
  }
  return fail(ErrorCode::kInvalidFormat, "[chat-template] " + file +
                                             ": chat_template is neither a string nor a list holding a "
                                             "{\"name\": \"default\", \"template\": string}");
}
}  // namespace

Result<std::optional<ChatTemplateSource>> find_chat_template(const std::filesystem::path& model) {
  EDGE_RT_TRY(const auto gguf, model_ir::find_gguf(model));
  if (gguf) {
    EDGE_RT_TRY(const model_ir::GgufFile file, model_ir::GgufFile::open(*gguf));
    if (!file.value("tokenizer.chat_template")) return std::optional<ChatTemplateSource>();
    ChatTemplateSource s;
    EDGE_RT_TRY(s.text, file.string("tokenizer.chat_template"));
    s.label = gguf->string() + ": tokenizer.chat_template";
    EDGE_RT_TRY(const GgmlVocab vocab, ggml_vocab_of(file));
    if (vocab.bos_id) s.bos_token = vocab.tokens[static_cast<std::size_t>(*vocab.bos_id)];
    if (vocab.eos_id) s.eos_token = vocab.tokens[static_cast<std::size_t>(*vocab.eos_id)];
    return std::optional<ChatTemplateSource>(std::move(s));
  }
  const std::filesystem::path dir = std::filesystem::is_directory(model) ? model : model.parent_path();
  const std::filesystem::path config_path = dir / "tokenizer_config.json";
  const std::filesystem::path jinja_path = dir / "chat_template.jinja";
  ChatTemplateSource s;
  if (path_present(config_path)) {
    EDGE_RT_TRY(const json::value config, detail::read_json_file(config_path));
    const std::string file = config_path.string();
    if (!config.is_object()) {
      return fail(ErrorCode::kInvalidFormat, "[chat-template] " + file + ": expected a JSON object");
    }
    EDGE_RT_TRY(s.bos_token, token_text(config, "bos_token", file));
    EDGE_RT_TRY(s.eos_token, token_text(config, "eos_token", file));
    EDGE_RT_TRY(const std::optional<std::string> text, config_template(config, file));
    if (text) {
      s.text = *text;
      s.label = file + ": chat_template";
      return std::optional<ChatTemplateSource>(std::move(s));
    }
  }
  if (path_present(jinja_path)) {
    EDGE_RT_TRY(s.text, detail::read_file_bytes(jinja_path));
    s.label = jinja_path.string();
    return std::optional<ChatTemplateSource>(std::move(s));
  }
  return std::optional<ChatTemplateSource>();
}

namespace {
// Jinja sources; "\n" inside the template's string literals is Jinja's escape, decoded when rendered.
constexpr std::pair<std::string_view, std::string_view> kBuiltins[] = {
    {"chatml",
     R"({%- for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>\n' }}{%- endfor %}
{%- if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{%- endif %})"},
    {"llama2",
     R"({%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}
{%- else %}{%- set system = '' %}{%- set loop_messages = messages %}{%- endif %}
{%- for message in loop_messages %}
{%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{%- endif %}
{%- if message['role'] == 'user' %}
{%- set content = message['content'] %}
{%- if loop.first and system %}{%- set content = '<<SYS>>\n' + system + '\n<</SYS>>\n\n' + content %}{%- endif %}
{{- bos_token + '[INST] ' + content | trim + ' [/INST]' }}
{%- else %}{{- ' ' + message['content'] | trim + ' ' + eos_token }}{%- endif %}
{%- endfor %})"},
    {"llama3",
     R"({%- for message in messages %}{%- if loop.first %}{{ bos_token }}{%- endif %}
{{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n' + message['content'] | trim + '<|eot_id|>' }}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\n\n' }}{%- endif %})"},
    {"gemma",
     R"({{- bos_token }}
{%- if messages[0]['role'] == 'system' %}{%- set first_user_prefix = messages[0]['content'] + '\n\n' %}{%- set loop_messages = messages[1:] %}
{%- else %}{%- set first_user_prefix = '' %}{%- set loop_messages = messages %}{%- endif %}
{%- for message in loop_messages %}
{%- set role = 'model' if message['role'] == 'assistant' else message['role'] %}
{{- '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else '') + message['content'] | trim + '<end_of_turn>\n' }}
{%- endfor %}
{%- if add_generation_prompt %}{{ '<start_of_turn>model\n' }}{%- endif %})"},
    {"phi3",
     R"({%- for message in messages %}{{ '<|' + message['role'] + '|>\n' + message['content'] + '<|end|>\n' }}{%- endfor %}
{%- if add_generation_prompt %}{{ '<|assistant|>\n' }}{%- else %}{{ eos_token }}{%- endif %})"},
    {"mistral",
     R"({%- if messages[0]['role'] == 'system' %}{%- set system = messages[0]['content'] %}{%- set loop_messages = messages[1:] %}
{%- else %}{%- set system = '' %}{%- set loop_messages = messages %}{%- endif %}
{{- bos_token }}
{%- for message in loop_messages %}
{%- if message['role'] == 'user' %}
{%- if loop.last and system %}{{ '[INST] ' + system + '\n\n' + message['content'] + '[/INST]' }}
{%- else %}{{ '[INST] ' + message['content'] + '[/INST]' }}{%- endif %}
{%- elif message['role'] == 'assistant' %}{{ ' ' + message['content'] + eos_token }}
{%- else %}{{ raise_exception('Only user, assistant and system roles are supported') }}{%- endif %}
{%- endfor %})"},
};
}  // namespace

std::optional<std::string_view> builtin_chat_template(std::string_view name) {
  for (const auto& [n, text] : kBuiltins) {
    if (n == name) return text;
  }
  return std::nullopt;
}

std::vector<std::string_view> builtin_chat_template_names() {
  std::vector<std::string_view> names;
  for (const auto& [n, text] : kBuiltins) names.push_back(n);
  return names;
}

std::optional<TokenId> special_token_id(const Tokenizer& tokenizer, std::string_view text) {
  const std::vector<TokenId> ids = tokenizer.encode(text);
  if (ids.size() != 1 || tokenizer.piece(ids[0]) != text) return std::nullopt;
  return ids[0];
}

std::vector<TokenId> end_of_turn_ids(const Tokenizer& tokenizer) {
  std::vector<TokenId> ids;
  if (tokenizer.eos_id()) ids.push_back(*tokenizer.eos_id());
  static constexpr std::array<std::string_view, 7> kEndOfTurn = {
      "<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>", "<|endoftext|>", "</s>", "<|eom_id|>"};
  for (const std::string_view text : kEndOfTurn) {
    const std::optional<TokenId> id = special_token_id(tokenizer, text);
    if (id && std::ranges::find(ids, *id) == ids.end()) ids.push_back(*id);
  }
  return ids;
}

}  // namespace edge_rt::tokenizer
