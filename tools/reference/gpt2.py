#!/usr/bin/env python3
"""Independent reference for Hugging Face GPT-2 models (config.json + model.safetensors).

Reads the original HF folder with its own minimal safetensors parser (8-byte little-endian
header length, JSON header, raw data; names with or without a "transformer." prefix;
Conv1D weights stored [in, out]; LM head tied to wte) and runs the GPT-2 forward pass:
wte + wpe; per layer  x += c_proj(attn(c_attn(LN_1(x))))  and
x += mlp.c_proj(gelu_new(c_fc(LN_2(x))));  ln_f;  logits = h @ wte.T.
Attention is causal multi-head, scaled by 1/sqrt(head_dim); gelu_new is the tanh
approximation; LayerNorm eps comes from config layer_norm_epsilon. Math in float64.

CLI (JSON on stdout):
  gpt2.py --model DIR --prompt-tokens 1,2,3 [-n N] [--logits]
  -> {"prompt_token_ids": [...], "generated_token_ids": [...],
      "logits": [[...], ...] (only with --logits: one row per prompt position)}
Greedy generation; stops at config eos_token_id (when < vocab_size), which is not
included in generated_token_ids, or after N tokens / at n_positions.
"""

import argparse
import json
import math
import os
import struct
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("%s needs numpy; run it with an interpreter that has it (e.g. /usr/bin/python3)" % __file__)

_DTYPES = {
    "F64": "<f8", "F32": "<f4", "F16": "<f2",
    "I64": "<i8", "I32": "<i4", "I16": "<i2", "I8": "i1", "U8": "u1", "BOOL": "?",
}


def load_safetensors(path):
    """Return {name: np.ndarray} for a .safetensors file (float tensors as float64)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 8:
        raise ValueError("%s: too short for a safetensors file" % path)
    (hlen,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + hlen].decode("utf-8"))
    base = 8 + hlen
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        dtype = info["dtype"]
        shape = info["shape"]
        start, end = info["data_offsets"]
        raw = data[base + start:base + end]
        if dtype == "BF16":
            u16 = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16
            arr = u16.view(np.float32)
        elif dtype in _DTYPES:
            arr = np.frombuffer(raw, dtype=_DTYPES[dtype])
        else:
            raise ValueError("%s: unsupported dtype %s for %s" % (path, dtype, name))
        expected = int(np.prod(shape)) if shape else 1
        if arr.size != expected:
            raise ValueError("%s: %s has %d elements, shape %s" % (path, name, arr.size, shape))
        arr = arr.reshape(shape)
        if arr.dtype.kind == "f":
            arr = arr.astype(np.float64)
        out[name] = arr
    return out


def gelu_new(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, w, b, eps):
    mu = x.mean(axis=-1, keepdims=True)
    var = ((x - mu) ** 2).mean(axis=-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps) * w + b


class GPT2Model:
    def __init__(self, model_dir):
        with open(os.path.join(model_dir, "config.json")) as f:
            self.config = json.load(f)
        cfg = self.config
        self.n_layer = cfg["n_layer"]
        self.n_head = cfg["n_head"]
        self.n_embd = cfg["n_embd"]
        self.vocab_size = cfg["vocab_size"]
        self.n_positions = cfg.get("n_positions", cfg.get("n_ctx", 1024))
        self.eps = cfg.get("layer_norm_epsilon", 1e-5)
        act = cfg.get("activation_function", "gelu_new")
        if act not in ("gelu_new", "gelu_pytorch_tanh"):
            raise ValueError("unsupported activation_function %r" % act)
        for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
            if cfg.get(flag):
                print("warning: config %s=true is not modelled" % flag, file=sys.stderr)
        if cfg.get("scale_attn_weights") is False:
            print("warning: scale_attn_weights=false is not modelled", file=sys.stderr)
        eos = cfg.get("eos_token_id")
        self.eos_token_id = eos if isinstance(eos, int) and 0 <= eos < self.vocab_size else None
        raw = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w = {}
        for k, v in raw.items():
            if k.startswith("transformer."):
                k = k[len("transformer."):]
            self.w[k] = v
        self.wte = self.w["wte.weight"]
        self.wpe = self.w["wpe.weight"]
        self.lm_head = self.w.get("lm_head.weight", self.wte)
        if self.wte.shape != (self.vocab_size, self.n_embd):
            raise ValueError("wte shape %s does not match config" % (self.wte.shape,))

    def forward(self, ids):
        """Full (non-cached) forward over a sequence of ids; returns [T, vocab] logits."""
        T = len(ids)
        if T > self.n_positions:
            raise ValueError("sequence of %d exceeds n_positions %d" % (T, self.n_positions))
        D, H = self.n_embd, self.n_head
        hd = D // H
        x = self.wte[np.asarray(ids)] + self.wpe[:T]
        mask = np.triu(np.ones((T, T), dtype=bool), k=1)
        w = self.w
        for l in range(self.n_layer):
            p = "h.%d." % l
            a = layer_norm(x, w[p + "ln_1.weight"], w[p + "ln_1.bias"], self.eps)
            qkv = a @ w[p + "attn.c_attn.weight"] + w[p + "attn.c_attn.bias"]
            q, k, v = qkv[:, :D], qkv[:, D:2 * D], qkv[:, 2 * D:]
            q = q.reshape(T, H, hd).transpose(1, 0, 2)
            k = k.reshape(T, H, hd).transpose(1, 0, 2)
            v = v.reshape(T, H, hd).transpose(1, 0, 2)
            s = q @ k.transpose(0, 2, 1) / math.sqrt(hd)
            s = np.where(mask, -np.inf, s)
            s = np.exp(s - s.max(axis=-1, keepdims=True))
            s /= s.sum(axis=-1, keepdims=True)
            o = (s @ v).transpose(1, 0, 2).reshape(T, D)
            x = x + o @ w[p + "attn.c_proj.weight"] + w[p + "attn.c_proj.bias"]
            m = layer_norm(x, w[p + "ln_2.weight"], w[p + "ln_2.bias"], self.eps)
            m = gelu_new(m @ w[p + "mlp.c_fc.weight"] + w[p + "mlp.c_fc.bias"])
            x = x + m @ w[p + "mlp.c_proj.weight"] + w[p + "mlp.c_proj.bias"]
        x = layer_norm(x, w["ln_f.weight"], w["ln_f.bias"], self.eps)
        return x @ self.lm_head.T


def generate(model, prompt_ids, n, want_logits=False):
    if not prompt_ids:
        raise ValueError("GPT-2 generation needs at least one prompt token")
    for t in prompt_ids:
        if not 0 <= t < model.vocab_size:
            raise ValueError("token id %d out of range [0, %d)" % (t, model.vocab_size))
    seq = list(prompt_ids)
    logits = model.forward(seq)
    out = {"prompt_token_ids": list(prompt_ids), "generated_token_ids": []}
    if want_logits:
        out["logits"] = [[float(v) for v in row] for row in logits.astype(np.float32)]
    last = logits[-1]
    gen = out["generated_token_ids"]
    while len(gen) < n:
        nxt = int(np.argmax(last))
        if model.eos_token_id is not None and nxt == model.eos_token_id:
            break
        gen.append(nxt)
        seq.append(nxt)
        if len(gen) >= n or len(seq) >= model.n_positions:
            break
        last = model.forward(seq)[-1]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="HF GPT-2 folder (config.json + model.safetensors)")
    ap.add_argument("--prompt-tokens", required=True, help="comma-separated prompt token ids")
    ap.add_argument("-n", type=int, default=32, help="max tokens to generate")
    ap.add_argument("--logits", action="store_true", help="include logits for every prompt position")
    args = ap.parse_args()
    ids = [int(s) for s in args.prompt_tokens.split(",") if s.strip()]
    model = GPT2Model(args.model)
    print(json.dumps(generate(model, ids, args.n, args.logits)))


if __name__ == "__main__":
    main()
