// GgufFile, parse_gguf_header, find_gguf, config_from_gguf and hf_name_of_gguf on GGUF files built byte by byte:
// valid files map zero-copy with ggml's shapes reversed; every malformed field gets an error naming it.
#include <edge_rt/model_ir/gguf.hpp>

#include "model_ir_test_util.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace edge_rt::model_ir {
namespace {

using tensor_core::DType;
using test::expect_error;
using test::ScopedTempDir;
using test::write_file;

// A GGUF file by hand (gguf.md): header, metadata, tensor infos, padding to 32, data.
class GgufBuilder {
 public:
  GgufBuilder& version(std::uint32_t v) {
    version_ = v;
    return *this;
  }
  GgufBuilder& kv_u32(const std::string& key, std::uint32_t v) { return kv(key, 4, pod(v)); }
  GgufBuilder& kv_f32(const std::string& key, float v) { return kv(key, 6, pod(v)); }
  GgufBuilder& kv_bool(const std::string& key, bool v) { return kv(key, 7, std::string(1, v ? '\1' : '\0')); }
  GgufBuilder& kv_str(const std::string& key, const std::string& v) { return kv(key, 8, str(v)); }
  GgufBuilder& kv_strs(const std::string& key, const std::vector<std::string>& v) {
    std::string body = pod<std::uint32_t>(8) + pod<std::uint64_t>(v.size());
    for (const std::string& s : v) body += str(s);
    return kv(key, 9, body);
  }
  GgufBuilder& kv_raw(const std::string& key, std::uint32_t type, const std::string& body) {
    return kv(key, type, body);
  }
  // A tensor of ggml `type` with ne (innermost first) and `bytes` of data at the next 32-byte boundary, or at
  // `offset` when given.
  GgufBuilder& tensor(const std::string& name, std::vector<std::uint64_t> ne, std::uint32_t type, std::string bytes,
                      std::optional<std::uint64_t> offset = std::nullopt) {
    while (data_.size() % 32 != 0) data_ += '\0';
    std::string info = str(name) + pod<std::uint32_t>(static_cast<std::uint32_t>(ne.size()));
    for (std::uint64_t n : ne) info += pod(n);
    info += pod(type) + pod<std::uint64_t>(offset.value_or(data_.size()));
    infos_ += info;
    ++n_tensors_;
    data_ += bytes;
    return *this;
  }
  std::string bytes() const {
    std::string out =
        "GGUF" + pod(version_) + pod<std::uint64_t>(n_tensors_) + pod<std::uint64_t>(n_kv_) + kvs_ + infos_;
    while (out.size() % 32 != 0) out += '\0';
    return out + data_;
  }

  template <class T>
  static std::string pod(T v) {
    std::string s(sizeof(T), '\0');
    std::memcpy(s.data(), &v, sizeof(T));
    return s;
  }
  static std::string str(const std::string& s) { return pod<std::uint64_t>(s.size()) + s; }

 private:
  GgufBuilder& kv(const std::string& key, std::uint32_t type, const std::string& body) {
    kvs_ += str(key) + pod(type) + body;
    ++n_kv_;
    return *this;
  }
  std::uint32_t version_ = 3;
  std::uint64_t n_tensors_ = 0;
  std::uint64_t n_kv_ = 0;
  std::string kvs_, infos_, data_;
};

std::string f32s(std::initializer_list<float> v) {
  std::string s;
  for (float x : v) s += GgufBuilder::pod(x);
  return s;
}

GgufBuilder small() {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama").kv_u32("llama.block_count", 1).kv_f32("llama.rope.freq_base", 5e5f);
  b.tensor("norm.weight", {4}, 0, f32s({1, 2, 3, 4}));
  b.tensor("m.weight", {32, 2}, 8, std::string(2 * 34, '\1'));  // Q8_0, 2 rows of 32
  return b;
}

Result<std::pair<std::vector<TensorInfo>, std::map<std::string, GgufValue, std::less<>>>> parse(
    const std::string& bytes) {
  return parse_gguf_header(std::as_bytes(std::span(bytes)), bytes.size(), "t.gguf");
}

TEST(Gguf, OpensAValidFileWithShapesOutermostFirst) {
  ScopedTempDir dir;
  write_file(dir / "m.gguf", small().bytes());
  auto opened = GgufFile::open(dir / "m.gguf");
  ASSERT_TRUE(opened) << opened.error().message;
  const GgufFile& f = opened.value();
  EXPECT_EQ(f.version(), 3u);
  ASSERT_EQ(f.tensors().size(), 2u);
  const TensorInfo* m = f.find("m.weight");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->dtype, DType::kQ8_0);
  EXPECT_EQ(m->shape, (tensor_core::Shape{2, 32}));  // ne = [32, 2]: rows of 32
  EXPECT_EQ(m->size_bytes, 68u);
  EXPECT_EQ(m->offset_bytes % 32, 0u);
  const TensorInfo* norm = f.find("norm.weight");
  float got[4];
  std::memcpy(got, f.file().mapped(norm->offset_bytes, 16).data(), 16);
  EXPECT_EQ(got[3], 4.0f);
  EXPECT_EQ(f.string("general.architecture").value(), "llama");
  EXPECT_EQ(f.integer("llama.block_count", 1, 10).value(), 1);
  EXPECT_FLOAT_EQ(static_cast<float>(f.real("llama.rope.freq_base").value()), 5e5f);
  expect_error(f.integer("llama.block_count", 2, 10), ErrorCode::kInvalidFormat, {"llama.block_count", "2..10"});
  expect_error(f.string("llama.block_count"), ErrorCode::kInvalidFormat, {"uint32", "expected a string"});
  expect_error(f.integer("absent.key", 0, 1), ErrorCode::kMissingField, {"absent.key"});
}

TEST(Gguf, Version2ReadsAlike) {
  EXPECT_TRUE(parse(small().version(2).bytes()));
}

TEST(Gguf, MalformedHeadersNameTheField) {
  const std::string good = small().bytes();
  expect_error(parse("GGUX" + good.substr(4)), ErrorCode::kInvalidFormat, {"t.gguf", "magic"});
  expect_error(parse(small().version(1).bytes()), ErrorCode::kUnsupported, {"version 1", "2 or 3"});
  expect_error(parse(good.substr(0, 30)), ErrorCode::kInvalidFormat, {"truncated"});
  std::string huge_count = good;
  const std::uint64_t many = std::uint64_t{1} << 40;
  std::memcpy(huge_count.data() + 8, &many, 8);
  expect_error(parse(huge_count), ErrorCode::kInvalidFormat, {"tensor_count", "at most"});
  std::string huge_kv = good;
  std::memcpy(huge_kv.data() + 16, &many, 8);
  expect_error(parse(huge_kv), ErrorCode::kInvalidFormat, {"metadata_kv_count"});
  // A string claiming more bytes than the file has.
  GgufBuilder long_string;
  long_string.kv_raw("k", 8, GgufBuilder::pod<std::uint64_t>(1000) + "short");
  expect_error(parse(long_string.bytes()), ErrorCode::kInvalidFormat, {"metadata 'k'", "truncated"});
  GgufBuilder bad_type;
  bad_type.kv_raw("k", 13, "");
  expect_error(parse(bad_type.bytes()), ErrorCode::kInvalidFormat, {"'k'", "type 13"});
  GgufBuilder bad_bool;
  bad_bool.kv_raw("flag", 7, std::string(1, '\7'));
  expect_error(parse(bad_bool.bytes()), ErrorCode::kInvalidFormat, {"flag", "0 or 1"});
  GgufBuilder huge_array;
  huge_array.kv_raw("arr", 9, GgufBuilder::pod<std::uint32_t>(4) + GgufBuilder::pod<std::uint64_t>(many));
  expect_error(parse(huge_array.bytes()), ErrorCode::kInvalidFormat, {"arr", "elements"});
  GgufBuilder twice;
  twice.kv_u32("a", 1).kv_u32("a", 2);
  expect_error(parse(twice.bytes()), ErrorCode::kInvalidFormat, {"'a'", "twice"});
  GgufBuilder alignment;
  alignment.kv_u32("general.alignment", 48);
  expect_error(parse(alignment.bytes()), ErrorCode::kInvalidFormat, {"general.alignment", "power of two"});
}

TEST(Gguf, MalformedTensorsNameTheTensor) {
  const auto one = [](std::vector<std::uint64_t> ne, std::uint32_t type, std::string bytes,
                      std::optional<std::uint64_t> offset = std::nullopt) {
    GgufBuilder b;
    b.tensor("w", std::move(ne), type, std::move(bytes), offset);
    return parse(b.bytes());
  };
  expect_error(one({}, 0, ""), ErrorCode::kInvalidFormat, {"'w'", "n_dims 0"});
  expect_error(one({1, 1, 1, 1, 1}, 0, "1234"), ErrorCode::kInvalidFormat, {"'w'", "n_dims 5"});
  expect_error(one({0}, 0, ""), ErrorCode::kInvalidFormat, {"'w'", "ne[0] = 0"});
  expect_error(one({256}, 11, std::string(110, '\0')), ErrorCode::kUnsupported, {"'w'", "Q3_K (11)", "Q6_K"});
  expect_error(one({48}, 8, std::string(51, '\0')), ErrorCode::kInvalidFormat, {"'w'", "multiple of 32"});
  expect_error(one({4}, 0, f32s({1, 2, 3, 4}), 7), ErrorCode::kInvalidFormat, {"'w'", "offset 7", "multiple of 32"});
  expect_error(one({8}, 0, f32s({1, 2, 3, 4})), ErrorCode::kInvalidFormat, {"'w'", "truncated"});
  expect_error(one({4}, 0, f32s({1, 2, 3, 4}), 1u << 20), ErrorCode::kInvalidFormat, {"'w'", "truncated"});
  GgufBuilder overlap;
  overlap.tensor("a", {16}, 0, std::string(64, '\0')).tensor("b", {4}, 0, f32s({1, 2, 3, 4}), 32);
  expect_error(parse(overlap.bytes()), ErrorCode::kInvalidFormat, {"'a'", "'b'", "overlap"});
  GgufBuilder twice;
  twice.tensor("a", {4}, 0, f32s({1, 2, 3, 4})).tensor("a", {4}, 0, f32s({1, 2, 3, 4}));
  expect_error(parse(twice.bytes()), ErrorCode::kInvalidFormat, {"'a'", "twice"});
}

TEST(Gguf, FindsTheFileOfAFolder) {
  ScopedTempDir dir;
  EXPECT_FALSE(find_gguf(dir.path()).value());
  write_file(dir / "a.gguf", small().bytes());
  EXPECT_EQ(find_gguf(dir.path()).value(), dir / "a.gguf");
  EXPECT_EQ(find_gguf(dir / "a.gguf").value(), dir / "a.gguf");
  write_file(dir / "b.gguf", small().bytes());
  expect_error(find_gguf(dir.path()), ErrorCode::kInvalidFormat, {"2 .gguf files", "a.gguf"});
  write_file(dir / "config.json", "{}");
  EXPECT_FALSE(find_gguf(dir.path()).value());  // an HF folder that also holds GGUF files
}

GgufBuilder llama_metadata() {
  GgufBuilder b;
  b.kv_str("general.architecture", "llama")
      .kv_u32("llama.block_count", 2)
      .kv_u32("llama.embedding_length", 64)
      .kv_u32("llama.feed_forward_length", 128)
      .kv_u32("llama.attention.head_count", 4)
      .kv_u32("llama.attention.head_count_kv", 2)
      .kv_u32("llama.context_length", 256)
      .kv_f32("llama.attention.layer_norm_rms_epsilon", 1e-5f)
      .kv_f32("llama.rope.freq_base", 100000.0f)
      .kv_strs("tokenizer.ggml.tokens", {"a", "b", "c"})
      .kv_u32("tokenizer.ggml.bos_token_id", 1)
      .kv_u32("tokenizer.ggml.eos_token_id", 2)
      .kv_bool("tokenizer.ggml.add_bos_token", false);
  return b;
}

TEST(Gguf, ConfigFromLlamaMetadata) {
  ScopedTempDir dir;
  write_file(dir / "m.gguf", llama_metadata().bytes());
  const GgufFile f = GgufFile::open(dir / "m.gguf").value();
  auto config = config_from_gguf(f);
  ASSERT_TRUE(config) << config.error().message;
  const ModelConfig& c = config.value();
  EXPECT_EQ(c.architecture, Architecture::kLlama);
  EXPECT_EQ(c.n_layers, 2);
  EXPECT_EQ(c.d_model, 64);
  EXPECT_EQ(c.d_ff, 128);
  EXPECT_EQ(c.n_heads, 4);
  EXPECT_EQ(c.n_kv_heads, 2);
  EXPECT_EQ(c.head_dim, 16);
  EXPECT_EQ(c.max_context, 256);
  EXPECT_EQ(c.vocab_size, 3);
  EXPECT_FLOAT_EQ(c.rope_theta, 100000.0f);
  EXPECT_TRUE(c.rope_interleaved);
  EXPECT_TRUE(c.tie_embeddings);  // no output.weight
  EXPECT_EQ(c.bos_id, 1);
  EXPECT_EQ(c.eos_ids, std::vector<std::int32_t>{2});
  EXPECT_EQ(c.add_bos, false);
}

TEST(Gguf, ConfigErrorsNameTheKey) {
  ScopedTempDir dir;
  GgufBuilder other;
  other.kv_str("general.architecture", "mamba");
  write_file(dir / "a.gguf", other.bytes());
  expect_error(config_from_gguf(GgufFile::open(dir / "a.gguf").value()), ErrorCode::kUnsupported,
               {"general.architecture", "mamba", "llama, qwen2, qwen3, gemma2, gemma3, phi3 or gpt2"});
  GgufBuilder missing;
  missing.kv_str("general.architecture", "llama");
  write_file(dir / "b.gguf", missing.bytes());
  expect_error(config_from_gguf(GgufFile::open(dir / "b.gguf").value()), ErrorCode::kMissingField,
               {"llama.block_count"});
  GgufBuilder gqa = llama_metadata();
  gqa.kv_u32("llama.attention.head_count_kv", 3);  // a second value for the key
  write_file(dir / "c.gguf", gqa.bytes());
  expect_error(GgufFile::open(dir / "c.gguf"), ErrorCode::kInvalidFormat, {"head_count_kv", "twice"});
}

TEST(Gguf, TensorNamesMapToHuggingFaces) {
  EXPECT_EQ(hf_name_of_gguf(Architecture::kLlama, "blk.12.attn_q.weight"), "model.layers.12.self_attn.q_proj.weight");
  EXPECT_EQ(hf_name_of_gguf(Architecture::kLlama, "token_embd.weight"), "model.embed_tokens.weight");
  EXPECT_EQ(hf_name_of_gguf(Architecture::kLlama, "output.weight"), "lm_head.weight");
  EXPECT_EQ(hf_name_of_gguf(Architecture::kGpt2, "blk.0.attn_qkv.bias"), "transformer.h.0.attn.c_attn.bias");
  EXPECT_EQ(hf_name_of_gguf(Architecture::kGpt2, "position_embd.weight"), "transformer.wpe.weight");
  EXPECT_FALSE(hf_name_of_gguf(Architecture::kLlama, "blk.01.attn_q.weight"));
  EXPECT_FALSE(hf_name_of_gguf(Architecture::kLlama, "blk.x.attn_q.weight"));
  EXPECT_FALSE(hf_name_of_gguf(Architecture::kLlama, "rope_freqs.weight"));
  EXPECT_FALSE(hf_name_of_gguf(Architecture::kGpt2, "blk.0.attn_q.weight"));
}

}  // namespace
}  // namespace edge_rt::model_ir
