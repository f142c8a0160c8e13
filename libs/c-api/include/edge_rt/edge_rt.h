/* edge-rt C API: load a model once, run any number of sessions on it.
 *
 * C99, no C++ types, nothing throws across it. Every function returns an edge_rt_status (EDGE_RT_OK = 0) except
 * the getters of static strings and the default-parameter functions; the detail of the last failure on the
 * calling thread is edge_rt_last_error().
 *
 * Objects are opaque handles:
 *  - edge_rt_model: weights, plan, backends, tokenizer. Thread-safe: tokenize, detokenize and session creation
 *    may run on any thread at once. edge_rt_model_free releases the handle; the model itself lives on until its
 *    last session is freed too.
 *  - edge_rt_session: one conversation (its KV cache, sampler and tokens), counted in the model's memory budget.
 *    One call at a time per session: a second concurrent call on the same session (or freeing it while a call
 *    runs) returns EDGE_RT_ERROR_BUSY. Different sessions run on different threads at once; their forward passes
 *    take turns on the shared model (each pass uses every kernel thread).
 *  - edge_rt_detokenizer: turns generated tokens into UTF-8 text piece by piece.
 * Handles are checked against a registry: NULL, freed or foreign handles give EDGE_RT_ERROR_INVALID_HANDLE (a
 * freed handle whose address was reused by a new object of the same kind cannot be told apart from it).
 *
 * Parameter structs carry their own size: fill them from the *_default_params() functions and change fields;
 * a struct_size other than this header's sizeof gives EDGE_RT_ERROR_INVALID_ARGUMENT.
 *
 * Units: bytes, tokens, milliseconds. Token ids are int32_t. Text is UTF-8 with an explicit length (no NUL
 * needed); output text buffers are NUL-terminated when they have room. */
#ifndef EDGE_RT_EDGE_RT_H
#define EDGE_RT_EDGE_RT_H

#include <stddef.h>
#include <stdint.h>

#define EDGE_RT_VERSION_MAJOR 0
#define EDGE_RT_VERSION_MINOR 2
#define EDGE_RT_VERSION_PATCH 0
#define EDGE_RT_VERSION_STRING "0.2.0"
/* One number that grows with each release: MAJOR * 10000 + MINOR * 100 + PATCH. */
#define EDGE_RT_VERSION (EDGE_RT_VERSION_MAJOR * 10000 + EDGE_RT_VERSION_MINOR * 100 + EDGE_RT_VERSION_PATCH)

#if defined(EDGE_RT_STATIC_DEFINE)
#define EDGE_RT_API
#elif defined(_WIN32)
#if defined(EDGE_RT_BUILDING_LIBRARY)
#define EDGE_RT_API __declspec(dllexport)
#else
#define EDGE_RT_API __declspec(dllimport)
#endif
#else
#define EDGE_RT_API __attribute__((visibility("default")))
#endif

#ifdef __cplusplus
extern "C" {
#endif

typedef int32_t edge_rt_token;
#define EDGE_RT_NO_TOKEN (-1)

typedef enum edge_rt_status {
  EDGE_RT_OK = 0,
  EDGE_RT_ERROR_INVALID_ARGUMENT = 1,  /* a value out of range or malformed, a NULL pointer, a wrong struct_size */
  EDGE_RT_ERROR_IO = 2,                /* a file is missing or unreadable */
  EDGE_RT_ERROR_INVALID_FORMAT = 3,    /* a model file breaks its format */
  EDGE_RT_ERROR_MISSING_FIELD = 4,     /* a required key is absent from a model file */
  EDGE_RT_ERROR_UNSUPPORTED = 5,       /* well-formed but not handled (architecture, dtype, device op) */
  EDGE_RT_ERROR_BUDGET_EXCEEDED = 6,   /* the memory budget cannot hold it; the message gives the minimum */
  EDGE_RT_ERROR_CONTEXT_OVERFLOW = 7,  /* more tokens than the session's context */
  EDGE_RT_ERROR_NUMERICAL = 8,         /* NaN or infinite logits */
  EDGE_RT_ERROR_INTERNAL = 9,          /* a bug in edge-rt */
  EDGE_RT_CANCELLED = 10,              /* the abort callback stopped the call; the session stays usable */
  EDGE_RT_ERROR_INVALID_HANDLE = 11,   /* NULL, freed or not a handle of that kind */
  EDGE_RT_ERROR_BUSY = 12,             /* the session is in a call on another thread */
  EDGE_RT_ERROR_BUFFER_TOO_SMALL = 13, /* an output buffer is short; the size needed was written */
  EDGE_RT_ERROR_OUT_OF_MEMORY = 14     /* the system (not the budget) refused memory */
} edge_rt_status;

/* Static English name of a status ("budget exceeded"); never NULL. Thread-safe. */
EDGE_RT_API const char* edge_rt_status_message(edge_rt_status status);
/* The detailed message of the last failed call on this thread ("[engine] ...: minimum budget 1.2 MiB ..."), or ""
 * when the last call succeeded. Valid until the next edge-rt call on this thread. */
EDGE_RT_API const char* edge_rt_last_error(void);
/* EDGE_RT_VERSION_STRING of the library that is loaded (may differ from the header's). */
EDGE_RT_API const char* edge_rt_version(void);

typedef enum edge_rt_fallback {
  EDGE_RT_FALLBACK_CPU = 0, /* what the device cannot run runs on the CPU */
  EDGE_RT_FALLBACK_FAIL = 1 /* refuse to load instead, listing every unit and op that would fall back */
} edge_rt_fallback;

typedef struct edge_rt_model_params {
  size_t struct_size;    /* sizeof(edge_rt_model_params) */
  uint64_t budget_bytes; /* the process-wide memory budget for weights, KV caches and scratch; 0: unlimited */
  const char* strategy;  /* "greedy-grouping" (NULL), "sequential", "speculative-prefetch" */
  const char* device;    /* "cpu" (NULL), "auto", "vulkan", "vulkan:1", ... */
  int32_t gpu_layers;    /* layers on the device (the last N); -1: all of them and the head */
  edge_rt_fallback fallback;
  int32_t n_threads;   /* kernel threads, the calling thread included; 0: one per CPU */
  uint32_t n_ctx;      /* context the plan sizes a session for, in tokens; 0: the model's */
  uint32_t n_batch;    /* tokens per prefill pass; 0: min(512, n_ctx) */
  uint32_t n_sessions; /* sessions of n_ctx the plan leaves room for in the budget (>= 1) */
  int32_t use_mmap;    /* nonzero: copy weights from a read-only mapping instead of pread */
  int32_t cold_cache;  /* nonzero: drop streamed weights from the page cache after reading them */
} edge_rt_model_params;

typedef struct edge_rt_session_params {
  size_t struct_size; /* sizeof(edge_rt_session_params) */
  uint32_t n_ctx;     /* KV cache length in tokens; 0: the model's n_ctx */
  uint32_t n_batch;   /* tokens per prefill pass; 0: the model's, capped at n_ctx */
} edge_rt_session_params;

/* Returns nonzero to cancel the call it was given to. Polled on the calling thread before each weight group, and
 * each unit (a layer's attention or feed-forward block) in it, of every forward pass: a call returns within one
 * unit's compute or one group's load. */
typedef int (*edge_rt_abort_callback)(void* user_data);

/* Called with each generated token and the text it completes: valid UTF-8, never half a character, with any tail
 * that could still become a stop string held back until it is known not to be one (so `text` may be empty, or
 * hold text of earlier tokens). `text` is valid during the call only. Returns nonzero to stop generating (a
 * normal stop: EDGE_RT_STOP_CALLBACK). When generation ends with text still held back (a tail that did not become
 * a stop string, an incomplete character), one last call with token EDGE_RT_NO_TOKEN delivers it. */
typedef int (*edge_rt_token_callback)(void* user_data, edge_rt_token token, const char* text, size_t text_length);

typedef enum edge_rt_stop_reason {
  EDGE_RT_STOP_NONE = 0,         /* no generate call yet */
  EDGE_RT_STOP_EOS = 1,          /* an end-of-sequence or end-of-turn token (not part of the output) */
  EDGE_RT_STOP_MAX_TOKENS = 2,   /* max_tokens reached */
  EDGE_RT_STOP_CONTEXT_FULL = 3, /* the session's context is full */
  EDGE_RT_STOP_CALLBACK = 4,     /* the token callback returned nonzero */
  EDGE_RT_STOP_STRING = 5,       /* a stop string appeared (not part of the output text) */
  EDGE_RT_STOP_CANCELLED = 6     /* the abort callback cancelled the call */
} edge_rt_stop_reason;

typedef struct edge_rt_generate_params {
  size_t struct_size;    /* sizeof(edge_rt_generate_params) */
  uint32_t max_tokens;   /* new tokens at most */
  float temperature;     /* <= 0: greedy */
  int32_t top_k;         /* <= 0: all */
  float top_p;           /* (0, 1] */
  float min_p;           /* [0, 1] */
  float repeat_penalty;  /* 1: off */
  int32_t repeat_last_n; /* tokens of history the penalty sees */
  uint64_t seed;
  int32_t stop_at_eos;              /* nonzero (default): stop at the model's end-of-sequence tokens */
  const edge_rt_token* stop_tokens; /* more ids that end generation as EOS does (end-of-turn tokens); may be NULL */
  size_t n_stop_tokens;
  const char* const* stop_strings; /* NUL-terminated, non-empty UTF-8 strings; may be NULL */
  size_t n_stop_strings;
  edge_rt_token_callback on_token; /* may be NULL */
  void* on_token_user_data;
  edge_rt_abort_callback abort; /* may be NULL */
  void* abort_user_data;
} edge_rt_generate_params;

typedef struct edge_rt_model_info {
  size_t struct_size;    /* sizeof(edge_rt_model_info), set by the caller */
  char architecture[64]; /* config.json's architecture ("LlamaForCausalLM"), NUL-terminated, cut at 63 bytes */
  uint32_t n_vocab;
  uint32_t n_ctx_max; /* the model's context length */
  uint32_t n_ctx;     /* the planned session context */
  uint32_t n_layers;
  uint64_t n_params;
  uint64_t weight_bytes; /* bytes of the weights as stored */
  uint64_t budget_bytes; /* UINT64_MAX when unlimited */
  edge_rt_token bos;     /* -1 when none */
  edge_rt_token eos;     /* the first end-of-sequence id; -1 when none */
  int32_t adds_bos;      /* whether prompts of this family start with BOS (edge_rt_tokenize's add_bos default) */
  int32_t streams;       /* nonzero when the budget makes weights stream from storage on every forward pass */
} edge_rt_model_info;

typedef struct edge_rt_metrics {
  size_t struct_size;              /* sizeof(edge_rt_metrics), set by the caller */
  edge_rt_stop_reason stop_reason; /* of the last generate call */
  uint64_t n_tokens;               /* tokens in the session */
  uint64_t n_past;                 /* of them, positions in the KV cache */
  uint64_t n_prompt_tokens;        /* last call: positions prefilled */
  uint64_t n_reused_tokens;        /* last call: positions kept in the KV cache */
  uint64_t n_generated_tokens;     /* last call */
  double load_ms;                  /* loading the model */
  double ttft_ms;                  /* last generate: entry to the first token sampled */
  double prefill_ms;
  double decode_ms;
  double prefill_tok_s;
  double decode_tok_s;
  uint64_t weight_bytes_loaded; /* last call: bytes streamed from storage */
  uint64_t session_bytes;       /* pool bytes this session holds (KV cache and scratch) */
  uint64_t peak_pool_bytes;     /* the model's pool peak so far (weights and every session); <= budget */
  uint64_t budget_bytes;        /* UINT64_MAX when unlimited */
} edge_rt_metrics;

typedef struct edge_rt_model edge_rt_model;
typedef struct edge_rt_session edge_rt_session;
typedef struct edge_rt_detokenizer edge_rt_detokenizer;

EDGE_RT_API edge_rt_model_params edge_rt_model_default_params(void);
EDGE_RT_API edge_rt_session_params edge_rt_session_default_params(void);
/* Greedy-free defaults as llama.cpp's CLI: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05, max_tokens 128. */
EDGE_RT_API edge_rt_generate_params edge_rt_generate_default_params(void);

/* Loads a model: an edge-rt/Hugging Face folder (config.json + safetensors + tokenizer), a .gguf file or a folder
 * holding one; places and plans it within the budget and loads what stays resident. `params` may be NULL
 * (defaults). On success *out is a new handle; on failure *out is NULL. */
EDGE_RT_API edge_rt_status edge_rt_model_load(const char* path, const edge_rt_model_params* params,
                                              edge_rt_model** out);
/* Releases the handle (the model itself stays while sessions use it). NULL: EDGE_RT_ERROR_INVALID_HANDLE. */
EDGE_RT_API edge_rt_status edge_rt_model_free(edge_rt_model* model);
EDGE_RT_API edge_rt_status edge_rt_model_get_info(const edge_rt_model* model, edge_rt_model_info* out);
/* Pool bytes the budget has left for more sessions. */
EDGE_RT_API edge_rt_status edge_rt_model_free_session_bytes(const edge_rt_model* model, uint64_t* out);

/* Text to token ids with the model's tokenizer. Special-token strings in the text ("<|im_start|>") become their
 * ids. add_bos: nonzero puts the model's prefix (BOS where the family wants it) first. Writes at most `capacity`
 * ids; *n_tokens gets the count, and EDGE_RT_ERROR_BUFFER_TOO_SMALL when it is above capacity (call again with a
 * buffer that size). tokens may be NULL when capacity is 0. */
EDGE_RT_API edge_rt_status edge_rt_tokenize(const edge_rt_model* model, const char* text, size_t text_length,
                                            int32_t add_bos, edge_rt_token* tokens, size_t capacity, size_t* n_tokens);
/* Token ids to text (whole sequences: the leading-space rule of SentencePiece applies to the first). Writes at
 * most `capacity` bytes plus a NUL when there is room; *length gets the text length (no NUL), and
 * EDGE_RT_ERROR_BUFFER_TOO_SMALL when length + 1 > capacity. Invalid UTF-8 from byte tokens becomes U+FFFD. */
EDGE_RT_API edge_rt_status edge_rt_detokenize(const edge_rt_model* model, const edge_rt_token* tokens, size_t n_tokens,
                                              char* text, size_t capacity, size_t* length);

/* Piece-by-piece detokenizing for streamed tokens: each push gives the text the token completes, never half a
 * UTF-8 character. One detokenizer per stream; not thread-safe. It keeps the model alive. */
EDGE_RT_API edge_rt_status edge_rt_detokenizer_create(const edge_rt_model* model, edge_rt_detokenizer** out);
EDGE_RT_API edge_rt_status edge_rt_detokenizer_free(edge_rt_detokenizer* detokenizer);
/* As edge_rt_detokenize's buffer rules; on EDGE_RT_ERROR_BUFFER_TOO_SMALL the text is kept for the next push or
 * flush with a larger buffer (nothing is lost). */
EDGE_RT_API edge_rt_status edge_rt_detokenizer_push(edge_rt_detokenizer* detokenizer, edge_rt_token token, char* text,
                                                    size_t capacity, size_t* length);
/* What is still held (an incomplete character at the end), as raw bytes. */
EDGE_RT_API edge_rt_status edge_rt_detokenizer_flush(edge_rt_detokenizer* detokenizer, char* text, size_t capacity,
                                                     size_t* length);

/* A new session on `model` (params may be NULL). EDGE_RT_ERROR_BUDGET_EXCEEDED when the budget has no room for
 * its KV cache and scratch; the message names the minimum budget. */
EDGE_RT_API edge_rt_status edge_rt_session_create(edge_rt_model* model, const edge_rt_session_params* params,
                                                  edge_rt_session** out);
EDGE_RT_API edge_rt_status edge_rt_session_free(edge_rt_session* session);
/* Appends tokens and prefills every token not yet evaluated (new ones, and a pending generated one), so that
 * only new tokens are computed: the KV cache is kept between calls. No BOS is added (tokenize with add_bos).
 * abort may be NULL. EDGE_RT_CANCELLED leaves the session as before the call. */
EDGE_RT_API edge_rt_status edge_rt_session_append(edge_rt_session* session, const edge_rt_token* tokens,
                                                  size_t n_tokens, edge_rt_abort_callback abort, void* user_data);
/* Makes the session's tokens equal `tokens`: keeps the KV cache of the prefix they share with the tokens already
 * evaluated and prefills the rest, so an app that re-renders its whole conversation each turn (a chat template)
 * prefills only the new turn. Metrics: n_reused_tokens kept, n_prompt_tokens prefilled. Errors as
 * edge_rt_session_append, checked before anything changes; EDGE_RT_CANCELLED leaves the shared prefix. */
EDGE_RT_API edge_rt_status edge_rt_session_set_tokens(edge_rt_session* session, const edge_rt_token* tokens,
                                                      size_t n_tokens, edge_rt_abort_callback abort, void* user_data);
/* Generates after the session's tokens (append a prompt first); generated tokens join the session. The stop
 * reason and counts are in edge_rt_session_metrics. EDGE_RT_CANCELLED keeps the tokens handed to on_token. */
EDGE_RT_API edge_rt_status edge_rt_session_generate(edge_rt_session* session, const edge_rt_generate_params* params);
/* Keeps the first n tokens (n >= count: no change); the next append or generate continues from there. */
EDGE_RT_API edge_rt_status edge_rt_session_truncate(edge_rt_session* session, size_t n_tokens);
/* The session's tokens (appended and generated), as edge_rt_tokenize's buffer rules. */
EDGE_RT_API edge_rt_status edge_rt_session_tokens(const edge_rt_session* session, edge_rt_token* tokens,
                                                  size_t capacity, size_t* n_tokens);
EDGE_RT_API edge_rt_status edge_rt_session_metrics(const edge_rt_session* session, edge_rt_metrics* out);

#ifdef __cplusplus
}
#endif

#endif /* EDGE_RT_EDGE_RT_H */
