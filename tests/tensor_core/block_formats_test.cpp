// The ggml block formats against gguf-py's dequantization (tests/data/gguf/block_formats.txt, written by
// tools/reference/gen_block_fixture.py), and the quantizers' round trips.
#include <edge_rt/tensor_core/dtype.hpp>

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

namespace {

using namespace edge_rt::tensor_core;

struct Fixture {
  DType dtype;
  std::vector<std::byte> bytes;
  std::vector<float> values;
};

std::vector<Fixture> read_fixtures() {
  std::ifstream in(std::string(EDGE_RT_SOURCE_DIR) + "/tests/data/gguf/block_formats.txt");
  std::vector<Fixture> out;
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string name, hex;
    fields >> name >> hex;
    Fixture f{parse_dtype(name).value(), {}, {}};
    for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
      f.bytes.push_back(static_cast<std::byte>(std::stoi(hex.substr(i, 2), nullptr, 16)));
    }
    for (float v; fields >> v;) f.values.push_back(v);
    out.push_back(std::move(f));
  }
  return out;
}

TEST(BlockFormats, DequantizeAsGgufPy) {
  const std::vector<Fixture> fixtures = read_fixtures();
  ASSERT_EQ(fixtures.size(), 8u);
  for (const Fixture& f : fixtures) {
    SCOPED_TRACE(std::string(dtype_name(f.dtype)));
    ASSERT_EQ(f.bytes.size(), 2 * quant_block_bytes(f.dtype));
    ASSERT_EQ(f.values.size(), 2 * block_elems(f.dtype));
    std::vector<float> got(f.values.size());
    to_f32(f.dtype, f.bytes.data(), got.size(), got.data());
    for (std::size_t i = 0; i < got.size(); ++i) {
      // gguf-py computes in float32 numpy; products of the same two floats agree, sums of two may differ by an ulp.
      EXPECT_NEAR(got[i], f.values[i], 1e-6f * std::max(1.0f, std::fabs(f.values[i]))) << "element " << i;
    }
  }
}

TEST(BlockFormats, SizesAreGgmls) {
  EXPECT_EQ(row_bytes(DType::kQ4_1, 64), 40u);
  EXPECT_EQ(row_bytes(DType::kQ5_0, 64), 44u);
  EXPECT_EQ(row_bytes(DType::kQ5_1, 64), 48u);
  EXPECT_EQ(row_bytes(DType::kQ4_K, 512), 288u);
  EXPECT_EQ(row_bytes(DType::kQ5_K, 512), 352u);
  EXPECT_EQ(row_bytes(DType::kQ6_K, 512), 420u);
  for (DType d : {DType::kQ4_1, DType::kQ5_0, DType::kQ5_1, DType::kQ4_K, DType::kQ5_K, DType::kQ6_K}) {
    EXPECT_EQ(parse_dtype(dtype_name(d)).value(), d);
  }
  EXPECT_FALSE(parse_dtype("Q3_K"));
}

// Round trips through from_f32: error within a fraction of each format's step, and the more bits the smaller.
TEST(BlockFormats, QuantizersRoundTrip) {
  std::mt19937 rng(5);
  std::normal_distribution<float> dist(0.0f, 1.0f);
  std::vector<float> x(256 * 64);
  for (float& v : x) v = dist(rng);
  const auto rms_error = [&](DType d) {
    std::vector<std::byte> q(row_bytes(d, x.size()));
    from_f32(d, x.data(), x.size(), q.data());
    std::vector<float> back(x.size());
    to_f32(d, q.data(), x.size(), back.data());
    double err = 0;
    for (std::size_t i = 0; i < x.size(); ++i) err += (back[i] - x[i]) * (back[i] - x[i]);
    return std::sqrt(err / static_cast<double>(x.size()));
  };
  // Normal data spans about +-3: a 4-bit step is ~0.4 (rms error ~0.1), a 5-bit ~0.2, a 6-bit ~0.1, an 8-bit ~0.02.
  const double q4_1 = rms_error(DType::kQ4_1), q5_0 = rms_error(DType::kQ5_0), q5_1 = rms_error(DType::kQ5_1);
  const double q4_k = rms_error(DType::kQ4_K), q5_k = rms_error(DType::kQ5_K), q6_k = rms_error(DType::kQ6_K);
  const double q8_0 = rms_error(DType::kQ8_0);
  EXPECT_LT(q4_1, 0.15);
  EXPECT_LT(q4_k, 0.15);
  EXPECT_LT(q5_0, 0.08);
  EXPECT_LT(q5_1, 0.08);
  EXPECT_LT(q5_k, 0.08);
  EXPECT_LT(q6_k, 0.04);
  EXPECT_LT(q8_0, 0.01);
  EXPECT_LT(q5_1, q4_1);
  EXPECT_LT(q5_k, q4_k);
  EXPECT_LT(q6_k, q5_k);
  EXPECT_LT(q8_0, q6_k);
}

// decode_sub_block is the integer form of to_f32: scale * q + offset, element for element.
TEST(BlockFormats, SubBlocksRebuildTheValues) {
  for (const Fixture& f : read_fixtures()) {
    SubBlock sb;
    for (std::size_t s = 0; s < block_elems(f.dtype) / kQuantBlock; ++s) {
      decode_sub_block(f.dtype, f.bytes.data(), s, sb);
      for (std::size_t j = 0; j < kQuantBlock; ++j) {
        EXPECT_FLOAT_EQ(sb.scale[j / 16] * static_cast<float>(sb.q[j]) + sb.offset, f.values[s * kQuantBlock + j])
            << dtype_name(f.dtype) << " sub-block " << s << " element " << j;
      }
    }
  }
}

}  // namespace
