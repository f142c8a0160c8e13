#!/usr/bin/env python3
"""GGUF files as llama.cpp lays them out and quantizes them (tests/data/gguf, written by
tools/reference/hf_to_gguf.py and requantized by tools/reference/llama_cpp_quantize.py) against the safetensors
models they came from.

Checks:
  (i)   stories260K-f32.gguf (llama: Q/K rows in Meta's order, SentencePiece vocabulary with scores and token
        types from tokenizer.ggml.*): tokenization and 60 greedy tokens equal models/stories260K's, on text prompts;
  (ii)  capp-gpt2-tiny F16 and Q8_0 (GPT-2: Conv1D weights stored [out, in], output.weight beside token_embd):
        greedy tokens equal the F32 safetensors model's, logits within 1e-2 (F16) / 0.15 (Q8_0, 8-bit activations) teacher-forced;
  (iii) capp-gpt2-tiny Q4_0 (llama.cpp's mix: token_embd Q4_0, output Q8_0): mean NLL of the F32 model's own
        continuation within 0.1 nats of F32;
  (iv)  llama-256-Q4_0.gguf (llama.cpp's Q4_0 with a Q6_K output matrix): the head is Q6_K, and its logits track
        the F32 model tools/gen_model.py regenerates (cosine >= 0.95 per position; a misread Q6_K gives ~0).

  (v)   edge-rt convert --from gguf: the stories260K folder it writes gives models/stories260K's 60 greedy tokens,
        and the capp-gpt2-tiny Q4_0 folder the GGUF file's logits to the bit;
  compare_gguf_files.py --edge-rt BIN --data tests/data/gguf --models ../shared/models --source REPO --tmp DIR
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import json
import math
import os
import subprocess
import sys

import _common as C
import numpy as np

PROMPTS = ["Once upon a time", "The cat sat on the mat.", 'Tom said, "Let\'s play!"', "One day, a little bird"]


def run(args, model, *extra):
    return json.loads(C.run_ok([args.edge_rt, "run", "-m", model, "--temp", "0", "--output", "json"] + list(extra)))


def logits(args, model, ids):
    out = run(args, model, "--prompt-tokens", ",".join(map(str, ids)), "-n", "1", "--all-logits")
    return np.array(out["logits"], dtype=np.float64)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge-rt", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--tmp", required=True)
    args = ap.parse_args()
    report = []
    try:
        # (i) stories260K
        gguf = os.path.join(args.data, "stories260K-f32.gguf")
        st = os.path.join(args.source, "models", "stories260K")
        for text in PROMPTS:
            a = json.loads(C.run_ok([args.edge_rt, "tokenize", "-m", gguf, "--text", text]))
            b = json.loads(C.run_ok([args.edge_rt, "tokenize", "-m", st, "--text", text]))
            if a != b:
                C.fail("stories260K tokenization of %r: GGUF %s, safetensors %s" % (text, a, b))
            g = run(args, gguf, "-p", text, "-n", "60")
            s = run(args, st, "-p", text, "-n", "60")
            if g["generated_token_ids"] != s["generated_token_ids"] or g["text"] != s["text"]:
                C.fail("stories260K %r: GGUF %r, safetensors %r" % (text, g["text"], s["text"]))
        report.append("stories260K GGUF: tokens and 60 greedy tokens equal on %d prompts" % len(PROMPTS))

        # (ii) capp-gpt2-tiny F16 / Q8_0
        capp = os.path.join(args.models, "capp-gpt2-tiny")
        prompts = ["1,2,3,4", "0", "5,9,13"]
        ref = {p: run(args, capp, "--prompt-tokens", p, "-n", "32")["generated_token_ids"] for p in prompts}
        seq = [int(t) for t in prompts[0].split(",")] + ref[prompts[0]]
        ref_logits = logits(args, capp, seq)
        for fmt, bound in (("F16", 1e-2), ("Q8_0", 0.15)):
            model = os.path.join(args.data, "capp-gpt2-tiny-%s.gguf" % fmt)
            for p in prompts:
                got = run(args, model, "--prompt-tokens", p, "-n", "32")["generated_token_ids"]
                if got != ref[p]:
                    C.fail("capp-gpt2-tiny %s [%s]: %s, F32 safetensors %s" % (fmt, p, got, ref[p]))
            diff = np.abs(logits(args, model, seq) - ref_logits).max()
            if not diff <= bound:
                C.fail("capp-gpt2-tiny %s: logits differ from F32 by %.4g, expected <= %g" % (fmt, diff, bound))
            report.append("capp-gpt2-tiny %s: greedy tokens equal, max |dlogit| %.2g" % (fmt, diff))

        # (iii) capp-gpt2-tiny Q4_0: NLL of the F32 model's continuation
        def mean_nll(rows):
            total = 0.0
            for j in range(len(seq) - 1):
                row = rows[j]
                top = row.max()
                total += top + math.log(np.exp(row - top).sum()) - row[seq[j + 1]]
            return total / (len(seq) - 1)
        q4 = logits(args, os.path.join(args.data, "capp-gpt2-tiny-Q4_0.gguf"), seq)
        f32_nll, q4_nll = mean_nll(ref_logits), mean_nll(q4)
        if not abs(q4_nll - f32_nll) <= 0.1:
            C.fail("capp-gpt2-tiny Q4_0: mean NLL %.4f vs F32 %.4f" % (q4_nll, f32_nll))
        report.append("capp-gpt2-tiny Q4_0: mean NLL %.3f vs F32 %.3f" % (q4_nll, f32_nll))

        # (v) convert --from gguf
        folder = os.path.join(args.tmp, "stories260K-converted")
        C.run_ok([args.edge_rt, "convert", "--from", "gguf", "--checkpoint", gguf, "--out", folder, "--force"])
        for text in PROMPTS[:2]:
            c = run(args, folder, "-p", text, "-n", "60")
            s = run(args, st, "-p", text, "-n", "60")
            if c["generated_token_ids"] != s["generated_token_ids"] or c["prompt_token_ids"] != s["prompt_token_ids"]:
                C.fail("convert --from gguf stories260K %r: %r, safetensors %r" % (text, c["text"], s["text"]))
        q4_gguf = os.path.join(args.data, "capp-gpt2-tiny-Q4_0.gguf")
        folder = os.path.join(args.tmp, "capp-q4_0-converted")
        C.run_ok([args.edge_rt, "convert", "--from", "gguf", "--checkpoint", q4_gguf, "--out", folder, "--force"])
        if not np.array_equal(logits(args, folder, seq), q4):
            C.fail("convert --from gguf capp-gpt2-tiny Q4_0: logits differ from the GGUF file's")
        report.append("convert --from gguf: stories260K tokens and capp-gpt2-tiny Q4_0 logits kept")

        # (iv) llama-256 Q4_0 with a Q6_K head
        model = os.path.join(args.data, "llama-256-Q4_0.gguf")
        info = json.loads(C.run_ok([args.edge_rt, "inspect", "-m", model, "--json"]))
        head = [u for u in info["units"] if u["kind"] == "head"]
        if not head or "Q6_K" not in head[0]["dtype"]:
            C.fail("llama-256 Q4_0: head %s, expected Q6_K" % head)
        f32 = os.path.join(args.tmp, "llama-256")
        subprocess.run([sys.executable, os.path.join(args.source, "tools", "gen_model.py"), "--arch", "llama-256",
                        "--dtype", "f32", "--seed", "1", "--out", f32], check=True, stdout=subprocess.DEVNULL)
        ids = [1, 403, 407, 261, 378, 432, 383, 286, 261, 376, 298, 315]
        a, b = logits(args, model, ids), logits(args, f32, ids)
        cos = min(float(x @ y / (np.linalg.norm(x) * np.linalg.norm(y))) for x, y in zip(a, b))
        if not cos >= 0.95:
            C.fail("llama-256 Q4_0 + Q6_K head: logits cosine %.4f to F32, expected >= 0.95" % cos)
        report.append("llama-256 Q4_0 + Q6_K head: logits cosine >= %.3f to F32" % cos)
    except (C.CheckFailed, subprocess.CalledProcessError) as e:
        print("FAIL: %s" % e, file=sys.stderr)
        print("compare_gguf_files: FAIL")
        return 1
    print("compare_gguf_files: PASS (%s)" % "; ".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
