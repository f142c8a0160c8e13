#include <edge_rt/backend/cpu/kernels.hpp>
#include <edge_rt/runtime/sampler.hpp>

#include <algorithm>
#include <cmath>
#include <unordered_set>

namespace edge_rt::runtime {

Result<void> SamplingParams::validate() const {
  auto bad = [](const std::string& what) { return fail(ErrorCode::kInvalidArgument, "[sampling] " + what); };
  if (!(temperature >= 0.0f)) return bad("temperature " + std::to_string(temperature) + ", expected >= 0");
  if (!(top_p > 0.0f && top_p <= 1.0f)) return bad("top_p " + std::to_string(top_p) + ", expected in (0, 1]");
  if (!(min_p >= 0.0f && min_p <= 1.0f)) return bad("min_p " + std::to_string(min_p) + ", expected in [0, 1]");
  if (!(repeat_penalty > 0.0f)) return bad("repeat_penalty " + std::to_string(repeat_penalty) + ", expected > 0");
  return boost::outcome_v2::success();
}

Sampler::Sampler(const SamplingParams& params) : params_(params), rng_(params.seed) {}

TokenId Sampler::sample(std::span<float> logits, std::span<const TokenId> history) {
  if (params_.repeat_penalty != 1.0f && params_.repeat_last_n != 0) {
    const std::size_t n =
        params_.repeat_last_n < 0 ? history.size() : std::min<std::size_t>(history.size(), params_.repeat_last_n);
    std::unordered_set<TokenId> seen(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
    for (TokenId id : seen) {
      if (id < 0 || static_cast<std::size_t>(id) >= logits.size()) continue;
      float& l = logits[static_cast<std::size_t>(id)];
      l = l > 0.0f ? l / params_.repeat_penalty : l * params_.repeat_penalty;
    }
  }
  if (params_.temperature <= 0.0f) return static_cast<TokenId>(backend::cpu::argmax(logits));

  candidates_.clear();
  for (std::size_t i = 0; i < logits.size(); ++i) candidates_.push_back({static_cast<TokenId>(i), logits[i], 0.0f});
  auto by_logit = [](const Candidate& a, const Candidate& b) {
    return a.logit > b.logit || (a.logit == b.logit && a.id < b.id);
  };
  std::size_t keep = candidates_.size();
  if (params_.top_k > 0 && static_cast<std::size_t>(params_.top_k) < keep)
    keep = static_cast<std::size_t>(params_.top_k);
  std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                    by_logit);
  candidates_.resize(keep);

  auto softmax = [&](float temperature) {
    const float max = candidates_.front().logit;
    double sum = 0.0;
    for (Candidate& c : candidates_) {
      c.p = std::exp((c.logit - max) / temperature);
      sum += c.p;
    }
    for (Candidate& c : candidates_) c.p = static_cast<float>(c.p / sum);
  };
  softmax(1.0f);
  if (params_.top_p < 1.0f) {
    double cumulative = 0.0;
    std::size_t n = 0;
    while (n < candidates_.size()) {
      cumulative += candidates_[n++].p;
      if (cumulative >= params_.top_p) break;
    }
    candidates_.resize(n);
  }
  if (params_.min_p > 0.0f) {
    const float threshold = params_.min_p * candidates_.front().p;
    std::size_t n = 1;
    while (n < candidates_.size() && candidates_[n].p >= threshold) ++n;
    candidates_.resize(n);
  }
  softmax(params_.temperature);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  double r = uniform(rng_);
  for (const Candidate& c : candidates_) {
    r -= c.p;
    if (r <= 0.0) return c.id;
  }
  return candidates_.back().id;
}

}  // namespace edge_rt::runtime
