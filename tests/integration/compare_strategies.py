#!/usr/bin/env python3
"""Check that edge-rt's weight-streaming strategies under memory budgets give exactly the
same greedy output as the unlimited all-in-memory run, and respect their budgets.

For each strategy (sequential, greedy-grouping, speculative-prefetch):
  1. `--memory-budget 1K` must fail (non-zero exit) with stderr mentioning "minimum budget"
     and the exact minimum as "(N bytes)";
  2. budgets N, ceil(1.25 N), 2N, 4N (plain byte counts) and unlimited (no --memory-budget,
     or --unlimited-budget VALUE) must succeed with generated ids equal to the baseline
     (no --memory-budget, no --strategy), and metrics["peak_pool_bytes"] <= budget;
  3. `--memory-budget N-1` must fail (non-zero exit).

  compare_strategies.py --edge-rt BIN --model DIR [--prompt TEXT | --prompt-tokens 1,2] [-n 40]
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import math
import re

import _common as C

STRATEGIES = ["sequential", "greedy-grouping", "speculative-prefetch"]
MIN_RE = re.compile(r"minimum budget", re.IGNORECASE)
BYTES_RE = re.compile(r"\((\d+) bytes\)")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--edge-rt", required=True, help="path to the edge-rt binary")
    ap.add_argument("--model", required=True, help="edge-rt model folder")
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--prompt", default="Once upon a time", help="prompt text (default %(default)r)")
    g.add_argument("--prompt-tokens", help="comma-separated prompt ids instead of text")
    ap.add_argument("-n", type=int, default=40, help="tokens to generate")
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated strategies")
    ap.add_argument("--unlimited-budget", default="",
                    help="value for --memory-budget in the 'unlimited' run per strategy (default: flag omitted)")
    ap.add_argument("--extra-arg", action="append", default=[],
                    help="extra argument passed to every `edge-rt run` (repeatable; use --extra-arg=--flag)")
    ap.add_argument("--timeout", type=int, default=C.DEFAULT_TIMEOUT_S)
    args = ap.parse_args()

    if args.prompt_tokens:
        prompt_args = ["--prompt-tokens", args.prompt_tokens]
    else:
        prompt_args = ["--prompt", args.prompt]
    base_args = ["--model", args.model] + prompt_args + ["-n", str(args.n), "--temperature", "0",
                                                        "--output", "json"] + args.extra_arg

    def run_json(extra):
        cmd = [args.edge_rt, "run"] + base_args + extra
        out = C.run_ok(cmd, args.timeout)
        obj = C.parse_json_object(out, cmd)
        if not isinstance(obj.get("generated_token_ids"), list):
            C.fail("edge-rt JSON lacks list 'generated_token_ids'\n  cmd: %s" % C.cmd_str(cmd))
        obj["_cmd"] = C.cmd_str(cmd)
        return obj

    def run_expect_fail(extra, why):
        cmd = [args.edge_rt, "run"] + base_args + extra
        rc, out, err = C.run_cmd(cmd, args.timeout)
        if rc == 0:
            C.fail("%s: expected a non-zero exit but edge-rt succeeded\n  cmd: %s\n  stdout: %s"
                   % (why, C.cmd_str(cmd), C.tail(out, 400)))
        if rc < 0:
            C.fail("%s: edge-rt died from signal %d instead of exiting with an error\n  cmd: %s\n  stderr: %s"
                   % (why, -rc, C.cmd_str(cmd), C.tail(err)))
        return rc, err, cmd

    def check():
        strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
        baseline = run_json([])
        expect = baseline["generated_token_ids"]
        if not expect:
            C.fail("baseline run generated no tokens; pick another prompt\n  cmd: %s" % baseline["_cmd"])
        mins = {}
        runs = 0
        for strat in strategies:
            sargs = ["--strategy", strat]
            rc, err, cmd = run_expect_fail(sargs + ["--memory-budget", "1K"], "%s with a 1K budget" % strat)
            if not MIN_RE.search(err):
                C.fail("%s with a 1K budget: stderr does not mention 'minimum budget'\n  cmd: %s\n  stderr: %s"
                       % (strat, C.cmd_str(cmd), C.tail(err)))
            m = BYTES_RE.search(err[MIN_RE.search(err).start():]) or BYTES_RE.search(err)
            if not m:
                C.fail("%s with a 1K budget: cannot find the minimum as '(N bytes)' in stderr\n  cmd: %s\n"
                       "  stderr: %s" % (strat, C.cmd_str(cmd), C.tail(err)))
            nmin = int(m.group(1))
            if nmin <= 1024:
                C.fail("%s: reported minimum budget %d bytes is not above the 1K that was refused" % (strat, nmin))
            mins[strat] = nmin
            budgets = [nmin, int(math.ceil(nmin * 1.25)), 2 * nmin, 4 * nmin, None]
            for b in budgets:
                if b is None:
                    extra = sargs + (["--memory-budget", args.unlimited_budget] if args.unlimited_budget else [])
                    label = "%s unlimited" % strat
                else:
                    extra = sargs + ["--memory-budget", str(b)]
                    label = "%s budget %d (%.2fx min)" % (strat, b, b / nmin)
                got = run_json(extra)
                runs += 1
                d = C.describe_id_diff("%s: generated ids vs the all-in-memory baseline" % label, expect,
                                       got["generated_token_ids"])
                if d:
                    C.fail(d + "\n  cmd: " + got["_cmd"] + "\n  baseline cmd: " + baseline["_cmd"])
                if b is not None:
                    metrics = got.get("metrics")
                    if not isinstance(metrics, dict) or "peak_pool_bytes" not in metrics:
                        C.fail("%s: JSON metrics lack 'peak_pool_bytes'\n  cmd: %s" % (label, got["_cmd"]))
                    peak = metrics["peak_pool_bytes"]
                    if not isinstance(peak, (int, float)) or isinstance(peak, bool):
                        C.fail("%s: metrics.peak_pool_bytes is not a number: %r" % (label, peak))
                    if peak > b:
                        C.fail("%s: metrics.peak_pool_bytes %d exceeds the budget %d by %d bytes\n  cmd: %s"
                               % (label, peak, b, peak - b, got["_cmd"]))
            run_expect_fail(sargs + ["--memory-budget", str(nmin - 1)],
                            "%s with budget N-1 = %d bytes (one below the reported minimum)" % (strat, nmin - 1))
            runs += 1
        mins_s = ", ".join("%s %d" % (s, mins[s]) for s in strategies)
        return ("%d strategies x 5 budgets (%d runs) match the baseline's %d tokens and stay within budget; "
                "minimum budgets: %s" % (len(strategies), runs, len(expect), mins_s))

    C.main_wrapper(check)


if __name__ == "__main__":
    main()
