#pragma once
// Stop strings over streamed text (llama.cpp's --reverse-prompt, OpenAI's and ollama's "stop"): generation ends at
// the first one that appears in the output, even split across tokens, and no part of it is shown before it is
// known not to be one.

#include <string>
#include <string_view>
#include <vector>

namespace edge_rt::runtime {

/// One stop string. `keep`: the string itself is part of the output (llama.cpp prints its reverse prompt);
/// otherwise the output ends right before it.
struct StopString {
  std::string text;  ///< Non-empty.
  bool keep = false;
};

/// Copyable value; not thread-safe (one generation's stream).
class StopStringMatcher final {
 public:
  explicit StopStringMatcher(std::vector<StopString> stops);

  /// Appends generated text; returns what can be shown now: all of it except a tail that could still grow into a
  /// stop string. Once a stop string appears, stopped() turns true and the return value ends at it (or after it,
  /// for `keep`); later calls return "".
  std::string push(std::string_view piece);
  /// What is still held back at the end of generation (a tail that did not become a stop string).
  std::string flush();
  bool stopped() const noexcept { return stopped_; }

 private:
  std::vector<StopString> stops_;
  std::string held_;
  bool stopped_ = false;
};

}  // namespace edge_rt::runtime
