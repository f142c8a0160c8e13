#!/usr/bin/env python3
"""Writes tests/data/gguf/block_formats.txt: for each ggml block format edge-rt reads, two blocks of random bytes
(scales set to sane F16 values) and their values as gguf-py (the `gguf` package, ggml's Python reference of
ggml-common.h) dequantizes them. tests/tensor_core checks tensor_core::to_f32 against it.

  python3 -m venv build/ref-venv && build/ref-venv/bin/pip install gguf==0.19.0 numpy
  build/ref-venv/bin/python tools/reference/gen_block_fixture.py > tests/data/gguf/block_formats.txt
Line format: NAME HEX_BYTES FLOAT FLOAT ... (floats with 9 significant digits, exact for float32).
"""
import numpy as np
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

rng = np.random.default_rng(7)


def f16_bytes(v):
    return np.array([v], dtype=np.float16).tobytes()


def block(kind):
    if kind == "Q4_1":
        return f16_bytes(rng.uniform(0.01, 0.1)) + f16_bytes(rng.uniform(-1, 0)) + rng.bytes(16)
    if kind == "Q5_0":
        return f16_bytes(rng.uniform(-0.1, 0.1)) + rng.bytes(4) + rng.bytes(16)
    if kind == "Q5_1":
        return f16_bytes(rng.uniform(0.01, 0.1)) + f16_bytes(rng.uniform(-1, 0)) + rng.bytes(4) + rng.bytes(16)
    if kind == "Q8_0":
        return f16_bytes(rng.uniform(-0.1, 0.1)) + rng.bytes(32)
    if kind == "Q4_0":
        return f16_bytes(rng.uniform(-0.1, 0.1)) + rng.bytes(16)
    if kind in ("Q4_K", "Q5_K"):
        head = f16_bytes(rng.uniform(0.001, 0.01)) + f16_bytes(rng.uniform(0.001, 0.01)) + rng.bytes(12)
        return head + (rng.bytes(32) if kind == "Q5_K" else b"") + rng.bytes(128)
    if kind == "Q6_K":
        return rng.bytes(128) + rng.bytes(64) + rng.bytes(16) + f16_bytes(rng.uniform(0.001, 0.01))
    raise ValueError(kind)


for kind in ["Q8_0", "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q4_K", "Q5_K", "Q6_K"]:
    data = block(kind) + block(kind)
    values = dequantize(np.frombuffer(data, dtype=np.uint8), Q[kind]).astype(np.float32).reshape(-1)
    print(kind, data.hex(), " ".join("%.9g" % v for v in values))
