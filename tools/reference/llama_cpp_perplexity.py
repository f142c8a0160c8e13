#!/usr/bin/env python3
"""llama.cpp's perplexity on a text file through llama-cpp-python, computed as `edge-rt perplexity` does: the text
tokenized without BOS, cut into windows of --ctx-size tokens (one less when the model adds BOS, which then starts
each window), and the second half of each window scored. Prints the perplexity and the number of scored tokens.

  build/ref-venv/bin/python tools/reference/llama_cpp_perplexity.py --model FILE.gguf -f TEXT --ctx-size 256
"""
import argparse
import math

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("-f", "--file", required=True)
    ap.add_argument("--ctx-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    from llama_cpp import Llama

    llm = Llama(model_path=args.model, n_ctx=args.ctx_size, n_batch=args.ctx_size, logits_all=True,
                n_threads=args.threads, type_k=0, type_v=0, verbose=False)
    add_bos = llm.metadata.get("tokenizer.ggml.add_bos_token", "false") == "true"
    tokens = llm.tokenize(open(args.file, "rb").read(), add_bos=False, special=False)
    window = args.ctx_size - (1 if add_bos else 0)
    total, count = 0.0, 0
    for c in range(len(tokens) // window):
        chunk = tokens[c * window:(c + 1) * window]
        seq = ([llm.token_bos()] if add_bos else []) + chunk
        llm.reset()
        llm.eval(seq)
        offset = len(seq) - window
        for p in range(max(1, window // 2), window):
            row = np.asarray(llm.scores[offset + p - 1], dtype=np.float64)
            top = row.max()
            total += top + math.log(np.exp(row - top).sum()) - row[chunk[p]]
            count += 1
    print("perplexity %.4f over %d tokens" % (math.exp(total / count), count))


if __name__ == "__main__":
    main()
