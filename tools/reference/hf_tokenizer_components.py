#!/usr/bin/env python3
"""Synthetic tokenizer.json files that exercise the pipeline components the four real families do not use
(NFKC, Lowercase, Strip, Whitespace, WhitespaceSplit, Punctuation, Digits without individual_digits, Metaspace with
prepend_scheme "first", Split behaviours MergedWithNext and Contiguous, added tokens with lstrip / rstrip /
single_word), with the ids Hugging Face `tokenizers` gives for a few strings; tests/tokenizer/tokenizer_test.cpp
checks edge-rt against them.

  build/ref-venv/bin/python tools/reference/hf_tokenizer_components.py tests/data/tokenizers/components.json
"""
import sys
import json

import tokenizers
chars = list("abcdefghijklmnopqrstuvwxyz0123456789 .,!?-_'\"ï") + ["fi", "ab", "abc", "▁", "▁ab"]
vocab = {c: i for i, c in enumerate(chars)}
def mk(normalizer, pre, added, merges=[["a","b"],["ab","c"]], decoder=None):
    return {"version": "1.0", "added_tokens": added, "normalizer": normalizer, "pre_tokenizer": pre,
            "post_processor": None, "decoder": decoder,
            "model": {"type": "BPE", "vocab": vocab, "merges": merges, "unk_token": None, "fuse_unk": False,
                      "byte_fallback": False}}
n = len(vocab)
added = [
  {"id": n, "content": "<m>", "single_word": False, "lstrip": True, "rstrip": True, "normalized": False, "special": True},
  {"id": n+1, "content": "word", "single_word": True, "lstrip": False, "rstrip": False, "normalized": False, "special": False},
]
cases = {
 "norm": mk({"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"}, {"type": "Strip", "strip_left": True, "strip_right": True}]},
            {"type": "Sequence", "pretokenizers": [{"type": "Whitespace"}]}, []),
 "punct": mk(None, {"type": "Sequence", "pretokenizers": [{"type": "Punctuation", "behavior": "Isolated"}, {"type": "Digits", "individual_digits": False}, {"type": "WhitespaceSplit"}]}, []),
 "added": mk(None, {"type": "WhitespaceSplit"}, added),
 "metaspace": mk(None, {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first", "split": True}, [added[0]]),
 "split": mk(None, {"type": "Split", "pattern": {"String": "-"}, "behavior": "MergedWithNext", "invert": False}, []),
 "contig": mk(None, {"type": "Split", "pattern": {"Regex": "[0-9]"}, "behavior": "Contiguous", "invert": False}, []),
}
strings = ["  ABC ﬁ ab-c!! 12 345  ", "xwordx word, words <m>  ab  <m>ab", "a-b--c 007 .!?", "ÏAB abc"]
out = {}
for name, j in cases.items():
    t = tokenizers.Tokenizer.from_str(json.dumps(j))
    out[name] = {"json": j, "ids": [t.encode(s, add_special_tokens=False).ids for s in strings]}
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({"tool": "tokenizers %s (PyPI)" % tokenizers.__version__, "strings": strings, "cases": out}, f,
              ensure_ascii=False)
    f.write("\n")
