// StreamingDecoder: token bytes to text without splitting UTF-8 characters.

#include <edge_rt/tokenizer/tokenizer.hpp>

#include "unicode.hpp"

namespace edge_rt::tokenizer {

std::string StreamingDecoder::push(TokenId id) {
  std::string bytes = tokenizer_->token_bytes(id);
  if (bytes.empty()) return {};
  if (at_start_) {  // decode() drops one leading space of the whole text
    at_start_ = false;
    if (tokenizer_->strips_leading_space() && bytes.front() == ' ') bytes.erase(0, 1);
  }
  pending_ += bytes;
  // Emit everything up to an incomplete (but so far well-formed) sequence at the very end; bytes that can never
  // complete a character go out as they are rather than being held forever.
  std::size_t pos = 0;
  while (pos < pending_.size()) {
    const detail::Utf8Step step = detail::decode_utf8(pending_, pos);
    if (step.status == detail::Utf8Status::kIncomplete) break;
    pos += step.length_bytes;
  }
  std::string out = pending_.substr(0, pos);
  pending_.erase(0, pos);
  return out;
}

std::string to_valid_utf8(std::string_view bytes) {
  std::string out;
  out.reserve(bytes.size());
  for (std::size_t pos = 0; pos < bytes.size();) {
    const detail::Utf8Step step = detail::decode_utf8(bytes, pos);
    if (step.status == detail::Utf8Status::kComplete) {
      out.append(bytes.substr(pos, step.length_bytes));
    } else {
      out += "\xEF\xBF\xBD";  // U+FFFD for the ill-formed prefix
    }
    pos += step.length_bytes;
  }
  return out;
}

std::string StreamingDecoder::flush() {
  std::string out;
  out.swap(pending_);
  return out;
}

}  // namespace edge_rt::tokenizer
