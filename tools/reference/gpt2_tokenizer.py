#!/usr/bin/env python3
"""Independent reference for the GPT-2 byte-level BPE tokenizer (vocab.json + merges.txt).

Pre-tokenizes with the real GPT-2 regex (via the `regex` module), maps bytes to the
printable unicode alphabet of bytes_to_unicode(), and applies rank-based BPE merges
(lowest rank first). The special token "<|endoftext|>" occurring in the text maps to its
id (50256) and is never split or merged across.

CLI:
  gpt2_tokenizer.py --model DIR --strings-file F
      F holds one JSON-encoded string per line; prints one JSON array of ids per line.
  gpt2_tokenizer.py --model DIR --text T
      prints one JSON array of ids.
"""

import argparse
import json
import os
import sys

try:
    import regex
except ImportError:  # pragma: no cover
    sys.exit("%s needs the `regex` module; run it with an interpreter that has it (e.g. /usr/bin/python3)"
             % __file__)

GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
SPECIAL_TOKENS = ["<|endoftext|>"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1)) + \
        list(range(ord("\xae"), ord("\xff") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


class GPT2Tokenizer:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.ranks = {}
        with open(os.path.join(model_dir, "merges.txt"), encoding="utf-8") as f:
            lines = f.read().split("\n")
        rank = 0
        for line in lines:
            if not line or line.startswith("#version"):
                continue
            parts = line.split(" ")
            if len(parts) != 2:
                continue
            self.ranks[(parts[0], parts[1])] = rank
            rank += 1
        self.byte_encoder = bytes_to_unicode()
        self.pat = regex.compile(GPT2_PATTERN)
        self.special = {s: self.encoder[s] for s in SPECIAL_TOKENS if s in self.encoder}
        if self.special:
            self.special_pat = regex.compile("(" + "|".join(regex.escape(s) for s in self.special) + ")")
        else:
            self.special_pat = None
        self.cache = {}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token)
        while len(word) > 1:
            best = None
            best_rank = None
            for i in range(len(word) - 1):
                r = self.ranks.get((word[i], word[i + 1]))
                if r is not None and (best_rank is None or r < best_rank):
                    best_rank = r
                    best = (word[i], word[i + 1])
            if best is None:
                break
            # Merge every (non-overlapping, left to right) occurrence of the best pair.
            new = []
            i = 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == best[0] and word[i + 1] == best[1]:
                    new.append(best[0] + best[1])
                    i += 2
                else:
                    new.append(word[i])
                    i += 1
            word = new
        self.cache[token] = word
        return word

    def encode_ordinary(self, text):
        ids = []
        for piece in self.pat.findall(text):
            mapped = "".join(self.byte_encoder[b] for b in piece.encode("utf-8"))
            for sub in self.bpe(mapped):
                ids.append(self.encoder[sub])
        return ids

    def encode(self, text):
        if self.special_pat is None:
            return self.encode_ordinary(text)
        ids = []
        for chunk in self.special_pat.split(text):
            if chunk in self.special:
                ids.append(self.special[chunk])
            elif chunk:
                ids.extend(self.encode_ordinary(chunk))
        return ids


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="folder with vocab.json and merges.txt")
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--strings-file", help="file with one JSON-encoded string per line")
    g.add_argument("--text", help="a single text to encode")
    args = ap.parse_args()
    tok = GPT2Tokenizer(args.model)
    if args.text is not None:
        print(json.dumps(tok.encode(args.text)))
        return
    with open(args.strings_file, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            s = json.loads(line)
            if not isinstance(s, str):
                sys.exit("%s:%d: not a JSON string" % (args.strings_file, lineno))
            print(json.dumps(tok.encode(s)))


if __name__ == "__main__":
    main()
