// The C API through libedge_rt.so: generation against the default model's known text, sessions on threads,
// multi-turn appends, cancellation, stop strings, piece-by-piece detokenizing and misuse. Runs under ASan and TSan.
#include <edge_rt/edge_rt.h>

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

const char* const kModel = EDGE_RT_DEFAULT_MODEL_DIR;

struct ModelHandle {
  edge_rt_model* m = nullptr;
  ~ModelHandle() {
    if (m) edge_rt_model_free(m);
  }
};
struct SessionHandle {
  edge_rt_session* s = nullptr;
  ~SessionHandle() {
    if (s) edge_rt_session_free(s);
  }
};

edge_rt_model* load(const edge_rt_model_params* params = nullptr) {
  edge_rt_model* m = nullptr;
  const edge_rt_status st = edge_rt_model_load(kModel, params, &m);
  EXPECT_EQ(st, EDGE_RT_OK) << edge_rt_last_error();
  return m;
}

std::vector<edge_rt_token> tokenize(const edge_rt_model* m, const std::string& text, bool add_bos) {
  std::size_t n = 0;
  EXPECT_EQ(edge_rt_tokenize(m, text.data(), text.size(), add_bos, nullptr, 0, &n),
            text.empty() && !add_bos ? EDGE_RT_OK : EDGE_RT_ERROR_BUFFER_TOO_SMALL);
  std::vector<edge_rt_token> ids(n);
  EXPECT_EQ(edge_rt_tokenize(m, text.data(), text.size(), add_bos, ids.data(), ids.size(), &n), EDGE_RT_OK);
  return ids;
}

struct Collected {
  std::vector<edge_rt_token> tokens;
  std::string text;
  std::size_t stop_after = 0;  // 0: never
};

int collect(void* user, edge_rt_token token, const char* text, size_t length) {
  auto* c = static_cast<Collected*>(user);
  if (token != EDGE_RT_NO_TOKEN) c->tokens.push_back(token);
  c->text.append(text, length);
  return c->stop_after != 0 && c->tokens.size() >= c->stop_after;
}

edge_rt_generate_params greedy(std::uint32_t n, Collected* out) {
  edge_rt_generate_params p = edge_rt_generate_default_params();
  p.max_tokens = n;
  p.temperature = 0;
  p.on_token = collect;
  p.on_token_user_data = out;
  return p;
}

std::string detokenize(const edge_rt_model* m, const std::vector<edge_rt_token>& ids) {
  std::size_t n = 0;
  EXPECT_EQ(edge_rt_detokenize(m, ids.data(), ids.size(), nullptr, 0, &n), EDGE_RT_ERROR_BUFFER_TOO_SMALL);
  std::string text(n + 1, '\0');
  EXPECT_EQ(edge_rt_detokenize(m, ids.data(), ids.size(), text.data(), text.size(), &n), EDGE_RT_OK);
  text.resize(n);
  return text;
}

// What one fresh session generates after `prompt`.
std::vector<edge_rt_token> fresh(edge_rt_model* m, const std::vector<edge_rt_token>& prompt, std::uint32_t n) {
  SessionHandle s;
  EXPECT_EQ(edge_rt_session_create(m, nullptr, &s.s), EDGE_RT_OK) << edge_rt_last_error();
  EXPECT_EQ(edge_rt_session_append(s.s, prompt.data(), prompt.size(), nullptr, nullptr), EDGE_RT_OK);
  Collected c;
  const edge_rt_generate_params p = greedy(n, &c);
  EXPECT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK) << edge_rt_last_error();
  return c.tokens;
}

TEST(CApi, VersionAndStatusNames) {
  EXPECT_STREQ(edge_rt_version(), EDGE_RT_VERSION_STRING);
  EXPECT_STREQ(edge_rt_status_message(EDGE_RT_CANCELLED), "cancelled");
  EXPECT_STREQ(edge_rt_status_message(static_cast<edge_rt_status>(15)), "unknown status");
}

// llama2.c's published stories260K sample, greedy from BOS, streamed as text.
TEST(CApi, GeneratesTheDefaultModelsKnownText) {
  ModelHandle m{load()};
  ASSERT_TRUE(m.m);
  edge_rt_model_info info{};
  info.struct_size = sizeof info;
  ASSERT_EQ(edge_rt_model_get_info(m.m, &info), EDGE_RT_OK);
  EXPECT_EQ(info.n_vocab, 512u);
  EXPECT_EQ(info.bos, 1);
  EXPECT_EQ(info.adds_bos, 1);
  const std::vector<edge_rt_token> prompt = tokenize(m.m, "", true);
  ASSERT_EQ(prompt, std::vector<edge_rt_token>{1});
  SessionHandle s;
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s.s), EDGE_RT_OK) << edge_rt_last_error();
  ASSERT_EQ(edge_rt_session_append(s.s, prompt.data(), prompt.size(), nullptr, nullptr), EDGE_RT_OK);
  Collected c;
  const edge_rt_generate_params p = greedy(40, &c);
  ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK) << edge_rt_last_error();
  EXPECT_EQ(c.text.rfind("Once upon a time, there was a little girl named Lily.", 0), 0u) << c.text;
  EXPECT_EQ(c.text, detokenize(m.m, c.tokens));
  edge_rt_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.stop_reason, EDGE_RT_STOP_MAX_TOKENS);
  EXPECT_EQ(metrics.n_generated_tokens, 40u);
  EXPECT_EQ(metrics.n_tokens, 41u);
  EXPECT_EQ(metrics.n_past, 40u);  // the last token is pending
  EXPECT_GT(metrics.session_bytes, 0u);
  std::vector<edge_rt_token> all(41);
  std::size_t n = 0;
  ASSERT_EQ(edge_rt_session_tokens(s.s, all.data(), all.size(), &n), EDGE_RT_OK);
  EXPECT_EQ(std::vector<edge_rt_token>(all.begin() + 1, all.end()), c.tokens);
}

// Two sessions on one model, on two threads, generate what each generates alone, within one budget.
TEST(CApi, TwoSessionsOnTwoThreadsEqualSeparateRuns) {
  edge_rt_model_params params = edge_rt_model_default_params();
  params.n_ctx = 128;
  params.n_sessions = 2;
  params.budget_bytes = 4u << 20;
  ModelHandle m{load(&params)};
  ASSERT_TRUE(m.m);
  const auto prompt_a = tokenize(m.m, "Lily went to the park", true);
  const auto prompt_b = tokenize(m.m, "Tom had a red ball", true);
  const auto want_a = fresh(m.m, prompt_a, 30);
  const auto want_b = fresh(m.m, prompt_b, 30);
  std::vector<edge_rt_token> got_a, got_b;
  auto run = [&](const std::vector<edge_rt_token>& prompt, std::vector<edge_rt_token>& out) {
    SessionHandle s;
    ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s.s), EDGE_RT_OK) << edge_rt_last_error();
    for (int round = 0; round < 3; ++round) {
      ASSERT_EQ(edge_rt_session_truncate(s.s, 0), EDGE_RT_OK);
      ASSERT_EQ(edge_rt_session_append(s.s, prompt.data(), prompt.size(), nullptr, nullptr), EDGE_RT_OK);
      Collected c;
      const edge_rt_generate_params p = greedy(30, &c);
      ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK) << edge_rt_last_error();
      out = c.tokens;
    }
    edge_rt_metrics metrics{};
    metrics.struct_size = sizeof metrics;
    ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
    EXPECT_LE(metrics.peak_pool_bytes, params.budget_bytes);
  };
  std::thread ta([&] { run(prompt_a, got_a); });
  std::thread tb([&] { run(prompt_b, got_b); });
  ta.join();
  tb.join();
  EXPECT_EQ(got_a, want_a);
  EXPECT_EQ(got_b, want_b);
}

// Turn after turn: each append prefills only its tokens (and the last reply's pending one), and the replies equal
// a fresh session's on the whole conversation.
TEST(CApi, MultiTurnAppendsPrefillOnlyNewTokens) {
  ModelHandle m{load()};
  ASSERT_TRUE(m.m);
  SessionHandle s;
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s.s), EDGE_RT_OK);
  std::vector<edge_rt_token> conversation;
  bool first = true;
  for (const char* turn : {"Lily went to the park.", " She saw a dog.", " The dog ran."}) {
    const auto ids = tokenize(m.m, turn, first);
    ASSERT_EQ(edge_rt_session_append(s.s, ids.data(), ids.size(), nullptr, nullptr), EDGE_RT_OK);
    edge_rt_metrics metrics{};
    metrics.struct_size = sizeof metrics;
    ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
    EXPECT_EQ(metrics.n_prompt_tokens, ids.size() + (first ? 0 : 1));
    conversation.insert(conversation.end(), ids.begin(), ids.end());
    Collected c;
    const edge_rt_generate_params p = greedy(8, &c);
    ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK);
    EXPECT_EQ(c.tokens, fresh(m.m, conversation, 8)) << turn;
    conversation.insert(conversation.end(), c.tokens.begin(), c.tokens.end());
    first = false;
  }
  // A chat app re-rendering the whole conversation: set_tokens keeps the shared prefix (all but the last reply's
  // pending token) and prefills the rest; a diverging history keeps only the common part.
  const auto more = tokenize(m.m, " Lily smiled.", false);
  std::vector<edge_rt_token> whole = conversation;
  whole.insert(whole.end(), more.begin(), more.end());
  ASSERT_EQ(edge_rt_session_set_tokens(s.s, whole.data(), whole.size(), nullptr, nullptr), EDGE_RT_OK);
  edge_rt_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.n_reused_tokens, conversation.size() - 1);
  EXPECT_EQ(metrics.n_prompt_tokens, more.size() + 1);
  EXPECT_EQ(metrics.n_tokens, whole.size());
  Collected c;
  const edge_rt_generate_params p = greedy(8, &c);
  ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK);
  EXPECT_EQ(c.tokens, fresh(m.m, whole, 8));
  std::vector<edge_rt_token> diverged(whole.begin(), whole.begin() + 5);
  diverged.push_back(7);
  ASSERT_EQ(edge_rt_session_set_tokens(s.s, diverged.data(), diverged.size(), nullptr, nullptr), EDGE_RT_OK);
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.n_reused_tokens, 5u);
  EXPECT_EQ(metrics.n_prompt_tokens, 1u);
  const edge_rt_token bad = -3;
  EXPECT_EQ(edge_rt_session_set_tokens(s.s, &bad, 1, nullptr, nullptr), EDGE_RT_ERROR_INVALID_ARGUMENT);
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.n_tokens, diverged.size());  // unchanged by the refused call
}

struct AbortAfter {
  std::atomic<int> polls{0};
  int limit = 0;
};
int abort_after(void* user) {
  auto* a = static_cast<AbortAfter*>(user);
  return ++a->polls >= a->limit;
}

TEST(CApi, CancelledPrefillReturnsCancelledAndTheSessionContinues) {
  edge_rt_model_params params = edge_rt_model_default_params();
  params.n_batch = 4;
  ModelHandle m{load(&params)};
  ASSERT_TRUE(m.m);
  const auto prompt = tokenize(m.m, "Once upon a time there was a little girl named Lily who loved", true);
  ASSERT_GT(prompt.size(), 8u);
  SessionHandle s;
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s.s), EDGE_RT_OK);
  AbortAfter a;
  a.limit = 5;
  EXPECT_EQ(edge_rt_session_append(s.s, prompt.data(), prompt.size(), abort_after, &a), EDGE_RT_CANCELLED);
  EXPECT_EQ(a.polls, 5);  // not polled again after it said stop
  EXPECT_NE(std::string(edge_rt_last_error()).find("cancelled"), std::string::npos) << edge_rt_last_error();
  std::size_t n = 99;
  ASSERT_EQ(edge_rt_session_tokens(s.s, nullptr, 0, &n), EDGE_RT_OK);
  EXPECT_EQ(n, 0u);  // as before the call
  ASSERT_EQ(edge_rt_session_append(s.s, prompt.data(), prompt.size(), nullptr, nullptr), EDGE_RT_OK);
  Collected c;
  edge_rt_generate_params p = greedy(12, &c);
  AbortAfter late;
  late.limit = 1000000;
  p.abort = abort_after;
  p.abort_user_data = &late;
  ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK);
  EXPECT_EQ(c.tokens, fresh(m.m, prompt, 12));
  EXPECT_GT(late.polls, 0);
  // Cancelled in decode: the metrics say so.
  Collected d;
  edge_rt_generate_params q = greedy(12, &d);
  AbortAfter soon;
  soon.limit = 3;
  q.abort = abort_after;
  q.abort_user_data = &soon;
  EXPECT_EQ(edge_rt_session_generate(s.s, &q), EDGE_RT_CANCELLED);
  edge_rt_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.stop_reason, EDGE_RT_STOP_CANCELLED);
}

TEST(CApi, StopStringsEndTheTextBeforeThem) {
  ModelHandle m{load()};
  ASSERT_TRUE(m.m);
  SessionHandle s;
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s.s), EDGE_RT_OK);
  const edge_rt_token bos = 1;
  ASSERT_EQ(edge_rt_session_append(s.s, &bos, 1, nullptr, nullptr), EDGE_RT_OK);
  Collected c;
  edge_rt_generate_params p = greedy(60, &c);
  const char* stops[] = {"little girl"};
  p.stop_strings = stops;
  p.n_stop_strings = 1;
  ASSERT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_OK) << edge_rt_last_error();
  EXPECT_EQ(c.text, "Once upon a time, there was a ");
  edge_rt_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  ASSERT_EQ(edge_rt_session_metrics(s.s, &metrics), EDGE_RT_OK);
  EXPECT_EQ(metrics.stop_reason, EDGE_RT_STOP_STRING);
  const char* empty[] = {""};
  p.stop_strings = empty;
  EXPECT_EQ(edge_rt_session_generate(s.s, &p), EDGE_RT_ERROR_INVALID_ARGUMENT);
}

// Byte tokens split a character across tokens: pieces never hold half of one, and join to the whole text.
TEST(CApi, DetokenizerPiecesAreWholeUtf8) {
  ModelHandle m{load()};
  ASSERT_TRUE(m.m);
  const std::string text = "Lily saw a ☃ and said héllo";
  const auto ids = tokenize(m.m, text, false);
  ASSERT_GT(ids.size(), text.size() / 4);
  edge_rt_detokenizer* d = nullptr;
  ASSERT_EQ(edge_rt_detokenizer_create(m.m, &d), EDGE_RT_OK);
  std::string joined;
  std::size_t held_back = 0;
  for (edge_rt_token id : ids) {
    char piece[64];
    std::size_t n = 0;
    ASSERT_EQ(edge_rt_detokenizer_push(d, id, piece, sizeof piece, &n), EDGE_RT_OK);
    if (n == 0) ++held_back;
    for (std::size_t i = 0; i < n; ++i) {  // no piece ends inside a multi-byte sequence
      const auto byte = static_cast<unsigned char>(piece[i]);
      if (i + 1 == n) {
        EXPECT_TRUE(byte < 0x80 || (byte & 0xC0) == 0x80) << id;
      }
    }
    joined.append(piece, n);
  }
  EXPECT_GT(held_back, 0u);  // the snowman is three byte tokens
  char rest[8];
  std::size_t n = 0;
  ASSERT_EQ(edge_rt_detokenizer_flush(d, rest, sizeof rest, &n), EDGE_RT_OK);
  EXPECT_EQ(n, 0u);
  EXPECT_EQ(joined, text);
  EXPECT_EQ(edge_rt_detokenizer_free(d), EDGE_RT_OK);
  EXPECT_EQ(edge_rt_detokenizer_free(d), EDGE_RT_ERROR_INVALID_HANDLE);
}

struct Reentry {
  edge_rt_session* s = nullptr;
  edge_rt_status append = EDGE_RT_OK;
  edge_rt_status free = EDGE_RT_OK;
};
int reenter(void* user, edge_rt_token, const char*, size_t) {
  auto* r = static_cast<Reentry*>(user);
  const edge_rt_token t = 5;
  r->append = edge_rt_session_append(r->s, &t, 1, nullptr, nullptr);
  r->free = edge_rt_session_free(r->s);
  return 1;
}

// NULL, freed and foreign handles, wrong struct sizes, short buffers, bad ids, busy sessions: error statuses with
// messages, never a crash.
TEST(CApi, MisuseReturnsErrorStatuses) {
  edge_rt_model* none = nullptr;
  EXPECT_EQ(edge_rt_model_load(nullptr, nullptr, &none), EDGE_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(edge_rt_model_load(kModel, nullptr, nullptr), EDGE_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(edge_rt_model_load("/nonexistent/model", nullptr, &none), EDGE_RT_ERROR_IO);
  EXPECT_NE(std::string(edge_rt_last_error()).find("/nonexistent/model"), std::string::npos) << edge_rt_last_error();
  EXPECT_EQ(none, nullptr);
  edge_rt_model_params params = edge_rt_model_default_params();
  params.struct_size = sizeof params - 4;
  EXPECT_EQ(edge_rt_model_load(kModel, &params, &none), EDGE_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_NE(std::string(edge_rt_last_error()).find("struct_size"), std::string::npos);
  params = edge_rt_model_default_params();
  params.budget_bytes = 1000;
  EXPECT_EQ(edge_rt_model_load(kModel, &params, &none), EDGE_RT_ERROR_BUDGET_EXCEEDED);
  EXPECT_NE(std::string(edge_rt_last_error()).find("minimum budget"), std::string::npos) << edge_rt_last_error();
  params = edge_rt_model_default_params();
  const int bad_fallback = 7;  // as a C caller could pass
  static_assert(sizeof params.fallback == sizeof bad_fallback);
  std::memcpy(&params.fallback, &bad_fallback, sizeof bad_fallback);
  EXPECT_EQ(edge_rt_model_load(kModel, &params, &none), EDGE_RT_ERROR_INVALID_ARGUMENT);
  params = edge_rt_model_default_params();
  params.device = "no-such-device";
  EXPECT_EQ(edge_rt_model_load(kModel, &params, &none), EDGE_RT_ERROR_INVALID_ARGUMENT);
  params = edge_rt_model_default_params();
  params.n_sessions = 0;
  EXPECT_EQ(edge_rt_model_load(kModel, &params, &none), EDGE_RT_ERROR_INVALID_ARGUMENT);

  EXPECT_EQ(edge_rt_model_free(nullptr), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_EQ(edge_rt_session_free(nullptr), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_EQ(edge_rt_session_append(nullptr, nullptr, 0, nullptr, nullptr), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_EQ(edge_rt_session_generate(nullptr, nullptr), EDGE_RT_ERROR_INVALID_HANDLE);
  edge_rt_metrics metrics{};
  metrics.struct_size = sizeof metrics;
  EXPECT_EQ(edge_rt_session_metrics(nullptr, &metrics), EDGE_RT_ERROR_INVALID_HANDLE);
  std::size_t n = 0;
  EXPECT_EQ(edge_rt_tokenize(nullptr, "a", 1, 0, nullptr, 0, &n), EDGE_RT_ERROR_INVALID_HANDLE);

  ModelHandle m{load()};
  ASSERT_TRUE(m.m);
  // A model handle is not a session handle, and the reverse.
  EXPECT_EQ(edge_rt_session_free(reinterpret_cast<edge_rt_session*>(m.m)), EDGE_RT_ERROR_INVALID_HANDLE);
  edge_rt_session* s = nullptr;
  edge_rt_session_params sp = edge_rt_session_default_params();
  sp.struct_size = 1;
  EXPECT_EQ(edge_rt_session_create(m.m, &sp, &s), EDGE_RT_ERROR_INVALID_ARGUMENT);
  sp = edge_rt_session_default_params();
  sp.n_ctx = 1u << 30;
  EXPECT_EQ(edge_rt_session_create(m.m, &sp, &s), EDGE_RT_ERROR_CONTEXT_OVERFLOW);
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s), EDGE_RT_OK);
  EXPECT_EQ(edge_rt_model_free(reinterpret_cast<edge_rt_model*>(s)), EDGE_RT_ERROR_INVALID_HANDLE);

  // Buffers and ids.
  EXPECT_EQ(edge_rt_tokenize(m.m, "hello", 5, 0, nullptr, 4, &n), EDGE_RT_ERROR_INVALID_ARGUMENT);
  edge_rt_token one[1] = {1};
  EXPECT_EQ(edge_rt_tokenize(m.m, "hello there", 11, 1, one, 1, &n), EDGE_RT_ERROR_BUFFER_TOO_SMALL);
  one[0] = 1;
  EXPECT_GT(n, 1u);
  const edge_rt_token bad[] = {1, 100000};
  EXPECT_EQ(edge_rt_session_append(s, bad, 2, nullptr, nullptr), EDGE_RT_ERROR_INVALID_ARGUMENT);
  EXPECT_EQ(edge_rt_detokenize(m.m, bad, 2, nullptr, 0, &n), EDGE_RT_ERROR_INVALID_ARGUMENT);
  Collected c;
  edge_rt_generate_params p = greedy(4, &c);
  EXPECT_EQ(edge_rt_session_generate(s, &p), EDGE_RT_ERROR_INVALID_ARGUMENT);  // nothing appended yet
  p.struct_size = 8;
  EXPECT_EQ(edge_rt_session_generate(s, &p), EDGE_RT_ERROR_INVALID_ARGUMENT);
  metrics.struct_size = 3;
  EXPECT_EQ(edge_rt_session_metrics(s, &metrics), EDGE_RT_ERROR_INVALID_ARGUMENT);
  const std::vector<edge_rt_token> long_prompt(100000, 5);
  EXPECT_EQ(edge_rt_session_append(s, long_prompt.data(), long_prompt.size(), nullptr, nullptr),
            EDGE_RT_ERROR_CONTEXT_OVERFLOW);

  // Re-entering or freeing the session from its own callback: busy.
  ASSERT_EQ(edge_rt_session_append(s, one, 1, nullptr, nullptr), EDGE_RT_OK);
  Reentry r{s};
  p = greedy(4, nullptr);
  p.on_token = reenter;
  p.on_token_user_data = &r;
  EXPECT_EQ(edge_rt_session_generate(s, &p), EDGE_RT_OK);
  EXPECT_EQ(r.append, EDGE_RT_ERROR_BUSY);
  EXPECT_EQ(r.free, EDGE_RT_ERROR_BUSY);

  // Freed handles.
  EXPECT_EQ(edge_rt_session_free(s), EDGE_RT_OK);
  EXPECT_EQ(edge_rt_session_free(s), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_EQ(edge_rt_session_append(s, one, 1, nullptr, nullptr), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_EQ(edge_rt_session_truncate(s, 0), EDGE_RT_ERROR_INVALID_HANDLE);
  EXPECT_NE(std::string(edge_rt_last_error()).find("freed"), std::string::npos);
  // A session outlives its model's handle.
  ASSERT_EQ(edge_rt_session_create(m.m, nullptr, &s), EDGE_RT_OK);
  ASSERT_EQ(edge_rt_model_free(m.m), EDGE_RT_OK);
  EXPECT_EQ(edge_rt_model_free(m.m), EDGE_RT_ERROR_INVALID_HANDLE);
  m.m = nullptr;
  const edge_rt_token bos = 1;
  ASSERT_EQ(edge_rt_session_append(s, &bos, 1, nullptr, nullptr), EDGE_RT_OK);
  Collected after;
  p = greedy(6, &after);
  EXPECT_EQ(edge_rt_session_generate(s, &p), EDGE_RT_OK);
  EXPECT_EQ(after.tokens.size(), 6u);
  EXPECT_EQ(edge_rt_session_free(s), EDGE_RT_OK);
}

}  // namespace
