#!/usr/bin/env python3
"""Renders chat templates with Python's jinja2 the way Hugging Face transformers does, for edge-rt's tests.

transformers (src/transformers/utils/chat_template_utils.py, _compile_jinja_template) renders with
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols]), tojson as
json.dumps(ensure_ascii=False, ...), and the globals raise_exception and strftime_now. This script does the same
for the real templates of ../shared/models/tokenizers (gemma3, llama3_1, qwen3), SmolLM2-135M-Instruct's GGUF
tokenizer.chat_template, edge-rt's built-in templates (read from libs/tokenizer/src/chat_template.cpp) and small
templates that exercise the Jinja subset, over system, multi-turn, generation-prompt and error cases.

    /usr/bin/python3 tools/reference/chat_template_reference.py \
        --tokenizers ../shared/models/tokenizers --smollm2 build/cache/SmolLM2-135M-Instruct.Q4_1.gguf \
        --out tests/data/chat_templates/reference.json

Needs jinja2 (Debian python3-jinja2) and, for the GGUF template, the gguf package (PyPI).
"""
import argparse
import json
import pathlib
import re
import sys

import jinja2
from jinja2.ext import loopcontrols
from jinja2.sandbox import ImmutableSandboxedEnvironment

ROOT = pathlib.Path(__file__).resolve().parents[2]


def make_env():
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    return env


def builtin_templates():
    source = (ROOT / "libs/tokenizer/src/chat_template.cpp").read_text()
    found = dict(re.findall(r'\{"(\w+)",\s*R"\((.*?)\)"\}', source, re.S))
    if not found:
        sys.exit("no built-in templates found in chat_template.cpp")
    return found


# Small templates for the parts of the subset the real ones do not reach; rendered with a fixed context.
FEATURES = {
    "whitespace": "a  {% if true %}\n  b\n  {% endif %}\n c {{- ' d ' -}} e\n{# note #}\n  {%+ if true %}f{% endif +%}\ng",
    "expressions": "{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** 10 }} {{ 1.5 * 2 }} {{ 'ab' * 3 }} "
                   "{{ 'x' ~ 1 ~ none }} {{ [1, 2] + [3] }} {{ 1 if false }}|{{ 3 >= 2 }} {{ not 1 == 2 }} "
                   "{{ 'b' in 'abc' }} {{ 2 not in [1, 2] }} {{ 0.1 + 0.2 }} {{ 1e-5 }} {{ 1e20 }} {{ [1, 'a', none, true] }}",
    "strings": "{{ '  hi  '.strip() }}|{{ 'xxhixx'.strip('x') }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|"
               "{{ 'Hello World'.lower() }}|{{ 'hello world'.title() }}|{{ 'abc'.startswith(('x', 'a')) }}|"
               "{{ 'abc'.endswith('bc') }}|{{ 'aaa'.replace('a', 'b', 2) }}|{{ 'héllo'[1] }}|{{ 'héllo'[::-1] }}|"
               "{{ 'abc'[-1] }}|{{ '-'.join(['a', 'b']) }}|{{ 'a\\tb\\n'|tojson }}|{{ 'x'.upper() }}",
    "filters": "{{ [3, 1, 2]|length }} {{ 'héllo'|length }} {{ [1, 2, 3]|first }} {{ [1, 2, 3]|last }} "
               "{{ [1, 2, 3]|join('-') }} {{ missing|default('dflt') }} {{ ''|default('e', true) }} "
               "{{ [1, 2]|reverse|list }} {{ 'abc'|reverse }} {{ '  t  '|trim }} {{ 'ab'|upper }} {{ '3'|int + 1 }} "
               "{{ 'x'|int }} {{ '2.5'|float }} {{ -3|abs }} {{ 2.567|round(2) }} {{ 'a&b'|e }} "
               "{{ {'a': 1, 'b': [true, none, 1.5]}|tojson }} {{ {'a': {'b': []}}|tojson(indent=2) }} "
               "{{ items|map(attribute='n')|join(',') }} {{ items|selectattr('on')|map(attribute='n')|list }} "
               "{{ items|rejectattr('on')|list|length }} {{ items|selectattr('n', 'equalto', 'y')|list|length }} "
               "{{ [1, 2, 3, 4]|select('even')|list }} {{ 'a\\nb\\n\\nc'|indent(2) }} {% for k, v in {'k': 'v'}|items %}{{ k }}{{ v }}{% endfor %} "
               "{{ 42|string + '!' }} {{ [1, 'a']|string }}",
    "tests": "{{ x is defined }} {{ missing is undefined }} {{ none is none }} {{ 1 is number }} {{ 1.0 is float }} "
             "{{ 1 is integer }} {{ 's' is string }} {{ {} is mapping }} {{ [] is iterable }} {{ 3 is odd }} "
             "{{ 4 is even }} {{ 9 is divisibleby 3 }} {{ false is false }} {{ true is true }} {{ 1 is true }} "
             "{{ x is sameas 1 }} {{ 2 is eq 2 }} {{ 'a' is in 'abc' }} {{ 'ab' is lower }} {{ x is not none }} "
             "{{ range is callable }}",
    "control": "{% set ns = namespace(total=0, seen=[]) %}{% for i in range(10) %}{% if i == 7 %}{% break %}"
               "{% endif %}{% if i is odd %}{% continue %}{% endif %}{% set ns.total = ns.total + i %}{% endfor %}"
               "{{ ns.total }}|{% for k, v in {'a': 1, 'b': 2}.items() %}{{ k }}={{ v }}{{ ',' if not loop.last }}"
               "{% endfor %}|{% for x in [] %}no{% else %}empty{% endfor %}|{% for x in [1, 2, 3, 4] if x > 1 %}"
               "{{ loop.index }}/{{ loop.length }}:{{ x }}{{ loop.revindex0 }}{{ loop.previtem }}{{ loop.cycle('a', 'b') }} "
               "{% endfor %}|{% set a, b = 1, 2 %}{{ a + b }}|{% set block %}inner {{ a }}{% endset %}{{ block }}|"
               "{% for i in [1] %}{% set scoped = 5 %}{% endfor %}{{ scoped is defined }}|"
               "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('A') }} "
               "{{ greet('B', punct='?') }}|{{ {'k': 'v'}.get('k') }}{{ {'k': 'v'}.get('z', 'd') }}|"
               "{{ {'k': 1}.keys()|list }}{{ [1, 2, 3][1:] }}{{ [1, 2, 3][:-1] }}{{ [1, 2, 3, 4, 5][::2] }}"
               "{{ [1, 2, 3][5] is defined }}",
}
FEATURE_CONTEXT = {"x": 1, "items": [{"n": "x", "on": True}, {"n": "y", "on": False}, {"n": "z", "on": 1}]}


def conversations():
    sys_msg = {"role": "system", "content": "You are a concise assistant. Answer in one sentence."}
    u1 = {"role": "user", "content": "What is the capital of France?"}
    a1 = {"role": "assistant", "content": "The capital of France is Paris."}
    u2 = {"role": "user", "content": "  And of Japan? Reply with \"quotes\", 'apostrophes' and a\nnewline.  "}
    a2 = {"role": "assistant", "content": "Tokyo — 東京 🗼."}
    u3 = {"role": "user", "content": "Write {{ not a template }} and {% raw %} literally, then a tab:\t."}
    return {
        "single": [u1],
        "system": [sys_msg, u1],
        "multi_turn": [u1, a1, u2],
        "system_multi_turn": [sys_msg, u1, a1, u2, a2, u3],
        "ends_with_assistant": [sys_msg, u1, a1],
    }


def qwen3_extras():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object", "properties": {
                                                   "city": {"type": "string"}}, "required": ["city"]}}}]
    msgs = [
        {"role": "system", "content": "Use tools."},
        {"role": "user", "content": "Weather in Paris?"},
        {"role": "assistant", "content": "<think>\nNeed the tool.\n</think>\n\nLet me check.",
         "tool_calls": [{"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
        {"role": "tool", "content": "{\"temp\": 21}"},
        {"role": "tool", "content": "second"},
        {"role": "assistant", "content": "It is 21 degrees.", "reasoning_content": "The tool said 21."},
        {"role": "user", "content": "Thanks"},
    ]
    return [
        ("tools", msgs, {"tools": tools}),
        ("thinking_off", [{"role": "user", "content": "Hi"}], {"enable_thinking": False}),
        ("think_in_history", [{"role": "user", "content": "Q"},
                              {"role": "assistant", "content": "<think>\nhmm\n</think>\n\nA"}], {}),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizers", required=True, type=pathlib.Path)
    ap.add_argument("--smollm2", required=True, type=pathlib.Path)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    args = ap.parse_args()

    templates = {}
    for family in ("gemma3", "llama3_1", "qwen3"):
        config = json.loads((args.tokenizers / family / "tokenizer_config.json").read_text())

        def text(v):
            return v["content"] if isinstance(v, dict) else (v or "")

        templates[family] = {"source": config["chat_template"], "bos_token": text(config.get("bos_token")),
                             "eos_token": text(config.get("eos_token"))}
    import gguf
    reader = gguf.GGUFReader(str(args.smollm2))

    def field_str(key):
        f = reader.fields[key]
        return bytes(f.parts[f.data[0]]).decode()

    tokens = reader.fields["tokenizer.ggml.tokens"]

    def token(i):
        return bytes(tokens.parts[tokens.data[i]]).decode()

    bos = int(reader.fields["tokenizer.ggml.bos_token_id"].parts[-1][0])
    eos = int(reader.fields["tokenizer.ggml.eos_token_id"].parts[-1][0])
    templates["smollm2"] = {"source": field_str("tokenizer.chat_template"), "bos_token": token(bos),
                            "eos_token": token(eos)}
    builtin_tokens = {"chatml": ("", "<|im_end|>"), "llama2": ("<s>", "</s>"), "llama3": ("<|begin_of_text|>", "<|eot_id|>"),
                      "gemma": ("<bos>", "<end_of_turn>"), "phi3": ("<s>", "<|endoftext|>"), "mistral": ("<s>", "</s>")}
    for name, source in builtin_templates().items():
        bos_t, eos_t = builtin_tokens[name]
        templates["builtin:" + name] = {"source": source, "bos_token": bos_t, "eos_token": eos_t}

    env = make_env()
    cases = []

    def render(name, label, messages, add_gen, extra):
        t = templates[name]
        context = dict(extra, messages=messages, add_generation_prompt=add_gen, bos_token=t["bos_token"],
                       eos_token=t["eos_token"])
        case = {"template": name, "case": label, "messages": messages, "add_generation_prompt": add_gen,
                "extra": extra}
        try:
            case["output"] = env.from_string(t["source"]).render(**context)
        except jinja2.exceptions.TemplateError as e:
            case["error"] = str(e)
        cases.append(case)

    for name in templates:
        for label, messages in conversations().items():
            for add_gen in (True, False):
                render(name, label, messages, add_gen, {})
    for label, messages, extra in qwen3_extras():
        render("qwen3", label, messages, True, extra)
    parts = [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
             {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " Describe this. "}]}]
    render("gemma3", "content_parts", parts, True, {})
    not_alternating = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]
    for name in ("gemma3", "builtin:llama2"):
        render(name, "roles_not_alternating", not_alternating, True, {})

    for name, source in FEATURES.items():
        templates["feature:" + name] = {"source": source, "bos_token": "", "eos_token": ""}
        render("feature:" + name, "features", [], False, FEATURE_CONTEXT)

    out = {
        "generator": "tools/reference/chat_template_reference.py",
        "jinja2_version": jinja2.__version__,
        "python": sys.version.split()[0],
        "templates": templates,
        "cases": cases,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp = args.out.with_suffix(".tmp")
    tmp.write_text(json.dumps(out, ensure_ascii=False, indent=1) + "\n")
    tmp.replace(args.out)
    print(f"{len(cases)} cases over {len(templates)} templates -> {args.out}")


if __name__ == "__main__":
    main()
