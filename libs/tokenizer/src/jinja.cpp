// A Jinja2 subset for chat templates: lexer with Jinja's whitespace rules, recursive-descent parser, tree walker
// over Python-like values. Semantics follow Jinja 3.1 and Python 3 where templates can observe them (str() of
// values, truthiness, ==, and/or returning an operand, floor division, negative indices, slices); the reference
// tests render the same templates with Python's jinja2 and compare byte for byte.
//
// Errors unwind with an exception private to this file: the parser and the tree walker report the first problem
// and stop, and Template::parse / Template::render turn it into a Result. Nothing escapes this file.

#include "jinja.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <variant>
#include <vector>

namespace edge_rt::tokenizer::detail::jinja {
namespace {

struct Failure {
  ErrorCode code;
  std::string message;
};

constexpr std::size_t kMaxOutputBytes = std::size_t{64} << 20;
constexpr std::size_t kMaxIterations = 1'000'000;
constexpr std::size_t kMaxDepth = 200;  // block and expression nesting, macro recursion

// ---------------------------------------------------------------------------------------------------------------
// Values

struct Value;
using List = std::vector<Value>;
struct Dict;
struct Callable;
struct Undefined {
  std::string name;  // what was looked up, for the error when it is used
};
struct None {};
// A namespace() object: the one mutable value (set ns.x = ...).
struct Namespace {
  std::shared_ptr<Dict> attrs;
};

struct Value {
  std::variant<Undefined, None, bool, std::int64_t, double, std::string, std::shared_ptr<const List>,
               std::shared_ptr<const Dict>, Namespace, std::shared_ptr<const Callable>>
      v;

  Value() = default;
  template <class T>
  Value(T x) requires(!std::same_as<std::decay_t<T>, Value>) : v(std::move(x)) {}
  Value(const char* s) : v(std::string(s)) {}
  Value(int i) : v(std::int64_t{i}) {}
  Value(std::size_t i) : v(static_cast<std::int64_t>(i)) {}
  Value(List l) : v(std::make_shared<const List>(std::move(l))) {}

  template <class T>
  const T* get() const {
    return std::get_if<T>(&v);
  }
  bool undefined() const { return get<Undefined>() != nullptr; }
  bool none() const { return get<None>() != nullptr; }
  const std::string* str() const { return get<std::string>(); }
  const List* list() const {
    const auto* p = get<std::shared_ptr<const List>>();
    return p ? p->get() : nullptr;
  }
  const Dict* dict() const;
  bool number() const { return get<std::int64_t>() || get<double>() || get<bool>(); }
};

struct Dict {
  std::vector<std::pair<std::string, Value>> items;  // insertion order, as Python dicts and JSON objects keep it
  const Value* find(std::string_view key) const {
    for (const auto& [k, v] : items) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  void set(std::string key, Value value) {
    for (auto& [k, v] : items) {
      if (k == key) {
        v = std::move(value);
        return;
      }
    }
    items.emplace_back(std::move(key), std::move(value));
  }
};

const Dict* Value::dict() const {
  if (const auto* p = get<std::shared_ptr<const Dict>>()) return p->get();
  if (const auto* n = get<Namespace>()) return n->attrs.get();
  return nullptr;
}

struct Args {
  std::vector<Value> positional;
  std::vector<std::pair<std::string, Value>> keyword;
};

struct Callable {
  std::string name;
  std::function<Value(Args&)> call;
};

Value make_dict(Dict d) {
  return Value(std::make_shared<const Dict>(std::move(d)));
}

Value from_json(const boost::json::value& j) {
  switch (j.kind()) {
    case boost::json::kind::null: return None{};
    case boost::json::kind::bool_: return j.get_bool();
    case boost::json::kind::int64: return j.get_int64();
    case boost::json::kind::uint64: return static_cast<double>(j.get_uint64());
    case boost::json::kind::double_: return j.get_double();
    case boost::json::kind::string: return std::string(j.get_string());
    case boost::json::kind::array: {
      List l;
      for (const auto& e : j.get_array()) l.push_back(from_json(e));
      return l;
    }
    case boost::json::kind::object: {
      Dict d;
      for (const auto& [k, e] : j.get_object()) d.items.emplace_back(std::string(k), from_json(e));
      return make_dict(std::move(d));
    }
  }
  return None{};
}

// Python's float repr: shortest round-trip digits, scientific below 1e-4 and from 1e16.
std::string float_repr(double x) {
  if (std::isnan(x)) return "nan";
  if (std::isinf(x)) return x > 0 ? "inf" : "-inf";
  if (x == 0) return std::signbit(x) ? "-0.0" : "0.0";
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::scientific);
  const std::string sci(buf, r.ptr);
  const std::size_t e = sci.find('e');
  std::string mantissa = sci.substr(0, e);
  const int exp = std::stoi(sci.substr(e + 1));
  const bool negative = mantissa[0] == '-';
  if (negative) mantissa.erase(0, 1);
  std::string digits;
  for (char c : mantissa) {
    if (c != '.') digits += c;
  }
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    char ebuf[16];
    std::snprintf(ebuf, sizeof ebuf, "e%c%02d", exp < 0 ? '-' : '+', std::abs(exp));
    out += ebuf;
  } else if (exp < 0) {
    out = "0." + std::string(static_cast<std::size_t>(-exp - 1), '0') + digits;
  } else {
    const auto int_digits = static_cast<std::size_t>(exp + 1);
    if (digits.size() <= int_digits) {
      out = digits + std::string(int_digits - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, int_digits) + "." + digits.substr(int_digits);
    }
  }
  return negative ? "-" + out : out;
}

std::string string_repr(const std::string& s) {
  const bool dq = s.find('\'') != std::string::npos && s.find('"') == std::string::npos;
  const char q = dq ? '"' : '\'';
  std::string out(1, q);
  for (const char c : s) {
    if (c == q || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + q;
}

std::string repr(const Value& v);

// Python's str(value) as Jinja prints it; undefined prints as "".
std::string to_str(const Value& v) {
  if (v.undefined()) return "";
  if (const auto* s = v.str()) return *s;
  if (v.none()) return "None";
  if (const auto* b = v.get<bool>()) return *b ? "True" : "False";
  if (const auto* i = v.get<std::int64_t>()) return std::to_string(*i);
  if (const auto* f = v.get<double>()) return float_repr(*f);
  return repr(v);
}

std::string repr(const Value& v) {
  if (const auto* s = v.str()) return string_repr(*s);
  if (const auto* l = v.list()) {
    std::string out = "[";
    for (std::size_t i = 0; i < l->size(); ++i) out += (i ? ", " : "") + repr((*l)[i]);
    return out + "]";
  }
  if (v.get<Namespace>()) return "<Namespace>";
  if (const auto* d = v.dict()) {
    std::string out = "{";
    for (std::size_t i = 0; i < d->items.size(); ++i) {
      out += (i ? ", " : "") + string_repr(d->items[i].first) + ": " + repr(d->items[i].second);
    }
    return out + "}";
  }
  if (const auto* c = v.get<std::shared_ptr<const Callable>>()) return "<function " + (*c)->name + ">";
  return to_str(v);
}

const char* type_name(const Value& v) {
  switch (v.v.index()) {
    case 0: return "undefined";
    case 1: return "None";
    case 2: return "bool";
    case 3: return "int";
    case 4: return "float";
    case 5: return "str";
    case 6: return "list";
    case 7: return "dict";
    case 8: return "namespace";
    default: return "function";
  }
}

bool truthy(const Value& v) {
  if (v.undefined() || v.none()) return false;
  if (const auto* b = v.get<bool>()) return *b;
  if (const auto* i = v.get<std::int64_t>()) return *i != 0;
  if (const auto* f = v.get<double>()) return *f != 0;
  if (const auto* s = v.str()) return !s->empty();
  if (const auto* l = v.list()) return !l->empty();
  if (v.get<Namespace>()) return true;
  if (const auto* d = v.dict()) return !d->items.empty();
  return true;
}

double as_double(const Value& v) {
  if (const auto* b = v.get<bool>()) return *b ? 1 : 0;
  if (const auto* i = v.get<std::int64_t>()) return static_cast<double>(*i);
  return *v.get<double>();
}
bool is_integral(const Value& v) {
  return v.get<std::int64_t>() || v.get<bool>();
}
std::int64_t as_int(const Value& v) {
  if (const auto* b = v.get<bool>()) return *b ? 1 : 0;
  return *v.get<std::int64_t>();
}

bool equal(const Value& a, const Value& b) {
  if (a.number() && b.number()) {
    if (is_integral(a) && is_integral(b)) return as_int(a) == as_int(b);
    return as_double(a) == as_double(b);
  }
  if (a.v.index() != b.v.index()) return false;
  if (a.undefined() || a.none()) return true;
  if (const auto* s = a.str()) return *s == *b.str();
  if (const auto* l = a.list()) {
    const List& r = *b.list();
    if (l->size() != r.size()) return false;
    for (std::size_t i = 0; i < l->size(); ++i) {
      if (!equal((*l)[i], r[i])) return false;
    }
    return true;
  }
  if (const auto* d = a.dict()) {
    const Dict& r = *b.dict();
    if (d->items.size() != r.items.size()) return false;
    for (const auto& [k, v] : d->items) {
      const Value* o = r.find(k);
      if (!o || !equal(v, *o)) return false;
    }
    return true;
  }
  return false;
}

// UTF-8 code points of a string, for iteration, len() and indexing as Python strings do.
std::vector<std::string> code_points(const std::string& s) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = 1;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0xF0) {
      n = 4;
    } else if (c >= 0xE0) {
      n = 3;
    } else if (c >= 0xC0) {
      n = 2;
    }
    n = std::min(n, s.size() - i);
    out.push_back(s.substr(i, n));
    i += n;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Lexer: template text to segments, then tag contents to tokens.

enum class SegKind { kText, kOutput, kStatement };
struct Segment {
  SegKind kind;
  std::string text;  // text, or the tag's content without delimiters and whitespace-control marks
  int line;
};

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

class Lexer {
 public:
  Lexer(std::string_view src, const std::string& label) : src_(src), label_(label) {
    for (std::size_t i = 0; i < src_.size(); ++i) {
      if (src_[i] == '\n') newlines_.push_back(i);
    }
  }

  std::vector<Segment> segments() {
    struct Raw {
      SegKind kind;  // kStatement for comments too (trim_blocks and lstrip_blocks treat them alike)
      bool comment = false;
      std::string content;
      bool strip_before = false, strip_after = false, keep_before = false, keep_after = false;
      std::size_t begin = 0, end = 0;  // source offsets of the whole tag
      int line = 1;
    };
    std::vector<Raw> tags;
    std::size_t pos = 0;
    while (true) {
      const std::size_t open = find_open(pos);
      if (open == std::string_view::npos) break;
      Raw t;
      t.begin = open;
      t.line = line_of(open);
      const char k = src_[open + 1];
      t.kind = k == '{' ? SegKind::kOutput : SegKind::kStatement;
      t.comment = k == '#';
      std::size_t body = open + 2;
      if (body < src_.size() && (src_[body] == '-' || src_[body] == '+')) {
        (src_[body] == '-' ? t.strip_before : t.keep_before) = true;
        ++body;
      }
      const char close_char = k == '{' ? '}' : (k == '%' ? '%' : '#');
      const std::size_t close = find_close(body, close_char, t.comment);
      if (close == std::string_view::npos) {
        throw Failure{ErrorCode::kInvalidFormat, label_ + ":" + std::to_string(t.line) + ": unclosed '{" +
                                                     std::string(1, k) + "' tag (expected '" +
                                                     std::string(1, close_char) + "}')"};
      }
      std::size_t content_end = close;
      if (content_end > body && (src_[content_end - 1] == '-' || src_[content_end - 1] == '+')) {
        (src_[content_end - 1] == '-' ? t.strip_after : t.keep_after) = true;
        --content_end;
      }
      t.content = std::string(src_.substr(body, content_end - body));
      t.end = close + 2;
      pos = t.end;
      tags.push_back(std::move(t));
    }

    // Text between tags, with Jinja's whitespace control (lexer.py): '-' strips all whitespace on its side;
    // trim_blocks drops the first newline after a block or comment tag; lstrip_blocks drops spaces and tabs
    // between the start of a line and a block or comment tag.
    std::vector<Segment> out;
    std::size_t text_begin = 0;
    for (std::size_t i = 0; i <= tags.size(); ++i) {
      const Raw* prev = i > 0 ? &tags[i - 1] : nullptr;
      const Raw* next = i < tags.size() ? &tags[i] : nullptr;
      std::size_t b = text_begin;
      std::size_t e = next ? next->begin : src_.size();
      if (prev) {
        if (prev->strip_after) {
          while (b < e && is_space(src_[b])) ++b;
        } else if (prev->kind == SegKind::kStatement && !prev->keep_after && b < e && src_[b] == '\n') {
          ++b;
        }
      }
      if (next) {
        if (next->strip_before) {
          while (e > b && is_space(src_[e - 1])) --e;
        } else if (next->kind == SegKind::kStatement && !next->keep_before) {
          std::size_t s = e;
          while (s > b && (src_[s - 1] == ' ' || src_[s - 1] == '\t')) --s;
          const bool line_start = s == 0 || src_[s - 1] == '\n';
          if (line_start) e = s;
        }
      }
      if (e > b) out.push_back({SegKind::kText, std::string(src_.substr(b, e - b)), line_of(b)});
      if (next) {
        if (!next->comment) out.push_back({next->kind, next->content, next->line});
        text_begin = next->end;
      }
    }
    return out;
  }

 private:
  std::size_t find_open(std::size_t from) const {
    for (std::size_t i = from; i + 1 < src_.size(); ++i) {
      if (src_[i] == '{' && (src_[i + 1] == '{' || src_[i + 1] == '%' || src_[i + 1] == '#')) return i;
    }
    return std::string_view::npos;
  }
  // The closing delimiter, skipping string literals inside expression and statement tags.
  std::size_t find_close(std::size_t from, char close_char, bool comment) const {
    char quote = 0;
    std::size_t depth = 0;
    for (std::size_t i = from; i + 1 < src_.size(); ++i) {
      const char c = src_[i];
      if (quote) {
        if (c == '\\') {
          ++i;
        } else if (c == quote) {
          quote = 0;
        }
        continue;
      }
      if (!comment && (c == '\'' || c == '"')) {
        quote = c;
        continue;
      }
      // Brackets balance first, as Jinja's lexer does, so "{{ {'a': {}}}}" closes at the last "}}".
      if (!comment && depth > 0 && (c == ')' || c == ']' || c == '}')) {
        --depth;
        continue;
      }
      if (!comment && (c == '(' || c == '[' || c == '{')) {
        ++depth;
        continue;
      }
      if (c == close_char && src_[i + 1] == '}') {
        // '-}}' or '+%}' are whitespace marks that belong to this closing delimiter.
        return i;
      }
    }
    return std::string_view::npos;
  }
  int line_of(std::size_t offset) const {
    return 1 + static_cast<int>(std::ranges::lower_bound(newlines_, offset) - newlines_.begin());
  }

  std::string_view src_;
  std::vector<std::size_t> newlines_;
  const std::string& label_;
};

enum class TokKind { kName, kString, kInt, kFloat, kOp, kEnd };
struct Token {
  TokKind kind;
  std::string text;  // name, operator, or the decoded string literal
  std::int64_t i = 0;
  double f = 0;
};

std::vector<Token> tokenize(const std::string& s, const std::string& where) {
  std::vector<Token> out;
  std::size_t i = 0;
  const auto bad = [&](const std::string& what) { throw Failure{ErrorCode::kInvalidFormat, where + ": " + what}; };
  while (i < s.size()) {
    const char c = s[i];
    if (is_space(c)) {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      std::size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({TokKind::kName, s.substr(i, j - i)});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      std::size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        std::size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          is_float = true;
          j = k;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        }
      }
      std::string digits;
      for (std::size_t k = i; k < j; ++k) {
        if (s[k] != '_') digits += s[k];
      }
      Token t{is_float ? TokKind::kFloat : TokKind::kInt, digits};
      if (is_float) {
        t.f = std::strtod(digits.c_str(), nullptr);
      } else {
        const auto r = std::from_chars(digits.data(), digits.data() + digits.size(), t.i);
        if (r.ec != std::errc()) bad("integer literal '" + digits + "' is out of range");
      }
      out.push_back(std::move(t));
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string value;
      std::size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] == '\\' && j + 1 < s.size()) {
          const char e = s[++j];
          switch (e) {
            case 'n': value += '\n'; break;
            case 't': value += '\t'; break;
            case 'r': value += '\r'; break;
            case '\\':
            case '\'':
            case '"': value += e; break;
            default:  // Python keeps unknown escapes as written
              value += '\\';
              value += e;
          }
        } else {
          value += s[j];
        }
      }
      if (j >= s.size()) bad("unterminated string literal");
      out.push_back({TokKind::kString, std::move(value)});
      i = j + 1;
      continue;
    }
    static constexpr std::string_view kTwo[] = {"==", "!=", "<=", ">=", "//", "**"};
    bool two = false;
    for (const auto op : kTwo) {
      if (s.compare(i, 2, op) == 0) {
        out.push_back({TokKind::kOp, std::string(op)});
        i += 2;
        two = true;
        break;
      }
    }
    if (two) continue;
    if (std::string_view("+-*/%~<>=()[]{},.:|").find(c) != std::string_view::npos) {
      out.push_back({TokKind::kOp, std::string(1, c)});
      ++i;
      continue;
    }
    bad("unexpected character '" + std::string(1, c) + "'");
  }
  out.push_back({TokKind::kEnd, ""});
  return out;
}

// ---------------------------------------------------------------------------------------------------------------
// Syntax tree

struct Expr;
using ExprPtr = std::unique_ptr<const Expr>;
enum class ExprKind {
  kLiteral,
  kName,
  kList,
  kDict,
  kAttr,
  kItem,
  kSlice,
  kCall,
  kFilter,
  kTest,
  kNot,
  kNeg,
  kBinary,
  kAnd,
  kOr,
  kCompare,
  kCond
};
struct Expr {
  ExprKind kind;
  int line = 0;
  Value literal;
  std::string name;           // variable, attribute, filter, test, operator
  bool negated = false;       // is not
  std::vector<ExprPtr> args;  // operands / positional arguments; slice: start, stop, step (nullable)
  std::vector<std::pair<std::string, ExprPtr>> kwargs;
};

using NodePtr = std::unique_ptr<const Node>;
using Body = std::vector<NodePtr>;
enum class NodeKind { kText, kOutput, kIf, kFor, kSet, kSetBlock, kMacro, kBreak, kContinue, kBlock };
}  // namespace

struct Node {
  NodeKind kind;
  int line = 0;
  std::string text;                                     // kText
  std::vector<std::string> targets;                     // kFor, kSet, kSetBlock: names; kSet "ns.attr": {ns, attr}
  bool attribute_target = false;                        // kSet of a namespace attribute
  ExprPtr expr;                                         // kOutput, kSet value, kFor iterable
  ExprPtr filter;                                       // kFor ... if cond
  std::vector<std::pair<ExprPtr, Body>> branches;       // kIf: (condition, body)...
  Body body;                                            // kFor, kSetBlock, kMacro, kBlock, kIf's else
  Body else_body;                                       // kFor else
  std::string macro_name;                               // kMacro
  std::vector<std::pair<std::string, ExprPtr>> params;  // kMacro: name, default (nullable)
};

namespace {

// ---------------------------------------------------------------------------------------------------------------
// Parser

class Parser {
 public:
  Parser(std::vector<Segment> segments, const std::string& label) : segs_(std::move(segments)), label_(label) {}

  Body parse_template() {
    std::string end;
    Body body = parse_body({}, end);
    return body;
  }

 private:
  [[noreturn]] void error(int line, const std::string& what) const {
    throw Failure{ErrorCode::kInvalidFormat, label_ + ":" + std::to_string(line) + ": " + what};
  }

  // Parses nodes until a statement whose keyword is in `ends` (returned in `end`); at the top level `ends` is empty
  // and the input must run out.
  Body parse_body(const std::vector<std::string>& ends, std::string& end) {
    DepthGuard guard(*this);  // nested blocks recurse here, and so will rendering them
    Body body;
    while (seg_ < segs_.size()) {
      const Segment& s = segs_[seg_++];
      if (s.kind == SegKind::kText) {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kText;
        n->text = s.text;
        body.push_back(std::move(n));
        continue;
      }
      start_tokens(s);
      if (s.kind == SegKind::kOutput) {
        auto n = std::make_unique<Node>();
        n->kind = NodeKind::kOutput;
        n->line = line_;
        n->expr = parse_expr();
        expect_end();
        body.push_back(std::move(n));
        continue;
      }
      const Token& kw = next();
      if (kw.kind != TokKind::kName) error(line_, "expected a statement keyword");
      if (std::ranges::find(ends, kw.text) != ends.end()) {
        end = kw.text;
        return body;
      }
      body.push_back(parse_statement(kw.text));
    }
    if (!ends.empty()) {
      error(segs_.empty() ? 1 : segs_.back().line, "unexpected end of template: expected '{% " + ends.back() + " %}'");
    }
    return body;
  }

  NodePtr parse_statement(const std::string& kw) {
    auto n = std::make_unique<Node>();
    n->line = line_;
    const int line = line_;
    if (kw == "if") {
      n->kind = NodeKind::kIf;
      ExprPtr cond = parse_expr();
      while (true) {
        expect_end();
        std::string end;
        Body body = parse_body({"elif", "else", "endif"}, end);
        n->branches.emplace_back(std::move(cond), std::move(body));
        if (end == "elif") {
          cond = parse_expr();
          continue;
        }
        if (end == "else") {
          expect_end();
          n->body = parse_body({"endif"}, end);
        }
        expect_end();
        return n;
      }
    }
    if (kw == "for") {
      n->kind = NodeKind::kFor;
      do {
        n->targets.push_back(expect_name("a loop variable"));
      } while (accept_op(","));
      if (!accept_name("in")) error(line, "expected 'in' after the loop variables");
      n->expr = parse_or_level();  // an inline 'if' here is the loop filter, not a conditional expression
      if (accept_name("if")) n->filter = parse_expr();
      if (accept_name("recursive")) unsupported(line, "recursive loops");
      expect_end();
      std::string end;
      ++loop_depth_;
      n->body = parse_body({"else", "endfor"}, end);
      --loop_depth_;
      if (end == "else") {
        expect_end();
        n->else_body = parse_body({"endfor"}, end);
      }
      expect_end();
      return n;
    }
    if (kw == "set") {
      std::string first = expect_name("a variable name");
      if (accept_op(".")) {
        n->kind = NodeKind::kSet;
        n->attribute_target = true;
        n->targets = {first, expect_name("an attribute name")};
        if (!accept_op("=")) error(line, "expected '=' in set");
        n->expr = parse_expr();
        expect_end();
        return n;
      }
      n->targets.push_back(first);
      while (accept_op(",")) n->targets.push_back(expect_name("a variable name"));
      if (accept_op("=")) {
        n->kind = NodeKind::kSet;
        n->expr = parse_tuple_or_expr();
        expect_end();
        return n;
      }
      if (n->targets.size() != 1) error(line, "a block set assigns one name");
      expect_end();
      n->kind = NodeKind::kSetBlock;
      std::string end;
      n->body = parse_body({"endset"}, end);
      expect_end();
      return n;
    }
    if (kw == "macro") {
      n->kind = NodeKind::kMacro;
      n->macro_name = expect_name("a macro name");
      if (!accept_op("(")) error(line, "expected '(' after the macro name");
      if (!accept_op(")")) {
        do {
          std::string p = expect_name("a parameter name");
          ExprPtr def;
          if (accept_op("=")) def = parse_expr();
          n->params.emplace_back(std::move(p), std::move(def));
        } while (accept_op(","));
        if (!accept_op(")")) error(line, "expected ')' after the macro parameters");
      }
      expect_end();
      std::string end;
      n->body = parse_body({"endmacro"}, end);
      expect_end();
      return n;
    }
    if (kw == "break" || kw == "continue") {
      if (loop_depth_ == 0) error(line, "'" + kw + "' outside a loop");
      n->kind = kw == "break" ? NodeKind::kBreak : NodeKind::kContinue;
      expect_end();
      return n;
    }
    if (kw == "generation") {  // transformers' AssistantTracker tag: marks assistant tokens, renders its body
      n->kind = NodeKind::kBlock;
      expect_end();
      std::string end;
      n->body = parse_body({"endgeneration"}, end);
      expect_end();
      return n;
    }
    static constexpr std::string_view kKnownEnds[] = {"endif",  "endfor",   "else",         "elif",
                                                      "endset", "endmacro", "endgeneration"};
    if (std::ranges::find(kKnownEnds, kw) != std::end(kKnownEnds)) error(line, "unexpected '{% " + kw + " %}'");
    unsupported(line, "the '" + kw + "' tag");
  }

  [[noreturn]] void unsupported(int line, const std::string& what) const {
    throw Failure{ErrorCode::kUnsupported,
                  label_ + ":" + std::to_string(line) + ": " + what + " is outside edge-rt's Jinja subset"};
  }

  // Tokens of one tag.
  void start_tokens(const Segment& s) {
    line_ = s.line;
    toks_ = tokenize(s.text, label_ + ":" + std::to_string(s.line));
    tok_ = 0;
  }
  const Token& peek(std::size_t ahead = 0) const { return toks_[std::min(tok_ + ahead, toks_.size() - 1)]; }
  const Token& next() {
    const Token& t = peek();
    if (tok_ < toks_.size() - 1) ++tok_;
    return t;
  }
  bool accept_op(std::string_view op) {
    if (peek().kind == TokKind::kOp && peek().text == op) {
      next();
      return true;
    }
    return false;
  }
  bool accept_name(std::string_view name) {
    if (peek().kind == TokKind::kName && peek().text == name) {
      next();
      return true;
    }
    return false;
  }
  std::string expect_name(const char* what) {
    if (peek().kind != TokKind::kName) error(line_, std::string("expected ") + what + ", got '" + peek().text + "'");
    return next().text;
  }
  void expect_end() {
    if (peek().kind != TokKind::kEnd) error(line_, "unexpected '" + peek().text + "' at the end of the tag");
  }

  struct DepthGuard {
    Parser& p;
    explicit DepthGuard(Parser& parser) : p(parser) {
      if (++p.depth_ > kMaxDepth) p.error(p.line_, "nested too deeply (over 200 levels)");
    }
    ~DepthGuard() { --p.depth_; }
  };

  // a, b (a tuple, as a list) or a single expression: the right side of set.
  ExprPtr parse_tuple_or_expr() {
    ExprPtr first = parse_expr();
    if (peek().kind != TokKind::kOp || peek().text != ",") return first;
    auto list = std::make_unique<Expr>();
    list->kind = ExprKind::kList;
    list->line = line_;
    list->args.push_back(std::move(first));
    while (accept_op(",")) {
      if (peek().kind == TokKind::kEnd) break;
      list->args.push_back(parse_expr());
    }
    return list;
  }

  ExprPtr parse_expr() {
    DepthGuard guard(*this);
    ExprPtr value = parse_or_level();
    if (accept_name("if")) {
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::kCond;
      e->line = line_;
      ExprPtr cond = parse_or_level();
      ExprPtr otherwise;
      if (accept_name("else")) otherwise = parse_expr();
      e->args.push_back(std::move(cond));
      e->args.push_back(std::move(value));
      e->args.push_back(std::move(otherwise));  // null: undefined
      return e;
    }
    return value;
  }
  ExprPtr binary(ExprKind k, std::string op, ExprPtr l, ExprPtr r) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line_;
    e->name = std::move(op);
    e->args.push_back(std::move(l));
    e->args.push_back(std::move(r));
    return e;
  }
  ExprPtr parse_or_level() {
    ExprPtr l = parse_and();
    while (accept_name("or")) l = binary(ExprKind::kOr, "or", std::move(l), parse_and());
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (accept_name("and")) l = binary(ExprKind::kAnd, "and", std::move(l), parse_not());
    return l;
  }
  ExprPtr parse_not() {
    DepthGuard guard(*this);
    if (accept_name("not")) {
      auto e = std::make_unique<Expr>();
      e->kind = ExprKind::kNot;
      e->line = line_;
      e->args.push_back(parse_not());
      return e;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr l = parse_math1();
    while (true) {
      const Token& t = peek();
      std::string op;
      if (t.kind == TokKind::kOp &&
          (t.text == "==" || t.text == "!=" || t.text == "<" || t.text == ">" || t.text == "<=" || t.text == ">=")) {
        op = next().text;
      } else if (accept_name("in")) {
        op = "in";
      } else if (t.kind == TokKind::kName && t.text == "not" && peek(1).kind == TokKind::kName &&
                 peek(1).text == "in") {
        next();
        next();
        op = "not in";
      } else {
        return l;
      }
      l = binary(ExprKind::kCompare, op, std::move(l), parse_math1());
    }
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (peek().kind == TokKind::kOp && (peek().text == "+" || peek().text == "-")) {
      std::string op = next().text;
      l = binary(ExprKind::kBinary, op, std::move(l), parse_concat());
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    while (accept_op("~")) l = binary(ExprKind::kBinary, "~", std::move(l), parse_math2());
    return l;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (peek().kind == TokKind::kOp &&
           (peek().text == "*" || peek().text == "/" || peek().text == "//" || peek().text == "%")) {
      std::string op = next().text;
      l = binary(ExprKind::kBinary, op, std::move(l), parse_pow());
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary();
    while (accept_op("**")) l = binary(ExprKind::kBinary, "**", std::move(l), parse_unary());
    return l;
  }
  ExprPtr parse_unary() {
    DepthGuard guard(*this);
    ExprPtr e;
    if (accept_op("-")) {
      auto n = std::make_unique<Expr>();
      n->kind = ExprKind::kNeg;
      n->line = line_;
      n->args.push_back(parse_unary_no_filter());
      e = std::move(n);
    } else if (accept_op("+")) {
      e = parse_unary_no_filter();
    } else {
      e = parse_postfix(parse_primary());
    }
    return parse_filters(std::move(e));
  }
  ExprPtr parse_unary_no_filter() {
    DepthGuard guard(*this);
    if (accept_op("-")) {
      auto n = std::make_unique<Expr>();
      n->kind = ExprKind::kNeg;
      n->line = line_;
      n->args.push_back(parse_unary_no_filter());
      return n;
    }
    return parse_postfix(parse_primary());
  }

  void parse_call_args(Expr& e) {
    // after '('
    if (accept_op(")")) return;
    do {
      if (peek().kind == TokKind::kOp && peek().text == ")") break;  // trailing comma
      if (peek().kind == TokKind::kName && peek(1).kind == TokKind::kOp && peek(1).text == "=") {
        std::string key = next().text;
        next();
        e.kwargs.emplace_back(std::move(key), parse_expr());
      } else {
        if (!e.kwargs.empty()) error(line_, "a positional argument after a keyword argument");
        e.args.push_back(parse_expr());
      }
    } while (accept_op(","));
    if (!accept_op(")")) error(line_, "expected ')' after the arguments");
  }

  ExprPtr parse_primary() {
    DepthGuard guard(*this);
    const Token t = next();
    auto e = std::make_unique<Expr>();
    e->line = line_;
    switch (t.kind) {
      case TokKind::kString: {
        std::string s = t.text;
        while (peek().kind == TokKind::kString) s += next().text;  // adjacent literals concatenate
        e->kind = ExprKind::kLiteral;
        e->literal = std::move(s);
        return e;
      }
      case TokKind::kInt:
        e->kind = ExprKind::kLiteral;
        e->literal = t.i;
        return e;
      case TokKind::kFloat:
        e->kind = ExprKind::kLiteral;
        e->literal = t.f;
        return e;
      case TokKind::kName:
        e->kind = ExprKind::kLiteral;
        if (t.text == "true" || t.text == "True") {
          e->literal = true;
        } else if (t.text == "false" || t.text == "False") {
          e->literal = false;
        } else if (t.text == "none" || t.text == "None") {
          e->literal = None{};
        } else {
          e->kind = ExprKind::kName;
          e->name = t.text;
        }
        return e;
      case TokKind::kOp:
        if (t.text == "(") {
          if (accept_op(")")) {  // empty tuple
            e->kind = ExprKind::kList;
            return e;
          }
          ExprPtr inner = parse_expr();
          if (accept_op(",")) {
            e->kind = ExprKind::kList;
            e->args.push_back(std::move(inner));
            while (!accept_op(")")) {
              e->args.push_back(parse_expr());
              if (!accept_op(",")) {
                if (!accept_op(")")) error(line_, "expected ')' to close the tuple");
                break;
              }
            }
            return e;
          }
          if (!accept_op(")")) error(line_, "expected ')'");
          return inner;
        }
        if (t.text == "[") {
          e->kind = ExprKind::kList;
          while (!accept_op("]")) {
            e->args.push_back(parse_expr());
            if (!accept_op(",")) {
              if (!accept_op("]")) error(line_, "expected ']' to close the list");
              break;
            }
          }
          return e;
        }
        if (t.text == "{") {
          e->kind = ExprKind::kDict;
          while (!accept_op("}")) {
            e->args.push_back(parse_expr());
            if (!accept_op(":")) error(line_, "expected ':' in a dict literal");
            e->args.push_back(parse_expr());
            if (!accept_op(",")) {
              if (!accept_op("}")) error(line_, "expected '}' to close the dict");
              break;
            }
          }
          return e;
        }
        break;
      case TokKind::kEnd: error(line_, "unexpected end of the tag: expected an expression");
    }
    error(line_, "unexpected '" + t.text + "': expected an expression");
  }

  ExprPtr parse_postfix(ExprPtr e) {
    while (true) {
      if (accept_op(".")) {
        auto a = make_node(ExprKind::kAttr);
        if (peek().kind == TokKind::kInt) {  // x.0 is x[0] in Jinja
          a->kind = ExprKind::kItem;
          auto idx = make_node(ExprKind::kLiteral);
          idx->literal = next().i;
          a->args.push_back(std::move(e));
          a->args.push_back(std::move(idx));
        } else {
          a->name = expect_name("an attribute name");
          a->args.push_back(std::move(e));
        }
        e = std::move(a);
      } else if (accept_op("[")) {
        ExprPtr parts[3];
        bool slice = false;
        for (int k = 0; k < 3; ++k) {
          if (!(peek().kind == TokKind::kOp && (peek().text == ":" || peek().text == "]"))) parts[k] = parse_expr();
          if (k < 2 && accept_op(":")) {
            slice = true;
            continue;
          }
          break;
        }
        if (!accept_op("]")) error(line_, "expected ']'");
        if (!slice && !parts[0]) error(line_, "empty subscript");
        auto s = make_node(slice ? ExprKind::kSlice : ExprKind::kItem);
        s->args.push_back(std::move(e));
        for (int k = 0; k < (slice ? 3 : 1); ++k) s->args.push_back(std::move(parts[k]));
        e = std::move(s);
      } else if (accept_op("(")) {
        auto c = make_node(ExprKind::kCall);
        c->args.push_back(std::move(e));
        parse_call_args(*c);
        e = std::move(c);
      } else {
        return e;
      }
    }
  }

  ExprPtr parse_filters(ExprPtr e) {
    while (true) {
      if (accept_op("|")) {
        auto f = make_node(ExprKind::kFilter);
        f->name = expect_name("a filter name");
        f->args.push_back(std::move(e));
        if (accept_op("(")) parse_call_args(*f);
        e = parse_postfix(std::move(f));
      } else if (accept_name("is")) {
        auto t = make_node(ExprKind::kTest);
        t->negated = accept_name("not");
        t->name = expect_name("a test name");
        t->args.push_back(std::move(e));
        if (accept_op("(")) {
          parse_call_args(*t);
        } else {
          const Token& a = peek();
          const bool starts_arg = a.kind == TokKind::kString || a.kind == TokKind::kInt || a.kind == TokKind::kFloat ||
                                  (a.kind == TokKind::kName && a.text != "else" && a.text != "or" && a.text != "and" &&
                                   a.text != "if" && a.text != "is" && a.text != "in" && a.text != "not") ||
                                  (a.kind == TokKind::kOp && (a.text == "[" || a.text == "{"));
          if (starts_arg) t->args.push_back(parse_postfix(parse_primary()));
        }
        e = std::move(t);
      } else {
        return e;
      }
    }
  }

  std::unique_ptr<Expr> make_node(ExprKind k) const {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->line = line_;
    return e;
  }

  std::vector<Segment> segs_;
  std::size_t seg_ = 0;
  const std::string& label_;
  std::vector<Token> toks_;
  std::size_t tok_ = 0;
  int line_ = 1;
  std::size_t depth_ = 0;
  int loop_depth_ = 0;  // for bodies being parsed: break and continue belong inside one
};

// ---------------------------------------------------------------------------------------------------------------
// Renderer

enum class Flow { kNormal, kBreak, kContinue };

class Renderer {
 public:
  Renderer(const std::string& label, const boost::json::object& variables) : label_(label) {
    frames_.emplace_back();
    Frame& g = frames_.back();
    g.vars["range"] = builtin("range", [this](Args& a) { return range(a); });
    g.vars["namespace"] = builtin("namespace", [](Args& a) {
      auto d = std::make_shared<Dict>();
      for (auto& [k, v] : a.keyword) d->set(k, v);
      return Value(Namespace{std::move(d)});
    });
    g.vars["dict"] = builtin("dict", [](Args& a) {
      Dict d;
      for (auto& [k, v] : a.keyword) d.set(k, v);
      return make_dict(std::move(d));
    });
    g.vars["raise_exception"] = builtin("raise_exception", [this](Args& a) -> Value {
      throw Failure{ErrorCode::kInvalidArgument,
                    label_ + ": the template raised: " + (a.positional.empty() ? "" : to_str(a.positional[0]))};
    });
    g.vars["strftime_now"] = builtin("strftime_now", [this](Args& a) -> Value {
      const std::string fmt = a.positional.empty() ? "" : to_str(a.positional[0]);
      const std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      char buf[256];
      const std::size_t n = std::strftime(buf, sizeof buf, fmt.c_str(), &tm);
      if (n == 0 && !fmt.empty()) fail_at(0, "strftime_now: the format gives no text or more than 255 bytes");
      return std::string(buf, n);
    });
    for (const auto& [k, v] : variables) g.vars[std::string(k)] = from_json(v);
  }

  std::string run(const Body& body) {
    exec(body);
    return std::move(out_);
  }

 private:
  struct Frame {
    std::map<std::string, Value, std::less<>> vars;
    bool barrier = false;  // a macro call: lookups skip to the globals
  };

  [[noreturn]] void fail_at(int line, const std::string& what, ErrorCode code = ErrorCode::kInvalidFormat) const {
    throw Failure{code, label_ + (line > 0 ? ":" + std::to_string(line) : "") + ": " + what};
  }
  [[noreturn]] void unsupported(int line, const std::string& what) const {
    fail_at(line, what + " is outside edge-rt's Jinja subset", ErrorCode::kUnsupported);
  }

  static Value builtin(std::string name, std::function<Value(Args&)> fn) {
    return Value(std::make_shared<const Callable>(Callable{std::move(name), std::move(fn)}));
  }

  Value lookup(const std::string& name) const {
    for (std::size_t i = frames_.size(); i-- > 0;) {
      if (auto it = frames_[i].vars.find(name); it != frames_[i].vars.end()) return it->second;
      if (frames_[i].barrier) {
        if (auto g = frames_[0].vars.find(name); g != frames_[0].vars.end()) return g->second;
        break;
      }
    }
    return Undefined{name};
  }

  void emit(const std::string& s) {
    if (out_.size() + s.size() > kMaxOutputBytes) {
      fail_at(0, "output exceeds 64 MiB", ErrorCode::kInvalidArgument);
    }
    out_ += s;
  }

  void count_iteration(int line) {
    if (++iterations_ > kMaxIterations) {
      fail_at(line, "more than 1,000,000 loop iterations", ErrorCode::kInvalidArgument);
    }
  }

  // --- statements

  Flow exec(const Body& body) {
    for (const NodePtr& n : body) {
      const Flow f = exec(*n);
      if (f != Flow::kNormal) return f;
    }
    return Flow::kNormal;
  }

  Flow exec(const Node& n) {
    switch (n.kind) {
      case NodeKind::kText: emit(n.text); return Flow::kNormal;
      case NodeKind::kOutput: {
        const Value v = eval(*n.expr);
        emit(to_str(v));
        return Flow::kNormal;
      }
      case NodeKind::kIf:
        for (const auto& [cond, body] : n.branches) {
          if (truthy(eval(*cond))) return exec(body);
        }
        return exec(n.body);
      case NodeKind::kFor: return exec_for(n);
      case NodeKind::kSet: {
        Value v = eval(*n.expr);
        if (n.attribute_target) {
          const Value target = lookup(n.targets[0]);
          const auto* ns = target.get<Namespace>();
          if (!ns)
            fail_at(n.line, "set " + n.targets[0] + "." + n.targets[1] + ": '" + n.targets[0] + "' is not a namespace");
          ns->attrs->set(n.targets[1], std::move(v));
        } else {
          assign(n.targets, std::move(v), n.line);
        }
        return Flow::kNormal;
      }
      case NodeKind::kSetBlock: {
        std::string saved = std::move(out_);
        out_.clear();
        exec(n.body);
        std::string captured = std::move(out_);
        out_ = std::move(saved);
        frames_.back().vars[n.targets[0]] = std::move(captured);
        return Flow::kNormal;
      }
      case NodeKind::kMacro: frames_.back().vars[n.macro_name] = make_macro(n); return Flow::kNormal;
      case NodeKind::kBreak: return Flow::kBreak;
      case NodeKind::kContinue: return Flow::kContinue;
      case NodeKind::kBlock: return exec(n.body);
    }
    return Flow::kNormal;
  }

  void assign(const std::vector<std::string>& targets, Value v, int line) {
    if (targets.size() == 1) {
      frames_.back().vars[targets[0]] = std::move(v);
      return;
    }
    const List items = iterate(v, line);
    if (items.size() != targets.size()) {
      fail_at(line, "cannot unpack " + std::to_string(items.size()) + " values into " + std::to_string(targets.size()) +
                        " names");
    }
    for (std::size_t i = 0; i < targets.size(); ++i) frames_.back().vars[targets[i]] = items[i];
  }

  Flow exec_for(const Node& n) {
    const Value iterable = eval(*n.expr);
    List items = iterate(iterable, n.line);
    frames_.emplace_back();
    if (n.filter) {
      List kept;
      for (Value& item : items) {
        count_iteration(n.line);
        assign(n.targets, item, n.line);
        if (truthy(eval(*n.filter))) kept.push_back(std::move(item));
      }
      items = std::move(kept);
    }
    const std::size_t len = items.size();
    for (std::size_t i = 0; i < len; ++i) {
      count_iteration(n.line);
      assign(n.targets, items[i], n.line);
      Dict loop;
      loop.set("index", Value(i + 1));
      loop.set("index0", Value(i));
      loop.set("revindex", Value(len - i));
      loop.set("revindex0", Value(len - i - 1));
      loop.set("first", i == 0);
      loop.set("last", i + 1 == len);
      loop.set("length", Value(len));
      loop.set("previtem", i > 0 ? items[i - 1] : Value(Undefined{"loop.previtem"}));
      loop.set("nextitem", i + 1 < len ? items[i + 1] : Value(Undefined{"loop.nextitem"}));
      loop.set("cycle", builtin("loop.cycle", [i](Args& a) {
                 return a.positional.empty() ? Value(None{}) : a.positional[i % a.positional.size()];
               }));
      frames_.back().vars["loop"] = make_dict(std::move(loop));
      if (exec(n.body) == Flow::kBreak) break;
    }
    if (len == 0) exec(n.else_body);
    frames_.pop_back();
    return Flow::kNormal;
  }

  Value make_macro(const Node& n) {
    return builtin(n.macro_name, [this, &n](Args& a) -> Value {
      if (frames_.size() > kMaxDepth) fail_at(n.line, "macro calls nested too deeply", ErrorCode::kInvalidArgument);
      if (a.positional.size() > n.params.size()) {
        fail_at(n.line, "macro '" + n.macro_name + "' takes " + std::to_string(n.params.size()) + " arguments");
      }
      Frame f;
      f.barrier = true;
      for (std::size_t i = 0; i < n.params.size(); ++i) {
        const auto& [name, def] = n.params[i];
        Value v;
        if (i < a.positional.size()) {
          v = a.positional[i];
        } else if (auto it = std::ranges::find(a.keyword, name, &std::pair<std::string, Value>::first);
                   it != a.keyword.end()) {
          v = it->second;
        } else if (def) {
          v = eval(*def);
        } else {
          v = Undefined{name};
        }
        f.vars[name] = std::move(v);
      }
      std::string saved = std::move(out_);
      out_.clear();
      frames_.push_back(std::move(f));
      exec(n.body);
      frames_.pop_back();
      std::string result = std::move(out_);
      out_ = std::move(saved);
      return result;
    });
  }

  // --- expressions

  List iterate(const Value& v, int line) const {
    if (const auto* l = v.list()) return *l;
    if (const auto* d = v.dict()) {
      List keys;
      for (const auto& [k, _] : d->items) keys.emplace_back(k);
      return keys;
    }
    if (const auto* s = v.str()) {
      List chars;
      for (auto& c : code_points(*s)) chars.emplace_back(std::move(c));
      return chars;
    }
    if (v.undefined()) return {};
    fail_at(line, std::string("'") + type_name(v) + "' object is not iterable");
  }

  void require_defined(const Value& v, int line) const {
    if (const auto* u = v.get<Undefined>()) fail_at(line, "'" + u->name + "' is undefined");
  }

  Value eval(const Expr& e) {
    switch (e.kind) {
      case ExprKind::kLiteral: return e.literal;
      case ExprKind::kName: return lookup(e.name);
      case ExprKind::kList: {
        List l;
        for (const auto& a : e.args) l.push_back(eval(*a));
        return l;
      }
      case ExprKind::kDict: {
        Dict d;
        for (std::size_t i = 0; i + 1 < e.args.size(); i += 2) {
          const Value k = eval(*e.args[i]);
          if (!k.str()) fail_at(e.line, "dict keys must be strings here");
          d.set(*k.str(), eval(*e.args[i + 1]));
        }
        return make_dict(std::move(d));
      }
      case ExprKind::kAttr: return attribute(eval(*e.args[0]), e.name, e.line, e.args[0].get());
      case ExprKind::kItem: {
        const Value obj = eval(*e.args[0]);
        const Value key = eval(*e.args[1]);
        return item(obj, key, e.line, e.args[0].get());
      }
      case ExprKind::kSlice: return slice(e);
      case ExprKind::kCall: return call(e);
      case ExprKind::kFilter: return filter(e);
      case ExprKind::kTest: {
        const bool r = test(e);
        return e.negated ? !r : r;
      }
      case ExprKind::kNot: return !truthy(eval(*e.args[0]));
      case ExprKind::kNeg: {
        const Value v = eval(*e.args[0]);
        require_defined(v, e.line);
        if (v.get<std::int64_t>() || v.get<bool>()) {
          if (as_int(v) == std::numeric_limits<std::int64_t>::min()) fail_at(e.line, "integer overflow in unary -");
          return -as_int(v);
        }
        if (const auto* f = v.get<double>()) return -*f;
        fail_at(e.line, std::string("bad operand type for unary -: '") + type_name(v) + "'");
      }
      case ExprKind::kAnd: {
        Value l = eval(*e.args[0]);
        return truthy(l) ? eval(*e.args[1]) : l;
      }
      case ExprKind::kOr: {
        Value l = eval(*e.args[0]);
        return truthy(l) ? l : eval(*e.args[1]);
      }
      case ExprKind::kCompare: return compare(e.name, eval(*e.args[0]), eval(*e.args[1]), e.line);
      case ExprKind::kBinary: return arithmetic(e.name, eval(*e.args[0]), eval(*e.args[1]), e.line);
      case ExprKind::kCond:
        if (truthy(eval(*e.args[0]))) return eval(*e.args[1]);
        return e.args[2] ? eval(*e.args[2]) : Value(Undefined{"the else branch"});
    }
    return Undefined{};
  }

  static std::string describe(const Expr* e) {
    if (!e) return "value";
    if (e->kind == ExprKind::kName) return e->name;
    if (e->kind == ExprKind::kAttr) return describe(e->args[0].get()) + "." + e->name;
    return "value";
  }

  Value attribute(const Value& obj, const std::string& name, int line, const Expr* of) {
    if (obj.undefined()) fail_at(line, "'" + describe(of) + "' is undefined (reading ." + name + ")");
    if (const Dict* d = obj.dict()) {
      if (!obj.get<Namespace>()) {
        static constexpr std::string_view kMethods[] = {"items", "keys", "values", "get"};
        if (std::ranges::find(kMethods, name) != std::end(kMethods)) return bound_method(obj, name, line);
      }
      if (const Value* v = d->find(name)) return *v;
      return Undefined{describe(of) + "." + name};
    }
    if (obj.str()) {
      return bound_method(obj, name, line);
    }
    return Undefined{describe(of) + "." + name};
  }

  Value item(const Value& obj, const Value& key, int line, const Expr* of) {
    if (obj.undefined()) fail_at(line, "'" + describe(of) + "' is undefined (subscripted)");
    if (const Dict* d = obj.dict()) {
      if (const auto* k = key.str()) {
        if (const Value* v = d->find(*k)) return *v;
        return Undefined{describe(of) + "[" + string_repr(*k) + "]"};
      }
      return Undefined{describe(of) + "[...]"};
    }
    if (const List* l = obj.list()) {
      if (!is_integral(key)) {
        if (key.str()) return attribute(obj, *key.str(), line, of);
        fail_at(line, std::string("list indices must be integers, not ") + type_name(key));
      }
      std::int64_t i = as_int(key);
      const auto n = static_cast<std::int64_t>(l->size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Undefined{describe(of) + "[" + std::to_string(as_int(key)) + "]"};
      return (*l)[static_cast<std::size_t>(i)];
    }
    if (const auto* s = obj.str()) {
      if (!is_integral(key)) fail_at(line, "string indices must be integers");
      const auto cps = code_points(*s);
      std::int64_t i = as_int(key);
      const auto n = static_cast<std::int64_t>(cps.size());
      if (i < 0) i += n;
      if (i < 0 || i >= n) return Undefined{describe(of) + "[...]"};
      return cps[static_cast<std::size_t>(i)];
    }
    return Undefined{describe(of) + "[...]"};
  }

  Value slice(const Expr& e) {
    const Value obj = eval(*e.args[0]);
    require_defined(obj, e.line);
    std::optional<std::int64_t> part[3];
    for (int k = 0; k < 3; ++k) {
      if (!e.args[k + 1]) continue;
      const Value v = eval(*e.args[k + 1]);
      if (v.none()) continue;
      if (!is_integral(v)) fail_at(e.line, "slice indices must be integers");
      part[k] = as_int(v);
    }
    List src;
    const bool is_string = obj.str() != nullptr;
    if (is_string) {
      for (auto& c : code_points(*obj.str())) src.emplace_back(std::move(c));
    } else if (const List* l = obj.list()) {
      src = *l;
    } else {
      fail_at(e.line, std::string("'") + type_name(obj) + "' object is not subscriptable");
    }
    const auto n = static_cast<std::int64_t>(src.size());
    const std::int64_t step = part[2].value_or(1);
    if (step == 0) fail_at(e.line, "slice step cannot be zero");
    // Python's slice.indices().
    const auto clamp = [&](std::optional<std::int64_t> x, std::int64_t def) {
      if (!x) return def;
      std::int64_t v = *x;
      if (v < 0) v += n;
      if (step > 0) return std::clamp<std::int64_t>(v, 0, n);
      return std::clamp<std::int64_t>(v, -1, n - 1);
    };
    const std::int64_t start = clamp(part[0], step > 0 ? 0 : n - 1);
    const std::int64_t stop = clamp(part[1], step > 0 ? n : -1);
    List out;
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop;) {
      out.push_back(src[static_cast<std::size_t>(i)]);
      if (__builtin_add_overflow(i, step, &i)) break;  // a step past 64 bits leaves the sequence
    }
    if (is_string) {
      std::string s;
      for (const Value& c : out) s += *c.str();
      return s;
    }
    return out;
  }

  Args eval_args(const Expr& e, std::size_t first) {
    Args a;
    for (std::size_t i = first; i < e.args.size(); ++i) a.positional.push_back(eval(*e.args[i]));
    for (const auto& [k, v] : e.kwargs) a.keyword.emplace_back(k, eval(*v));
    return a;
  }

  Value call(const Expr& e) {
    const Value callee = eval(*e.args[0]);
    Args a = eval_args(e, 1);
    if (const auto* fn = callee.get<std::shared_ptr<const Callable>>()) return (*fn)->call(a);
    if (callee.undefined()) fail_at(e.line, "'" + describe(e.args[0].get()) + "' is undefined (called)");
    fail_at(e.line, std::string("'") + type_name(callee) + "' object is not callable");
  }

  static const Value* kwarg(const Args& a, std::string_view name) {
    for (const auto& [k, v] : a.keyword) {
      if (k == name) return &v;
    }
    return nullptr;
  }
  // Positional argument i, else keyword `name`, else nullptr.
  static const Value* arg(const Args& a, std::size_t i, std::string_view name) {
    if (i < a.positional.size()) return &a.positional[i];
    return kwarg(a, name);
  }

  std::string str_arg(const Args& a, std::size_t i, std::string_view name, int line, const std::string& fn) const {
    const Value* v = arg(a, i, name);
    if (!v || !v->str()) fail_at(line, fn + ": argument '" + std::string(name) + "' must be a string");
    return *v->str();
  }

  static constexpr std::string_view kPyWhitespace = " \t\n\r\x0b\x0c";

  static std::string strip(std::string s, std::string_view chars, bool left, bool right) {
    if (right) {
      const auto e = s.find_last_not_of(chars);
      s.erase(e == std::string::npos ? 0 : e + 1);
    }
    if (left) s.erase(0, std::min(s.find_first_not_of(chars), s.size()));
    return s;
  }

  static std::string title_case(const std::string& s) {
    std::string out = s;
    bool start = true;
    for (char& c : out) {
      if (std::isalpha(static_cast<unsigned char>(c))) {
        c = static_cast<char>(start ? std::toupper(static_cast<unsigned char>(c))
                                    : std::tolower(static_cast<unsigned char>(c)));
        start = false;
      } else {
        start = true;
      }
    }
    return out;
  }
  static std::string lower(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string upper(std::string s) {
    for (char& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    return s;
  }
  static std::string replace(const std::string& s, const std::string& from, const std::string& to, std::int64_t count) {
    if (from.empty()) return s;  // Python inserts between characters; no template relies on it
    std::string out;
    std::size_t pos = 0;
    for (std::int64_t done = 0; count < 0 || done < count; ++done) {
      const std::size_t at = s.find(from, pos);
      if (at == std::string::npos) break;
      out += s.substr(pos, at - pos) + to;
      pos = at + from.size();
      if (out.size() > kMaxOutputBytes) throw Failure{ErrorCode::kInvalidArgument, "replace: a string over 64 MiB"};
    }
    return out + s.substr(pos);
  }

  Value bound_method(const Value& obj, const std::string& name, int line) {
    return builtin(name, [this, obj, name, line](Args& a) { return method(obj, name, a, line); });
  }

  Value method(const Value& obj, const std::string& name, Args& a, int line) {
    const std::string where = "." + name + "()";
    if (const auto* s = obj.str()) {
      if (name == "strip" || name == "lstrip" || name == "rstrip") {
        const Value* c = arg(a, 0, "chars");
        const std::string chars = c && c->str() ? *c->str() : std::string(kPyWhitespace);
        return strip(*s, chars, name != "rstrip", name != "lstrip");
      }
      if (name == "startswith" || name == "endswith") {
        const Value* p = arg(a, 0, "prefix");
        if (!p) fail_at(line, where + " needs an argument");
        List options = p->list() ? *p->list() : List{*p};
        for (const Value& o : options) {
          if (!o.str()) fail_at(line, where + " takes a string or a tuple of strings");
          if (name == "startswith" ? s->starts_with(*o.str()) : s->ends_with(*o.str())) return true;
        }
        return false;
      }
      if (name == "split") {
        const Value* sep = arg(a, 0, "sep");
        const Value* max = arg(a, 1, "maxsplit");
        std::int64_t limit = max && is_integral(*max) ? as_int(*max) : -1;
        List out;
        if (!sep || sep->none()) {
          std::size_t i = 0;
          while (true) {
            i = s->find_first_not_of(kPyWhitespace, i);
            if (i == std::string::npos) break;
            if (limit == 0) {
              out.emplace_back(strip(s->substr(i), kPyWhitespace, false, true));
              break;
            }
            const std::size_t j = s->find_first_of(kPyWhitespace, i);
            out.emplace_back(s->substr(i, j == std::string::npos ? std::string::npos : j - i));
            if (j == std::string::npos) break;
            i = j;
            --limit;
          }
          return out;
        }
        if (!sep->str() || sep->str()->empty()) fail_at(line, where + ": the separator must be a non-empty string");
        std::size_t pos = 0;
        while (limit != 0) {
          const std::size_t at = s->find(*sep->str(), pos);
          if (at == std::string::npos) break;
          out.emplace_back(s->substr(pos, at - pos));
          pos = at + sep->str()->size();
          --limit;
        }
        out.emplace_back(s->substr(pos));
        return out;
      }
      if (name == "upper") return upper(*s);
      if (name == "lower") return lower(*s);
      if (name == "title") return title_case(*s);
      if (name == "capitalize") return s->empty() ? *s : upper(s->substr(0, 1)) + lower(s->substr(1));
      if (name == "replace") {
        const Value* n = arg(a, 2, "count");
        return replace(*s, str_arg(a, 0, "old", line, where), str_arg(a, 1, "new", line, where),
                       n && is_integral(*n) ? as_int(*n) : -1);
      }
      if (name == "join") {
        const Value* it = arg(a, 0, "iterable");
        if (!it) fail_at(line, where + " needs an argument");
        std::string out;
        const List items = iterate(*it, line);
        for (std::size_t i = 0; i < items.size(); ++i) {
          if (!items[i].str()) fail_at(line, where + ": sequence item is not a string");
          out += (i ? *s : "") + *items[i].str();
          if (out.size() > kMaxOutputBytes)
            fail_at(line, where + ": a string over 64 MiB", ErrorCode::kInvalidArgument);
        }
        return out;
      }
      unsupported(line, "the string method '" + name + "'");
    }
    if (const Dict* d = obj.dict()) {
      if (name == "items") {
        List out;
        for (const auto& [k, v] : d->items) out.emplace_back(List{Value(k), v});
        return out;
      }
      if (name == "keys" || name == "values") {
        List out;
        for (const auto& [k, v] : d->items) out.push_back(name == "keys" ? Value(k) : v);
        return out;
      }
      if (name == "get") {
        const std::string key = str_arg(a, 0, "key", line, where);
        if (const Value* v = d->find(key)) return *v;
        const Value* def = arg(a, 1, "default");
        return def ? *def : Value(None{});
      }
    }
    unsupported(line, std::string("the method '") + name + "' of " + type_name(obj));
  }

  Value compare(const std::string& op, const Value& l, const Value& r, int line) {
    if (op == "==") return equal(l, r);
    if (op == "!=") return !equal(l, r);
    if (op == "in" || op == "not in") {
      bool found = false;
      if (const auto* s = r.str()) {
        if (!l.str()) fail_at(line, "'in <string>' requires a string on the left");
        found = s->find(*l.str()) != std::string::npos;
      } else if (const List* list = r.list()) {
        found = std::ranges::any_of(*list, [&](const Value& x) { return equal(x, l); });
      } else if (const Dict* d = r.dict()) {
        found = l.str() && d->find(*l.str()) != nullptr;
      } else if (!r.undefined()) {
        fail_at(line, std::string("argument of type '") + type_name(r) + "' is not iterable");
      }
      return op == "in" ? found : !found;
    }
    int c = 0;
    if (l.number() && r.number()) {
      const double a = as_double(l);
      const double b = as_double(r);
      c = a < b ? -1 : (a > b ? 1 : 0);
    } else if (l.str() && r.str()) {
      c = l.str()->compare(*r.str());
    } else {
      fail_at(line, "'" + op + "' not supported between '" + type_name(l) + "' and '" + type_name(r) + "'");
    }
    if (op == "<") return c < 0;
    if (op == ">") return c > 0;
    if (op == "<=") return c <= 0;
    return c >= 0;
  }

  Value arithmetic(const std::string& op, const Value& l, const Value& r, int line) {
    if (op == "~") {
      std::string out = to_str(l);
      const std::string right = to_str(r);
      if (out.size() + right.size() > kMaxOutputBytes) {
        fail_at(line, "a string over 64 MiB", ErrorCode::kInvalidArgument);
      }
      return out + right;
    }
    require_defined(l, line);
    require_defined(r, line);
    if (op == "+") {
      if (l.str() && r.str()) {
        if (l.str()->size() + r.str()->size() > kMaxOutputBytes) {
          fail_at(line, "a string over 64 MiB", ErrorCode::kInvalidArgument);
        }
        return *l.str() + *r.str();
      }
      if (l.list() && r.list()) {
        if (l.list()->size() + r.list()->size() > kMaxIterations) {
          fail_at(line, "a list over 1,000,000 items", ErrorCode::kInvalidArgument);
        }
        List out = *l.list();
        out.insert(out.end(), r.list()->begin(), r.list()->end());
        return out;
      }
    }
    if (op == "*" && ((l.str() && is_integral(r)) || (r.str() && is_integral(l)))) {
      const std::string& s = l.str() ? *l.str() : *r.str();
      const std::int64_t n = l.str() ? as_int(r) : as_int(l);
      if (n > 0 && static_cast<std::uint64_t>(n) > kMaxOutputBytes / std::max<std::size_t>(s.size(), 1)) {
        fail_at(line, "string repetition exceeds 64 MiB", ErrorCode::kInvalidArgument);
      }
      std::string out;
      for (std::int64_t i = 0; i < n; ++i) out += s;
      return out;
    }
    if (!l.number() || !r.number()) {
      fail_at(line, "unsupported operand types for " + op + ": '" + type_name(l) + "' and '" + type_name(r) + "'");
    }
    const bool ints = is_integral(l) && is_integral(r);
    if (op == "/") {
      if (as_double(r) == 0) fail_at(line, "division by zero");
      return as_double(l) / as_double(r);
    }
    if (ints) {
      // Python's integers do not overflow; here a result past 64 bits is an error.
      const std::int64_t a = as_int(l);
      const std::int64_t b = as_int(r);
      std::int64_t v = 0;
      const auto overflow = [&] { fail_at(line, "integer overflow in " + op + " (past 64 bits)"); };
      if (op == "+") return __builtin_add_overflow(a, b, &v) ? (overflow(), v) : v;
      if (op == "-") return __builtin_sub_overflow(a, b, &v) ? (overflow(), v) : v;
      if (op == "*") return __builtin_mul_overflow(a, b, &v) ? (overflow(), v) : v;
      if (op == "**") {
        if (b < 0) return std::pow(static_cast<double>(a), static_cast<double>(b));
        if (a == 0 || a == 1) return b == 0 ? std::int64_t{1} : a;
        if (a == -1) return b % 2 == 0 ? std::int64_t{1} : std::int64_t{-1};
        v = 1;  // |a| >= 2: at most 63 steps before the result leaves 64 bits
        for (std::int64_t i = 0; i < b; ++i) {
          if (__builtin_mul_overflow(v, a, &v)) overflow();
        }
        return v;
      }
      if (b == 0) fail_at(line, "integer division or modulo by zero");
      if (a == std::numeric_limits<std::int64_t>::min() && b == -1) overflow();
      std::int64_t q = a / b;
      std::int64_t m = a % b;
      if (m != 0 && ((m < 0) != (b < 0))) {  // Python floors
        --q;
        m += b;
      }
      return op == "//" ? q : m;
    }
    const double a = as_double(l);
    const double b = as_double(r);
    if (op == "+") return a + b;
    if (op == "-") return a - b;
    if (op == "*") return a * b;
    if (op == "**") return std::pow(a, b);
    if (b == 0) fail_at(line, "float division or modulo by zero");
    if (op == "//") return std::floor(a / b);
    const double m = std::fmod(a, b);
    return (m != 0 && ((m < 0) != (b < 0))) ? m + b : m;
  }

  Value range(Args& a) {
    std::int64_t start = 0;
    std::int64_t stop = 0;
    std::int64_t step = 1;
    for (const Value& v : a.positional) {
      if (!is_integral(v)) fail_at(0, "range() takes integers");
    }
    if (a.positional.size() == 1) {
      stop = as_int(a.positional[0]);
    } else if (a.positional.size() >= 2) {
      start = as_int(a.positional[0]);
      stop = as_int(a.positional[1]);
      if (a.positional.size() > 2) step = as_int(a.positional[2]);
    }
    if (step == 0) fail_at(0, "range() step must not be zero");
    List out;
    for (std::int64_t i = start; step > 0 ? i < stop : i > stop;) {
      count_iteration(0);
      out.emplace_back(i);
      if (__builtin_add_overflow(i, step, &i)) break;  // a step past 64 bits leaves the range
    }
    return out;
  }

  // json.dumps(x, ensure_ascii=False, indent=indent, separators=None, sort_keys=False), as transformers' tojson.
  void dump_json(const Value& v, std::optional<std::int64_t> indent, std::size_t level, std::string& out, int line) {
    const auto newline = [&](std::size_t lvl) {
      out += '\n';
      out.append(static_cast<std::size_t>(*indent) * lvl, ' ');
    };
    if (v.none()) {
      out += "null";
    } else if (const auto* b = v.get<bool>()) {
      out += *b ? "true" : "false";
    } else if (const auto* i = v.get<std::int64_t>()) {
      out += std::to_string(*i);
    } else if (const auto* f = v.get<double>()) {
      out += std::isnan(*f) ? "NaN" : (std::isinf(*f) ? (*f > 0 ? "Infinity" : "-Infinity") : float_repr(*f));
    } else if (const auto* s = v.str()) {
      out += '"';
      for (const char c : *s) {
        switch (c) {
          case '"': out += "\\\""; break;
          case '\\': out += "\\\\"; break;
          case '\n': out += "\\n"; break;
          case '\r': out += "\\r"; break;
          case '\t': out += "\\t"; break;
          case '\b': out += "\\b"; break;
          case '\f': out += "\\f"; break;
          default:
            if (static_cast<unsigned char>(c) < 0x20) {
              char buf[8];
              std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
              out += buf;
            } else {
              out += c;
            }
        }
      }
      out += '"';
    } else if (const List* l = v.list()) {
      if (l->empty()) {
        out += "[]";
        return;
      }
      out += '[';
      for (std::size_t k = 0; k < l->size(); ++k) {
        if (k) out += indent ? "," : ", ";
        if (indent) newline(level + 1);
        dump_json((*l)[k], indent, level + 1, out, line);
      }
      if (indent) newline(level);
      out += ']';
    } else if (const Dict* d = v.dict()) {
      if (d->items.empty()) {
        out += "{}";
        return;
      }
      out += '{';
      for (std::size_t k = 0; k < d->items.size(); ++k) {
        if (k) out += indent ? "," : ", ";
        if (indent) newline(level + 1);
        dump_json(Value(d->items[k].first), indent, level + 1, out, line);
        out += ": ";
        dump_json(d->items[k].second, indent, level + 1, out, line);
      }
      if (indent) newline(level);
      out += '}';
    } else {
      fail_at(line, std::string("tojson: a ") + type_name(v) + " is not JSON serializable");
    }
  }

  Value filter(const Expr& e) {
    const std::string& f = e.name;
    const Value x = eval(*e.args[0]);
    Args a = eval_args(e, 1);
    const int line = e.line;
    const auto need_list = [&](const Value& v) { return iterate(v, line); };
    if (f == "default" || f == "d") {
      const Value* def = arg(a, 0, "default_value");
      const Value* boolean = arg(a, 1, "boolean");
      const bool use = x.undefined() || (boolean && truthy(*boolean) && !truthy(x));
      return use ? (def ? *def : Value(std::string())) : x;
    }
    if (f == "length" || f == "count") {
      if (const auto* s = x.str()) return Value(code_points(*s).size());
      if (const List* l = x.list()) return Value(l->size());
      if (const Dict* d = x.dict()) return Value(d->items.size());
      if (x.undefined()) return 0;
      fail_at(line, std::string("object of type '") + type_name(x) + "' has no len()");
    }
    if (f == "tojson") {
      std::optional<std::int64_t> indent;
      if (const Value* i = arg(a, 0, "indent"); i && !i->none()) {
        if (!is_integral(*i)) fail_at(line, "tojson: indent must be an integer");
        indent = std::max<std::int64_t>(0, as_int(*i));
      }
      std::string out;
      require_defined(x, line);
      dump_json(x, indent, 0, out, line);
      return out;
    }
    if (f == "safe") return x;
    if (f == "string") return to_str(x);
    require_defined(x, line);
    if (f == "trim") {
      const Value* c = arg(a, 0, "chars");
      return strip(to_str(x), c && c->str() ? *c->str() : std::string(kPyWhitespace), true, true);
    }
    if (f == "upper") return upper(to_str(x));
    if (f == "lower") return lower(to_str(x));
    if (f == "title") return title_case(to_str(x));
    if (f == "capitalize") {
      const std::string s = to_str(x);
      return s.empty() ? s : upper(s.substr(0, 1)) + lower(s.substr(1));
    }
    if (f == "replace") {
      const Value* n = arg(a, 2, "count");
      return replace(to_str(x), str_arg(a, 0, "old", line, "replace"), str_arg(a, 1, "new", line, "replace"),
                     n && is_integral(*n) ? as_int(*n) : -1);
    }
    if (f == "escape" || f == "e") {
      std::string out;
      for (const char c : to_str(x)) {
        switch (c) {
          case '&': out += "&amp;"; break;
          case '<': out += "&lt;"; break;
          case '>': out += "&gt;"; break;
          case '"': out += "&#34;"; break;
          case '\'': out += "&#39;"; break;
          default: out += c;
        }
      }
      return out;
    }
    if (f == "int") {
      if (is_integral(x)) return as_int(x);
      if (x.number()) {
        const double v = as_double(x);
        if (!(std::fabs(v) < 9.2e18)) fail_at(line, "int: " + float_repr(v) + " is past 64 bits");
        return static_cast<std::int64_t>(v);
      }
      if (const auto* s = x.str()) {
        std::int64_t v = 0;
        const std::string t = strip(*s, kPyWhitespace, true, true);
        if (std::from_chars(t.data(), t.data() + t.size(), v).ptr == t.data() + t.size() && !t.empty()) return v;
      }
      const Value* def = arg(a, 0, "default");
      return def ? *def : Value(0);
    }
    if (f == "float") {
      if (x.number()) return as_double(x);
      if (const auto* s = x.str()) {
        char* end = nullptr;
        const double v = std::strtod(s->c_str(), &end);
        if (end != s->c_str() && *end == '\0') return v;
      }
      const Value* def = arg(a, 0, "default");
      return def ? *def : Value(0.0);
    }
    if (f == "abs") {
      if (is_integral(x)) {
        if (as_int(x) == std::numeric_limits<std::int64_t>::min()) fail_at(line, "abs: integer overflow");
        return std::abs(as_int(x));
      }
      if (x.get<double>()) return std::fabs(as_double(x));
      fail_at(line, "abs: not a number");
    }
    if (f == "round") {
      if (!x.number()) fail_at(line, "round: not a number");
      const Value* p = arg(a, 0, "precision");
      const double scale = std::pow(10.0, p && is_integral(*p) ? static_cast<double>(as_int(*p)) : 0.0);
      return std::round(as_double(x) * scale) / scale;
    }
    if (f == "first" || f == "last") {
      const List l = need_list(x);
      if (l.empty()) return Undefined{"the " + f + " item of an empty sequence"};
      return f == "first" ? l.front() : l.back();
    }
    if (f == "list") return need_list(x);
    if (f == "reverse") {
      if (const auto* s = x.str()) {
        auto cps = code_points(*s);
        std::string out;
        for (auto it = cps.rbegin(); it != cps.rend(); ++it) out += *it;
        return out;
      }
      List l = need_list(x);
      std::ranges::reverse(l);
      return l;
    }
    if (f == "items") {
      const Dict* d = x.dict();
      if (!d) fail_at(line, "items: expected a mapping");
      return method(x, "items", a, line);
    }
    if (f == "join") {
      const Value* sep = arg(a, 0, "d");
      const Value* attr = arg(a, 1, "attribute");
      std::string out;
      const List l = need_list(x);
      for (std::size_t i = 0; i < l.size(); ++i) {
        const Value v = attr ? item(l[i], *attr, line, nullptr) : l[i];
        out += (i && sep ? to_str(*sep) : "") + to_str(v);
        if (out.size() > kMaxOutputBytes) fail_at(line, "join: a string over 64 MiB", ErrorCode::kInvalidArgument);
      }
      return out;
    }
    if (f == "map") {
      List out;
      const List l = need_list(x);
      if (const Value* attr = kwarg(a, "attribute")) {
        const Value* def = kwarg(a, "default");
        for (const Value& v : l) {
          Value r = item(v, *attr, line, nullptr);
          out.push_back(r.undefined() && def ? *def : r);
        }
        return out;
      }
      unsupported(line, "map() without attribute=");
    }
    if (f == "select" || f == "reject" || f == "selectattr" || f == "rejectattr") {
      const bool by_attr = f.ends_with("attr");
      const bool keep_when = f.starts_with("select");
      List out;
      for (const Value& v : need_list(x)) {
        Value subject = v;
        std::size_t next_arg = 0;
        if (by_attr) {
          if (a.positional.empty()) fail_at(line, f + ": needs an attribute name");
          subject = item(v, a.positional[0], line, nullptr);
          next_arg = 1;
        }
        bool pass;
        if (a.positional.size() <= next_arg) {
          pass = truthy(subject);
        } else {
          const Value& test_name = a.positional[next_arg];
          if (!test_name.str()) fail_at(line, f + ": the test name must be a string");
          std::vector<Value> test_args(a.positional.begin() + static_cast<std::ptrdiff_t>(next_arg) + 1,
                                       a.positional.end());
          pass = run_test(*test_name.str(), subject, test_args, line);
        }
        if (pass == keep_when) out.push_back(v);
      }
      return out;
    }
    if (f == "indent") {
      const Value* w = arg(a, 0, "width");
      const Value* first = arg(a, 1, "first");
      const Value* blank = arg(a, 2, "blank");
      const std::string pad =
          w && w->str() ? *w->str() : std::string(static_cast<std::size_t>(indent_width(w, line)), ' ');
      const std::string s = to_str(x);
      std::string out;
      std::size_t pos = 0;
      bool first_line = true;
      while (pos <= s.size()) {
        const std::size_t nl = s.find('\n', pos);
        const std::string ln = s.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
        const bool indent_it = first_line ? (first && truthy(*first)) : (!ln.empty() || (blank && truthy(*blank)));
        out += (indent_it ? pad : "") + ln;
        if (out.size() > kMaxOutputBytes) fail_at(line, "indent: a string over 64 MiB", ErrorCode::kInvalidArgument);
        if (nl == std::string::npos) break;
        out += '\n';
        pos = nl + 1;
        first_line = false;
      }
      return out;
    }
    unsupported(line, "the filter '" + f + "'");
  }

  std::int64_t indent_width(const Value* w, int line) const {
    if (!w) return 4;
    if (!is_integral(*w) || as_int(*w) < 0 || as_int(*w) > 4096) fail_at(line, "indent: width must be 0..4096");
    return as_int(*w);
  }

  bool test(const Expr& e) {
    const Value x = eval(*e.args[0]);
    Args a = eval_args(e, 1);
    return run_test(e.name, x, a.positional, e.line);
  }

  bool run_test(const std::string& t, const Value& x, const std::vector<Value>& args, int line) {
    if (t == "defined") return !x.undefined();
    if (t == "undefined") return x.undefined();
    if (t == "none") return x.none();
    if (t == "boolean") return x.get<bool>() != nullptr;
    if (t == "true") return x.get<bool>() && *x.get<bool>();
    if (t == "false") return x.get<bool>() && !*x.get<bool>();
    if (t == "integer") return x.get<std::int64_t>() != nullptr;
    if (t == "float") return x.get<double>() != nullptr;
    if (t == "number") return x.number();
    if (t == "string") return x.str() != nullptr;
    if (t == "mapping") return x.dict() != nullptr;
    if (t == "iterable") return x.str() || x.list() || x.dict();
    if (t == "sequence") return x.str() || x.list() || x.dict();
    if (t == "callable") return x.get<std::shared_ptr<const Callable>>() != nullptr;
    if (t == "lower") return x.str() && lower(*x.str()) == *x.str();
    if (t == "upper") return x.str() && upper(*x.str()) == *x.str();
    if (t == "even" || t == "odd" || t == "divisibleby") {
      if (!is_integral(x)) fail_at(line, "the test '" + t + "' needs an integer");
      std::int64_t d = 2;
      if (t == "divisibleby") {
        if (args.empty() || !is_integral(args[0]) || as_int(args[0]) == 0)
          fail_at(line, "divisibleby needs a non-zero integer");
        d = as_int(args[0]);
      }
      const bool div = d == -1 || as_int(x) % d == 0;
      return t == "odd" ? !div : div;
    }
    static const std::map<std::string, std::string, std::less<>> kCompare = {
        {"eq", "=="},      {"equalto", "=="}, {"==", "=="}, {"ne", "!="}, {"!=", "!="}, {"lt", "<"},
        {"lessthan", "<"}, {"<", "<"},        {"le", "<="}, {"<=", "<="}, {"gt", ">"},  {"greaterthan", ">"},
        {">", ">"},        {"ge", ">="},      {">=", ">="}, {"in", "in"}};
    if (auto it = kCompare.find(t); it != kCompare.end()) {
      if (args.empty()) fail_at(line, "the test '" + t + "' needs an argument");
      return truthy(compare(it->second, x, args[0], line));
    }
    if (t == "sameas") {
      if (args.empty()) fail_at(line, "sameas needs an argument");
      // Identity holds for None, booleans and equal small values as Python interns them; templates use it for those.
      return x.v.index() == args[0].v.index() && equal(x, args[0]);
    }
    unsupported(line, "the test '" + t + "'");
  }

  const std::string& label_;
  std::vector<Frame> frames_;
  std::string out_;
  std::size_t iterations_ = 0;
};

}  // namespace

Result<Template> Template::parse(std::string_view source, std::string label) {
  try {
    Lexer lexer(source, label);
    Parser parser(lexer.segments(), label);
    auto root = std::make_shared<Node>();
    root->kind = NodeKind::kBlock;
    root->body = parser.parse_template();
    return Template(std::move(root), std::move(label));
  } catch (const Failure& f) {
    return fail(f.code, "[chat-template] " + f.message);
  }
}

Result<std::string> Template::render(const boost::json::object& variables) const {
  try {
    Renderer r(label_, variables);
    return r.run(root_->body);
  } catch (const Failure& f) {
    return fail(f.code, "[chat-template] " + f.message);
  }
}

}  // namespace edge_rt::tokenizer::detail::jinja
