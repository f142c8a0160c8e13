/* An application in plain C99 using edge-rt through its C API only: loads a model, generates greedily from a
 * prompt on one session, streams the text, and checks that misuse returns an error status.
 * Usage: consumer MODEL [PROMPT]. Prints the text and exits 0; on any failure prints why and exits 1. */
#include <edge_rt/edge_rt.h>

#include <stdio.h>
#include <string.h>

static int print_piece(void* user_data, edge_rt_token token, const char* text, size_t length) {
  size_t* count = (size_t*)user_data;
  if (token != EDGE_RT_NO_TOKEN) ++*count;
  fwrite(text, 1, length, stdout);
  return 0;
}

static int check(edge_rt_status status, const char* what) {
  if (status == EDGE_RT_OK) return 1;
  fprintf(stderr, "consumer: %s: %s: %s\n", what, edge_rt_status_message(status), edge_rt_last_error());
  return 0;
}

int main(int argc, char** argv) {
  const char* prompt = argc > 2 ? argv[2] : "Once upon a time";
  edge_rt_model_params params = edge_rt_model_default_params();
  edge_rt_model* model = NULL;
  edge_rt_session* session = NULL;
  edge_rt_token tokens[256];
  size_t n_tokens = 0;
  size_t generated = 0;
  edge_rt_generate_params gen = edge_rt_generate_default_params();
  edge_rt_metrics metrics;
  int ok = 1;

  if (argc < 2) {
    fprintf(stderr, "usage: consumer MODEL [PROMPT]\n");
    return 2;
  }
  if (strcmp(edge_rt_version(), EDGE_RT_VERSION_STRING) != 0) {
    fprintf(stderr, "consumer: header %s, library %s\n", EDGE_RT_VERSION_STRING, edge_rt_version());
    return 1;
  }
  params.budget_bytes = 64u << 20;
  params.n_ctx = 256;
  if (!check(edge_rt_model_load(argv[1], &params, &model), "edge_rt_model_load")) return 1;
  ok = check(edge_rt_session_create(model, NULL, &session), "edge_rt_session_create") &&
       check(edge_rt_tokenize(model, prompt, strlen(prompt), 1, tokens, 256, &n_tokens), "edge_rt_tokenize") &&
       check(edge_rt_session_append(session, tokens, n_tokens, NULL, NULL), "edge_rt_session_append");
  if (ok) {
    gen.max_tokens = 24;
    gen.temperature = 0.0f;
    gen.on_token = print_piece;
    gen.on_token_user_data = &generated;
    fputs(prompt, stdout);
    ok = check(edge_rt_session_generate(session, &gen), "edge_rt_session_generate");
    fputc('\n', stdout);
  }
  metrics.struct_size = sizeof metrics;
  if (ok && check(edge_rt_session_metrics(session, &metrics), "edge_rt_session_metrics")) {
    printf("consumer: %zu tokens, %.1f tok/s decode, pool peak %llu bytes\n", generated, metrics.decode_tok_s,
           (unsigned long long)metrics.peak_pool_bytes);
    ok = generated == metrics.n_generated_tokens && generated > 0;
  }
  /* Misuse is an error status, not a crash. */
  if (edge_rt_session_append(NULL, tokens, 1, NULL, NULL) != EDGE_RT_ERROR_INVALID_HANDLE) ok = 0;
  if (!check(edge_rt_session_free(session), "edge_rt_session_free")) ok = 0;
  if (edge_rt_session_free(session) != EDGE_RT_ERROR_INVALID_HANDLE) ok = 0;
  if (!check(edge_rt_model_free(model), "edge_rt_model_free")) ok = 0;
  if (!ok) fprintf(stderr, "consumer: failed\n");
  return ok ? 0 : 1;
}
