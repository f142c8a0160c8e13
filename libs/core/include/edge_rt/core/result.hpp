#pragma once
// Error model shared by every edge-rt library: Boost.Outcome's result<T, Error>, with BOOST_OUTCOME_TRY as
// Rust's `?`. Nothing throws across a library boundary; callers branch on Error::code, people read message.

#include <boost/outcome/result.hpp>
#include <boost/outcome/try.hpp>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <system_error>

namespace edge_rt {

/// What went wrong, for callers to branch on.
enum class ErrorCode {
  kInvalidArgument,  ///< A caller-supplied value is out of range or malformed (flag, budget string, token id).
  kIoError,          ///< A file is missing, or open/read/mmap failed.
  kInvalidFormat,    ///< A readable file breaks its format (header, JSON, tokenizer.bin, shorter than it says).
  kMissingField,     ///< A required key is absent from config.json, tokenizer.json or a preset.
  kUnsupported,      ///< Well-formed input that edge-rt does not handle (architecture, dtype, activation).
  kBudgetExceeded,   ///< The memory budget cannot hold what was asked for.
  kContextOverflow,  ///< More tokens than the model's or the plan's context length.
  kNumerical,        ///< A computation produced NaN or infinity (logits), so its output cannot be trusted.
  kInternal,         ///< A broken invariant detected at run time.
  kCancelled,        ///< The caller's abort callback stopped the call (the session stays usable).
};

/// Human-readable name of an ErrorCode ("InvalidFormat", ...).
const char* to_string(ErrorCode code) noexcept;

/// Copyable value type. `message` names the component in brackets, the file, the field and what was expected:
/// "[safetensors] model.safetensors: tensor 'wte.weight' has dtype F8_E4M3, expected F32/F16/BF16".
struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;
};

/// Calling .value() on a failed Result is a programmer error and terminates (policy::terminate).
template <class T>
using Result = boost::outcome_v2::result<T, Error, boost::outcome_v2::policy::terminate>;

/// Shorthand for returning a failure: `return fail(ErrorCode::kIoError, "[x] ...")`.
inline auto fail(ErrorCode code, std::string message) {
  return boost::outcome_v2::failure(Error{code, std::move(message)});
}

namespace detail {
[[noreturn]] void check_failed(const char* expr, const char* file, int line, const char* message) noexcept;
}  // namespace detail

}  // namespace edge_rt

/// Always-on precondition check for programmer errors: aborts with file and line. Not for bad input.
#define EDGE_RT_CHECK(expr, message)                                                    \
  do {                                                                                  \
    if (!(expr)) ::edge_rt::detail::check_failed(#expr, __FILE__, __LINE__, (message)); \
  } while (false)

#define EDGE_RT_TRY BOOST_OUTCOME_TRY
