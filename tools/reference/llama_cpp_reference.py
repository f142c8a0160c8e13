#!/usr/bin/env python3
"""Reference outputs of llama.cpp (through llama-cpp-python) on a GGUF file, for tests/integration/compare_gguf.py.

For each prompt: llama.cpp's token ids of the prompt (special tokens parsed, no BOS added unless the file says
add_bos), its greedy continuation (argmax of the logits, stopping at EOS), and for every position of prompt +
continuation the top-5 token ids and logits (teacher-forced: row j scores the token after ids[:j + 1]).

Not run in CI: llama-cpp-python builds llama.cpp from source (minutes on two cores). Run it in a virtual
environment and commit the JSON it writes:

  python3 -m venv build/ref-venv && build/ref-venv/bin/pip install llama-cpp-python==0.3.36 numpy
  build/ref-venv/bin/python tools/reference/llama_cpp_reference.py --model SmolLM2-135M-Instruct.Q4_1.gguf \
      --n-predict 80 --out tests/data/gguf/smollm2-q4_1-llama-cpp.json
"""

import argparse
import hashlib
import json
import os
import sys

import numpy as np

# Chat-formatted prompts (SmolLM2's ChatML, written out by hand: the template engine is issue 16's) and plain text.
PROMPTS = [
    "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nWrite a short poem about the sea.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nExplain what a CPU cache is in two sentences.<|im_end|>\n<|im_start|>assistant\n",
    "<|im_start|>user\nList three fruits that are red.<|im_end|>\n<|im_start|>assistant\n",
    "Once upon a time, in a small village by the river,",
    "The three laws of thermodynamics are",
]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--n-predict", type=int, default=80)
    ap.add_argument("--top", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()

    import llama_cpp
    from llama_cpp import Llama

    # F32 KV cache (llama.cpp's default is F16; edge-rt keeps K and V in F32), no flash attention.
    llm = Llama(model_path=args.model, n_ctx=1024, logits_all=True, n_threads=args.threads, n_batch=512, seed=0,
                type_k=0, type_v=0, flash_attn=False, verbose=False)
    eos = llm.token_eos()
    add_bos = bool(llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true")
    results = []
    for text in PROMPTS:
        prompt = llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)
        llm.reset()
        llm.eval(prompt)
        generated = []
        for _ in range(args.n_predict):
            token = int(np.argmax(llm.scores[llm.n_tokens - 1]))
            generated.append(token)
            if token == eos:
                break
            llm.eval([token])
        # Teacher-forced rows of the whole sequence: the scores llama.cpp computed along the way (one row per
        # evaluated token; the final EOS, if any, was never evaluated).
        rows = llm.scores[: llm.n_tokens]
        top = []
        for row in rows:
            ids = np.argsort(-row, kind="stable")[: args.top]
            top.append({"ids": [int(i) for i in ids], "logits": [round(float(row[i]), 5) for i in ids]})
        results.append({"text": text, "prompt_ids": [int(t) for t in prompt], "generated_ids": generated,
                        "top": top})
        print("%d prompt + %d generated: %r" % (len(prompt), len(generated),
                                                llm.detokenize(generated).decode("utf-8", "replace")[:80]),
              file=sys.stderr)
    out = {
        "tool": "llama-cpp-python %s (llama.cpp built from its vendored source)" % llama_cpp.__version__,
        "command": "tools/reference/llama_cpp_reference.py --model %s --n-predict %d --top %d (KV cache F32)"
                   % (os.path.basename(args.model), args.n_predict, args.top),
        "model": os.path.basename(args.model),
        "model_sha256": sha256(args.model),
        "eos_id": int(eos),
        "prompts": results,
    }
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(out, f, indent=None, separators=(",", ":"))
        f.write("\n")
    os.replace(tmp, args.out)


if __name__ == "__main__":
    main()
