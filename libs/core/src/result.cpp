#include <edge_rt/core/result.hpp>

namespace edge_rt {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument: return "InvalidArgument";
    case ErrorCode::kIoError: return "IoError";
    case ErrorCode::kInvalidFormat: return "InvalidFormat";
    case ErrorCode::kMissingField: return "MissingField";
    case ErrorCode::kUnsupported: return "Unsupported";
    case ErrorCode::kBudgetExceeded: return "BudgetExceeded";
    case ErrorCode::kContextOverflow: return "ContextOverflow";
    case ErrorCode::kNumerical: return "Numerical";
    case ErrorCode::kInternal: return "Internal";
    case ErrorCode::kCancelled: return "Cancelled";
  }
  return "Unknown";
}

namespace detail {
void check_failed(const char* expr, const char* file, int line, const char* message) noexcept {
  std::fprintf(stderr, "edge-rt: check failed at %s:%d: %s (%s)\n", file, line, expr, message);
  std::abort();
}
}  // namespace detail

}  // namespace edge_rt
