#include <edge_rt/runtime/sampler.hpp>

#include <gtest/gtest.h>

#include <map>

namespace edge_rt::runtime {
namespace {

SamplingParams plain(float temperature) {
  SamplingParams p;
  p.temperature = temperature;
  p.top_k = 0;
  p.top_p = 1.0f;
  p.min_p = 0.0f;
  p.seed = 7;
  return p;
}

TEST(Sampler, GreedyTakesTheArgmaxFirstOnTies) {
  Sampler s(plain(0.0f));
  std::vector<float> logits = {0.1f, 2.0f, 2.0f, -1.0f};
  EXPECT_EQ(s.sample(logits, {}), 1);
}

TEST(Sampler, TopKOfOneIsGreedy) {
  SamplingParams p = plain(1.5f);
  p.top_k = 1;
  Sampler s(p);
  for (int i = 0; i < 20; ++i) {
    std::vector<float> logits = {0.5f, 0.4f, 3.0f, 0.3f};
    EXPECT_EQ(s.sample(logits, {}), 2);
  }
}

TEST(Sampler, SameSeedSameTokensAndDistributionFollowsSoftmax) {
  std::vector<float> base = {0.0f, std::log(3.0f)};  // p = 1/4, 3/4
  Sampler a(plain(1.0f)), b(plain(1.0f));
  std::map<TokenId, int> counts;
  for (int i = 0; i < 4000; ++i) {
    auto la = base, lb = base;
    const TokenId ta = a.sample(la, {});
    EXPECT_EQ(ta, b.sample(lb, {}));
    ++counts[ta];
  }
  EXPECT_NEAR(counts[1] / 4000.0, 0.75, 0.03);
}

TEST(Sampler, TopPAndMinPCutTheTail) {
  SamplingParams p = plain(1.0f);
  p.top_p = 0.5f;  // the first token alone has 0.6
  Sampler s(p);
  for (int i = 0; i < 50; ++i) {
    std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    EXPECT_EQ(s.sample(logits, {}), 0);
  }
  SamplingParams m = plain(1.0f);
  m.min_p = 0.4f;  // drops tokens below 0.4 x 0.6 = 0.24: token 2 never appears
  Sampler sm(m);
  for (int i = 0; i < 200; ++i) {
    std::vector<float> logits = {std::log(0.6f), std::log(0.3f), std::log(0.1f)};
    EXPECT_NE(sm.sample(logits, {}), 2);
  }
}

TEST(Sampler, RepetitionPenaltyDemotesSeenTokens) {
  SamplingParams p = plain(0.0f);
  p.repeat_penalty = 2.0f;
  Sampler s(p);
  std::vector<float> logits = {1.5f, 1.0f};
  const std::vector<TokenId> history = {0};
  EXPECT_EQ(s.sample(logits, history), 1);  // 1.5 / 2 < 1.0
  EXPECT_FLOAT_EQ(logits[0], 0.75f);
}

TEST(Sampler, ValidateRejectsOutOfRangeParams) {
  SamplingParams p;
  p.temperature = -0.1f;
  EXPECT_EQ(p.validate().error().code, ErrorCode::kInvalidArgument);
  p = SamplingParams{};
  p.top_p = 0.0f;
  EXPECT_FALSE(p.validate());
  p = SamplingParams{};
  p.min_p = 1.5f;
  EXPECT_FALSE(p.validate());
  p = SamplingParams{};
  p.repeat_penalty = 0.0f;
  EXPECT_FALSE(p.validate());
  EXPECT_TRUE(SamplingParams{}.validate());
}

}  // namespace
}  // namespace edge_rt::runtime
