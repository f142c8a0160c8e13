// Tokenizers from GGUF metadata (tokenizer_from_ggml) and their tokenizer.json form (ggml_tokenizer_json).
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace edge_rt::tokenizer {
namespace {

// A byte-level vocabulary: the printable ASCII symbols, a few merges, two control tokens.
GgmlVocab byte_level(const std::string& pre) {
  GgmlVocab v;
  v.model = "gpt2";
  v.pre = pre;
  v.tokens = {"<|endoftext|>", "<|im_start|>"};
  for (char c = 33; c < 127; ++c) v.tokens.emplace_back(1, c);
  v.tokens.push_back("\xc4\xa0");  // U+0120, GPT-2's symbol for a space
  v.tokens.insert(v.tokens.end(), {"12",
                                   "\xc4\xa0"
                                   "a",
                                   "ab"});
  v.merges = {"1 2", "\xc4\xa0 a", "a b"};
  v.token_types.assign(v.tokens.size(), 1);
  v.token_types[0] = v.token_types[1] = 3;  // control
  v.bos_id = 0;
  v.eos_id = 0;
  return v;
}

TEST(GgmlVocab, SmollmSplitsDigitsOneByOne) {
  auto plain = tokenizer_from_ggml(byte_level("gpt-2"), "t.gguf").value();
  auto smollm = tokenizer_from_ggml(byte_level("smollm"), "t.gguf").value();
  const auto id = [&](const std::string& piece) {
    const auto& t = byte_level("").tokens;
    return static_cast<TokenId>(std::find(t.begin(), t.end(), piece) - t.begin());
  };
  EXPECT_EQ(plain->encode("12"), (std::vector<TokenId>{id("12")}));
  EXPECT_EQ(smollm->encode("12"), (std::vector<TokenId>{id("1"), id("2")}));
  EXPECT_EQ(smollm->encode("<|im_start|> ab"), (std::vector<TokenId>{1,
                                                                     id("\xc4\xa0"
                                                                        "a"),
                                                                     id("b")}));
  EXPECT_EQ(smollm->decode(smollm->encode("<|im_start|> ab12")), " ab12");  // control tokens decode to ""
}

TEST(GgmlVocab, TokenizerJsonEncodesAlike) {
  for (const char* pre : {"gpt-2", "smollm", "llama-bpe", "qwen2"}) {
    const GgmlVocab v = byte_level(pre);
    auto direct = tokenizer_from_ggml(v, "t.gguf").value();
    auto text = ggml_tokenizer_json(v, "t.gguf");
    ASSERT_TRUE(text) << text.error().message;
    auto via_json = parse_tokenizer_json(text.value(), "tokenizer.json");
    ASSERT_TRUE(via_json) << via_json.error().message;
    for (const char* s : {"12 ab", "a1b2<|im_start|>12", "  ab\n12", "<|endoftext|>"}) {
      EXPECT_EQ(via_json.value()->encode(s), direct->encode(s)) << pre << " " << s;
    }
  }
}

TEST(GgmlVocab, BadVocabulariesNameTheKey) {
  GgmlVocab v = byte_level("tekken");
  auto r = tokenizer_from_ggml(v, "t.gguf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  EXPECT_NE(r.error().message.find("tokenizer.ggml.pre is 'tekken'"), std::string::npos) << r.error().message;
  v = byte_level("");
  v.merges.push_back("nospace");
  r = tokenizer_from_ggml(v, "t.gguf");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("tokenizer.ggml.merges[3]"), std::string::npos) << r.error().message;
  v = byte_level("");
  v.eos_id = 100000;
  r = tokenizer_from_ggml(v, "t.gguf");
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("eos_token_id"), std::string::npos) << r.error().message;
  v = byte_level("");
  v.token_types.pop_back();
  EXPECT_FALSE(tokenizer_from_ggml(v, "t.gguf"));
  v = byte_level("");
  v.model = "bert";
  r = tokenizer_from_ggml(v, "t.gguf");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kUnsupported);
  GgmlVocab spm;
  spm.model = "llama";
  spm.tokens = {"<unk>", "<s>", "</s>",
                "\xe2\x96\x81"
                "a"};
  spm.scores = {0, 0, 0};  // one short
  EXPECT_FALSE(tokenizer_from_ggml(spm, "t.gguf"));
}

}  // namespace
}  // namespace edge_rt::tokenizer
