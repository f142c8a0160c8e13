// libFuzzer harness: chat templates (tokenizer::ChatTemplate, the Jinja2 subset of libs/tokenizer/src/jinja.cpp),
// parsed from arbitrary text and, when that succeeds, rendered over a fixed conversation with tools and extra
// variables. Every outcome must be a Result: no crash, no hang (loops, nesting and output are bounded), no
// undefined behaviour (integer overflow is an error, not a wrap).

#include "fuzz_util.hpp"

#include <edge_rt/tokenizer/chat_template.hpp>

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace {
constexpr std::string_view kMessages =
    R"([{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi \"there\" 東京"},
        {"role": "assistant", "content": "<think>x</think>Hello", "tool_calls": [{"function": {"name": "f",
         "arguments": {"a": [1, 2.5, null, true]}}}]}, {"role": "tool", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "parts"}, {"type": "image"}]}])";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size > fuzz::kMaxInputBytes) return 0;
  auto parsed = tokenizer::ChatTemplate::parse(fuzz::as_text(data, size), "fuzz.jinja");
  if (!parsed) {
    EDGE_RT_FUZZ_EXPECT(!parsed.error().message.empty());
    return 0;
  }
  tokenizer::ChatTemplateOptions options;
  options.bos_token = "<s>";
  options.eos_token = "</s>";
  options.extra_json = R"({"tools": [{"type": "function", "function": {"name": "f"}}], "enable_thinking": false})";
  auto out = parsed.value().render(kMessages, options);
  if (out) EDGE_RT_FUZZ_EXPECT(out.value().size() <= (std::size_t{64} << 20));
  return 0;
}
