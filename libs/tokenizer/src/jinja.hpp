#pragma once
// The subset of Jinja2 (https://jinja.palletsprojects.com/en/3.1.x/templates/) that chat templates use, rendered
// the way Hugging Face transformers renders them (chat_template_utils.py): trim_blocks and lstrip_blocks on, the
// loopcontrols extension (break / continue), an immutable sandbox (no list.append), tojson as json.dumps with
// ensure_ascii=False, and the globals raise_exception(msg), strftime_now(fmt), namespace(...), range(...).
// Private to the library: chat_template.hpp is the public face.
//
// Supported: {{ }}, {% %}, {# #} with '-' / '+' whitespace control; if / elif / else, for (tuple targets, an 'if'
// filter, else, loop.index/index0/revindex/revindex0/first/last/length/previtem/nextitem), set (names, namespace
// attributes, block set), macro (positional, keyword and default arguments), break, continue, generation (HF's
// assistant-mask tag, rendered as its body); literals, lists, dicts, tuples; attribute, subscript, slice, call;
// not / and / or / in / not in / is [not] TEST, comparisons, + - * / // % **, ~, inline if-else; the filters and
// tests listed in jinja.cpp. Anything else is a parse error naming the template, line and construct.

#include <edge_rt/core/result.hpp>

#include <boost/json.hpp>

#include <memory>
#include <string>
#include <string_view>

namespace edge_rt::tokenizer::detail::jinja {

struct Node;

/// A parsed template. Immutable, so copies share the tree and rendering is thread-safe.
class Template final {
 public:
  /// Parses `source`; `label` names it in messages ("tokenizer_config.json: chat_template").
  /// Errors: kInvalidFormat naming the label, the line and what was expected; kUnsupported for a tag outside the
  /// subset.
  static Result<Template> parse(std::string_view source, std::string label);

  /// Renders with the given top-level variables (JSON values: objects are dicts, arrays lists).
  /// Errors: kInvalidArgument with the template's own message for raise_exception(); kInvalidFormat for a type
  /// error or an undefined value used as a value (naming the label and line); kUnsupported for a filter, test or
  /// method outside the subset. Output is limited to 64 MiB and loops to 1,000,000 iterations (kInvalidArgument).
  Result<std::string> render(const boost::json::object& variables) const;

  const std::string& label() const noexcept { return label_; }

 private:
  Template(std::shared_ptr<const Node> root, std::string label) : root_(std::move(root)), label_(std::move(label)) {}
  std::shared_ptr<const Node> root_;
  std::string label_;
};

}  // namespace edge_rt::tokenizer::detail::jinja
