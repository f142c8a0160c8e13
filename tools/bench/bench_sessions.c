/* Sessions sharing one model, through the C API: N sessions each prefill a prompt and decode T tokens, first one
 * after another on one thread, then all at once on N threads. Prints wall time, aggregate decode tok/s, the
 * model's pool peak and the process's peak RSS, so that one copy of the weights (RSS well under N x the model)
 * and how passes are shared (forward passes are serialised on the model; each uses every kernel thread) show.
 *
 * Usage: edge_rt_bench_sessions MODEL [N_SESSIONS] [TOKENS] [BUDGET_BYTES] [THREADS]
 *   (defaults 2, 64, 0 = unlimited, 0 = one per CPU) */
#define _POSIX_C_SOURCE 200809L
#include <edge_rt/edge_rt.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_SESSIONS 16

typedef struct {
  edge_rt_model* model;
  edge_rt_session* session;
  const edge_rt_token* prompt;
  size_t n_prompt;
  uint32_t tokens;
  edge_rt_status status;
  uint64_t generated;
} job;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec * 1e3 + (double)t.tv_nsec / 1e6;
}

static void* run(void* arg) {
  job* j = (job*)arg;
  edge_rt_generate_params gen = edge_rt_generate_default_params();
  edge_rt_metrics m;
  gen.max_tokens = j->tokens;
  gen.temperature = 0.0f;
  gen.stop_at_eos = 0;
  j->status = edge_rt_session_truncate(j->session, 0);
  if (j->status == EDGE_RT_OK) j->status = edge_rt_session_append(j->session, j->prompt, j->n_prompt, NULL, NULL);
  if (j->status == EDGE_RT_OK) j->status = edge_rt_session_generate(j->session, &gen);
  m.struct_size = sizeof m;
  if (j->status == EDGE_RT_OK) j->status = edge_rt_session_metrics(j->session, &m);
  if (j->status == EDGE_RT_OK) j->generated = m.n_generated_tokens;
  return NULL;
}

/* Cancellation latency: a long prefill on a thread, cancelled part way; how long after the flag it returns. */
typedef struct {
  edge_rt_session* session;
  const edge_rt_token* tokens;
  size_t n;
  atomic_int flag;
  double flagged_ms;
  double returned_ms;
  edge_rt_status status;
} cancel_job;

static int abort_when_flagged(void* user) { return atomic_load(&((cancel_job*)user)->flag); }

static void* run_cancel(void* arg) {
  cancel_job* c = (cancel_job*)arg;
  c->status = edge_rt_session_append(c->session, c->tokens, c->n, abort_when_flagged, c);
  c->returned_ms = now_ms();
  return NULL;
}

static int report(const char* mode, job* jobs, int n, double ms) {
  uint64_t generated = 0;
  int i;
  for (i = 0; i < n; ++i) {
    if (jobs[i].status != EDGE_RT_OK) {
      fprintf(stderr, "bench_sessions: %s: %s\n", edge_rt_status_message(jobs[i].status), edge_rt_last_error());
      return 0;
    }
    generated += jobs[i].generated;
  }
  printf("| %-10s | %8.0f | %8.1f |\n", mode, ms, (double)generated * 1000.0 / ms);
  return 1;
}

int main(int argc, char** argv) {
  const char* prompt_text = "Once upon a time, in a small town by the sea, there lived";
  int n = argc > 2 ? atoi(argv[2]) : 2;
  uint32_t tokens = argc > 3 ? (uint32_t)atoi(argv[3]) : 64;
  edge_rt_model_params params = edge_rt_model_default_params();
  edge_rt_model* model = NULL;
  edge_rt_model_info info;
  edge_rt_token prompt[256];
  size_t n_prompt = 0;
  job jobs[MAX_SESSIONS];
  pthread_t threads[MAX_SESSIONS];
  edge_rt_metrics m;
  struct rusage usage;
  double start;
  int i;

  if (argc < 2 || n < 1 || n > MAX_SESSIONS) {
    fprintf(stderr, "usage: edge_rt_bench_sessions MODEL [N_SESSIONS 1..16] [TOKENS] [BUDGET_BYTES] [THREADS]\n");
    return 2;
  }
  params.budget_bytes = argc > 4 ? strtoull(argv[4], NULL, 10) : 0;
  params.n_threads = argc > 5 ? atoi(argv[5]) : 0;
  params.n_ctx = 512;
  params.n_sessions = (uint32_t)n;
  if (edge_rt_model_load(argv[1], &params, &model) != EDGE_RT_OK ||
      edge_rt_tokenize(model, prompt_text, strlen(prompt_text), 1, prompt, 256, &n_prompt) != EDGE_RT_OK) {
    fprintf(stderr, "bench_sessions: %s\n", edge_rt_last_error());
    return 1;
  }
  info.struct_size = sizeof info;
  edge_rt_model_get_info(model, &info);
  for (i = 0; i < n; ++i) {
    memset(&jobs[i], 0, sizeof jobs[i]);
    jobs[i].model = model;
    jobs[i].prompt = prompt;
    jobs[i].n_prompt = n_prompt;
    jobs[i].tokens = tokens;
    if (edge_rt_session_create(model, NULL, &jobs[i].session) != EDGE_RT_OK) {
      fprintf(stderr, "bench_sessions: session %d: %s\n", i, edge_rt_last_error());
      return 1;
    }
  }
  printf("%s: %.1f MiB of weights, %s, %d sessions x (%zu prompt + %u generated tokens)\n\n", argv[1],
         (double)info.weight_bytes / 1048576.0, info.streams ? "streamed" : "resident", n, n_prompt, tokens);
  printf("| %-10s | %8s | %8s |\n|---|---|---|\n", "sessions", "wall ms", "tok/s");
  run(&jobs[0]); /* warm-up: page cache, thread pool */
  start = now_ms();
  for (i = 0; i < n; ++i) run(&jobs[i]);
  if (!report("one by one", jobs, n, now_ms() - start)) return 1;
  start = now_ms();
  for (i = 0; i < n; ++i) pthread_create(&threads[i], NULL, run, &jobs[i]);
  for (i = 0; i < n; ++i) pthread_join(threads[i], NULL);
  if (!report("threads", jobs, n, now_ms() - start)) return 1;
  m.struct_size = sizeof m;
  edge_rt_session_metrics(jobs[0].session, &m);
  getrusage(RUSAGE_SELF, &usage);
  {
    /* One long prefill (one pass) timed whole, then the same cancelled half way through. */
    static edge_rt_token long_prompt[480];
    cancel_job c;
    pthread_t t;
    double whole;
    size_t k;
    for (k = 0; k < 480; ++k) long_prompt[k] = prompt[1 + k % (n_prompt - 1)];
    memset(&c, 0, sizeof c);
    atomic_init(&c.flag, 0);
    c.session = jobs[0].session;
    c.tokens = long_prompt;
    c.n = 480;
    edge_rt_session_truncate(c.session, 0);
    start = now_ms();  /* whole, not cancelled */
    if (edge_rt_session_append(c.session, long_prompt, 480, NULL, NULL) != EDGE_RT_OK) return 1;
    whole = now_ms() - start;
    edge_rt_session_truncate(c.session, 0);
    pthread_create(&t, NULL, run_cancel, &c);
    {
      const long wait_ns = (long)(whole / 2 * 1e6);
      struct timespec pause;
      pause.tv_sec = wait_ns / 1000000000L;
      pause.tv_nsec = wait_ns % 1000000000L;
      nanosleep(&pause, NULL);
    }
    c.flagged_ms = now_ms();
    atomic_store(&c.flag, 1);
    pthread_join(t, NULL);
    printf("cancel: a %.0f ms prefill of 480 tokens, cancelled half way, returned %s %.2f ms after the flag\n",
           whole, c.status == EDGE_RT_CANCELLED ? "cancelled" : "NOT cancelled", c.returned_ms - c.flagged_ms);
  }
  printf("\npool peak %.1f MiB (budget %s), session %.2f MiB each, peak RSS %.1f MiB\n",
         (double)m.peak_pool_bytes / 1048576.0, params.budget_bytes ? "set" : "unlimited",
         (double)m.session_bytes / 1048576.0, (double)usage.ru_maxrss / 1024.0);
  for (i = 0; i < n; ++i) edge_rt_session_free(jobs[i].session);
  edge_rt_model_free(model);
  return 0;
}
