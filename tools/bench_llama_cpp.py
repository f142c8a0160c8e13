#!/usr/bin/env python3
"""llama.cpp's prefill and decode speed on a GGUF file through llama-cpp-python, measured as llama-bench does
(pp: one batch of N random tokens; tg: N tokens one at a time), for side-by-side rows with `edge-rt benchmark`.
llama-cpp-python does not ship llama-bench; the Python call per token adds ~0.05 ms (measured with an empty
eval), under 1% of a decode step here.

  build/ref-venv/bin/python tools/bench_llama_cpp.py --model FILE.gguf -p 128 -n 64 -t 1,2 -r 3
"""
import argparse
import statistics
import time

import numpy as np


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("-p", type=int, default=128)
    ap.add_argument("-n", type=int, default=64)
    ap.add_argument("-t", default="1,2")
    ap.add_argument("-r", type=int, default=3)
    args = ap.parse_args()
    import llama_cpp
    from llama_cpp import Llama

    print("llama-cpp-python %s, %s" % (llama_cpp.__version__, args.model))
    print("| threads | test | t/s (mean +- sd) |")
    print("|---|---|---|")
    rng = np.random.default_rng(0)
    for threads in [int(t) for t in args.t.split(",")]:
        llm = Llama(model_path=args.model, n_ctx=args.p + args.n + 8, n_batch=max(args.p, 8), n_threads=threads,
                    n_threads_batch=threads, logits_all=False, verbose=False)
        vocab = llm.n_vocab()
        pp, tg = [], []
        for rep in range(args.r + 1):  # the first repetition warms up and is dropped
            prompt = [int(t) for t in rng.integers(0, vocab, args.p)]
            llm.reset()
            start = time.perf_counter()
            llm.eval(prompt)
            pp_s = time.perf_counter() - start
            llm.reset()
            token = int(rng.integers(0, vocab))
            start = time.perf_counter()
            for _ in range(args.n):
                llm.eval([token])
            tg_s = time.perf_counter() - start
            if rep:
                pp.append(args.p / pp_s)
                tg.append(args.n / tg_s)
        for name, v in (("pp%d" % args.p, pp), ("tg%d" % args.n, tg)):
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            print("| %d | %s | %.2f +- %.2f |" % (threads, name, statistics.mean(v), sd))


if __name__ == "__main__":
    main()
