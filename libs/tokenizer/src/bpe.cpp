// The BPE merge loop, merge tables and added-token splitting shared by the GPT-2 and SentencePiece tokenizers.

#include "internal.hpp"
#include "unicode.hpp"

#include <algorithm>
#include <queue>

namespace edge_rt::tokenizer::detail {

std::optional<TokenId> VocabTable::find(std::string_view piece) const {
  const auto it = ids.find(std::string(piece));
  if (it == ids.end()) return std::nullopt;
  return it->second;
}

void MergeTable::insert(TokenId left, TokenId right, Rule rule) {
  rules_.try_emplace(key(left, right), rule);
}

const MergeTable::Rule* MergeTable::find(TokenId left, TokenId right) const {
  const auto it = rules_.find(key(left, right));
  return it == rules_.end() ? nullptr : &it->second;
}

namespace {

constexpr std::size_t kNone = static_cast<std::size_t>(-1);

bool is_ascii_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

bool is_word_char(char32_t cp) {
  return cp == U'_' || is_letter(cp) || is_number(cp);
}

/// Whether the last character of `text` is a word character (\w: letter, number, underscore).
bool ends_in_word_char(std::string_view text) {
  if (text.empty()) return false;
  std::size_t start = text.size() - 1;
  while (start > 0 && (static_cast<unsigned char>(text[start]) & 0xC0) == 0x80) --start;
  const Utf8Step step = decode_utf8(text, start);
  return step.status == Utf8Status::kComplete && is_word_char(step.code_point);
}

bool starts_with_word_char(std::string_view text) {
  if (text.empty()) return false;
  const Utf8Step step = decode_utf8(text, 0);
  return step.status == Utf8Status::kComplete && is_word_char(step.code_point);
}

struct Candidate {
  std::uint32_t rank;
  std::size_t left;  // index of the left symbol; lower is further left
  TokenId left_id;
  TokenId right_id;
};

struct LaterFirst {  // std::priority_queue is a max-heap; invert to pop (lowest rank, leftmost) first
  bool operator()(const Candidate& a, const Candidate& b) const {
    return a.rank != b.rank ? a.rank > b.rank : a.left > b.left;
  }
};

}  // namespace

void apply_merges(std::vector<TokenId>& symbols, const MergeTable& merges) {
  const std::size_t n = symbols.size();
  if (n < 2) return;
  // Symbols form a linked list; a merge keeps the left index (so index order stays text order) and unlinks the right.
  std::vector<std::size_t> next(n);
  std::vector<std::size_t> prev(n);
  for (std::size_t i = 0; i < n; ++i) {
    next[i] = i + 1 < n ? i + 1 : kNone;
    prev[i] = i == 0 ? kNone : i - 1;
  }
  std::priority_queue<Candidate, std::vector<Candidate>, LaterFirst> heap;
  const auto push = [&](std::size_t left) {
    if (left == kNone || next[left] == kNone) return;
    const TokenId a = symbols[left];
    const TokenId b = symbols[next[left]];
    if (const MergeTable::Rule* rule = merges.find(a, b)) heap.push({rule->rank, left, a, b});
  };
  for (std::size_t i = 0; i + 1 < n; ++i) push(i);

  std::vector<bool> alive(n, true);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    // Skip candidates made stale by an earlier merge on either side.
    if (!alive[c.left] || symbols[c.left] != c.left_id) continue;
    const std::size_t right = next[c.left];
    if (right == kNone || symbols[right] != c.right_id) continue;
    symbols[c.left] = merges.find(c.left_id, c.right_id)->merged;
    alive[right] = false;
    next[c.left] = next[right];
    if (next[right] != kNone) prev[next[right]] = c.left;
    push(prev[c.left]);
    push(c.left);
  }
  std::size_t out = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (alive[i]) symbols[out++] = symbols[i];
  }
  symbols.resize(out);
}

AddedTokenSplitter::AddedTokenSplitter(std::vector<AddedToken> tokens) : tokens_(std::move(tokens)) {
  std::erase_if(tokens_, [](const AddedToken& t) { return t.content.empty(); });
  std::stable_sort(tokens_.begin(), tokens_.end(),
                   [](const AddedToken& a, const AddedToken& b) { return a.content.size() > b.content.size(); });
  for (std::size_t i = 0; i < tokens_.size(); ++i) {
    by_first_[static_cast<unsigned char>(tokens_[i].content[0])].push_back(static_cast<std::uint32_t>(i));
  }
}

const AddedToken* AddedTokenSplitter::match_at(std::string_view text, std::size_t pos) const {
  for (const std::uint32_t i : by_first_[static_cast<unsigned char>(text[pos])]) {
    const AddedToken& t = tokens_[i];
    if (!text.substr(pos).starts_with(t.content)) continue;
    if (t.single_word &&
        (ends_in_word_char(text.substr(0, pos)) || starts_with_word_char(text.substr(pos + t.content.size())))) {
      continue;
    }
    return &t;  // longest first
  }
  return nullptr;
}

std::size_t AddedTokenSplitter::skip_space_back(std::string_view text, std::size_t floor, std::size_t pos) {
  while (pos > floor && is_ascii_space(text[pos - 1])) --pos;
  return pos;
}

std::size_t AddedTokenSplitter::skip_space(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_ascii_space(text[pos])) ++pos;
  return pos;
}

int byte_piece_value(std::string_view piece) {
  const auto hex = [](char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  if (piece.size() != 6 || !piece.starts_with("<0x") || piece[5] != '>') return -1;
  const int hi = hex(piece[3]);
  const int lo = hex(piece[4]);
  return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

}  // namespace edge_rt::tokenizer::detail
