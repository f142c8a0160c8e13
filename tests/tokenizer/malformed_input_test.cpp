// Failure paths: broken tokenizer.bin, tokenizer.json, vocab.json and merges.txt files give clear errors with the
// exact ErrorCode, never a crash.

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <string>

#include "tokenizer_test_util.hpp"

namespace edge_rt::tokenizer {
namespace {

using test::write_temp_file;

const std::filesystem::path kTok512 = std::filesystem::path(EDGE_RT_SHARED_MODELS_DIR) / "stories260K" / "tok512.bin";

template <class T>
void expect_error(const Result<T>& r, ErrorCode code, std::string_view message_part) {
  ASSERT_TRUE(r.has_error()) << "expected " << to_string(code);
  EXPECT_EQ(r.error().code, code) << r.error().message;
  EXPECT_NE(r.error().message.find(message_part), std::string::npos) << r.error().message;
  EXPECT_TRUE(r.error().message.starts_with("[tokenizer] ")) << r.error().message;
}

std::string le_bytes_i32(std::int32_t v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

std::string le_bytes_f32(float v) {
  std::string s(4, '\0');
  std::memcpy(s.data(), &v, 4);
  return s;
}

/// A llama2.c tokenizer.bin: header, then (score, length, bytes) per piece.
std::string llama2c_bin(const std::vector<std::string>& pieces) {
  std::string out = le_bytes_i32(/*max_token_length=*/8);
  for (const std::string& p : pieces) out += le_bytes_f32(0.0F) + le_bytes_i32(static_cast<std::int32_t>(p.size())) + p;
  return out;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// ---- tokenizer.bin ----

TEST(MalformedLlama2c, MissingFileIsIoError) {
  expect_error(load_llama2c_tokenizer("/nonexistent/edge_rt/tokenizer.bin"), ErrorCode::kIoError, "tokenizer.bin");
  expect_error(read_llama2c_vocab("/nonexistent/edge_rt/tokenizer.bin"), ErrorCode::kIoError, "cannot open");
}

TEST(MalformedLlama2c, BrokenHeadersAndLengths) {
  const std::string three = llama2c_bin({"<unk>", "<s>", "</s>"});
  expect_error(read_llama2c_vocab(write_temp_file("empty.bin", "")), ErrorCode::kInvalidFormat, "max_token_length");
  expect_error(read_llama2c_vocab(write_temp_file("short_header.bin", "\x07\x00")), ErrorCode::kInvalidFormat,
               "max_token_length");
  expect_error(read_llama2c_vocab(write_temp_file("neg_max.bin", le_bytes_i32(-3) + three.substr(4))),
               ErrorCode::kInvalidFormat, "max_token_length is -3");
  // Merges look at every split of every piece: a piece of a megabyte would take minutes (issue 12).
  expect_error(read_llama2c_vocab(write_temp_file("huge_max.bin", le_bytes_i32(1 << 20) + three.substr(4))),
               ErrorCode::kInvalidFormat, "max_token_length is 1048576, expected 1..256");
  expect_error(read_llama2c_vocab(write_temp_file("no_tokens.bin", le_bytes_i32(7))), ErrorCode::kInvalidFormat,
               "0 tokens");
  expect_error(read_llama2c_vocab(
                   write_temp_file("negative_length.bin", three + le_bytes_f32(-1.0F) + le_bytes_i32(-5) + "abc")),
               ErrorCode::kInvalidFormat, "token 3: length -5, expected 0..max_token_length");
  expect_error(read_llama2c_vocab(
                   write_temp_file("huge_length.bin", three + le_bytes_f32(-1.0F) + le_bytes_i32(1 << 30) + "abc")),
               ErrorCode::kInvalidFormat, "token 3: length 1073741824, expected 0..max_token_length");
  expect_error(read_llama2c_vocab(write_temp_file("cut_score.bin", three + le_bytes_f32(-1.0F))),
               ErrorCode::kInvalidFormat, "token 3: truncated");
  expect_error(read_llama2c_vocab(write_temp_file(
                   "nan.bin", three + le_bytes_f32(std::numeric_limits<float>::quiet_NaN()) + le_bytes_i32(1) + "a")),
               ErrorCode::kInvalidFormat, "NaN");
  EXPECT_TRUE(read_llama2c_vocab(write_temp_file("three.bin", three)).has_value());
}

TEST(MalformedLlama2c, EveryTruncationOfTok512FailsCleanly) {
  const std::string bytes = read_all(kTok512);
  ASSERT_EQ(bytes.size(), 6227U);
  int failures = 0;
  for (std::size_t size = 0; size < bytes.size(); size += (size < 400 ? 1 : 37)) {
    auto r = load_llama2c_tokenizer(write_temp_file("truncated.bin", std::string_view(bytes).substr(0, size)));
    if (r.has_error()) {
      ASSERT_EQ(r.error().code, ErrorCode::kInvalidFormat) << "size " << size << ": " << r.error().message;
      ++failures;
    } else {
      // A cut exactly between two tokens is a shorter but well-formed vocabulary.
      ASSERT_GE(r.value()->vocab_size(), 3U);
      (void)r.value()->encode("Once upon a time \U0001F642");
    }
  }
  EXPECT_GT(failures, 100);
}

// ---- tokenizer.json ----

struct JsonCase {
  const char* name;
  const char* text;
  ErrorCode code;
  const char* message_part;
};

TEST(MalformedTokenizerJson, ErrorsNameTheFieldForBothLoaders) {
  const JsonCase cases[] = {
      {"not_json", "{\"model\": {\"vocab\": ", ErrorCode::kInvalidFormat, "not valid JSON"},
      {"garbage", "\x01\x02 hello", ErrorCode::kInvalidFormat, "not valid JSON"},
      {"array", "[1, 2, 3]", ErrorCode::kInvalidFormat, "not a JSON object"},
      {"no_model", "{\"added_tokens\": []}", ErrorCode::kMissingField, "\"model\""},
      {"no_vocab", R"({"model": {"type": "BPE", "merges": []}})", ErrorCode::kMissingField, "model.vocab"},
      {"no_merges", R"({"model": {"type": "BPE", "vocab": {"a": 0}}})", ErrorCode::kMissingField, "model.merges"},
      {"unigram", R"({"model": {"type": "Unigram", "vocab": [], "merges": []}})", ErrorCode::kUnsupported, "Unigram"},
      {"vocab_array", R"({"model": {"vocab": [["a", 0]], "merges": []}})", ErrorCode::kInvalidFormat,
       "model.vocab is not an object"},
      {"vocab_string_id", R"({"model": {"vocab": {"a": "0"}, "merges": []}})", ErrorCode::kInvalidFormat,
       "model.vocab['a'] is not an integer"},
      {"vocab_negative_id", R"({"model": {"vocab": {"a": -1}, "merges": []}})", ErrorCode::kInvalidFormat,
       "out of range"},
      {"vocab_huge_id", R"({"model": {"vocab": {"a": 2000000000}, "merges": []}})", ErrorCode::kInvalidFormat,
       "out of range"},
      {"duplicate_ids", R"({"model": {"vocab": {"a": 0, "b": 0}, "merges": []}})", ErrorCode::kInvalidFormat,
       "duplicate id 0"},
      {"merge_unknown", R"({"model": {"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a c"]}})",
       ErrorCode::kInvalidFormat, "model.merges[0] names unknown token 'c'"},
      {"merge_result_unknown", R"({"model": {"vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]}})",
       ErrorCode::kInvalidFormat, "merged token 'ab' is not in the vocab"},
      {"merge_shape", R"({"model": {"vocab": {"a": 0, "b": 1, "ab": 2}, "merges": [["a"]]}})",
       ErrorCode::kInvalidFormat, "model.merges[0]"},
      {"merge_no_space", R"({"model": {"vocab": {"a": 0}, "merges": ["ab"]}})", ErrorCode::kInvalidFormat,
       "model.merges[0]"},
      {"merges_object", R"({"model": {"vocab": {"a": 0}, "merges": {}}})", ErrorCode::kInvalidFormat,
       "model.merges is not an array"},
      {"added_conflict", R"({"added_tokens": [{"id": 0, "content": "x"}], "model": {"vocab": {"a": 0}, "merges": []}})",
       ErrorCode::kInvalidFormat, "added_tokens[0]: id 0 is 'a'"},
      {"added_no_id", R"({"added_tokens": [{"content": "x"}], "model": {"vocab": {"a": 0}, "merges": []}})",
       ErrorCode::kMissingField, "added_tokens[0]"},
      {"added_not_array", R"({"added_tokens": {}, "model": {"vocab": {"a": 0}, "merges": []}})",
       ErrorCode::kInvalidFormat, "added_tokens is not an array"},
  };
  for (const JsonCase& c : cases) {
    SCOPED_TRACE(c.name);
    const auto path = write_temp_file(std::string(c.name) + ".json", c.text);
    expect_error(load_tokenizer_json(path), c.code, c.message_part);
    expect_error(load_tokenizer_json(path), c.code, path.filename().string());
  }
}

TEST(MalformedTokenizerJson, UnsupportedComponentsAreNamed) {
  const std::pair<const char*, const char*> cases[] = {
      {R"("normalizer": {"type": "Sequence", "normalizers": [{"type": "NFC"}, {"type": "Precompiled"}]})",
       "normalizer.normalizers[1]: type \"Precompiled\""},
      {R"("pre_tokenizer": {"type": "BertPreTokenizer"})", "pre_tokenizer: type \"BertPreTokenizer\""},
      {R"("decoder": {"type": "WordPiece"})", "decoder: type \"WordPiece\""},
      {R"("post_processor": {"type": "Nonsense"})", "post_processor: type \"Nonsense\""},
  };
  for (const auto& [component, message] : cases) {
    SCOPED_TRACE(component);
    const std::string text =
        std::string("{") + component + R"(, "model": {"vocab": {"a": 0}, "merges": [], "byte_fallback": true}})";
    expect_error(load_tokenizer_json(write_temp_file("odd_component.json", text)), ErrorCode::kUnsupported, message);
  }
  // A component without "type" (fuzzing found it dereferenced).
  expect_error(load_tokenizer_json(write_temp_file(
                   "no_type.json", R"({"normalizer": {"typo": "NFC"}, "model": {"vocab": {"a": 0}, "merges": []}})")),
               ErrorCode::kMissingField, "normalizer lacks \"type\"");
  const auto bad_regex = write_temp_file(
      "bad_regex.json", R"({"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<!"}, "behavior": "Isolated"},
                           "model": {"vocab": {"a": 0}, "merges": []}})");
  expect_error(load_tokenizer_json(bad_regex), ErrorCode::kInvalidFormat, "pre_tokenizer.pattern.Regex");
  const auto bad_behavior = write_temp_file(
      "bad_behavior.json", R"({"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways"},
                              "model": {"vocab": {"a": 0}, "merges": []}})");
  expect_error(load_tokenizer_json(bad_behavior), ErrorCode::kInvalidFormat, "pre_tokenizer.behavior");
}

TEST(TokenizerJson, StringMergesAndByteLevelSynthetic) {
  // "Ġ" is the byte-level symbol of ' '. Both merge spellings must load.
  const auto path = write_temp_file("synthetic_gpt2.json", R"({
    "added_tokens": [{"id": 6, "content": "<eot>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false},
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE",
              "vocab": {"a": 0, "b": 1, "\u0120": 2, "ab": 3, "\u0120ab": 4, "c": 5},
              "merges": ["a b", ["\u0120", "ab"]]}})");
  auto tok = load_tokenizer_json(path);
  ASSERT_TRUE(tok.has_value()) << tok.error().message;
  EXPECT_EQ(tok.value()->encode("ab ab<eot>c"), (std::vector<TokenId>{3, 4, 6, 5}));
  EXPECT_EQ(tok.value()->vocab_size(), 7U);
  EXPECT_EQ(tok.value()->bos_id(), std::nullopt);
  EXPECT_EQ(tok.value()->token_bytes(/*id=*/6), "");
  EXPECT_EQ(tok.value()->decode(std::vector<TokenId>{3, 4, 6, 5}), "ab abc");
}

// ---- vocab.json + merges.txt ----

TEST(MalformedVocabMerges, BadLinesAndMissingFiles) {
  const auto vocab = write_temp_file("vocab.json", R"({"a": 0, "b": 1, "ab": 2})");
  const auto good = write_temp_file("good_merges.txt", "#version: 0.2\r\na b\r\n\r\n");
  auto tok = load_gpt2_vocab_merges(vocab, good);
  ASSERT_TRUE(tok.has_value()) << tok.error().message;
  EXPECT_EQ(tok.value()->encode("ab"), std::vector<TokenId>{2});

  expect_error(load_gpt2_vocab_merges(vocab, write_temp_file("one_part.txt", "#version: 0.2\nab\n")),
               ErrorCode::kInvalidFormat, "line 2 is not");
  expect_error(load_gpt2_vocab_merges(vocab, write_temp_file("three_parts.txt", "a b c\n")), ErrorCode::kInvalidFormat,
               "line 1 is not");
  expect_error(load_gpt2_vocab_merges(vocab, write_temp_file("unknown.txt", "a z\n")), ErrorCode::kInvalidFormat,
               "unknown token 'z'");
  expect_error(load_gpt2_vocab_merges(vocab, "/nonexistent/edge_rt/merges.txt"), ErrorCode::kIoError, "merges.txt");
  expect_error(load_gpt2_vocab_merges(write_temp_file("vocab_bad.json", "{\"a\": 0,"), good), ErrorCode::kInvalidFormat,
               "not valid JSON");
}

// ---- load_tokenizer dispatch ----

TEST(LoadTokenizerErrors, EmptyFolderAndBrokenFiles) {
  const std::filesystem::path root = std::filesystem::path(::testing::TempDir()) / "edge_rt_tok_dirs";
  std::filesystem::create_directories(root / "empty");
  expect_error(load_tokenizer(root / "empty"), ErrorCode::kIoError,
               "no tokenizer.json, vocab.json+merges.txt or tokenizer.bin");

  std::filesystem::create_directories(root / "bad_json");
  std::ofstream(root / "bad_json" / "tokenizer.json") << "not json";
  expect_error(load_tokenizer(root / "bad_json"), ErrorCode::kInvalidFormat, "not valid JSON");

  // A plain BPE (no pre-tokenizer) loads; its tokenizer_config.json is read and checked beside it.
  std::filesystem::create_directories(root / "plain_bpe");
  std::ofstream(root / "plain_bpe" / "tokenizer.json")
      << R"({"model": {"type": "BPE", "vocab": {"a": 0, "<s>": 1}, "merges": []}})";
  std::ofstream(root / "plain_bpe" / "tokenizer_config.json") << R"({"bos_token": "<s>", "add_bos_token": true})";
  auto plain = load_tokenizer(root / "plain_bpe");
  ASSERT_TRUE(plain.has_value()) << plain.error().message;
  EXPECT_EQ(plain.value()->encode_with_special("aa"), (std::vector<TokenId>{1, 0, 0}));
  std::ofstream(root / "plain_bpe" / "tokenizer_config.json") << R"({"bos_token": {"content": "<x>"}})";
  expect_error(load_tokenizer(root / "plain_bpe"), ErrorCode::kInvalidFormat,
               "tokenizer_config.json: bos_token \"<x>\" is not in the vocabulary");
  std::ofstream(root / "plain_bpe" / "tokenizer_config.json") << R"({"add_eos_token": true})";
  expect_error(load_tokenizer(root / "plain_bpe"), ErrorCode::kInvalidFormat, "add_eos_token is true");

  std::filesystem::create_directories(root / "bad_bin");
  std::ofstream(root / "bad_bin" / "tokenizer.bin") << "xx";
  expect_error(load_tokenizer(root / "bad_bin"), ErrorCode::kInvalidFormat, "tokenizer.bin");
}

}  // namespace
}  // namespace edge_rt::tokenizer
