// Tests of edge_rt::tokenizer against the real GPT-2 and llama2.c tokenizer files in EDGE_RT_SHARED_MODELS_DIR.
// Expected ids were computed with reference implementations: GPT-2 encoder.py (regex module, merges.txt) and
// llama2.c run.c `encode`.

#include <edge_rt/tokenizer/tokenizer.hpp>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "tokenizer_test_util.hpp"

namespace edge_rt::tokenizer {
namespace {

using test::gpt2_dir;
using test::random_text;
using test::valid_utf8;

static_assert(!std::is_copy_constructible_v<Tokenizer> && !std::is_move_constructible_v<Tokenizer>);
static_assert(!std::is_copy_constructible_v<StreamingDecoder> &&
              std::is_nothrow_move_constructible_v<StreamingDecoder>);

const std::filesystem::path kTok512 = std::filesystem::path(EDGE_RT_SHARED_MODELS_DIR) / "stories260K" / "tok512.bin";

std::unique_ptr<Tokenizer> must(Result<std::unique_ptr<Tokenizer>> r) {
  EXPECT_TRUE(r.has_value()) << (r.has_error() ? r.error().message : "");
  return r.has_value() ? std::move(r).value() : nullptr;
}

// One load of each tokenizer for the whole suite: the GPT-2 files take a moment to parse at -O0.
class Gpt2Test : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    from_json_ = must(load_tokenizer_json(gpt2_dir() / "tokenizer.json")).release();
    from_vocab_merges_ = must(load_gpt2_vocab_merges(gpt2_dir() / "vocab.json", gpt2_dir() / "merges.txt")).release();
  }
  static void TearDownTestSuite() {
    delete from_json_;
    delete from_vocab_merges_;
  }
  void SetUp() override { ASSERT_TRUE(from_json_ != nullptr && from_vocab_merges_ != nullptr); }

  static Tokenizer* from_json_;
  static Tokenizer* from_vocab_merges_;
};
Tokenizer* Gpt2Test::from_json_ = nullptr;
Tokenizer* Gpt2Test::from_vocab_merges_ = nullptr;

TEST_F(Gpt2Test, HelloWorldFromBothFileLayouts) {
  const std::vector<TokenId> expected = {15496, 11, 995, 0};
  EXPECT_EQ(from_json_->encode("Hello, world!"), expected);
  EXPECT_EQ(from_vocab_merges_->encode("Hello, world!"), expected);
}

TEST_F(Gpt2Test, KnownIdsFromEncoderPy) {
  struct Case {
    std::string text;
    std::vector<TokenId> ids;
  };
  const std::vector<Case> cases = {
      {" world", {995}},
      {"world", {6894}},
      {"<|endoftext|>", {50256}},
      {"Hello<|endoftext|>world", {15496, 50256, 6894}},
      {"  hello   world\n\n\tfoo  ", {220, 23748, 220, 220, 995, 628, 197, 21943, 220, 220}},
      {"I'm here, they're 42 cats'll 3.14!!", {40, 1101, 994, 11, 484, 821, 5433, 11875, 1183, 513, 13, 1415, 3228}},
      {"h\u00e9llo w\u00f6rld \u65e5\u672c\u8a9e \U0001F642\U0001F44D\U0001F3FD",
       {71, 2634, 18798, 266, 30570, 335, 10545, 245, 98, 17312, 105, 45739, 252, 32485, 41840, 235, 8582, 237, 121}},
      {"a\u00a0b\u3000c  \u2003d", {64, 1849, 65, 5099, 222, 66, 220, 220, 447, 225, 67}},
      {"x  ", {87, 220, 220}},
      {"\n", {198}},
      {"", {}},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(from_json_->encode(c.text), c.ids) << c.text;
    EXPECT_EQ(from_vocab_merges_->encode(c.text), c.ids) << c.text;
  }
}

TEST_F(Gpt2Test, SpecialTokenAndMetadata) {
  EXPECT_EQ(from_json_->vocab_size(), 50257U);
  EXPECT_EQ(from_json_->bos_id(), 50256);
  EXPECT_EQ(from_json_->eos_id(), 50256);
  EXPECT_EQ(from_vocab_merges_->eos_id(), 50256);
  EXPECT_FALSE(from_json_->strips_leading_space());
  EXPECT_EQ(from_json_->token_bytes(/*id=*/50256), "");
  EXPECT_EQ(from_json_->token_bytes(/*id=*/995), " world");
  EXPECT_EQ(from_json_->token_bytes(/*id=*/198), "\n");
  const std::vector<TokenId> ids = {15496, 11, 995, 0};
  EXPECT_EQ(from_json_->decode(ids), "Hello, world!");
}

TEST_F(Gpt2Test, RandomUtf8RoundTripsAndLayoutsAgree) {
  std::mt19937 rng(/*seed=*/1234);
  for (int i = 0; i < 300; ++i) {
    const std::string text = random_text(rng, /*max_chars=*/60);
    const std::vector<TokenId> ids = from_json_->encode(text);
    ASSERT_EQ(from_json_->decode(ids), text) << "case " << i;
    ASSERT_EQ(from_vocab_merges_->encode(text), ids) << "case " << i;
  }
}

TEST_F(Gpt2Test, InvalidUtf8BytesRoundTrip) {
  const std::string text = "ok \xff\xfe bad \x80\xc3 end\xe2\x82";
  EXPECT_EQ(from_json_->decode(from_json_->encode(text)), text);
}

TEST_F(Gpt2Test, StreamingDecoderHoldsSplitEmoji) {
  const std::string text = "I \U0001F642 caf\u00e9 \u65e5\u672c\U0001F44D\U0001F3FD!";
  const std::vector<TokenId> ids = from_json_->encode(text);
  StreamingDecoder stream(*from_json_);
  std::string joined;
  for (const TokenId id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_TRUE(valid_utf8(piece)) << "after id " << id;
    joined += piece;
  }
  joined += stream.flush();
  EXPECT_EQ(joined, from_json_->decode(ids));
  EXPECT_EQ(joined, text);
}

TEST_F(Gpt2Test, LoadTokenizerPicksTokenizerJson) {
  auto tok = must(load_tokenizer(gpt2_dir()));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Hello, world!"), (std::vector<TokenId>{15496, 11, 995, 0}));
}

// ---- llama2.c tokenizer.bin and its tokenizer.json conversion ----

class SentencePieceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = must(load_llama2c_tokenizer(kTok512));
    ASSERT_NE(bin_, nullptr);
    auto vocab = read_llama2c_vocab(kTok512);
    ASSERT_TRUE(vocab.has_value()) << vocab.error().message;
    json_path_ = std::filesystem::path(::testing::TempDir()) / "tok512_tokenizer.json";
    std::ofstream(json_path_, std::ios::binary) << sentencepiece_tokenizer_json(vocab.value());
    json_ = must(load_tokenizer_json(json_path_));
    ASSERT_NE(json_, nullptr);
  }

  std::unique_ptr<Tokenizer> bin_;
  std::unique_ptr<Tokenizer> json_;
  std::filesystem::path json_path_;
};

TEST_F(SentencePieceTest, OnceUponATimeMatchesLlama2c) {
  const std::vector<TokenId> expected = {403, 407, 261, 378};  // run.c encode, no BOS
  EXPECT_EQ(bin_->encode("Once upon a time"), expected);
  EXPECT_EQ(json_->encode("Once upon a time"), expected);
  EXPECT_EQ(bin_->decode(expected), "Once upon a time");
  EXPECT_EQ(json_->decode(expected), "Once upon a time");
}

TEST_F(SentencePieceTest, KnownIdsFromRunC) {
  EXPECT_EQ(bin_->encode(""), std::vector<TokenId>{});
  EXPECT_EQ(bin_->encode(" "), (std::vector<TokenId>{410, 410}));
  EXPECT_EQ(bin_->encode("Hello world"), (std::vector<TokenId>{346, 306, 414, 263, 304, 341}));
  EXPECT_EQ(bin_->encode("Lily saw a big, red ball. \U0001F642"),
            (std::vector<TokenId>{317, 394, 261, 370, 432, 352, 266, 268, 388, 426, 410, 243, 162, 156, 133}));
  EXPECT_EQ(bin_->encode("\u65e5\u672c"), (std::vector<TokenId>{410, 233, 154, 168, 233, 159, 175}));
}

TEST_F(SentencePieceTest, MetadataAndControlTokens) {
  for (const Tokenizer* tok : {bin_.get(), json_.get()}) {
    EXPECT_EQ(tok->vocab_size(), 512U);
    EXPECT_EQ(tok->bos_id(), 1);
    EXPECT_EQ(tok->eos_id(), 2);
    EXPECT_TRUE(tok->strips_leading_space());
    EXPECT_EQ(tok->token_bytes(/*id=*/0), "");
    EXPECT_EQ(tok->token_bytes(/*id=*/1), "");
    EXPECT_EQ(tok->token_bytes(/*id=*/2), "");
    EXPECT_EQ(tok->token_bytes(/*id=*/3 + 0x41), "A");
    EXPECT_EQ(tok->token_bytes(/*id=*/3 + 0xF0), "\xF0");
    EXPECT_EQ(tok->token_bytes(/*id=*/259), " t");
  }
}

TEST_F(SentencePieceTest, ReadLlama2cVocab) {
  auto vocab = read_llama2c_vocab(kTok512);
  ASSERT_TRUE(vocab.has_value());
  ASSERT_EQ(vocab.value().pieces.size(), 512U);
  EXPECT_EQ(vocab.value().pieces[0], "<unk>");
  EXPECT_EQ(vocab.value().pieces[1], "<s>");
  EXPECT_EQ(vocab.value().pieces[2], "</s>");
  EXPECT_EQ(vocab.value().pieces[3], "<0x00>");
  EXPECT_EQ(vocab.value().pieces[258], "<0xFF>");
  EXPECT_EQ(vocab.value().pieces[259], "\u2581t");
  EXPECT_EQ(vocab.value().scores[260], -1.0F);
  ASSERT_FALSE(vocab.value().merges.empty());
  EXPECT_EQ(vocab.value().merges[0], (std::pair<std::string, std::string>("\u2581", "t")));  // highest score
}

TEST_F(SentencePieceTest, JsonConversionEncodesLikeTokenizerBin) {
  std::mt19937 rng(/*seed=*/99);
  const std::vector<std::string> words = {"Once",  "upon", "a",    "time",       "there", "was",  "little",  "girl",
                                          "named", "Lily", "She",  "loved",      "to",    "play", "outside", "park",
                                          "big",   "red",  "ball", ".",          ",",     "!",    "\"",      "'s",
                                          "  ",    "\n",   "\t",   "\U0001F642", "\u00e9"};
  for (int i = 0; i < 2000; ++i) {
    std::string text;
    if (i % 2 == 0) {
      const int n = static_cast<int>(rng() % 20);
      for (int w = 0; w < n; ++w) text += words[rng() % words.size()] + (rng() % 3 == 0 ? "" : " ");
    } else {
      text = random_text(rng, /*max_chars=*/40);
    }
    // HF matches added tokens in the raw text; llama2.c does not. Equal elsewhere.
    if (text.find("<s>") != std::string::npos || text.find("</s>") != std::string::npos) continue;
    const std::vector<TokenId> ids = bin_->encode(text);
    ASSERT_EQ(json_->encode(text), ids) << "case " << i << ": " << text;
    // decode() drops exactly the dummy-prefix space the encoder added. A literal U+2581 in the text is a space to
    // SentencePiece and comes back as one.
    if (text.find("\u2581") == std::string::npos) {
      ASSERT_EQ(bin_->decode(ids), text) << "case " << i;
    }
  }
}

TEST_F(SentencePieceTest, InvalidUtf8GoesThroughByteTokens) {
  const std::string text = "ok \xff\xfe bad \x80\xc3 end\xe2\x82";
  EXPECT_EQ(bin_->decode(bin_->encode(text)), text);
  EXPECT_EQ(json_->encode(text), bin_->encode(text));
}

TEST_F(SentencePieceTest, StreamingDecoderNeverSplitsAnEmoji) {
  const std::string text = "Hi \U0001F642\U0001F44D \u65e5\u672c!";
  const std::vector<TokenId> ids = bin_->encode(text);
  // The emoji is not in the 512-piece vocab: it arrives as four <0xXX> byte tokens.
  ASSERT_GE(ids.size(), 8U);
  StreamingDecoder stream(*bin_);
  std::string joined;
  bool held_something = false;
  for (const TokenId id : ids) {
    const std::string piece = stream.push(id);
    EXPECT_TRUE(valid_utf8(piece)) << "after id " << id;
    held_something = held_something || (piece.empty() && !bin_->token_bytes(id).empty());
    joined += piece;
  }
  joined += stream.flush();
  EXPECT_TRUE(held_something);
  EXPECT_EQ(joined, bin_->decode(ids));
  EXPECT_EQ(joined, text);
}

TEST_F(SentencePieceTest, StreamingDecoderEmitsInvalidBytesAndFlushesIncomplete) {
  StreamingDecoder stream(*bin_);
  EXPECT_EQ(stream.push(/*id=*/1), "");             // <s>
  EXPECT_EQ(stream.push(/*id=*/3 + 0xFF), "\xFF");  // can never start a character
  EXPECT_EQ(stream.push(/*id=*/3 + 0xE6), "");      // first byte of a 3-byte character: held
  EXPECT_EQ(stream.push(/*id=*/3 + 0x97), "");      // still incomplete
  EXPECT_EQ(stream.push(/*id=*/3 + 0x41),
            "\xE6\x97"
            "A");  // 'A' proves it can never complete
  EXPECT_EQ(stream.push(/*id=*/3 + 0xF0), "");
  EXPECT_EQ(stream.flush(), "\xF0");
  EXPECT_EQ(stream.flush(), "");
}

TEST_F(SentencePieceTest, StreamingDecoderStripsOnlyTheFirstLeadingSpace) {
  const std::vector<TokenId> ids = bin_->encode("Once upon a time");
  StreamingDecoder stream(*bin_);
  std::string joined = stream.push(/*id=*/1);
  for (const TokenId id : ids) joined += stream.push(id);
  EXPECT_EQ(joined, "Once upon a time");
}

TEST(LoadTokenizer, ReadsTokenizerBinFromAFolder) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "edge_rt_tok_bin_dir";
  std::filesystem::create_directories(dir);
  std::filesystem::copy_file(kTok512, dir / "tokenizer.bin", std::filesystem::copy_options::overwrite_existing);
  auto tok = must(load_tokenizer(dir));
  ASSERT_NE(tok, nullptr);
  EXPECT_EQ(tok->encode("Once upon a time"), (std::vector<TokenId>{403, 407, 261, 378}));
}

TEST(LoadTokenizer, ReadsConvertedTokenizerJsonAsSentencePiece) {
  const std::filesystem::path dir = std::filesystem::path(::testing::TempDir()) / "edge_rt_tok_json_dir";
  std::filesystem::create_directories(dir);
  auto vocab = read_llama2c_vocab(kTok512);
  ASSERT_TRUE(vocab.has_value());
  std::ofstream(dir / "tokenizer.json", std::ios::binary) << sentencepiece_tokenizer_json(vocab.value());
  auto tok = must(load_tokenizer(dir));
  ASSERT_NE(tok, nullptr);
  EXPECT_TRUE(tok->strips_leading_space());
  EXPECT_EQ(tok->encode("Once upon a time"), (std::vector<TokenId>{403, 407, 261, 378}));
}

// Pipeline components the four real families do not use, against Hugging Face tokenizers' ids for synthetic files
// (tests/data/tokenizers/components.json, made by tools/reference/hf_tokenizer_components.py).
TEST(TokenizerJson, ComponentsMatchHuggingFace) {
  const std::filesystem::path path =
      std::filesystem::path(EDGE_RT_SOURCE_DIR) / "tests" / "data" / "tokenizers" / "components.json";
  std::ifstream in(path, std::ios::binary);
  ASSERT_TRUE(in) << path;
  const std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const boost::json::value root = boost::json::parse(text);
  const boost::json::array& strings = root.at("strings").as_array();
  const boost::json::object& cases = root.at("cases").as_object();
  ASSERT_GE(cases.size(), 6U);
  for (const auto& [name, c] : cases) {
    SCOPED_TRACE(std::string(name));
    auto tok = parse_tokenizer_json(boost::json::serialize(c.at("json")), std::string(name) + ".json");
    ASSERT_TRUE(tok) << tok.error().message;
    const boost::json::array& ids = c.at("ids").as_array();
    ASSERT_EQ(ids.size(), strings.size());
    for (std::size_t i = 0; i < strings.size(); ++i) {
      std::vector<TokenId> want;
      for (const boost::json::value& id : ids[i].as_array()) want.push_back(static_cast<TokenId>(id.as_int64()));
      EXPECT_EQ(tok.value()->encode(std::string_view(strings[i].as_string())), want) << strings[i];
    }
  }
}

}  // namespace
}  // namespace edge_rt::tokenizer
