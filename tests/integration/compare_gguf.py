#!/usr/bin/env python3
"""Compare edge-rt on a real GGUF file (SmolLM2-135M-Instruct.Q4_1) against llama.cpp's outputs on the same file,
committed in tests/data/gguf/ by tools/reference/llama_cpp_reference.py (the exact command and version are in it).

Checks:
  (i)   the file is the one the reference was made from (SHA-256); inspect and status -m read it;
  (ii)  prompt tokenization (ChatML special tokens, digits, spaces) equals llama.cpp's on every prompt;
  (iii) greedy generation from llama.cpp's prompt ids: the common prefix with llama.cpp's greedy tokens, per
        prompt, with llama.cpp's own logit gap where they part (reported), at least --min-prefix on every prompt;
  (iv)  teacher-forced over prompt + llama.cpp's continuation: edge-rt's top-1 equals llama.cpp's at >= --min-top1
        of all positions, and is always among llama.cpp's top 5;
  (v)   under a memory budget of a quarter of the file, greedy tokens are identical to the unbudgeted run;
  (vi)  edge-rt convert --from gguf writes a folder whose tokenizer.json tokenizes every prompt as the file does and
        whose top-1 agrees with the file's at >= --min-top1 of the positions (the rotate-half layout reorders q.k).

  compare_gguf.py --edge-rt BIN --model FILE.gguf --reference tests/data/gguf/smollm2-q4_1-llama-cpp.json
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.

Why the bounds are low: quantized models amplify float summation order (llama.cpp's attention and softmax against
ours) through the 8-bit activations into near-tie flips. llama.cpp itself, with an F16 instead of an F32 KV cache,
agrees with this reference at 97.3% of positions and parts from its greedy tokens after 7 tokens on one prompt;
with 1 thread instead of 2, 98.5% (docs/benchmarks.md). Measured here (AVX-512 VM): 97.8%, prefixes of 8 or more,
each parting where llama.cpp's own top two are within 0.1. A real error (a misread block, a wrong RoPE order)
falls far below (top-1 under 50%).
"""

import argparse
import json
import os
import sys

import _common as C


def run_json(args, cmd):
    return json.loads(C.run_ok([args.edge_rt] + cmd + ["--output", "json", "-t", "2"]))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge-rt", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--reference", required=True)
    ap.add_argument("--min-prefix", type=int, default=3)
    ap.add_argument("--min-top1", type=float, default=0.95)
    ap.add_argument("--tmp", required=True, help="folder for the converted model")
    args = ap.parse_args()
    ref = json.load(open(args.reference))
    eos = ref["eos_id"]
    report = []
    try:
        got_sha = C.sha256(args.model)
        if got_sha != ref["model_sha256"]:
            C.fail("%s has SHA-256 %s, the reference was made from %s" % (args.model, got_sha, ref["model_sha256"]))

        # inspect and status read the file too (facts from the issue: 30 layers, 9/3 heads, vocabulary 49152, tied).
        info = json.loads(C.run_ok([args.edge_rt, "inspect", "-m", args.model, "--json"]))
        facts = {"architecture": "llama", "n_layers": 30, "d_model": 576, "n_heads": 9, "n_kv_heads": 3,
                 "vocab_size": 49152}
        wrong = {k: info.get(k) for k, v in facts.items() if info.get(k) != v}
        if wrong:
            C.fail("inspect --json: %s, expected %s" % (wrong, facts))
        status = json.loads(C.run_ok([args.edge_rt, "status", "-m", args.model, "--json"]))
        if status["model_weight_bytes"] != os.path.getsize(args.model):
            C.fail("status -m: model_weight_bytes %s, expected the file's %d"
                   % (status["model_weight_bytes"], os.path.getsize(args.model)))

        agree = total = 0
        logit_gaps, exact_prefixes = [], []
        prefixes = []
        for p in ref["prompts"]:
            ids = json.loads(C.run_ok([args.edge_rt, "tokenize", "-m", args.model, "--text", p["text"]]))
            if ids != p["prompt_ids"]:
                C.fail("tokenization of %r: edge-rt %s, llama.cpp %s" % (p["text"], ids, p["prompt_ids"]))
            want = p["generated_ids"]
            prompt = ",".join(map(str, p["prompt_ids"]))
            out = run_json(args, ["run", "-m", args.model, "--prompt-tokens", prompt, "-n", str(len(want)),
                                  "--temp", "0"])
            got = out["generated_token_ids"] + ([eos] if out["stop_reason"] == "eos" else [])
            prefix = 0
            while prefix < min(len(got), len(want)) and got[prefix] == want[prefix]:
                prefix += 1
            margin = ""
            if prefix < min(len(got), len(want)):
                # How close llama.cpp itself was at the divergence: its logit of its token minus that of ours.
                top = p["top"][len(p["prompt_ids"]) - 1 + prefix]
                if got[prefix] in top["ids"]:
                    margin = "%.3f" % (top["logits"][0] - top["logits"][top["ids"].index(got[prefix])])
                else:
                    margin = "> %.3f" % (top["logits"][0] - top["logits"][-1])
            prefixes.append("%d/%d%s" % (prefix, len(want), " (gap %s)" % margin if margin else ""))
            if prefix < min(args.min_prefix, len(want)):
                C.fail("%r: greedy tokens differ from llama.cpp's at %d (edge-rt %s, llama.cpp %s)"
                       % (p["text"], prefix, got[:prefix + 3], want[:prefix + 3]))
            # Teacher-forced rows: the reference has one per evaluated token (a final EOS is not evaluated).
            seq = (p["prompt_ids"] + want)[:len(p["top"])]
            out = run_json(args, ["run", "-m", args.model, "--prompt-tokens", ",".join(map(str, seq)), "-n", "1",
                                  "--temp", "0", "--all-logits"])
            rows = out["logits"]
            if len(rows) != len(seq):
                C.fail("--all-logits gave %d rows for %d prompt tokens" % (len(rows), len(seq)))
            exact = None  # first position whose logits part from llama.cpp's top 5 by more than 2e-4
            for j, (row, top) in enumerate(zip(rows, p["top"])):
                gaps = [abs(row[i] - l) for i, l in zip(top["ids"], top["logits"])]
                logit_gaps.extend(gaps)
                if exact is None and max(gaps) > 2e-4:
                    exact = j
                best = max(range(len(row)), key=row.__getitem__)
                agree += best == top["ids"][0]
                total += 1
                if best not in top["ids"]:
                    C.fail("%r position %d: edge-rt's top-1 %d is not in llama.cpp's top 5 %s"
                           % (p["text"], j, best, top["ids"]))
            exact_prefixes.append(str(exact if exact is not None else len(p["top"])))
        rate = agree / total
        report.append("greedy tokens equal to llama.cpp's per prompt: %s" % ", ".join(prefixes))
        report.append("teacher-forced logits within 2e-4 of llama.cpp's top 5 for the first %s positions, mean "
                      "|difference| %.4f" % (", ".join(exact_prefixes), sum(logit_gaps) / len(logit_gaps)))
        report.append("teacher-forced top-1 agreement %d/%d = %.4f" % (agree, total, rate))
        if rate < args.min_top1:
            C.fail("teacher-forced top-1 agreement %.4f below %.2f" % (rate, args.min_top1))

        # (v) A quarter of the file as the budget: layers stream, tokens stay.
        budget_mib = os.path.getsize(args.model) // 4 // (1 << 20)
        p = ref["prompts"][1]
        prompt = ",".join(map(str, p["prompt_ids"]))
        base = run_json(args, ["run", "-m", args.model, "--prompt-tokens", prompt, "-n", "48", "--temp", "0"])
        tight = run_json(args, ["run", "-m", args.model, "--prompt-tokens", prompt, "-n", "48", "--temp", "0",
                                "--memory-budget", "%dM" % budget_mib])
        if tight["generated_token_ids"] != base["generated_token_ids"]:
            C.fail("under --memory-budget %dM the tokens differ: %s vs %s"
                   % (budget_mib, tight["generated_token_ids"], base["generated_token_ids"]))
        m = tight["metrics"]
        if m["all_resident"] or m["peak_pool_bytes"] > budget_mib << 20:
            C.fail("under --memory-budget %dM: all_resident %s, peak pool %d bytes"
                   % (budget_mib, m["all_resident"], m["peak_pool_bytes"]))
        report.append("--memory-budget %dM (a quarter of the file): 48 tokens identical, peak pool %.1f MiB, "
                      "%.1f MiB streamed per token" % (budget_mib, m["peak_pool_bytes"] / 2**20,
                                                       m["streamed_bytes_per_token"] / 2**20))
        # (vi) convert --from gguf
        folder = os.path.join(args.tmp, "smollm2-converted")
        C.run_ok([args.edge_rt, "convert", "--from", "gguf", "--checkpoint", args.model, "--out", folder, "--force"])
        agree = total = 0
        for p in ref["prompts"]:
            ids = json.loads(C.run_ok([args.edge_rt, "tokenize", "-m", folder, "--text", p["text"]]))
            if ids != p["prompt_ids"]:
                C.fail("converted folder: tokenization of %r is %s, expected %s" % (p["text"], ids, p["prompt_ids"]))
            seq = ",".join(map(str, (p["prompt_ids"] + p["generated_ids"])[:len(p["top"])]))
            rows = [run_json(args, ["run", "-m", m, "--prompt-tokens", seq, "-n", "1", "--temp", "0",
                                    "--all-logits"])["logits"] for m in (args.model, folder)]
            for a, b in zip(*rows):
                agree += max(range(len(a)), key=a.__getitem__) == max(range(len(b)), key=b.__getitem__)
                total += 1
        if agree / total < args.min_top1:
            C.fail("converted folder: top-1 agrees with the GGUF file at %d/%d positions" % (agree, total))
        report.append("convert --from gguf: tokenization equal, top-1 agreement with the file %d/%d" % (agree, total))
    except C.CheckFailed as e:
        print("FAIL: %s" % e, file=sys.stderr)
        print("compare_gguf: FAIL")
        return 1
    for line in report:
        print("  " + line, file=sys.stderr)
    print("compare_gguf: PASS (%s)" % "; ".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
