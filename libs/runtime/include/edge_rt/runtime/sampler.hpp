#pragma once
// Token sampling from logits, in llama.cpp's order: repetition penalty, top-k, top-p, min-p, temperature, draw.

#include <edge_rt/core/result.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <cstdint>
#include <random>
#include <span>
#include <vector>

namespace edge_rt::runtime {

using tokenizer::TokenId;

/// Copyable value. Defaults follow llama.cpp's CLI.
struct SamplingParams {
  float temperature = 0.8f;     ///< <= 0 means greedy (argmax, first on ties); the other fields are then ignored.
  std::int32_t top_k = 40;      ///< Keep the k most likely tokens; <= 0 keeps all.
  float top_p = 0.95f;          ///< Nucleus (Holtzman et al. 2019): smallest set with probability >= p; 1 keeps all.
  float min_p = 0.05f;          ///< Drop tokens with probability < min_p x the top probability; 0 keeps all.
  float repeat_penalty = 1.0f;  ///< CTRL-style (Keskar et al. 2019): logit / r if > 0 else logit x r; 1 disables.
  std::int32_t repeat_last_n = 64;  ///< Tokens of history the penalty looks at.
  std::uint64_t seed = 0;

  /// Errors: kInvalidArgument for a negative temperature, top_p outside (0, 1], min_p outside [0, 1],
  /// repeat_penalty <= 0.
  Result<void> validate() const;
};

/// Move-only (owns the random generator). Not thread-safe.
class Sampler final {
 public:
  /// Precondition: params.validate() succeeded.
  explicit Sampler(const SamplingParams& params);

  /// Picks the next token. logits: [vocab], modified in place (penalty). history: tokens so far (prompt included).
  TokenId sample(std::span<float> logits, std::span<const TokenId> history);

 private:
  struct Candidate {
    TokenId id;
    float logit;
    float p;
  };
  SamplingParams params_;
  std::mt19937_64 rng_;
  std::vector<Candidate> candidates_;
};

}  // namespace edge_rt::runtime
