#!/usr/bin/env python3
"""Generate deterministic, varied test strings for tokenizer comparisons.

Writes one JSON-encoded string per line (to --out, or stdout): a fixed set of edge cases
(contractions, numbers, punctuation runs, whitespace runs incl. trailing spaces, newlines
and tabs, emoji, CJK, accented Latin, Cyrillic, Arabic, the <|endoftext|> special token,
combining marks, ...) followed by random mixtures of those ingredients, all determined by
--seed. The output for a given (--count, --seed) never changes.

  gen_strings.py --count 300 --seed 1 [--out strings.jsonl]

Importable: generate_strings(count, seed) -> list of str.
"""

import argparse
import json
import random
import sys

FIXED = [
    "Hello, world!",
    "",
    " ",
    "a",
    "The quick brown fox jumps over the lazy dog.",
    "don't I'll we've they're she's it'd you'll I'm",
    "DON'T I'LL WE'VE",  # upper-case contractions are not matched by the pattern
    "'s't're've'm'll'd",
    "rock 'n' roll",
    "1234567890",
    "3.14159 2,718 1e-10 -42 +7 0x1F 100%",
    "In 2024, 1,000,000 people paid $19.99.",
    "!!!???...---***",
    "Wait... what?! (yes) [no] {maybe} <tag> @user #hash ~tilde `code`",
    "a  b   c    d",
    "trailing spaces   ",
    "   leading spaces",
    "line1\nline2\n\nline4\n",
    "tab\tseparated\tvalues\t",
    "\t\t\tindented",
    "mixed \t \n whitespace \r\n end \n",
    "\n\n\n",
    "    ",
    "emoji 😀😃😄 👍🏽 👨‍👩‍👧‍👦 🇫🇷",
    "日本語のテキストです。",
    "中文字符测试，你好世界！",
    "한국어 문장입니다.",
    "café naïve résumé façade jalapeño Ångström",
    "Привет, мир! Как дела?",
    "مرحبا بالعالم",
    "שלום עולם",
    "Ελληνικά γράμματα",
    "हिन्दी पाठ",
    "ไทย ภาษา",
    "e\u0301 combining acute, a\u0308 umlaut",
    "non\u00a0breaking\u00a0space and ideographic\u3000space",
    "numbers: ½ ² ³ ١٢٣ ٤٥٦ Ⅻ",
    "<|endoftext|>",
    "before<|endoftext|>after",
    "a <|endoftext|> b<|endoftext|><|endoftext|>c",
    "<|endoftext|> leading special then text",
    "<|endoftext",
    "http://example.com/path?query=1&b=2#frag",
    "email@example.org, some_snake_case and camelCase and kebab-case",
    "def f(x):\n    return x ** 2  # square\n",
    "if (a != b && c <= d) { return; }",
    "ÀÉÎÕÜ àéîõü ßẞ Œœ Ææ Øø",
    "Zürich, São Paulo, Kraków, Reykjavík",
    "MiXeD CaSe WoRdS",
    "\u2014em dash\u2013en dash\u2026ellipsis \u201cquotes\u201d \u2018single\u2019",
    "x" * 60,
    "ab" * 40,
    " " * 17 + "x",
    "!" * 33,
    "tokens's token'S",
    "'''",
    "I'm  I 'm I'M",
]

WORDS = [
    "the", "a", "cat", "sat", "on", "mat", "Hello", "world", "tokenizer", "GPT", "model",
    "running", "quickly", "internationalization", "don't", "I'll", "we've", "it's", "they'd",
    "café", "naïve", "Москва", "привет", "東京", "北京", "こんにちは", "مرحبا", "😀", "🚀", "👍🏽",
    "Ünïcödé", "über", "façade", "12", "3.5", "2024", "0", "999999", "x86_64", "C++", "#1",
    "ΑΒΓ", "español", "niño", "São", "Łódź", "e\u0301", "<|endoftext|>", "Ω", "∑", "→",
]
PUNCT = [",", ".", "!", "?", ";", ":", "...", "?!", "--", "\"", "'", "(", ")", "[", "]", "&", "%", "$",
         "@", "#", "*", "/", "\\", "<", ">", "=", "+", "-", "_", "~", "|", "^", "`", "{", "}"]
SPACES = [" ", " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", " \n", "\r\n", "\t ", "\u00a0"]


def _random_string(rng):
    parts = []
    for _ in range(rng.randint(1, 12)):
        r = rng.random()
        if r < 0.55:
            w = rng.choice(WORDS)
            if rng.random() < 0.15:
                w = w.upper()
            elif rng.random() < 0.15:
                w = w.capitalize()
            parts.append(w)
        elif r < 0.75:
            parts.append("".join(rng.choice(PUNCT) for _ in range(rng.randint(1, 4))))
        elif r < 0.85:
            parts.append(str(rng.randint(0, 10 ** rng.randint(1, 9))))
        else:
            parts.append(chr(rng.choice([rng.randint(0x20, 0x7E), rng.randint(0xA1, 0x24F),
                                         rng.randint(0x400, 0x4FF), rng.randint(0x600, 0x6FF),
                                         rng.randint(0x4E00, 0x9FFF), rng.randint(0x1F600, 0x1F64F)])))
        parts.append(rng.choice(SPACES) if rng.random() < 0.8 else "")
    s = "".join(parts)
    if rng.random() < 0.3:
        s = s.rstrip()
    if rng.random() < 0.1:
        s = rng.choice(SPACES) + s
    return s


def generate_strings(count=300, seed=1):
    rng = random.Random(seed)
    out = list(FIXED[:count])
    while len(out) < count:
        out.append(_random_string(rng))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", help="output file (default: stdout)")
    ap.add_argument("--ascii", action="store_true", help="escape non-ASCII characters as \\uXXXX")
    args = ap.parse_args()
    lines = "".join(json.dumps(s, ensure_ascii=args.ascii) + "\n" for s in generate_strings(args.count, args.seed))
    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            f.write(lines)
    else:
        sys.stdout.buffer.write(lines.encode("utf-8"))


if __name__ == "__main__":
    main()
