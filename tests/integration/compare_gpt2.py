#!/usr/bin/env python3
"""Compare edge-rt on an HF GPT-2 folder against the independent Python reference
tools/reference/gpt2.py (own safetensors parser, float64 math).

For each prompt (token ids): `edge-rt run --prompt-tokens ... -n 30 --all-logits`;
logits at every prompt position within 1e-4 max abs of the reference, prompt ids echoed,
and greedy generated ids equal (a divergence is accepted only at a reference near-tie).

Default prompts depend on the vocabulary: capp-gpt2-tiny (53 tokens) gets valid
part-characteristic prompts ending in <SOS>; a 50257-token GPT-2 gets a few real GPT-2
ids; anything else gets deterministic pseudo-random ids. Override with --prompts "1,2,3;4,5".

  compare_gpt2.py --edge-rt BIN --model DIR [--prompts "1,2;3,4"] [-n 30] [--extra-arg=...]
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import random
import sys

import _common as C
from gpt2 import GPT2Model, generate

CAPP_PROMPTS = [
    # geometry, holes, external threads, surface finish, tolerance, batch size, <SOS>
    [0, 7, 15, 17, 21, 25, 49],
    [2, 8, 14, 18, 22, 26, 49],
    [5, 11, 15, 16, 20, 28, 49],
]
GPT2_PROMPTS = [
    [15496, 11, 995, 0],          # "Hello, world!"
    [464],                        # "The"
    [50256, 40, 1842, 284, 4483],  # <|endoftext|> "I love to eat"
]


def default_prompts(vocab):
    if vocab == 53:
        return CAPP_PROMPTS
    if vocab == 50257:
        return GPT2_PROMPTS
    rng = random.Random(1234)
    return [[rng.randrange(vocab) for _ in range(k)] for k in (1, 4, 9)]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-rt", required=True, help="path to the edge-rt binary")
    ap.add_argument("--model", required=True, help="HF GPT-2 folder (config.json + model.safetensors)")
    ap.add_argument("--prompts", help="semicolon-separated prompts of comma-separated ids")
    ap.add_argument("-n", type=int, default=30, help="tokens to generate per prompt")
    ap.add_argument("--extra-arg", action="append", default=[],
                    help="extra argument passed to every `edge-rt run` (repeatable; use --extra-arg=--flag)")
    ap.add_argument("--atol", type=float, default=1e-4, help="logits max abs tolerance")
    ap.add_argument("--tie-tol", type=float, default=2e-4,
                    help="a greedy divergence is accepted only at a reference near-tie within this gap")
    ap.add_argument("--timeout", type=int, default=C.DEFAULT_TIMEOUT_S)
    args = ap.parse_args()

    def check():
        model = GPT2Model(args.model)
        if args.prompts:
            prompts = [[int(x) for x in p.split(",") if x.strip()] for p in args.prompts.split(";") if p.strip()]
        else:
            prompts = default_prompts(model.vocab_size)
        stop = [model.eos_token_id] if model.eos_token_id is not None else []
        notes = []
        worst_all = 0.0
        for p in prompts:
            ref = generate(model, p, args.n, want_logits=True)
            got = C.edge_run(args.edge_rt, args.model,
                             ["--prompt-tokens", ",".join(map(str, p)), "-n", str(args.n), "--all-logits"]
                             + args.extra_arg, args.timeout)
            label = "prompt %s" % p
            if got["prompt_token_ids"] != p:
                C.fail("%s: edge-rt prompt_token_ids %s != given ids (no BOS should be added for GPT-2)\n  cmd: %s"
                       % (label, got["prompt_token_ids"], got["_cmd"]))
            lg = got.get("logits")
            if not isinstance(lg, list):
                C.fail("%s: edge-rt JSON lacks 'logits' with --all-logits\n  cmd: %s" % (label, got["_cmd"]))
            if len(lg) < len(p):
                C.fail("%s: edge-rt returned %d logits rows, expected one per prompt token (%d)\n  cmd: %s"
                       % (label, len(lg), len(p), got["_cmd"]))
            if len(lg) > len(p) + 1:
                notes.append("%s: edge-rt returned %d logits rows; compared the first %d" % (label, len(lg), len(p)))
            for r in range(len(p)):
                if not isinstance(lg[r], list) or len(lg[r]) != model.vocab_size:
                    C.fail("%s: logits row %d has %s entries, expected vocab %d" % (
                        label, r, len(lg[r]) if isinstance(lg[r], list) else type(lg[r]).__name__,
                        model.vocab_size))
            worst, r, c = C.max_abs_diff_rows(ref["logits"], lg[:len(p)])
            if not worst <= args.atol:
                C.fail("%s: logits differ: max abs %.3g > %g at position %d (token %d), vocab id %d: "
                       "reference %.7g, edge-rt %.7g\n  cmd: %s"
                       % (label, worst, args.atol, r, p[r], c, ref["logits"][r][c], lg[r][c], got["_cmd"]))
            worst_all = max(worst_all, worst)

            def ref_rows(ids, p=p):
                full = model.forward(list(p) + list(ids))
                return [full[j] for j in range(len(p) - 1, len(p) + len(ids))]

            note = C.check_greedy(label, ref["generated_token_ids"], got["generated_token_ids"], args.n,
                                  ref_rows, stop, args.tie_tol)
            if note:
                notes.append(note)
        for nt in notes:
            print("NOTE: " + nt, file=sys.stderr)
        return ("%d prompts: logits max abs diff %.2g, greedy ids identical (n=%d)%s"
                % (len(prompts), worst_all, args.n, " (%d notes)" % len(notes) if notes else ""))

    C.main_wrapper(check)


if __name__ == "__main__":
    main()
