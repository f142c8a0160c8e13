// Model / Session: one model shared by sessions on several threads, multi-turn appends, truncate, cancellation and
// the session budget. Each check compares against a fresh InferenceEngine run of the same tokens.
#include "run_options.hpp"

#include <edge_rt/runtime/engine.hpp>
#include <edge_rt/runtime/session.hpp>

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>

namespace edge_rt::runtime {
namespace {

using test_support::greedy;
using test_support::stories_options;

using memory_manager::MemoryBudget;

static_assert(!std::is_copy_constructible_v<Session>);
static_assert(std::is_nothrow_move_constructible_v<Session>);
static_assert(std::is_copy_constructible_v<Model>);  // a shared handle

// What a fresh single-session engine generates after exactly `tokens` (no BOS added).
std::vector<TokenId> fresh_run(const EngineOptions& o, std::span<const TokenId> tokens, const GenerateOptions& g) {
  auto planned = InferenceEngine<Idle>::create().load_model(o);
  EXPECT_TRUE(planned) << planned.error().message;
  auto engine = std::move(planned).value().prepare();
  EXPECT_TRUE(engine) << engine.error().message;
  GenerateOptions no_bos = g;
  no_bos.add_bos = false;
  auto r = engine.value().generate(tokens, no_bos);
  EXPECT_TRUE(r) << r.error().message;
  return r ? r.value().generated_tokens : std::vector<TokenId>{};
}

// The smallest budget for which the planner streams stories260K, with the prefetch thread.
EngineOptions streamed_options(std::size_t n_sessions) {
  EngineOptions o = stories_options();
  o.strategy = "speculative-prefetch";
  o.n_sessions = n_sessions;
  EngineOptions unlimited = o;
  unlimited.n_sessions = 1;
  auto probe = InferenceEngine<Idle>::create().load_model(unlimited);
  const std::uint64_t minimum = probe.value().plan().minimum_budget_bytes;
  const std::uint64_t session = probe.value().plan().buffers.reserved_bytes(probe.value().plan().geometry);
  o.budget = MemoryBudget::from_bytes(minimum + minimum / 4 + (n_sessions - 1) * session).value();
  return o;
}

TEST(Session, TwoSessionsOnTwoThreadsGiveTheTokensOfSeparateRunsInOneBudget) {
  for (const EngineOptions& o : {stories_options(), streamed_options(2)}) {
    auto model = Model::load(o);
    ASSERT_TRUE(model) << model.error().message;
    const auto& tok = *model.value().tokenizer();
    const std::vector<TokenId> bos = {*model.value().bos_id()};
    std::vector<TokenId> prompt_a = bos, prompt_b = bos;
    for (TokenId t : tok.encode("Lily went to the park")) prompt_a.push_back(t);
    for (TokenId t : tok.encode("Tom had a red ball")) prompt_b.push_back(t);
    GenerateOptions sampled = greedy(40);
    sampled.sampling.temperature = 0.8f;
    sampled.sampling.seed = 7;
    const auto want_a = fresh_run(o, prompt_a, greedy(40));
    const auto want_b = fresh_run(o, prompt_b, sampled);
    const bool streams = !model.value().plan().all_resident();
    EXPECT_EQ(streams, o.strategy == "speculative-prefetch");

    auto a = Session::create(model.value());
    auto b = Session::create(model.value());
    ASSERT_TRUE(a) << a.error().message;
    ASSERT_TRUE(b) << b.error().message;
    std::vector<TokenId> got_a, got_b;
    auto run = [](Session& s, std::span<const TokenId> prompt, const GenerateOptions& g, std::vector<TokenId>& out) {
      for (int round = 0; round < 3; ++round) {  // several calls each, so the threads' passes interleave
        s.truncate(0);
        ASSERT_TRUE(s.append(prompt));
        auto r = s.generate(g);
        ASSERT_TRUE(r) << r.error().message;
        if (round > 0) {
          EXPECT_EQ(r.value().generated_tokens, out);
        }
        out = r.value().generated_tokens;
      }
    };
    std::thread ta([&] { run(a.value(), prompt_a, greedy(40), got_a); });
    std::thread tb([&] { run(b.value(), prompt_b, sampled, got_b); });
    ta.join();
    tb.join();
    EXPECT_EQ(got_a, want_a) << "streams " << streams;
    EXPECT_EQ(got_b, want_b) << "streams " << streams;
    // One copy of the weights: the pool's peak is the weights' planned peak plus the two sessions, within budget.
    const partition_planner::ExecutionPlan& plan = model.value().plan();
    const std::uint64_t weights = plan.peak_bytes - plan.buffers.reserved_bytes(plan.geometry);
    const memory_manager::PoolStats pool = model.value().pool_stats();
    EXPECT_LE(pool.peak_reserved_bytes, weights + a.value().reserved_bytes() + b.value().reserved_bytes());
    EXPECT_LE(pool.peak_reserved_bytes, o.budget.bytes());
  }
}

// A session that appends turn after turn generates what a fresh run of the whole conversation does, and each
// append evaluates only the new tokens (plus the last reply's pending token).
TEST(Session, AppendedTurnsEqualAFreshRunAndPrefillOnlyTheNewTokens) {
  auto model = Model::load(stories_options());
  ASSERT_TRUE(model) << model.error().message;
  const auto& tok = *model.value().tokenizer();
  auto s = Session::create(model.value());
  ASSERT_TRUE(s);
  Session& session = s.value();
  std::vector<TokenId> conversation = {*model.value().bos_id()};
  bool first = true;
  for (const char* turn : {"Lily went to the park.", " She saw a big dog.", " The dog was happy."}) {
    std::vector<TokenId> text = first ? conversation : std::vector<TokenId>{};
    for (TokenId t : tok.encode(turn)) text.push_back(t);
    const std::size_t pending = session.tokens().size() - session.n_past();
    auto appended = session.append(text);
    ASSERT_TRUE(appended) << appended.error().message;
    EXPECT_EQ(appended.value().n_evaluated, text.size() + pending);
    EXPECT_EQ(pending, first ? 0u : 1u);
    if (first) {
      conversation = text;
    } else {
      conversation.insert(conversation.end(), text.begin(), text.end());
    }
    ASSERT_EQ(std::vector<TokenId>(session.tokens().begin(), session.tokens().end()), conversation);
    auto reply = session.generate(greedy(10));
    ASSERT_TRUE(reply) << reply.error().message;
    EXPECT_EQ(reply.value().metrics.n_prompt_tokens, 0u);  // the append evaluated everything
    EXPECT_EQ(reply.value().generated_tokens, fresh_run(stories_options(), conversation, greedy(10))) << turn;
    conversation.insert(conversation.end(), reply.value().generated_tokens.begin(),
                        reply.value().generated_tokens.end());
    first = false;
  }
  // truncate rewinds: generating again from a cut conversation equals a fresh run of that prefix, and only the
  // last kept token is evaluated again (for its logits).
  const std::size_t cut = 9;
  session.truncate(cut);
  EXPECT_EQ(session.tokens().size(), cut);
  EXPECT_EQ(session.n_past(), cut);
  auto again = session.generate(greedy(10));
  ASSERT_TRUE(again);
  EXPECT_EQ(again.value().metrics.n_prompt_tokens, 1u);
  EXPECT_EQ(again.value().metrics.n_reused_tokens, cut - 1);
  EXPECT_EQ(again.value().generated_tokens,
            fresh_run(stories_options(), std::span(conversation).first(cut), greedy(10)));
  session.truncate(1000);  // past the end: nothing changes
  EXPECT_EQ(session.tokens().size(), cut + 10);
}

// The abort callback is polled before every weight group and unit; once it says stop, the call returns at once with
// kCancelled, and the session continues as if the call had not happened. Streamed, so the prefetch thread is
// cancelled mid-pass too.
TEST(Session, CancellationReturnsWithinOneGroupAndLeavesTheSessionUsable) {
  for (const EngineOptions& o : {stories_options(), streamed_options(1)}) {
    auto model = Model::load(o);
    ASSERT_TRUE(model) << model.error().message;
    const std::size_t groups = model.value().plan().groups.size();
    if (o.strategy == "speculative-prefetch") {
      EXPECT_FALSE(model.value().plan().all_resident());
      EXPECT_GT(model.value().plan().prefetch_depth, 0u);
    }
    auto s = Session::create(model.value(), SessionOptions{.n_ctx = 128, .n_batch = 4});
    ASSERT_TRUE(s);
    Session& session = s.value();
    std::vector<TokenId> prompt = {*model.value().bos_id()};
    for (TokenId t : model.value().tokenizer()->encode("Once upon a time there was a little girl named Lily")) {
      prompt.push_back(t);
    }
    ASSERT_GT(prompt.size(), 8u);  // several prefill passes

    // Polls in one pass (one per group and per unit), counted on a one-token pass of a scratch session.
    std::size_t per_pass = 0;
    {
      auto probe = Session::create(model.value(), SessionOptions{.n_ctx = 8, .n_batch = 1});
      ASSERT_TRUE(probe);
      GenerateOptions count;
      count.abort = [&] {
        ++per_pass;
        return false;
      };
      ASSERT_TRUE(probe.value().append(std::vector<TokenId>{prompt[0]}, count));
    }
    ASSERT_GE(per_pass, groups);
    // Cancel in the middle of the second prefill pass: polls stop at the one that said so.
    const std::size_t stop_at = per_pass + per_pass / 2;
    std::size_t polls = 0, polls_after = 0;
    bool cancelled = false;
    GenerateOptions g = greedy(12);
    g.abort = [&] {
      if (cancelled) ++polls_after;
      cancelled = cancelled || ++polls == stop_at;
      return cancelled;
    };
    auto stopped = session.append(prompt, g);
    ASSERT_FALSE(stopped);
    EXPECT_EQ(stopped.error().code, ErrorCode::kCancelled) << stopped.error().message;
    EXPECT_EQ(polls, stop_at);
    EXPECT_EQ(polls_after, 0u);
    EXPECT_TRUE(session.tokens().empty());
    EXPECT_EQ(session.n_past(), 0u);

    // The same session, not cancelled: the tokens of a fresh run.
    const auto want = fresh_run(o, prompt, greedy(12));
    ASSERT_TRUE(session.append(prompt));
    auto r = session.generate(greedy(12));
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r.value().generated_tokens, want);

    // Cancel during decode: the tokens handed out so far stay; generating on continues the same greedy text.
    session.truncate(prompt.size());
    std::size_t handed = 0;
    GenerateOptions stop_later = greedy(12);
    stop_later.abort = [&] { return handed == 5; };
    auto partial = session.generate(stop_later, [&](TokenId) {
      ++handed;
      return true;
    });
    ASSERT_FALSE(partial);
    EXPECT_EQ(partial.error().code, ErrorCode::kCancelled);
    ASSERT_EQ(session.tokens().size(), prompt.size() + 5);
    auto rest = session.generate(greedy(7));
    ASSERT_TRUE(rest) << rest.error().message;
    std::vector<TokenId> joined(session.tokens().begin() + static_cast<std::ptrdiff_t>(prompt.size()),
                                session.tokens().end());
    EXPECT_EQ(joined, want);
  }
}

// Sessions share the budget: one that does not fit is refused with what it needs, and fits once another goes.
TEST(Session, ASessionBeyondTheBudgetIsRefusedWithTheMinimumItNeeds) {
  const EngineOptions o = streamed_options(1);
  auto model = Model::load(o);
  ASSERT_TRUE(model) << model.error().message;
  const std::uint64_t need = model.value().session_bytes(128, 128).value();
  EXPECT_GE(model.value().free_session_bytes(), need);
  auto first = Session::create(model.value());
  ASSERT_TRUE(first) << first.error().message;
  EXPECT_LT(model.value().free_session_bytes(), need);
  auto second = Session::create(model.value());
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, ErrorCode::kBudgetExceeded);
  EXPECT_NE(second.error().message.find("minimum budget"), std::string::npos) << second.error().message;
  // A smaller context fits in what is left exactly when free_session_bytes() says so.
  const std::uint64_t small = model.value().session_bytes(8, 8).value();
  const bool small_fits = small <= model.value().free_session_bytes();  // before the create below takes it
  EXPECT_EQ(Session::create(model.value(), {.n_ctx = 8, .n_batch = 8}).has_value(), small_fits);
  // Once the first session is gone, its bytes are free again.
  std::optional<Session> holder(std::move(first).value());
  holder.reset();
  EXPECT_GE(model.value().free_session_bytes(), need);
  auto later = Session::create(model.value());
  ASSERT_TRUE(later) << later.error().message;

  // Bad sizes.
  EXPECT_EQ(Session::create(model.value(), {.n_ctx = 1 << 20}).error().code, ErrorCode::kContextOverflow);
  EXPECT_EQ(Session::create(model.value(), {.n_ctx = 8, .n_batch = 9}).error().code, ErrorCode::kInvalidArgument);
  // Planning for two sessions leaves room for the second.
  auto two = Model::load(streamed_options(2));
  ASSERT_TRUE(two) << two.error().message;
  auto s1 = Session::create(two.value());
  auto s2 = Session::create(two.value());
  EXPECT_TRUE(s1 && s2) << (s2 ? "" : s2.error().message);
  EngineOptions zero = o;
  zero.n_sessions = 0;
  EXPECT_EQ(Model::load(zero).error().code, ErrorCode::kInvalidArgument);
}

// A session keeps its model alive: the model handle may go first.
TEST(Session, OutlivesItsModelHandle) {
  std::optional<Session> s;
  std::vector<TokenId> prompt;
  {
    auto model = Model::load(stories_options());
    ASSERT_TRUE(model);
    prompt = {*model.value().bos_id()};
    auto created = Session::create(model.value());
    ASSERT_TRUE(created);
    s.emplace(std::move(created).value());
  }
  ASSERT_TRUE(s->append(prompt));
  auto r = s->generate(greedy(8));
  ASSERT_TRUE(r);
  EXPECT_EQ(r.value().generated_tokens, fresh_run(stories_options(), prompt, greedy(8)));
  Session empty = Session::create(s->model()).value();
  EXPECT_EQ(empty.generate(greedy(1)).error().code, ErrorCode::kInvalidArgument);  // nothing appended
  EXPECT_EQ(empty.append(std::vector<TokenId>{-1}).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(empty.append(std::vector<TokenId>(129, 1)).error().code, ErrorCode::kContextOverflow);
  EXPECT_TRUE(empty.tokens().empty());
}

}  // namespace
}  // namespace edge_rt::runtime
