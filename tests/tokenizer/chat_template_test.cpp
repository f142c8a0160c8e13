// Chat templates: every case of tests/data/chat_templates/reference.json (Python jinja2 rendering the real
// templates of four families, SmolLM2's GGUF template, the built-ins and feature templates as transformers does)
// rendered byte for byte; errors, limits and where templates are found.

#include <gtest/gtest.h>
#include <edge_rt/tokenizer/chat_template.hpp>

#include <boost/json.hpp>

#include <fstream>
#include <sstream>

namespace edge_rt::tokenizer {
namespace {
namespace json = boost::json;

json::value read_reference() {
  const auto path = std::filesystem::path(EDGE_RT_SOURCE_DIR) / "tests" / "data" / "chat_templates" / "reference.json";
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return json::parse(ss.str());
}

TEST(ChatTemplate, MatchesJinja2OnEveryReferenceCase) {
  const json::value ref = read_reference();
  const json::object& templates = ref.at("templates").as_object();
  std::size_t rendered = 0;
  std::size_t errors = 0;
  for (const json::value& c : ref.at("cases").as_array()) {
    const std::string name(c.at("template").as_string());
    const json::object& t = templates.at(name).as_object();
    SCOPED_TRACE(name + " / " + std::string(c.at("case").as_string()) +
                 (c.at("add_generation_prompt").as_bool() ? " +gen" : ""));
    auto tmpl = ChatTemplate::parse(std::string(t.at("source").as_string()), name);
    ASSERT_TRUE(tmpl) << tmpl.error().message;
    ChatTemplateOptions options;
    options.add_generation_prompt = c.at("add_generation_prompt").as_bool();
    options.bos_token = std::string(t.at("bos_token").as_string());
    options.eos_token = std::string(t.at("eos_token").as_string());
    options.extra_json = json::serialize(c.at("extra"));
    const auto out = tmpl.value().render(json::serialize(c.at("messages")), options);
    if (const json::value* error = c.as_object().if_contains("error")) {
      ASSERT_FALSE(out) << "expected the template to raise; rendered:\n" << out.value();
      EXPECT_EQ(out.error().code, ErrorCode::kInvalidArgument);
      EXPECT_NE(out.error().message.find(std::string(error->as_string())), std::string::npos) << out.error().message;
      ++errors;
      continue;
    }
    ASSERT_TRUE(out) << out.error().message;
    EXPECT_EQ(out.value(), std::string(c.at("output").as_string()));
    ++rendered;
  }
  EXPECT_GE(rendered, 100u);
  EXPECT_EQ(errors, 2u);
}

TEST(ChatTemplate, MessagesAsStructsRenderAsJson) {
  auto t = ChatTemplate::parse(builtin_chat_template("chatml").value(), "chatml");
  ASSERT_TRUE(t);
  const std::vector<ChatMessage> messages = {{"system", "S"}, {"user", "U \"q\""}};
  const auto a = t.value().render(messages, {});
  const auto b = t.value().render(R"([{"role":"system","content":"S"},{"role":"user","content":"U \"q\""}])", {});
  ASSERT_TRUE(a && b);
  EXPECT_EQ(a.value(), b.value());
  EXPECT_EQ(a.value(), "<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nU \"q\"<|im_end|>\n<|im_start|>assistant\n");
}

TEST(ChatTemplate, SyntaxErrorsNameTheLine) {
  const struct {
    const char* source;
    const char* expect;
    ErrorCode code;
  } cases[] = {
      {"ok\n{% if x %}\nno end", ":3: unexpected end of template: expected '{% endif %}'", ErrorCode::kInvalidFormat},
      {"{{ x", ":1: unclosed '{{' tag", ErrorCode::kInvalidFormat},
      {"a\n\n{{ 'unterminated }}", ":3: unclosed '{{' tag", ErrorCode::kInvalidFormat},
      {"{% for x in y %}{% endif %}", ":1: unexpected '{% endif %}'", ErrorCode::kInvalidFormat},
      {"{{ x + }}", ":1: unexpected end of the tag", ErrorCode::kInvalidFormat},
      {"{% break %}", "'break' outside a loop", ErrorCode::kInvalidFormat},
      {"{% include 'x' %}", "the 'include' tag is outside edge-rt's Jinja subset", ErrorCode::kUnsupported},
      {"{{ x $ y }}", "unexpected character '$'", ErrorCode::kInvalidFormat},
  };
  for (const auto& c : cases) {
    const auto t = ChatTemplate::parse(c.source, "t.jinja");
    ASSERT_FALSE(t) << c.source;
    EXPECT_EQ(t.error().code, c.code) << c.source;
    EXPECT_NE(t.error().message.find(std::string("t.jinja") + (c.expect[0] == ':' ? "" : ":")), std::string::npos)
        << t.error().message;
    EXPECT_NE(t.error().message.find(c.expect), std::string::npos) << t.error().message;
  }
  std::string blocks;
  for (int i = 0; i < 300; ++i) blocks += "{% if true %}";
  for (int i = 0; i < 300; ++i) blocks += "{% endif %}";
  const auto nested = ChatTemplate::parse(blocks, "blocks");
  ASSERT_FALSE(nested);
  EXPECT_NE(nested.error().message.find("nested too deeply"), std::string::npos) << nested.error().message;
  const std::string deep = std::string(500, '(') + "1" + std::string(500, ')');
  const auto t = ChatTemplate::parse("{{ " + deep + " }}", "deep");
  ASSERT_FALSE(t);
  EXPECT_NE(t.error().message.find("nested too deeply"), std::string::npos);
}

TEST(ChatTemplate, RenderErrorsAreNamedNotSilent) {
  const struct {
    const char* source;
    const char* expect;
    ErrorCode code;
  } cases[] = {
      {"{{ nothing.attr }}", "'nothing' is undefined", ErrorCode::kInvalidFormat},
      {"{{ 'a' + 1 }}", "unsupported operand types for +: 'str' and 'int'", ErrorCode::kInvalidFormat},
      {"{{ messages|wordwrap }}", "the filter 'wordwrap' is outside", ErrorCode::kUnsupported},
      {"{{ 1 // 0 }}", "division or modulo by zero", ErrorCode::kInvalidFormat},
      {"{% for i in range(2000000) %}{% endfor %}", "more than 1,000,000 loop iterations", ErrorCode::kInvalidArgument},
      {"{% macro f(n) %}{{ f(n) }}{% endmacro %}{{ f(1) }}", "nested too deeply", ErrorCode::kInvalidArgument},
      {"{{ raise_exception('bad roles') }}", "the template raised: bad roles", ErrorCode::kInvalidArgument},
      {"{{ 9223372036854775807 + 1 }}", "integer overflow in +", ErrorCode::kInvalidFormat},
      {"{{ 2 ** 64 }}", "integer overflow in **", ErrorCode::kInvalidFormat},
      {"{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}",
       "a string over 64 MiB", ErrorCode::kInvalidArgument},
      {"{{ 'x' * 9223372036854775807 }}", "string repetition exceeds 64 MiB", ErrorCode::kInvalidArgument},
      {"{{ 'a'|indent(-5) }}", "indent: width must be 0..4096", ErrorCode::kInvalidFormat},
  };
  for (const auto& c : cases) {
    const auto t = ChatTemplate::parse(c.source, "t.jinja");
    ASSERT_TRUE(t) << c.source << ": " << t.error().message;
    const auto out = t.value().render("[]", {});
    ASSERT_FALSE(out) << c.source;
    EXPECT_EQ(out.error().code, c.code) << c.source;
    EXPECT_NE(out.error().message.find(c.expect), std::string::npos) << out.error().message;
  }
  const auto t = ChatTemplate::parse("x", "t");
  ASSERT_TRUE(t);
  EXPECT_EQ(t.value().render("{\"role\": 1}", {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.value().render("[{\"content\": \"no role\"}]", {}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(t.value().render("[not json", {}).error().code, ErrorCode::kInvalidArgument);
  ChatTemplateOptions bad_extra;
  bad_extra.extra_json = "[1]";
  EXPECT_EQ(t.value().render("[]", bad_extra).error().code, ErrorCode::kInvalidArgument);
}

TEST(ChatTemplate, FindsTheTemplateOfAFolder) {
  const auto dir = std::filesystem::path(::testing::TempDir()) / "edge_rt_chat_template_find";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const auto write = [&](const char* name, const std::string& text) { std::ofstream(dir / name) << text; };
  auto none = find_chat_template(dir);
  ASSERT_TRUE(none);
  EXPECT_FALSE(none.value());

  write("chat_template.jinja", "J{{ bos_token }}");
  write("tokenizer_config.json", R"({"bos_token": {"content": "<s>"}, "eos_token": "</s>"})");
  auto jinja = find_chat_template(dir);
  ASSERT_TRUE(jinja && jinja.value()) << (jinja ? "" : jinja.error().message);
  EXPECT_EQ(jinja.value()->text, "J{{ bos_token }}");
  EXPECT_EQ(jinja.value()->bos_token, "<s>");
  EXPECT_EQ(jinja.value()->eos_token, "</s>");

  write("tokenizer_config.json",
        R"({"chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "D"}]})");
  auto listed = find_chat_template(dir);
  ASSERT_TRUE(listed && listed.value());
  EXPECT_EQ(listed.value()->text, "D");

  write("tokenizer_config.json", R"({"chat_template": 5})");
  auto bad = find_chat_template(dir);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().code, ErrorCode::kInvalidFormat);
  EXPECT_NE(bad.error().message.find("tokenizer_config.json: chat_template is neither"), std::string::npos);

  const auto qwen = find_chat_template(std::filesystem::path(EDGE_RT_SHARED_MODELS_DIR) / "tokenizers" / "qwen3");
  ASSERT_TRUE(qwen && qwen.value());
  EXPECT_EQ(qwen.value()->eos_token, "<|im_end|>");
  EXPECT_NE(qwen.value()->text.find("<|im_start|>"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(ChatTemplate, EndOfTurnIdsOfRealTokenizers) {
  const auto dir = std::filesystem::path(EDGE_RT_SHARED_MODELS_DIR) / "tokenizers";
  const struct {
    const char* family;
    const char* text;
  } cases[] = {{"qwen3", "<|im_end|>"}, {"llama3_1", "<|eot_id|>"}, {"gemma3", "<end_of_turn>"}, {"llama2", "</s>"}};
  for (const auto& c : cases) {
    auto tok = load_tokenizer(dir / c.family);
    ASSERT_TRUE(tok) << tok.error().message;
    const auto id = special_token_id(*tok.value(), c.text);
    ASSERT_TRUE(id) << c.family;
    EXPECT_EQ(tok.value()->piece(*id), c.text);
    const auto eot = end_of_turn_ids(*tok.value());
    EXPECT_NE(std::ranges::find(eot, *id), eot.end()) << c.family;
    EXPECT_FALSE(special_token_id(*tok.value(), "Hello world").has_value());
  }
}

TEST(ChatTemplate, BuiltinsParse) {
  for (const std::string_view name : builtin_chat_template_names()) {
    const auto t = ChatTemplate::parse(builtin_chat_template(name).value(), std::string(name));
    EXPECT_TRUE(t) << name << ": " << t.error().message;
  }
  EXPECT_FALSE(builtin_chat_template("nope").has_value());
}

}  // namespace
}  // namespace edge_rt::tokenizer
