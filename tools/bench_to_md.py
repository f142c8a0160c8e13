#!/usr/bin/env python3
"""Renders `edge-rt benchmark --output json` as a Markdown table: one row per configuration, with its pp and tg
results side by side (mean +- sd over the repetitions). Usage: bench_to_md.py RESULTS.json"""
import json
import sys


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1]) as f:
        data = json.load(f)
    rows = {}
    order = []
    for r in data["results"]:
        key = (r["memory_budget"], r["strategy"], r["n_threads"])
        if key not in rows:
            rows[key] = {}
            order.append(key)
        rows[key]["tg" if r["n_gen"] > 0 else "pp"] = r
    pp_name = next((r["test"] for r in data["results"] if r["n_gen"] == 0), "pp")
    tg_name = next((r["test"] for r in data["results"] if r["n_gen"] > 0), "tg")
    print(f"| budget | strategy | threads | {pp_name} t/s | {tg_name} t/s | load ms | TTFT ms | token p50 / p99 ms "
          "| peak RSS MiB | MiB streamed/token |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for key in order:
        pp, tg = rows[key].get("pp"), rows[key].get("tg")
        any_row = tg or pp
        cell = lambda r: f"{r['avg_ts']:.1f} +- {r['stddev_ts']:.1f}" if r else "-"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {cell(pp)} | {cell(tg)} | {any_row['load_ms']:.0f} "
              f"| {any_row['ttft_ms']:.0f} | {any_row['token_p50_ms']:.1f} / {any_row['token_p99_ms']:.1f} "
              f"| {any_row['peak_rss_bytes'] / 2**20:.0f} | {any_row['streamed_bytes_per_token'] / 2**20:.0f} |")
    s = data.get("summary", {})
    for name, label in (("fastest", "fastest decode"), ("smallest_peak_rss", "smallest peak RSS"),
                        ("best_tok_s_per_mib", "best decode t/s per MiB of peak RSS")):
        if name in s:
            r = s[name]
            print(f"\n{label}: {r['strategy']}, budget {r['memory_budget']}, {r['n_threads']} threads: "
                  f"{r['avg_ts']:.1f} t/s, peak RSS {r['peak_rss_bytes'] / 2**20:.0f} MiB", end="")
    print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
