// The C API over runtime::Model and runtime::Session. Every entry point catches everything: nothing throws
// across it. Handles are checked against a registry, and a session is marked busy for the length of a call, so
// misuse (NULL, freed, concurrent calls, freeing during a call) is an error status instead of undefined behaviour.
#include <edge_rt/edge_rt.h>
#include <edge_rt/runtime/session.hpp>
#include <edge_rt/runtime/stop_strings.hpp>
#include <edge_rt/tokenizer/tokenizer.hpp>

#include <cstring>
#include <exception>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <type_traits>
#include <unordered_map>

using edge_rt::ErrorCode;
using edge_rt::runtime::Model;
using edge_rt::runtime::Session;
using edge_rt::tokenizer::TokenId;

struct edge_rt_model {
  Model model;
};

struct edge_rt_session {
  Session session;
  edge_rt::runtime::Metrics last;  // of the last append or generate
  edge_rt_stop_reason stop_reason = EDGE_RT_STOP_NONE;
  bool busy = false;  // in a call (registry mutex)
};

struct edge_rt_detokenizer {
  Model model;  // keeps the tokenizer alive
  edge_rt::tokenizer::StreamingDecoder decoder;
  std::string unread;  // text a too-small buffer could not take yet
};

namespace {

enum class Kind { kModel, kSession, kDetokenizer };

std::mutex g_registry_mutex;
std::unordered_map<const void*, Kind>& registry() {
  static std::unordered_map<const void*, Kind> handles;
  return handles;
}
thread_local std::string g_last_error;

edge_rt_status status_of(ErrorCode code) {
  switch (code) {
    case ErrorCode::kInvalidArgument: return EDGE_RT_ERROR_INVALID_ARGUMENT;
    case ErrorCode::kIoError: return EDGE_RT_ERROR_IO;
    case ErrorCode::kInvalidFormat: return EDGE_RT_ERROR_INVALID_FORMAT;
    case ErrorCode::kMissingField: return EDGE_RT_ERROR_MISSING_FIELD;
    case ErrorCode::kUnsupported: return EDGE_RT_ERROR_UNSUPPORTED;
    case ErrorCode::kBudgetExceeded: return EDGE_RT_ERROR_BUDGET_EXCEEDED;
    case ErrorCode::kContextOverflow: return EDGE_RT_ERROR_CONTEXT_OVERFLOW;
    case ErrorCode::kNumerical: return EDGE_RT_ERROR_NUMERICAL;
    case ErrorCode::kInternal: return EDGE_RT_ERROR_INTERNAL;
    case ErrorCode::kCancelled: return EDGE_RT_CANCELLED;
  }
  return EDGE_RT_ERROR_INTERNAL;
}

edge_rt_status failed(edge_rt_status status, std::string message) {
  g_last_error = std::move(message);
  return status;
}
edge_rt_status failed(const edge_rt::Error& e) {
  return failed(status_of(e.code), e.message);
}

// Runs an entry point's body: clears the last error, turns exceptions into statuses.
template <class F>
edge_rt_status guarded(const char* function, F&& body) noexcept {
  try {
    g_last_error.clear();
    return body();
  } catch (const std::bad_alloc&) {
    return failed(EDGE_RT_ERROR_OUT_OF_MEMORY, std::string(function) + ": out of memory");
  } catch (const std::exception& e) {
    return failed(EDGE_RT_ERROR_INTERNAL, std::string(function) + ": " + e.what());
  } catch (...) {
    return failed(EDGE_RT_ERROR_INTERNAL, std::string(function) + ": unknown exception");
  }
}

bool registered(const void* handle, Kind kind) {
  std::lock_guard lock(g_registry_mutex);
  const auto it = registry().find(handle);
  return handle && it != registry().end() && it->second == kind;
}

void add(const void* handle, Kind kind) {
  std::lock_guard lock(g_registry_mutex);
  registry().emplace(handle, kind);
}

edge_rt_status bad_handle(const char* function, const char* what) {
  return failed(EDGE_RT_ERROR_INVALID_HANDLE,
                std::string(function) + ": " + what + " is NULL, freed or not an edge_rt_" + what + " handle");
}

// The *_free functions: takes the handle out of the registry (not a session in a call), then destroys it.
template <class T>
edge_rt_status release(T* handle, Kind kind, const char* function, const char* what) {
  {
    std::lock_guard lock(g_registry_mutex);
    const auto it = registry().find(handle);
    if (!handle || it == registry().end() || it->second != kind) return bad_handle(function, what);
    if constexpr (std::is_same_v<T, edge_rt_session>) {
      if (handle->busy) {
        return failed(EDGE_RT_ERROR_BUSY, std::string(function) + ": the session is in a call on another thread");
      }
    }
    registry().erase(it);
  }
  const std::unique_ptr<T> owned(handle);  // a model's handle only: the model lives on in its sessions
  return EDGE_RT_OK;
}

edge_rt_status null_argument(const char* function, const char* name) {
  return failed(EDGE_RT_ERROR_INVALID_ARGUMENT, std::string(function) + ": " + name + " is NULL");
}

template <class T>
edge_rt_status check_size(const char* function, const char* type, const T* params) {
  if (params->struct_size == sizeof(T)) return EDGE_RT_OK;
  return failed(EDGE_RT_ERROR_INVALID_ARGUMENT, std::string(function) + ": " + type + ".struct_size is " +
                                                    std::to_string(params->struct_size) + ", expected " +
                                                    std::to_string(sizeof(T)) + " (this library's " + type + ")");
}

// Marks a session busy for the length of one call; released by the destructor.
class SessionCall final {
 public:
  SessionCall(const edge_rt_session* s, const char* function) {
    std::lock_guard lock(g_registry_mutex);
    const auto it = registry().find(s);
    if (!s || it == registry().end() || it->second != Kind::kSession) {
      status_ = bad_handle(function, "session");
    } else if (s->busy) {
      status_ = failed(EDGE_RT_ERROR_BUSY, std::string(function) + ": the session is in a call on another thread");
    } else {
      session_ = const_cast<edge_rt_session*>(s);
      session_->busy = true;
    }
  }
  SessionCall(const SessionCall&) = delete;
  SessionCall& operator=(const SessionCall&) = delete;
  ~SessionCall() {
    if (!session_) return;
    std::lock_guard lock(g_registry_mutex);
    session_->busy = false;
  }
  edge_rt_status status() const noexcept { return status_; }
  edge_rt_session& operator*() const noexcept { return *session_; }

 private:
  edge_rt_session* session_ = nullptr;
  edge_rt_status status_ = EDGE_RT_OK;
};

// Copies `text` into a caller buffer with a NUL; BUFFER_TOO_SMALL (and *length) when it does not fit.
edge_rt_status copy_text(const char* function, std::string_view text, char* out, std::size_t capacity,
                         std::size_t* length) {
  *length = text.size();
  if (text.size() + 1 > capacity) {
    return failed(EDGE_RT_ERROR_BUFFER_TOO_SMALL, std::string(function) + ": the text is " +
                                                      std::to_string(text.size()) + " bytes, the buffer " +
                                                      std::to_string(capacity) + " (one more for the NUL)");
  }
  std::memcpy(out, text.data(), text.size());
  out[text.size()] = '\0';
  return EDGE_RT_OK;
}

edge_rt_status copy_tokens(const char* function, std::span<const TokenId> ids, edge_rt_token* out, std::size_t capacity,
                           std::size_t* n) {
  *n = ids.size();
  if (ids.size() > capacity) {
    return failed(EDGE_RT_ERROR_BUFFER_TOO_SMALL, std::string(function) + ": " + std::to_string(ids.size()) +
                                                      " tokens, the buffer holds " + std::to_string(capacity));
  }
  if (!ids.empty()) std::memcpy(out, ids.data(), ids.size() * sizeof(edge_rt_token));
  return EDGE_RT_OK;
}

const edge_rt::tokenizer::Tokenizer* tokenizer_of(const Model& m, const char* function, edge_rt_status& status) {
  const edge_rt::tokenizer::Tokenizer* tok = m.tokenizer();
  if (!tok) {
    status = failed(EDGE_RT_ERROR_UNSUPPORTED, std::string(function) + ": " + m.options().model_dir.string() +
                                                   " has no tokenizer: pass token ids");
  }
  return tok;
}

// A token id the tokenizer can decode.
edge_rt_status check_token(const char* function, const edge_rt::tokenizer::Tokenizer& tok, TokenId id) {
  if (id >= 0 && static_cast<std::size_t>(id) < tok.vocab_size()) return EDGE_RT_OK;
  return failed(EDGE_RT_ERROR_INVALID_ARGUMENT, std::string(function) + ": token id " + std::to_string(id) +
                                                    " is outside the vocabulary [0, " +
                                                    std::to_string(tok.vocab_size()) + ")");
}

edge_rt_stop_reason stop_reason_of(edge_rt::runtime::StopReason r) {
  switch (r) {
    case edge_rt::runtime::StopReason::kEos: return EDGE_RT_STOP_EOS;
    case edge_rt::runtime::StopReason::kMaxTokens: return EDGE_RT_STOP_MAX_TOKENS;
    case edge_rt::runtime::StopReason::kContextFull: return EDGE_RT_STOP_CONTEXT_FULL;
    case edge_rt::runtime::StopReason::kCallback: return EDGE_RT_STOP_CALLBACK;
  }
  return EDGE_RT_STOP_NONE;
}

// edge_rt_session_append and edge_rt_session_set_tokens: the prefill call, then the metrics it leaves.
edge_rt_status prefill(edge_rt_session* session, const edge_rt_token* tokens, size_t n_tokens,
                       edge_rt_abort_callback abort, void* user_data, bool assign, const char* function) {
  const SessionCall call(session, function);
  if (call.status() != EDGE_RT_OK) return call.status();
  if (!tokens && n_tokens > 0) return null_argument(function, "tokens");
  edge_rt_session& s = *call;
  edge_rt::runtime::GenerateOptions o;
  if (abort) o.abort = [abort, user_data] { return abort(user_data) != 0; };
  const std::span<const TokenId> ids(tokens, n_tokens);
  auto done = assign ? s.session.assign(ids, o) : s.session.append(ids, o);
  if (!done) return failed(done.error());
  s.last = {};
  s.last.n_prompt_tokens = done.value().n_evaluated;
  s.last.n_reused_tokens = done.value().n_reused;
  s.last.prefill_ms = done.value().prefill_ms;
  s.last.prefill_tok_s =
      s.last.prefill_ms > 0 ? static_cast<double>(s.last.n_prompt_tokens) * 1000.0 / s.last.prefill_ms : 0;
  s.last.weight_bytes_loaded = done.value().pass.bytes_read;
  return EDGE_RT_OK;
}

}  // namespace

extern "C" {

const char* edge_rt_status_message(edge_rt_status status) {
  switch (status) {
    case EDGE_RT_OK: return "ok";
    case EDGE_RT_ERROR_INVALID_ARGUMENT: return "invalid argument";
    case EDGE_RT_ERROR_IO: return "I/O error";
    case EDGE_RT_ERROR_INVALID_FORMAT: return "invalid format";
    case EDGE_RT_ERROR_MISSING_FIELD: return "missing field";
    case EDGE_RT_ERROR_UNSUPPORTED: return "unsupported";
    case EDGE_RT_ERROR_BUDGET_EXCEEDED: return "memory budget exceeded";
    case EDGE_RT_ERROR_CONTEXT_OVERFLOW: return "context overflow";
    case EDGE_RT_ERROR_NUMERICAL: return "non-finite numbers";
    case EDGE_RT_ERROR_INTERNAL: return "internal error";
    case EDGE_RT_CANCELLED: return "cancelled";
    case EDGE_RT_ERROR_INVALID_HANDLE: return "invalid handle";
    case EDGE_RT_ERROR_BUSY: return "session busy";
    case EDGE_RT_ERROR_BUFFER_TOO_SMALL: return "buffer too small";
    case EDGE_RT_ERROR_OUT_OF_MEMORY: return "out of memory";
  }
  return "unknown status";
}

const char* edge_rt_last_error(void) {
  return g_last_error.c_str();
}

const char* edge_rt_version(void) {
  return EDGE_RT_VERSION_STRING;
}

edge_rt_model_params edge_rt_model_default_params(void) {
  edge_rt_model_params p{};
  p.struct_size = sizeof p;
  p.gpu_layers = -1;
  p.fallback = EDGE_RT_FALLBACK_CPU;
  p.n_sessions = 1;
  return p;
}

edge_rt_session_params edge_rt_session_default_params(void) {
  edge_rt_session_params p{};
  p.struct_size = sizeof p;
  return p;
}

edge_rt_generate_params edge_rt_generate_default_params(void) {
  const edge_rt::runtime::SamplingParams s;
  edge_rt_generate_params p{};
  p.struct_size = sizeof p;
  p.max_tokens = 128;
  p.temperature = s.temperature;
  p.top_k = s.top_k;
  p.top_p = s.top_p;
  p.min_p = s.min_p;
  p.repeat_penalty = s.repeat_penalty;
  p.repeat_last_n = s.repeat_last_n;
  p.seed = s.seed;
  p.stop_at_eos = 1;
  return p;
}

edge_rt_status edge_rt_model_load(const char* path, const edge_rt_model_params* params, edge_rt_model** out) {
  return guarded(__func__, [&] {
    if (!out) return null_argument(__func__, "out");
    *out = nullptr;
    if (!path) return null_argument(__func__, "path");
    const edge_rt_model_params p = params ? *params : edge_rt_model_default_params();
    if (params) {
      if (const edge_rt_status s = check_size(__func__, "edge_rt_model_params", params); s != EDGE_RT_OK) return s;
    }
    edge_rt::runtime::EngineOptions o;
    o.model_dir = path;
    if (p.budget_bytes > 0) {
      auto budget = edge_rt::memory_manager::MemoryBudget::from_bytes(p.budget_bytes);
      if (!budget) return failed(budget.error());
      o.budget = budget.value();
    }
    if (p.strategy) o.strategy = p.strategy;
    if (p.device) o.devices.device = p.device;
    o.devices.gpu_layers = p.gpu_layers;
    // A C caller may store any int in the enum: read it as one, so an out-of-range value is an error, not UB.
    int fallback = 0;
    static_assert(sizeof fallback == sizeof p.fallback);
    std::memcpy(&fallback, &p.fallback, sizeof fallback);
    if (fallback != EDGE_RT_FALLBACK_CPU && fallback != EDGE_RT_FALLBACK_FAIL) {
      return failed(EDGE_RT_ERROR_INVALID_ARGUMENT, std::string(__func__) + ": fallback is " +
                                                        std::to_string(fallback) +
                                                        ", expected EDGE_RT_FALLBACK_CPU or EDGE_RT_FALLBACK_FAIL");
    }
    o.devices.fallback = fallback == EDGE_RT_FALLBACK_FAIL ? edge_rt::runtime::FallbackPolicy::kFail
                                                           : edge_rt::runtime::FallbackPolicy::kCpu;
    o.n_threads = p.n_threads;
    o.n_ctx = p.n_ctx;
    o.n_batch = p.n_batch;
    o.n_sessions = p.n_sessions;
    o.use_mmap = p.use_mmap != 0;
    o.cold_cache = p.cold_cache != 0;
    auto model = Model::load(o);
    if (!model) return failed(model.error());
    auto handle = std::make_unique<edge_rt_model>(edge_rt_model{std::move(model).value()});
    add(handle.get(), Kind::kModel);
    *out = handle.release();
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_model_free(edge_rt_model* model) {
  return guarded(__func__, [&] { return release(model, Kind::kModel, __func__, "model"); });
}

edge_rt_status edge_rt_model_get_info(const edge_rt_model* model, edge_rt_model_info* out) {
  return guarded(__func__, [&] {
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    if (!out) return null_argument(__func__, "out");
    if (const edge_rt_status s = check_size(__func__, "edge_rt_model_info", out); s != EDGE_RT_OK) return s;
    const Model& m = model->model;
    const auto& c = m.config();
    edge_rt_model_info info{};
    info.struct_size = sizeof info;
    std::strncpy(info.architecture, c.architecture_name.c_str(), sizeof info.architecture - 1);
    info.n_vocab = static_cast<std::uint32_t>(c.vocab_size);
    info.n_ctx_max = static_cast<std::uint32_t>(c.max_context);
    info.n_ctx = static_cast<std::uint32_t>(m.plan().n_ctx);
    info.n_layers = static_cast<std::uint32_t>(c.n_layers);
    info.n_params = m.parameter_count();
    info.weight_bytes = m.weight_bytes();
    info.budget_bytes = m.plan().budget.bytes();
    info.bos = m.bos_id().value_or(-1);
    const std::vector<TokenId> eos = m.eos_ids();
    info.eos = eos.empty() ? -1 : eos.front();
    info.adds_bos = m.adds_bos() ? 1 : 0;
    info.streams = m.plan().all_resident() ? 0 : 1;
    *out = info;
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_model_free_session_bytes(const edge_rt_model* model, uint64_t* out) {
  return guarded(__func__, [&] {
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    if (!out) return null_argument(__func__, "out");
    *out = model->model.free_session_bytes();
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_tokenize(const edge_rt_model* model, const char* text, size_t text_length, int32_t add_bos,
                                edge_rt_token* tokens, size_t capacity, size_t* n_tokens) {
  return guarded(__func__, [&] {
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    if (!n_tokens) return null_argument(__func__, "n_tokens");
    *n_tokens = 0;
    if (!text && text_length > 0) return null_argument(__func__, "text");
    if (!tokens && capacity > 0) return null_argument(__func__, "tokens");
    edge_rt_status status = EDGE_RT_OK;
    const auto* tok = tokenizer_of(model->model, __func__, status);
    if (!tok) return status;
    std::vector<TokenId> ids;
    if (add_bos && model->model.adds_bos()) ids.push_back(*model->model.bos_id());
    const std::vector<TokenId> encoded = tok->encode(std::string_view(text ? text : "", text_length));
    ids.insert(ids.end(), encoded.begin(), encoded.end());
    return copy_tokens(__func__, ids, tokens, capacity, n_tokens);
  });
}

edge_rt_status edge_rt_detokenize(const edge_rt_model* model, const edge_rt_token* tokens, size_t n_tokens, char* text,
                                  size_t capacity, size_t* length) {
  return guarded(__func__, [&] {
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    if (!length) return null_argument(__func__, "length");
    *length = 0;
    if (!tokens && n_tokens > 0) return null_argument(__func__, "tokens");
    if (!text && capacity > 0) return null_argument(__func__, "text");
    edge_rt_status status = EDGE_RT_OK;
    const auto* tok = tokenizer_of(model->model, __func__, status);
    if (!tok) return status;
    const std::span<const TokenId> ids(tokens, n_tokens);
    for (TokenId id : ids) {
      if (const edge_rt_status st = check_token(__func__, *tok, id); st != EDGE_RT_OK) return st;
    }
    return copy_text(__func__, edge_rt::tokenizer::to_valid_utf8(tok->decode(ids)), text, capacity, length);
  });
}

edge_rt_status edge_rt_detokenizer_create(const edge_rt_model* model, edge_rt_detokenizer** out) {
  return guarded(__func__, [&] {
    if (!out) return null_argument(__func__, "out");
    *out = nullptr;
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    edge_rt_status status = EDGE_RT_OK;
    const auto* tok = tokenizer_of(model->model, __func__, status);
    if (!tok) return status;
    auto handle = std::make_unique<edge_rt_detokenizer>(
        edge_rt_detokenizer{model->model, edge_rt::tokenizer::StreamingDecoder(*tok), {}});
    add(handle.get(), Kind::kDetokenizer);
    *out = handle.release();
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_detokenizer_free(edge_rt_detokenizer* detokenizer) {
  return guarded(__func__, [&] { return release(detokenizer, Kind::kDetokenizer, __func__, "detokenizer"); });
}

edge_rt_status edge_rt_detokenizer_push(edge_rt_detokenizer* detokenizer, edge_rt_token token, char* text,
                                        size_t capacity, size_t* length) {
  return guarded(__func__, [&] {
    if (!registered(detokenizer, Kind::kDetokenizer)) return bad_handle(__func__, "detokenizer");
    if (!length) return null_argument(__func__, "length");
    *length = 0;
    if (!text && capacity > 0) return null_argument(__func__, "text");
    if (const edge_rt_status st = check_token(__func__, *detokenizer->model.tokenizer(), token); st != EDGE_RT_OK) {
      return st;
    }
    detokenizer->unread += detokenizer->decoder.push(token);
    const edge_rt_status s = copy_text(__func__, detokenizer->unread, text, capacity, length);
    if (s == EDGE_RT_OK) detokenizer->unread.clear();
    return s;
  });
}

edge_rt_status edge_rt_detokenizer_flush(edge_rt_detokenizer* detokenizer, char* text, size_t capacity,
                                         size_t* length) {
  return guarded(__func__, [&] {
    if (!registered(detokenizer, Kind::kDetokenizer)) return bad_handle(__func__, "detokenizer");
    if (!length) return null_argument(__func__, "length");
    *length = 0;
    if (!text && capacity > 0) return null_argument(__func__, "text");
    detokenizer->unread += detokenizer->decoder.flush();
    const edge_rt_status s = copy_text(__func__, detokenizer->unread, text, capacity, length);
    if (s == EDGE_RT_OK) detokenizer->unread.clear();
    return s;
  });
}

edge_rt_status edge_rt_session_create(edge_rt_model* model, const edge_rt_session_params* params,
                                      edge_rt_session** out) {
  return guarded(__func__, [&] {
    if (!out) return null_argument(__func__, "out");
    *out = nullptr;
    if (!registered(model, Kind::kModel)) return bad_handle(__func__, "model");
    const edge_rt_session_params p = params ? *params : edge_rt_session_default_params();
    if (params) {
      if (const edge_rt_status s = check_size(__func__, "edge_rt_session_params", params); s != EDGE_RT_OK) return s;
    }
    auto session = Session::create(model->model, {.n_ctx = p.n_ctx, .n_batch = p.n_batch});
    if (!session) return failed(session.error());
    auto handle =
        std::make_unique<edge_rt_session>(edge_rt_session{std::move(session).value(), {}, EDGE_RT_STOP_NONE, false});
    add(handle.get(), Kind::kSession);
    *out = handle.release();
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_session_free(edge_rt_session* session) {
  return guarded(__func__, [&] { return release(session, Kind::kSession, __func__, "session"); });
}

edge_rt_status edge_rt_session_append(edge_rt_session* session, const edge_rt_token* tokens, size_t n_tokens,
                                      edge_rt_abort_callback abort, void* user_data) {
  return guarded(__func__, [&] { return prefill(session, tokens, n_tokens, abort, user_data, false, __func__); });
}

edge_rt_status edge_rt_session_set_tokens(edge_rt_session* session, const edge_rt_token* tokens, size_t n_tokens,
                                          edge_rt_abort_callback abort, void* user_data) {
  return guarded(__func__, [&] { return prefill(session, tokens, n_tokens, abort, user_data, true, __func__); });
}

edge_rt_status edge_rt_session_generate(edge_rt_session* session, const edge_rt_generate_params* params) {
  return guarded(__func__, [&] {
    const SessionCall call(session, __func__);
    if (call.status() != EDGE_RT_OK) return call.status();
    if (!params) return null_argument(__func__, "params");
    if (const edge_rt_status st = check_size(__func__, "edge_rt_generate_params", params); st != EDGE_RT_OK) {
      return st;
    }
    const edge_rt_generate_params& p = *params;
    if (!p.stop_tokens && p.n_stop_tokens > 0) return null_argument(__func__, "stop_tokens");
    if (!p.stop_strings && p.n_stop_strings > 0) return null_argument(__func__, "stop_strings");
    edge_rt_session& s = *call;
    const Model& model = s.session.model();
    edge_rt::runtime::GenerateOptions o;
    o.max_new_tokens = p.max_tokens;
    o.sampling.temperature = p.temperature;
    o.sampling.top_k = p.top_k;
    o.sampling.top_p = p.top_p;
    o.sampling.min_p = p.min_p;
    o.sampling.repeat_penalty = p.repeat_penalty;
    o.sampling.repeat_last_n = p.repeat_last_n;
    o.sampling.seed = p.seed;
    o.stop_at_eos = p.stop_at_eos != 0;
    o.stop_ids.assign(p.stop_tokens, p.stop_tokens + p.n_stop_tokens);
    if (p.abort) o.abort = [&p] { return p.abort(p.abort_user_data) != 0; };
    std::vector<edge_rt::runtime::StopString> stops;
    for (std::size_t i = 0; i < p.n_stop_strings; ++i) {
      if (!p.stop_strings[i] || p.stop_strings[i][0] == '\0') {
        return failed(EDGE_RT_ERROR_INVALID_ARGUMENT,
                      std::string(__func__) + ": stop_strings[" + std::to_string(i) + "] is NULL or empty");
      }
      stops.push_back({p.stop_strings[i], false});
    }
    const edge_rt::tokenizer::Tokenizer* tok = model.tokenizer();
    if (!tok && !stops.empty()) {
      return failed(EDGE_RT_ERROR_UNSUPPORTED, std::string(__func__) + ": stop strings need a tokenizer, and " +
                                                   model.options().model_dir.string() + " has none");
    }
    // The text continues the session's: a SentencePiece decoder drops a leading space only at the very start.
    bool at_start = true;
    if (tok) {
      for (TokenId id : s.session.tokens()) {
        if (id >= 0 && static_cast<std::size_t>(id) < tok->vocab_size() && !tok->token_bytes(id).empty()) {
          at_start = false;
          break;
        }
      }
    }
    std::optional<edge_rt::tokenizer::StreamingDecoder> decoder;
    if (tok) decoder.emplace(*tok, at_start);
    edge_rt::runtime::StopStringMatcher matcher(std::move(stops));
    bool stopped_by_string = false;
    const auto deliver = [&](TokenId id, const std::string& text) {
      return p.on_token ? p.on_token(p.on_token_user_data, id, text.c_str(), text.size()) : 0;
    };
    const edge_rt::runtime::TokenCallback on_token = [&](TokenId id) {
      std::string text;
      if (decoder && static_cast<std::size_t>(id) < tok->vocab_size()) text = matcher.push(decoder->push(id));
      if (matcher.stopped()) {
        stopped_by_string = true;
        deliver(id, text);
        return false;
      }
      return deliver(id, text) == 0;
    };
    auto result = s.session.generate(o, on_token);
    if (decoder && !stopped_by_string) {  // text held back at the end: an incomplete character or stop prefix
      const std::string rest = matcher.push(edge_rt::tokenizer::to_valid_utf8(decoder->flush())) + matcher.flush();
      if (!rest.empty()) deliver(EDGE_RT_NO_TOKEN, rest);
    }
    if (!result) {
      s.stop_reason = result.error().code == ErrorCode::kCancelled ? EDGE_RT_STOP_CANCELLED : EDGE_RT_STOP_NONE;
      return failed(result.error());
    }
    s.last = result.value().metrics;
    s.stop_reason = stopped_by_string ? EDGE_RT_STOP_STRING : stop_reason_of(result.value().stop_reason);
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_session_truncate(edge_rt_session* session, size_t n_tokens) {
  return guarded(__func__, [&] {
    const SessionCall call(session, __func__);
    if (call.status() != EDGE_RT_OK) return call.status();
    (*call).session.truncate(n_tokens);
    return EDGE_RT_OK;
  });
}

edge_rt_status edge_rt_session_tokens(const edge_rt_session* session, edge_rt_token* tokens, size_t capacity,
                                      size_t* n_tokens) {
  return guarded(__func__, [&] {
    const SessionCall call(session, __func__);
    if (call.status() != EDGE_RT_OK) return call.status();
    if (!n_tokens) return null_argument(__func__, "n_tokens");
    *n_tokens = 0;
    if (!tokens && capacity > 0) return null_argument(__func__, "tokens");
    return copy_tokens(__func__, (*call).session.tokens(), tokens, capacity, n_tokens);
  });
}

edge_rt_status edge_rt_session_metrics(const edge_rt_session* session, edge_rt_metrics* out) {
  return guarded(__func__, [&] {
    const SessionCall call(session, __func__);
    if (call.status() != EDGE_RT_OK) return call.status();
    if (!out) return null_argument(__func__, "out");
    if (const edge_rt_status st = check_size(__func__, "edge_rt_metrics", out); st != EDGE_RT_OK) return st;
    const edge_rt_session& s = *call;
    const edge_rt::runtime::Metrics& m = s.last;
    edge_rt_metrics r{};
    r.struct_size = sizeof r;
    r.stop_reason = s.stop_reason;
    r.n_tokens = s.session.tokens().size();
    r.n_past = s.session.n_past();
    r.n_prompt_tokens = m.n_prompt_tokens;
    r.n_reused_tokens = m.n_reused_tokens;
    r.n_generated_tokens = m.n_generated_tokens;
    r.load_ms = s.session.model().load_ms();
    r.ttft_ms = m.ttft_ms;
    r.prefill_ms = m.prefill_ms;
    r.decode_ms = m.decode_ms;
    r.prefill_tok_s = m.prefill_tok_s;
    r.decode_tok_s = m.decode_tok_s;
    r.weight_bytes_loaded = m.weight_bytes_loaded;
    r.session_bytes = s.session.reserved_bytes();
    r.peak_pool_bytes = s.session.model().pool_stats().peak_reserved_bytes;
    r.budget_bytes = s.session.model().plan().budget.bytes();
    *out = r;
    return EDGE_RT_OK;
  });
}

}  // extern "C"
