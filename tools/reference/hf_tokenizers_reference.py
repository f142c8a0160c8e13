#!/usr/bin/env python3
"""Reference token ids from Hugging Face `tokenizers` (the Rust implementation, from PyPI) for the real
tokenizer.json files in ../shared/models/tokenizers/, committed as tests/data/tokenizers/hf_reference.json and
checked by tests/integration/compare_hf_tokenizers.py.

Strings: gen_strings.py's 300 (seed 1: code, emoji, CJK, whitespace runs, digits, contractions) plus each family's
special-token text (chat markup, BOS/EOS spelled out, near misses). The file holds the common strings once, each family's own after them, and for each family and string
encode(s, add_special_tokens=False).ids; the ids add_special_tokens=True puts around them are checked here to be one
prefix and suffix for every string and stored once.

  python3 -m venv build/ref-venv && build/ref-venv/bin/pip install tokenizers==0.23.3
  build/ref-venv/bin/python tools/reference/hf_tokenizers_reference.py \\
      --tokenizers ../shared/models/tokenizers --out tests/data/tokenizers/hf_reference.json
"""

import argparse
import hashlib
import json
import os

import tokenizers

from gen_strings import generate_strings

FAMILIES = ["llama2", "llama3_1", "qwen3", "gemma3"]

SPECIAL_TEXT = {
    "llama2": ["<s>[INST] <<SYS>>\nBe brief.\n<</SYS>>\n\nHi [/INST] Hello </s>", "a<s>b</s>c<unk>d",
               "<s ><s>", " <s> "],
    "llama3_1": ["<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>",
                 "<|start_header_id|>assistant<|end_header_id|>\n\n", "x<|eot_id|>y<|eom_id|>",
                 "<|reserved_special_token_5|> <|finetune_right_pad_id|>", "<|eot_id", "<|python_tag|>print(1)"],
    "qwen3": ["<|im_start|>system\nYou are Qwen.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
              "<think>\n\n</think>\n\n", "<tool_call>{\"name\": \"f\"}</tool_call>", "<|endoftext|>x<|im_end",
              "<|vision_start|><|image_pad|><|vision_end|>"],
    "gemma3": ["<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n", "<start_of_image><end_of_image>",
               "a\n\n\nb\t\t\tc", "x<unused5>y", "<eos><pad>", "▁▁spaces▁▁"],
}
EXTRA = ["Hello, world!", "    def f():\n        return {'a': [1, 2, 3]}\n", "1234567890123", "a\u0301 e\u0301 \u00e9",
         "\u212b \u2126 \ufb01 \uff21", "  \n\n  \t\t \r\n", "I'LL DON'T we'RE"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        h.update(f.read())
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tokenizers", required=True, help="folder holding one folder per family")
    ap.add_argument("--out", required=True)
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    common = generate_strings(args.count, args.seed) + EXTRA
    out = {"tool": "tokenizers %s (PyPI)" % tokenizers.__version__,
           "command": "tools/reference/hf_tokenizers_reference.py --count %d --seed %d" % (args.count, args.seed),
           "strings": common, "families": {}}
    for family in FAMILIES:
        path = os.path.join(args.tokenizers, family, "tokenizer.json")
        tok = tokenizers.Tokenizer.from_file(path)
        strings = common + SPECIAL_TEXT[family]
        plain = [tok.encode(s, add_special_tokens=False).ids for s in strings]
        # The affixes from a text without special-token text, then checked on every string.
        body = tok.encode("Hello", add_special_tokens=False).ids
        full = tok.encode("Hello", add_special_tokens=True).ids
        k = next(k for k in range(len(full) - len(body) + 1) if full[k:k + len(body)] == body)
        prefix, suffix = full[:k], full[k + len(body):]
        for s, ids in zip(strings, plain):
            if tok.encode(s, add_special_tokens=True).ids != prefix + ids + suffix:
                raise SystemExit("%s: add_special_tokens=True is not %r + ids + %r for %r" % (family, prefix, suffix, s))
        out["families"][family] = {"sha256": sha256(path), "special_prefix": prefix, "special_suffix": suffix,
                                   "special_strings": SPECIAL_TEXT[family], "ids": plain}
    with open(args.out + ".tmp", "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False, separators=(",", ":"))
        f.write("\n")
    os.replace(args.out + ".tmp", args.out)


if __name__ == "__main__":
    main()
