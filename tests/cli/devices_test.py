#!/usr/bin/env python3
"""Placement, per-device budgets, the fallback policy both ways, the coverage report and npu-sim, end to end.

Usage: devices_test.py EDGE_RT_BINARY DEFAULT_MODEL_DIR

npu-sim supports only matmuls with Q8_0/Q4_0 weights. On a Q8_0 copy of stories260K it must give the CPU's tokens
(it computes with the same kernels), report which ops ran where, refuse with --fallback fail, and fall back unit
by unit when its budget is short. TAP output; exit 1 on any failure.
"""
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from tap import check, finish

BIN, MODEL = sys.argv[1], Path(sys.argv[2])
def edge_rt(*args):
    return subprocess.run([BIN, *args], capture_output=True, text=True, timeout=300)


def run_json(model, *extra):
    p = edge_rt("run", "-m", str(model), "-p", "Once upon a time", "-n", "24", "--temp", "0", "--no-monitor",
                "--output", "json", *extra)
    if p.returncode != 0:
        return p, None
    return p, json.loads(p.stdout)


def device(metrics, name):
    return next((d for d in metrics["devices"] if d["name"] == name), None)


with tempfile.TemporaryDirectory() as tmp:
    q8 = Path(tmp) / "q8"
    p = edge_rt("quantize", "-m", str(MODEL), "--type", "q8_0", "--out", str(q8))
    check(p.returncode == 0, "quantize stories260K to Q8_0", p.stderr)

    # The CPU alone: one device, no fallbacks, no splits.
    p, cpu = run_json(q8)
    check(cpu is not None, "Q8_0 on the CPU runs", p.stderr)
    m = cpu["metrics"]
    check([d["name"] for d in m["devices"]] == ["cpu"] and m["fallbacks"] == [] and m["splits"] == 0 and
          m["bytes_across_devices_per_token"] == 0, "CPU-only coverage: one device, no fallback, no split",
          json.dumps(m["devices"]))

    # npu-sim with --fallback cpu (the default): the same tokens, matmuls there, the rest on the CPU.
    p, npu = run_json(q8, "--device", "npu-sim")
    check(npu is not None, "--device npu-sim runs", p.stderr)
    if npu:
        check(npu["generated_token_ids"] == cpu["generated_token_ids"], "npu-sim gives the CPU's tokens",
              f"{npu['generated_token_ids']} vs {cpu['generated_token_ids']}")
        m = npu["metrics"]
        sim = device(m, "npu-sim")
        check(sim is not None and sim["kind"] == "npu" and sim["ops"] > 0 and sim["units"] > 0 and
              sim["weight_bytes"] > 0, "npu-sim holds units and runs ops", json.dumps(m["devices"]))
        layer_units = 2 * 5  # stories260K: 5 layers, attention + feed-forward each
        check(sim is not None and sim["units"] >= layer_units, "every layer is on npu-sim by default",
              json.dumps(sim))
        reasons = {f["reason"] for f in m["fallbacks"]}
        ops = {f["op"] for f in m["fallbacks"]}
        check("op" in reasons and "rms_norm" in ops and "attention" in ops and
              not any(f["op"].startswith("matmul attn") for f in m["fallbacks"]),
              "fallbacks name the ops npu-sim lacks (norms, attention), not its matmuls", json.dumps(m["fallbacks"]))
        check(m["splits"] > 0 and m["bytes_across_devices_per_token"] > 0, "splits and bytes across devices counted",
              f"splits {m['splits']} bytes {m['bytes_across_devices_per_token']}")
        check("run on the CPU instead of npu-sim" in p.stderr and p.stderr.count("instead of npu-sim") == 1,
              "the fallback is said once on stderr", p.stderr)

    # --fallback fail: one error listing every unit and op, exit 1.
    p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "4", "--no-monitor", "--device", "npu-sim", "--fallback",
                "fail")
    check(p.returncode == 1 and "would not run on npu-sim" in p.stderr and "layer.0.attn: rms_norm (op:" in p.stderr
          and "layer.4.ffn: swiglu" in p.stderr, "--fallback fail refuses with the list", p.stderr)
    check(p.stdout == "", "a refusal prints no text", p.stdout)

    # -ngl 2: only the last two layers go to the device; the head stays on the CPU.
    p, two = run_json(q8, "--device", "npu-sim", "-ngl", "2")
    check(two is not None, "-ngl 2 runs", p.stderr)
    if two:
        sim = device(two["metrics"], "npu-sim")
        units_on_sim = {f["unit"] for f in two["metrics"]["fallbacks"]}
        check(sim["units"] == 4 and units_on_sim == {"layer.3.attn", "layer.3.ffn", "layer.4.attn", "layer.4.ffn"},
              "-ngl 2 places layers 3 and 4 only", json.dumps(sim) + " " + str(sorted(units_on_sim)))
        check(two["generated_token_ids"] == cpu["generated_token_ids"], "-ngl 2 gives the CPU's tokens")

    # A device budget too small for one unit: every unit falls back for memory.
    p, short = run_json(q8, "--device", "npu-sim", "--device-budget", "npu-sim=1K")
    check(short is not None, "a short device budget still runs with --fallback cpu", p.stderr)
    if short:
        m = short["metrics"]
        check(device(m, "npu-sim")["units"] == 0 and any(f["reason"] == "memory" for f in m["fallbacks"]),
              "device memory short: units fall back with reason memory", json.dumps(m["fallbacks"][:3]))
        check(short["generated_token_ids"] == cpu["generated_token_ids"], "memory fallback keeps the tokens")
    # A budget that holds one load of an attention unit but not all units: they stream through the device (its
    # pool is a hard cap, so finishing the run proves the peak stayed within it), with every strategy.
    for strategy in ["sequential", "greedy-grouping", "speculative-prefetch"]:
        p, part = run_json(q8, "--device", "npu-sim", "--device-budget", "npu-sim=40K", "--strategy", strategy)
        if not part:
            check(False, f"{strategy}: a partial device budget runs", p.stderr)
            continue
        m = part["metrics"]
        sim = device(m, "npu-sim")
        attn_memory = [f["unit"] for f in m["fallbacks"] if f["reason"] == "memory" and f["unit"].endswith(".attn")]
        check(sim["units"] >= 5 and sim["streamed_bytes_per_token"] > 0 and not attn_memory and
              sim["predicted_peak_bytes"] <= 40 * 1024 and sim["budget_bytes"] == 40 * 1024,
              f"{strategy}: units stream through a short device budget", json.dumps(sim) + " " + str(attn_memory))
        check(part["generated_token_ids"] == cpu["generated_token_ids"], f"{strategy}: streaming keeps the tokens")
    p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "4", "--no-monitor", "--device", "npu-sim",
                "--device-budget", "npu-sim=1K", "--fallback", "fail")
    check(p.returncode == 1 and "(memory:" in p.stderr, "--fallback fail refuses a short device budget", p.stderr)

    # F32 weights: npu-sim can run nothing, so every unit stays on the CPU, reason dtype.
    p, f32 = run_json(MODEL, "--device", "npu-sim")
    check(f32 is not None and device(f32["metrics"], "npu-sim")["units"] == 0 and
          any(f["reason"] == "dtype" for f in f32["metrics"]["fallbacks"]),
          "F32 weights on npu-sim fall back with reason dtype", p.stderr)

    # Bad requests are clear errors.
    for args, text, name in [
        (["--device", "tpu"], "--device 'tpu': unknown device", "an unknown device"),
        (["--device-budget", "npu-sim"], "expected NAME=SIZE", "a budget without a size"),
        (["--device-budget", "cpu=1M"], "--memory-budget", "a CPU device budget"),
        (["--device-budget", "gpu9=1M"], "--device-budget gpu9=...: unknown device", "a budget for an unknown device"),
        (["--gpu-layers", "x"], "expected 0..", "bad --gpu-layers"),
    ]:
        p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "2", "--no-monitor", *args)
        check(p.returncode == 1 and text in p.stderr, name + " is refused", p.stderr)
    # A device that fails to start (npu-sim has no index 1): an init fallback, or a refusal with --fallback fail.
    p, init = run_json(q8, "--device", "npu-sim:1")
    check(init is not None and [f["reason"] for f in init["metrics"]["fallbacks"]] == ["init"] and
          init["generated_token_ids"] == cpu["generated_token_ids"], "a device that fails to start falls back (reason init)",
          p.stderr)
    p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "2", "--no-monitor", "--device", "npu-sim:1",
                "--fallback", "fail")
    check(p.returncode == 1 and "(init:" in p.stderr and "there is one npu-sim device" in p.stderr,
          "--fallback fail refuses a device that fails to start", p.stderr)

    # Presets carry the same keys.
    preset = Path(tmp) / "npu.toml"
    preset.write_text('device = "npu-sim"\nfallback = "fail"\ngpu_layers = 2\n')
    p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "2", "--no-monitor", "-c", str(preset))
    check(p.returncode == 1 and "layer.3.attn" in p.stderr and "layer.2.attn" not in p.stderr,
          "preset device, fallback and gpu_layers apply", p.stderr)
    preset.write_text('device_budget = 5\n')
    p = edge_rt("run", "-m", str(q8), "-p", "Once", "-n", "2", "--no-monitor", "-c", str(preset))
    check(p.returncode == 1 and "device_budget" in p.stderr, "a preset device_budget of the wrong type is refused",
          p.stderr)

    # inspect and benchmark report the same coverage.
    p = edge_rt("inspect", "-m", str(q8), "--json", "--device", "npu-sim")
    ok = p.returncode == 0
    cov = json.loads(p.stdout).get("coverage") if ok else None
    check(cov is not None and device(cov, "npu-sim")["ops"] == device(npu["metrics"], "npu-sim")["ops"],
          "inspect --json reports the coverage run uses", p.stderr)
    p = edge_rt("inspect", "-m", str(q8), "--device", "npu-sim")
    check(p.returncode == 0 and "npu-sim (npu):" in p.stdout and "fallback layer.0.attn" in p.stdout,
          "inspect text lists devices and fallbacks", p.stdout[-800:])
    p = edge_rt("benchmark", "-m", str(q8), "-p", "8", "-n", "4", "-r", "1", "-t", "1", "-o", "json",
                "--no-progress", "--device", "npu-sim")
    ok = p.returncode == 0
    rec = json.loads(p.stdout)["results"][0] if ok else {}
    check(ok and device(rec["coverage"], "npu-sim")["units"] > 0, "benchmark JSON carries the coverage", p.stderr)

finish()
