// StopStringMatcher: holds back the longest tail that is a prefix of a stop string.

#include <edge_rt/runtime/stop_strings.hpp>

#include <algorithm>

namespace edge_rt::runtime {

StopStringMatcher::StopStringMatcher(std::vector<StopString> stops) : stops_(std::move(stops)) {
  std::erase_if(stops_, [](const StopString& s) { return s.text.empty(); });
}

std::string StopStringMatcher::push(std::string_view piece) {
  if (stopped_) return {};
  held_ += piece;
  // The earliest stop string in what is held (held text never contains a whole one from before).
  std::size_t first = std::string::npos;
  const StopString* hit = nullptr;
  for (const StopString& s : stops_) {
    const std::size_t at = held_.find(s.text);
    if (at < first || (at == first && hit && s.text.size() > hit->text.size())) {
      first = at;
      hit = &s;
    }
  }
  if (hit != nullptr) {
    stopped_ = true;
    std::string out = held_.substr(0, first) + (hit->keep ? hit->text : std::string());
    held_.clear();
    return out;
  }
  // Hold back the longest tail that begins a stop string.
  std::size_t hold = 0;
  for (const StopString& s : stops_) {
    for (std::size_t k = std::min(s.text.size() - 1, held_.size()); k > hold; --k) {
      if (std::string_view(held_).substr(held_.size() - k) == std::string_view(s.text).substr(0, k)) {
        hold = k;
        break;
      }
    }
  }
  std::string out = held_.substr(0, held_.size() - hold);
  held_.erase(0, held_.size() - hold);
  return out;
}

std::string StopStringMatcher::flush() {
  std::string out;
  out.swap(held_);
  return out;
}

}  // namespace edge_rt::runtime
