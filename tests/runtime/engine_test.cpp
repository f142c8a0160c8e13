#include "run_options.hpp"

#include <edge_rt/runtime/engine.hpp>

#include <gtest/gtest.h>

#include <string>

namespace edge_rt::runtime {
namespace {

using test_support::greedy;
using test_support::stories_options;

using memory_manager::MemoryBudget;

// Misuse of the type-states does not compile.
template <class E>
concept CanGenerate = requires(E& e, std::span<const TokenId> p) {
  e.generate(p, GenerateOptions{});
};
template <class E>
concept CanPrepareLvalue = requires(E& e) {
  e.prepare();
};
template <class E>
concept CanPrepare = requires(E e) {
  std::move(e).prepare();
};
template <class E>
concept CanLoadLvalue = requires(E& e) {
  e.load_model(EngineOptions{});
};
template <class E>
concept HasPlan = requires(const E& e) {
  e.plan();
};
static_assert(!CanGenerate<InferenceEngine<Idle>>);
static_assert(!CanGenerate<InferenceEngine<Planned>>);
static_assert(CanGenerate<InferenceEngine<Ready>>);
static_assert(CanPrepare<InferenceEngine<Planned>>);
static_assert(!CanPrepareLvalue<InferenceEngine<Planned>>);  // transitions consume the engine
static_assert(!CanPrepare<InferenceEngine<Ready>>);
static_assert(!CanLoadLvalue<InferenceEngine<Idle>>);
static_assert(!HasPlan<InferenceEngine<Idle>>);
static_assert(!std::is_copy_constructible_v<InferenceEngine<Ready>>);
static_assert(std::is_nothrow_move_constructible_v<InferenceEngine<Ready>>);

const std::string kShared = EDGE_RT_SHARED_MODELS_DIR;

Result<InferenceEngine<Ready>> make_engine(EngineOptions options) {
  EDGE_RT_TRY(auto planned, InferenceEngine<Idle>::create().load_model(options));
  return std::move(planned).prepare();
}

// A monitor's RunControl: fewer threads and paced decoding mid-generation give the same tokens, and the metrics
// say what happened.
TEST(Engine, RunControlLowersThreadsAndPacesWithoutChangingTokens) {
  EngineOptions o = stories_options();
  o.n_threads = 3;
  auto engine = make_engine(o);
  ASSERT_TRUE(engine) << engine.error().message;
  const auto baseline = engine.value().generate({}, greedy(20));
  ASSERT_TRUE(baseline) << baseline.error().message;
  EXPECT_EQ(baseline.value().metrics.min_threads, 3u);
  EXPECT_EQ(baseline.value().metrics.paced_ms, 0.0);

  RunControl control;
  GenerateOptions g = greedy(20);
  g.control = &control;
  std::size_t seen = 0;
  auto adjusted = engine.value().generate({}, g, [&](TokenId) {
    if (++seen == 5) {  // as a monitor thread would, between two passes
      control.max_threads = 1;
      control.pace_ms = 2;
    }
    if (seen == 12) control.max_threads = 2;
    return true;
  });
  ASSERT_TRUE(adjusted) << adjusted.error().message;
  EXPECT_EQ(adjusted.value().generated_tokens, baseline.value().generated_tokens);
  EXPECT_EQ(adjusted.value().metrics.min_threads, 1u);
  EXPECT_EQ(adjusted.value().metrics.paced_ms, 2.0 * 15);  // passes after tokens 5..19
  control.max_threads = 99;                                // above the configured count: capped at 3
  control.pace_ms = 0;
  auto capped = engine.value().generate({}, g);
  ASSERT_TRUE(capped);
  EXPECT_EQ(capped.value().metrics.min_threads, 3u);
}

// llama2.c's published stories260K sample, greedy from BOS.
TEST(Engine, ReproducesTheLlama2cSampleFromBos) {
  auto engine = make_engine(stories_options());
  ASSERT_TRUE(engine) << engine.error().message;
  auto result = engine.value().generate({}, greedy(110));
  ASSERT_TRUE(result) << result.error().message;
  EXPECT_EQ(result.value().generated_tokens.size(), 110u);
  ASSERT_EQ(result.value().input_tokens, std::vector<TokenId>{1});  // BOS
  const std::string text = engine.value().tokenizer()->decode(result.value().generated_tokens);
  EXPECT_EQ(text.rfind("Once upon a time, there was a little girl named Lily. She loved to play outside in the "
                       "park. One day, she saw a big, red ball.",
                       0),
            0u)
      << text;
}

TEST(Engine, EveryStrategyAndBudgetGivesTheSameTokensWithinBudget) {
  auto reference = make_engine(stories_options());
  ASSERT_TRUE(reference);
  const auto* tok = reference.value().tokenizer();
  const auto prompt = tok->encode("Lily and Tom went to the park");
  auto baseline = reference.value().generate(prompt, greedy(30));
  ASSERT_TRUE(baseline);

  for (std::string_view strategy : partition_planner::strategy_names()) {
    EngineOptions probe = stories_options();
    probe.strategy = std::string(strategy);
    probe.budget = MemoryBudget::from_bytes(1).value();
    auto refused = InferenceEngine<Idle>::create().load_model(probe);
    ASSERT_FALSE(refused);
    ASSERT_EQ(refused.error().code, ErrorCode::kBudgetExceeded);
    // The minimum from an unlimited plan.
    probe.budget = MemoryBudget::unlimited();
    const std::uint64_t minimum = InferenceEngine<Idle>::create().load_model(probe).value().plan().minimum_budget_bytes;
    for (std::uint64_t b : {minimum, minimum + minimum / 3, 2 * minimum, 8 * minimum}) {
      EngineOptions o = stories_options();
      o.strategy = std::string(strategy);
      o.budget = MemoryBudget::from_bytes(b).value();
      auto engine = make_engine(o);
      ASSERT_TRUE(engine) << strategy << " at " << b << ": " << engine.error().message;
      auto r = engine.value().generate(prompt, greedy(30));
      ASSERT_TRUE(r) << r.error().message;
      EXPECT_EQ(r.value().generated_tokens, baseline.value().generated_tokens) << strategy << " at " << b;
      EXPECT_LE(r.value().metrics.peak_pool_bytes, b) << strategy << " at " << b;
      if (!engine.value().plan().all_resident()) {
        // Streaming reads the streamed groups again on every forward pass: 29 decode passes + the prefill.
        const std::uint64_t per_token = engine.value().streamed_bytes_per_token();
        EXPECT_GE(r.value().metrics.weight_bytes_loaded, 29 * per_token);
        ASSERT_EQ(r.value().passes.size(), 30u);
        // Without prefetch a pass reads exactly its plan; with it, reads run ahead into the next pass.
        if (engine.value().plan().prefetch_depth == 0) {
          EXPECT_EQ(r.value().passes.back().bytes_read, per_token);
        }
      }
    }
  }
}

TEST(Engine, ResidentPlansLoadWeightsOnce) {
  auto engine = make_engine(stories_options());
  ASSERT_TRUE(engine);
  auto r = engine.value().generate({}, greedy(10));
  ASSERT_TRUE(r);
  EXPECT_TRUE(engine.value().plan().all_resident());
  EXPECT_EQ(r.value().metrics.weight_bytes_loaded, 0u);  // loaded in prepare()
}

TEST(Engine, ChunkedPrefillEqualsWholePrefill) {
  EngineOptions whole = stories_options();
  EngineOptions chunked = stories_options();
  chunked.n_batch = 3;
  auto a = make_engine(whole);
  auto b = make_engine(chunked);
  ASSERT_TRUE(a && b);
  const auto prompt = a.value().tokenizer()->encode("The cat sat on the mat. It was a sunny day");
  GenerateOptions g = greedy(20);
  g.all_logits = true;
  auto ra = a.value().generate(prompt, g);
  auto rb = b.value().generate(prompt, g);
  ASSERT_TRUE(ra && rb);
  EXPECT_EQ(ra.value().generated_tokens, rb.value().generated_tokens);
  ASSERT_EQ(ra.value().logits.size(), prompt.size() + 1);
  ASSERT_EQ(rb.value().logits.size(), prompt.size() + 1);
  for (std::size_t i = 0; i < ra.value().logits.size(); ++i) {
    for (std::size_t v = 0; v < ra.value().logits[i].size(); ++v) {
      EXPECT_NEAR(ra.value().logits[i][v], rb.value().logits[i][v], 1e-4);
    }
  }
}

// A chat resends the whole conversation each turn: with reuse_kv only the positions past the cached prefix are
// evaluated, and the tokens equal those of a fresh engine running the same input.
TEST(Engine, ReusedKvCacheGivesTheTokensOfAFreshRun) {
  auto chat = make_engine(stories_options());
  auto fresh = make_engine(stories_options());
  ASSERT_TRUE(chat && fresh);
  const auto& tok = *chat.value().tokenizer();
  GenerateOptions g = greedy(12);
  g.reuse_kv = true;
  const auto turn1 = tok.encode("Lily went to the park.");
  auto r1 = chat.value().generate(turn1, g);
  ASSERT_TRUE(r1) << r1.error().message;
  EXPECT_EQ(r1.value().metrics.n_reused_tokens, 0u);

  // Turn 2: BOS + turn 1 + its reply (minus the last token, never evaluated) + new text.
  std::vector<TokenId> turn2 = turn1;
  turn2.insert(turn2.end(), r1.value().generated_tokens.begin(), r1.value().generated_tokens.end() - 1);
  const auto more = tok.encode(" She saw a dog.");
  turn2.insert(turn2.end(), more.begin(), more.end());
  auto r2 = chat.value().generate(turn2, g);
  ASSERT_TRUE(r2) << r2.error().message;
  const std::size_t input = turn2.size() + 1;  // BOS
  EXPECT_EQ(r2.value().metrics.n_reused_tokens, input - more.size());
  EXPECT_EQ(r2.value().metrics.n_prompt_tokens, more.size());
  GenerateOptions plain = greedy(12);
  auto f2 = fresh.value().generate(turn2, plain);
  ASSERT_TRUE(f2);
  EXPECT_EQ(r2.value().generated_tokens, f2.value().generated_tokens);

  // A diverging history evaluates from the first difference; the same input again re-evaluates only its last token.
  auto r3 = chat.value().generate(more, g);
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3.value().metrics.n_reused_tokens, 1u);  // BOS
  auto r4 = chat.value().generate(more, g);
  ASSERT_TRUE(r4);
  EXPECT_EQ(r4.value().metrics.n_reused_tokens, more.size());
  EXPECT_EQ(r4.value().metrics.n_prompt_tokens, 1u);
  EXPECT_EQ(r4.value().generated_tokens, r3.value().generated_tokens);

  // Without reuse_kv the cache restarts; all_logits cannot reuse.
  auto r5 = chat.value().generate(more, plain);
  ASSERT_TRUE(r5);
  EXPECT_EQ(r5.value().metrics.n_reused_tokens, 0u);
  GenerateOptions both = g;
  both.all_logits = true;
  EXPECT_EQ(chat.value().generate(more, both).error().code, ErrorCode::kInvalidArgument);
}

TEST(Engine, AddBosAndStopIdsOverrideTheModel) {
  auto e = make_engine(stories_options());
  ASSERT_TRUE(e);
  const auto prompt = e.value().tokenizer()->encode("Once upon a time");
  GenerateOptions g = greedy(8);
  g.add_bos = false;
  auto no_bos = e.value().generate(prompt, g);
  ASSERT_TRUE(no_bos);
  EXPECT_EQ(no_bos.value().input_tokens, prompt);
  EXPECT_EQ(e.value().generate({}, g).error().code, ErrorCode::kInvalidArgument);  // nothing to run

  auto base = e.value().generate(prompt, greedy(8));
  ASSERT_TRUE(base);
  const auto& gen = base.value().generated_tokens;
  // The first position whose token did not come before: stopping there keeps exactly the tokens before it.
  std::size_t k = 1;
  while (k < gen.size() && std::find(gen.begin(), gen.begin() + static_cast<std::ptrdiff_t>(k), gen[k]) !=
                               gen.begin() + static_cast<std::ptrdiff_t>(k)) {
    ++k;
  }
  ASSERT_LT(k, gen.size());
  GenerateOptions stop = greedy(8);
  stop.stop_ids = {gen[k]};
  auto stopped = e.value().generate(prompt, stop);
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped.value().stop_reason, StopReason::kEos);
  EXPECT_EQ(stopped.value().generated_tokens,
            std::vector<TokenId>(gen.begin(), gen.begin() + static_cast<std::ptrdiff_t>(k)));
}

TEST(Engine, StopsAtEosAndAtTheCallback) {
  EngineOptions o;
  o.model_dir = kShared + "/capp-gpt2-tiny";
  o.n_ctx = 64;
  auto engine = make_engine(o);
  ASSERT_TRUE(engine) << engine.error().message;
  EXPECT_EQ(engine.value().tokenizer(), nullptr);  // this model ships no text tokenizer
  const std::vector<TokenId> prompt = {0, 7, 15, 17, 21, 25, 49};
  auto r = engine.value().generate(prompt, greedy(30));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().stop_reason, StopReason::kEos);
  EXPECT_LT(r.value().generated_tokens.size(), 30u);
  EXPECT_EQ(r.value().input_tokens, prompt);  // GPT-2: no BOS added

  int calls = 0;
  auto stopped = engine.value().generate(prompt, greedy(30), [&](TokenId) { return ++calls < 2; });
  ASSERT_TRUE(stopped);
  EXPECT_EQ(stopped.value().stop_reason, StopReason::kCallback);
  EXPECT_EQ(stopped.value().generated_tokens.size(), 2u);
}

TEST(Engine, BadInputsAreErrors) {
  auto engine = make_engine(stories_options());
  ASSERT_TRUE(engine);
  const std::vector<TokenId> outside = {5, 512};
  auto r1 = engine.value().generate(outside, greedy(5));
  ASSERT_FALSE(r1);
  EXPECT_EQ(r1.error().code, ErrorCode::kInvalidArgument);
  const std::vector<TokenId> negative = {-1};
  EXPECT_FALSE(engine.value().generate(negative, greedy(5)));
  const std::vector<TokenId> too_long(200, 300);
  auto r2 = engine.value().generate(too_long, greedy(5));
  ASSERT_FALSE(r2);
  EXPECT_EQ(r2.error().code, ErrorCode::kContextOverflow);
  GenerateOptions bad = greedy(5);
  bad.sampling.temperature = -1.0f;
  auto r3 = engine.value().generate({}, bad);
  ASSERT_FALSE(r3);
  EXPECT_EQ(r3.error().code, ErrorCode::kInvalidArgument);

  EngineOptions no_bos;
  no_bos.model_dir = kShared + "/capp-gpt2-tiny";
  no_bos.n_ctx = 16;
  auto capp = make_engine(no_bos);
  ASSERT_TRUE(capp);
  auto r4 = capp.value().generate({}, greedy(5));
  ASSERT_FALSE(r4);
  EXPECT_EQ(r4.error().code, ErrorCode::kInvalidArgument);

  EngineOptions missing;
  missing.model_dir = kShared + "/does-not-exist";
  auto r5 = InferenceEngine<Idle>::create().load_model(missing);
  ASSERT_FALSE(r5);
  EXPECT_EQ(r5.error().code, ErrorCode::kIoError);

  EngineOptions ctx = stories_options();
  ctx.n_ctx = 100000;
  auto r6 = InferenceEngine<Idle>::create().load_model(ctx);
  ASSERT_FALSE(r6);
  EXPECT_EQ(r6.error().code, ErrorCode::kContextOverflow);
}

TEST(Engine, ContextFullStopsGeneration) {
  EngineOptions o = stories_options();
  o.n_ctx = 12;
  auto engine = make_engine(o);
  ASSERT_TRUE(engine);
  auto r = engine.value().generate({}, greedy(100));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().stop_reason, StopReason::kContextFull);
  EXPECT_EQ(r.value().generated_tokens.size(), 12u);  // BOS + 11 decoded positions fill 12 slots, + the last sample
}

}  // namespace
}  // namespace edge_rt::runtime
