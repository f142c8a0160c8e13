// edge-rt for C++ applications: header-only RAII wrappers over the C API (edge_rt.h), C++17, no exceptions.
// Handles free themselves; every call returns a Status (code and the library's message). Thread-safety and
// lifetimes are the C API's: a Model may be shared by threads, a Session is used by one thread at a time.
#ifndef EDGE_RT_EDGE_RT_HPP
#define EDGE_RT_EDGE_RT_HPP

#include <edge_rt/edge_rt.h>

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace edge_rt {

/// The outcome of a call: EDGE_RT_OK, or a status and edge_rt_last_error()'s message.
struct Status {
  edge_rt_status code = EDGE_RT_OK;
  std::string message;
  bool ok() const noexcept { return code == EDGE_RT_OK; }
  static Status of(edge_rt_status code) { return code == EDGE_RT_OK ? Status{} : Status{code, edge_rt_last_error()}; }
};

namespace detail {
struct FreeModel {
  void operator()(edge_rt_model* m) const noexcept { edge_rt_model_free(m); }
};
struct FreeSession {
  void operator()(edge_rt_session* s) const noexcept { edge_rt_session_free(s); }
};
}  // namespace detail

/// A loaded model. Move-only; sessions keep the model alive after it is destroyed.
class Model {
 public:
  /// params: nullptr for the defaults (edge_rt_model_default_params()).
  static Status load(const std::string& path, const edge_rt_model_params* params, Model* out) {
    edge_rt_model* m = nullptr;
    const Status s = Status::of(edge_rt_model_load(path.c_str(), params, &m));
    if (s.ok()) out->handle_.reset(m);
    return s;
  }
  Status info(edge_rt_model_info* out) const {
    out->struct_size = sizeof *out;
    return Status::of(edge_rt_model_get_info(handle_.get(), out));
  }
  /// Text to ids; add_bos puts BOS first where the model family wants it.
  Status tokenize(std::string_view text, bool add_bos, std::vector<edge_rt_token>* out) const {
    std::size_t n = 0;
    out->resize(text.size() + 2);  // usually enough: a token covers a byte or more; BOS
    edge_rt_status s =
        edge_rt_tokenize(handle_.get(), text.data(), text.size(), add_bos ? 1 : 0, out->data(), out->size(), &n);
    if (s == EDGE_RT_ERROR_BUFFER_TOO_SMALL) {
      out->resize(n);
      s = edge_rt_tokenize(handle_.get(), text.data(), text.size(), add_bos ? 1 : 0, out->data(), out->size(), &n);
    }
    out->resize(s == EDGE_RT_OK ? n : 0);
    return Status::of(s);
  }
  Status detokenize(const std::vector<edge_rt_token>& tokens, std::string* out) const {
    std::size_t n = 0;
    edge_rt_status s = edge_rt_detokenize(handle_.get(), tokens.data(), tokens.size(), nullptr, 0, &n);
    if (s != EDGE_RT_ERROR_BUFFER_TOO_SMALL) return Status::of(s);
    std::vector<char> buffer(n + 1);
    s = edge_rt_detokenize(handle_.get(), tokens.data(), tokens.size(), buffer.data(), buffer.size(), &n);
    if (s == EDGE_RT_OK) out->assign(buffer.data(), n);
    return Status::of(s);
  }
  edge_rt_model* get() const noexcept { return handle_.get(); }

 private:
  std::unique_ptr<edge_rt_model, detail::FreeModel> handle_;
};

/// One conversation on a Model. Move-only; one call at a time.
class Session {
 public:
  /// Called with each token and the text it completes (see edge_rt_token_callback); return false to stop.
  using OnText = std::function<bool(edge_rt_token, std::string_view)>;
  /// Return true to cancel the call.
  using Abort = std::function<bool()>;

  static Status create(const Model& model, const edge_rt_session_params* params, Session* out) {
    edge_rt_session* s = nullptr;
    const Status st = Status::of(edge_rt_session_create(model.get(), params, &s));
    if (st.ok()) out->handle_.reset(s);
    return st;
  }
  Status append(const std::vector<edge_rt_token>& tokens, const Abort& abort = {}) {
    return Status::of(edge_rt_session_append(handle_.get(), tokens.data(), tokens.size(),
                                             abort ? &Session::call_abort : nullptr, const_cast<Abort*>(&abort)));
  }
  /// params: from edge_rt_generate_default_params(); its callbacks are replaced by on_text and abort.
  Status generate(edge_rt_generate_params params, const OnText& on_text, const Abort& abort = {}) {
    params.on_token = on_text ? &Session::call_on_text : nullptr;
    params.on_token_user_data = const_cast<OnText*>(&on_text);
    params.abort = abort ? &Session::call_abort : nullptr;
    params.abort_user_data = const_cast<Abort*>(&abort);
    return Status::of(edge_rt_session_generate(handle_.get(), &params));
  }
  Status truncate(std::size_t n_tokens) { return Status::of(edge_rt_session_truncate(handle_.get(), n_tokens)); }
  Status metrics(edge_rt_metrics* out) const {
    out->struct_size = sizeof *out;
    return Status::of(edge_rt_session_metrics(handle_.get(), out));
  }
  edge_rt_session* get() const noexcept { return handle_.get(); }

 private:
  static int call_on_text(void* user, edge_rt_token token, const char* text, std::size_t length) {
    return (*static_cast<const OnText*>(user))(token, std::string_view(text, length)) ? 0 : 1;
  }
  static int call_abort(void* user) { return (*static_cast<const Abort*>(user))() ? 1 : 0; }
  std::unique_ptr<edge_rt_session, detail::FreeSession> handle_;
};

}  // namespace edge_rt

#endif  // EDGE_RT_EDGE_RT_HPP
