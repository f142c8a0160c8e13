#!/usr/bin/env python3
"""Compare `edge-rt tokenize` on the real tokenizer.json files of four families (../shared/models/tokenizers:
llama2, llama3_1, qwen3, gemma3) with Hugging Face `tokenizers`' ids, committed in
tests/data/tokenizers/hf_reference.json by tools/reference/hf_tokenizers_reference.py (the version is in it).

Checks per family, on ~310 strings (code, emoji, CJK, whitespace runs, digits, contractions, special-token text):
  (i)   the tokenizer.json is the one the reference was made from (SHA-256);
  (ii)  `--no-special` ids equal encode(s, add_special_tokens=False) on every string;
  (iii) default ids equal encode(s, add_special_tokens=True) (BOS where the family adds it) on every string;
  (iv)  `--show-pieces` prints one "id -> 'text'" line per token;
  (v)   llama3_1 and qwen3 as a GGUF file holds them (tokenizer.ggml.* written here as llama.cpp's converter does:
        model gpt2, pre llama-bpe / qwen2, special added tokens as control tokens) give the same ids.

  compare_hf_tokenizers.py --edge-rt BIN --tokenizers DIR --reference FILE --tmp DIR
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import json
import os
import unicodedata

import _common as C


def tokenize_lines(args, folder, path, extra):
    out = C.run_ok([args.edge_rt, "tokenize", "-m", folder, "--json-lines", path] + extra)
    return [json.loads(line) for line in out.splitlines() if line.strip()]


GGUF_PRE = {"llama3_1": "llama-bpe", "qwen3": "qwen2"}


def gguf_tokenizer_file(folder, pre, path):
    """A GGUF file with tokenizer.ggml.* only (no tensors), as convert_hf_to_gguf.py's _set_vocab_gpt2 writes it."""
    tj = json.load(open(os.path.join(folder, "tokenizer.json"), encoding="utf-8"))
    cfg = json.load(open(os.path.join(folder, "tokenizer_config.json"), encoding="utf-8"))
    vocab = tj["model"]["vocab"]
    added = {t["id"]: t for t in tj["added_tokens"]}
    n = max(max(vocab.values()), max(added)) + 1
    tokens, types = ["[PAD%d]" % i for i in range(n)], [5] * n  # holes: unused
    for piece, i in vocab.items():
        tokens[i], types[i] = piece, 1
    for i, t in added.items():
        tokens[i], types[i] = t["content"], 3 if t["special"] else 4
    merges = [m if isinstance(m, str) else " ".join(m) for m in tj["model"]["merges"]]
    kv = [("general.architecture", C.GGUF_STRING, "llama"), ("tokenizer.ggml.model", C.GGUF_STRING, "gpt2"),
          ("tokenizer.ggml.pre", C.GGUF_STRING, pre), ("tokenizer.ggml.tokens", C.GGUF_ARRAY, (C.GGUF_STRING, tokens)),
          ("tokenizer.ggml.token_type", C.GGUF_ARRAY, (C.GGUF_I32, types)),
          ("tokenizer.ggml.merges", C.GGUF_ARRAY, (C.GGUF_STRING, merges))]
    bos = cfg.get("bos_token")
    if bos:
        kv.append(("tokenizer.ggml.bos_token_id", C.GGUF_U32, tokens.index(bos)))
    kv.append(("tokenizer.ggml.add_bos_token", C.GGUF_BOOL, bool(bos) and cfg.get("add_bos_token", True)))
    C.write_gguf(path, kv)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge-rt", required=True)
    ap.add_argument("--tokenizers", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()
    ref = json.load(open(args.reference, encoding="utf-8"))
    os.makedirs(args.tmp, exist_ok=True)

    def check():
        report = []
        for family, r in ref["families"].items():
            folder = os.path.join(args.tokenizers, family)
            got_sha = C.sha256(os.path.join(folder, "tokenizer.json"))
            if got_sha != r["sha256"]:
                C.fail("%s/tokenizer.json has SHA-256 %s, the reference was made from %s" % (family, got_sha,
                                                                                          r["sha256"]))
            strings = ref["strings"] + r["special_strings"]
            path = os.path.join(args.tmp, family + ".jsonl")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines(json.dumps(s) + "\n" for s in strings)
            plain = tokenize_lines(args, folder, path, ["--no-special"])
            special = tokenize_lines(args, folder, path, [])
            if len(plain) != len(strings) or len(special) != len(strings):
                C.fail("%s: %d / %d lines for %d strings" % (family, len(plain), len(special), len(strings)))
            bad = []
            for s, want, a, b in zip(strings, r["ids"], plain, special):
                full = r["special_prefix"] + want + r["special_suffix"]
                if a != want or b != full:
                    bad.append("  %r\n    tokenizers %s\n    edge-rt    %s%s" % (
                        s[:80], want, a, "" if b == full else "\n    with special %s, expected %s" % (b, full)))
            if bad:
                C.fail("%s: %d of %d strings differ from tokenizers, first ones:\n%s" % (
                    family, len(bad), len(strings), "\n".join(bad[:5])))
            pieces = C.run_ok([args.edge_rt, "tokenize", "-m", folder, "--text", "Hello, world!", "--show-pieces"])
            lines = [ln for ln in pieces.splitlines() if ln.strip()]
            want_ids = r["special_prefix"] + r["ids"][ref["strings"].index("Hello, world!")]
            got_ids = [int(ln.split("->")[0]) for ln in lines]
            if got_ids != want_ids or "Hello'" not in pieces:
                C.fail("%s: --show-pieces printed:\n%s\nexpected the ids %s and a piece ending in Hello" % (
                    family, pieces, want_ids))
            if family in GGUF_PRE:
                gguf = os.path.join(args.tmp, family + ".gguf")
                gguf_tokenizer_file(folder, GGUF_PRE[family], gguf)
                got = tokenize_lines(args, gguf, path, [])
                # GGUF has no normalizer: llama.cpp (and so edge-rt) skips Qwen's NFC, so text NFC changes is left out.
                nfc = "NFC" in json.dumps(json.load(open(os.path.join(folder, "tokenizer.json")))["normalizer"])
                kept = [not nfc or unicodedata.normalize("NFC", s) == s for s in strings]
                bad = [(s, want, g) for s, want, g, k in zip(strings, r["ids"], got, kept)
                       if k and g != r["special_prefix"] + want + r["special_suffix"]]
                if bad or len(got) != len(strings):
                    C.fail("%s as GGUF (pre %s): %d of %d strings differ, first: %r\n  tokenizers %s\n  edge-rt %s" % (
                        family, GGUF_PRE[family], len(bad), len(strings), *(bad[0] if bad else ("", "", ""))))
                report.append("%s %d/%d (as GGUF: %d/%d%s)" % (
                    family, len(strings), len(strings), sum(kept), sum(kept),
                    ", %d that NFC changes left out" % (len(strings) - sum(kept)) if nfc else ""))
            else:
                report.append("%s %d/%d" % (family, len(strings), len(strings)))
        return "identical ids to tokenizers (with and without special tokens): " + ", ".join(report)

    C.main_wrapper(check)


if __name__ == "__main__":
    main()
