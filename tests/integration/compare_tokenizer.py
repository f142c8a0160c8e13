#!/usr/bin/env python3
"""Compare `edge-rt tokenize` with the independent GPT-2 byte-level BPE reference
tools/reference/gpt2_tokenizer.py on a few hundred varied strings (gen_strings.py).

Checks: every string's ids equal (UTF-8 JSON lines, then the non-ASCII ones again with
\\u-escaped JSON, surrogate pairs included), and `--text "Hello, world!"` gives
[15496, 11, 995, 0].

  compare_tokenizer.py --edge-rt BIN --model DIR(tiny-random-gpt2) [--count 300] [--seed 1]
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import json
import os
import tempfile

import _common as C
from gen_strings import generate_strings
from gpt2_tokenizer import GPT2Tokenizer

HELLO = ("Hello, world!", [15496, 11, 995, 0])
MAX_REPORTED = 10


def parse_lines(out, expected_count, cmd):
    lines = [ln for ln in out.splitlines() if ln.strip()]
    if len(lines) != expected_count:
        C.fail("edge-rt printed %d non-empty lines for %d input strings\n  cmd: %s\n  stdout head:\n%s"
               % (len(lines), expected_count, cmd, "\n".join(lines[:5])))
    result = []
    for i, ln in enumerate(lines):
        try:
            ids = json.loads(ln)
        except ValueError as e:
            C.fail("edge-rt output line %d is not JSON (%s): %r" % (i + 1, e, ln[:200]))
        if not isinstance(ids, list) or not all(isinstance(x, int) for x in ids):
            C.fail("edge-rt output line %d is not a JSON array of ints: %r" % (i + 1, ln[:200]))
        result.append(ids)
    return result


def compare_batch(args, tok, strings, ensure_ascii, label):
    fd, path = tempfile.mkstemp(prefix="edge_rt_tok_", suffix=".jsonl")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for s in strings:
                f.write(json.dumps(s, ensure_ascii=ensure_ascii) + "\n")
        cmd = [args.edge_rt, "tokenize", "--model", args.model, "--json-lines", path]
        out = C.run_ok(cmd, args.timeout)
        got = parse_lines(out, len(strings), C.cmd_str(cmd))
    finally:
        os.unlink(path)
    bad = []
    for s, g in zip(strings, got):
        ref = tok.encode(s)
        if ref != g:
            bad.append((s, ref, g))
    if bad:
        msg = ["%s: %d of %d strings tokenize differently; first %d:" % (label, len(bad), len(strings),
                                                                         min(len(bad), MAX_REPORTED))]
        for s, ref, g in bad[:MAX_REPORTED]:
            i = C.first_diff(ref, g)
            msg.append("  string %s" % json.dumps(s))
            msg.append("    reference: %s" % ref)
            msg.append("    edge-rt:   %s" % g)
            msg.append("    first difference at index %d; reference pieces %s" % (
                i, [tok.decoder_piece(t) for t in ref[max(0, i - 1):i + 2]]))
        C.fail("\n".join(msg))
    return len(strings)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-rt", required=True, help="path to the edge-rt binary")
    ap.add_argument("--model", required=True, help="folder with the GPT-2 vocab.json + merges.txt")
    ap.add_argument("--count", type=int, default=300)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--timeout", type=int, default=C.DEFAULT_TIMEOUT_S)
    args = ap.parse_args()

    def check():
        tok = GPT2Tokenizer(args.model)
        inv = {v: k for k, v in tok.encoder.items()}
        tok.decoder_piece = lambda t: inv.get(t, "?")
        if tok.encode(HELLO[0]) != HELLO[1]:
            C.fail("reference tokenizer broken: %r -> %s, expected %s" % (HELLO[0], tok.encode(HELLO[0]), HELLO[1]))
        cmd = [args.edge_rt, "tokenize", "--model", args.model, "--text", HELLO[0]]
        out = C.run_ok(cmd, args.timeout)
        try:
            got = json.loads(out.strip())
        except ValueError:
            C.fail("edge-rt tokenize --text output is not JSON: %r\n  cmd: %s" % (out[:200], C.cmd_str(cmd)))
        if got != HELLO[1]:
            C.fail("%r -> %s, expected %s\n  cmd: %s" % (HELLO[0], got, HELLO[1], C.cmd_str(cmd)))
        strings = generate_strings(args.count, args.seed)
        n1 = compare_batch(args, tok, strings, False, "UTF-8 JSON lines")
        non_ascii = [s for s in strings if any(ord(ch) > 127 for ch in s)]
        n2 = compare_batch(args, tok, non_ascii, True, "\\u-escaped JSON lines") if non_ascii else 0
        return "%d strings identical (+%d re-checked with \\u escapes); %r -> %s" % (n1, n2, HELLO[0], HELLO[1])

    C.main_wrapper(check)


if __name__ == "__main__":
    main()
