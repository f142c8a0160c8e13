#!/usr/bin/env python3
"""Independent check of an `edge-rt quantize` output against its source checkpoint, in numpy.

Reads both safetensors files with nothing but json + numpy (as any safetensors tool can), dequantizes every U8
tensor the __metadata__ describes as Q8_0 or Q4_0 by ggml's block layout (F16 scale d, then int8 q[32] for Q8_0;
for Q4_0 16 bytes whose low nibble is element j and high nibble element j + 16, value d * (nibble - 8)), and
compares with the source weights (transposed for GPT-2 Conv1D, which quantize stores output-major).

Usage: quant_check.py SOURCE_DIR QUANTIZED_DIR   (exit 0 when every tensor is within its format's error bound)
"""
import json
import pathlib
import struct
import sys

import numpy as np

CONV1D = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
DTYPES = {"F32": np.float32, "F16": np.float16, "BF16": None, "U8": np.uint8}


def read_safetensors(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    data = raw[8 + n:]
    tensors = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        buf = data[b:end]
        if e["dtype"] == "BF16":
            arr = (np.frombuffer(buf, np.uint16).astype(np.uint32) << 16).view(np.float32)
        else:
            arr = np.frombuffer(buf, DTYPES[e["dtype"]])
        tensors[name] = (e["dtype"], arr.reshape(e["shape"]))
    return tensors, meta


def dequantize(kind, raw, rows, cols):
    nb = cols // 32
    if kind == "Q8_0":
        blocks = raw.reshape(rows, nb, 34)
        d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)  # [rows, nb, 1]
        q = blocks[:, :, 2:].copy().view(np.int8).astype(np.float32)
        return (d * q).reshape(rows, cols)
    blocks = raw.reshape(rows, nb, 18)
    d = blocks[:, :, :2].copy().view(np.float16).astype(np.float32)
    qs = blocks[:, :, 2:]
    lo = (qs & 0x0F).astype(np.float32) - 8
    hi = (qs >> 4).astype(np.float32) - 8
    return (d * np.concatenate([lo, hi], axis=2)).reshape(rows, cols)


def main():
    src, _ = read_safetensors(pathlib.Path(sys.argv[1]) / "model.safetensors")
    out, meta = read_safetensors(pathlib.Path(sys.argv[2]) / "model.safetensors")
    bad = 0
    counts = {}
    for name, (dtype, arr) in out.items():
        ref = src[name][1].astype(np.float32)
        if dtype == "U8":
            kind, shape = meta["edge_rt.quant." + name].split(" ", 1)
            rows, cols = json.loads(shape)
            got = dequantize(kind, arr, rows, cols)
            if name.endswith(CONV1D):
                ref = ref.T  # GPT-2 Conv1D [in, out], stored output-major
            amax = np.abs(ref.reshape(rows, cols // 32, 32)).max(axis=2, keepdims=True)
            err = np.abs(got.reshape(rows, cols // 32, 32) - ref.reshape(rows, cols // 32, 32))
            # Q8_0 rounds to the nearest of 255 levels: within half a step (+ the F16 scale's rounding). Q4_0's
            # least-squares scale may clip the largest element, but never by more than a quarter of amax.
            bound = amax / 127.0 * 0.51 + amax * 1e-3 if kind == "Q8_0" else amax / 4.0
            ok = bool((err <= bound + 1e-7).all()) and got.shape == (rows, cols)
        else:
            kind = dtype
            got = arr.astype(np.float32)
            if meta.get("edge_rt.layout." + name) == "out_in":
                ref = ref.T  # Conv1D written output-major
            ok = got.shape == ref.shape and np.allclose(got, ref, rtol=1e-2 if dtype != "F32" else 0, atol=1e-6)
        counts[kind] = counts.get(kind, 0) + 1
        if not ok:
            bad += 1
            print(f"MISMATCH {name} ({kind})")
    print(f"{len(out)} tensors checked: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) +
          f"; {bad} mismatches")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
