#!/usr/bin/env python3
"""Independent numpy reference for Gemma 2 and Gemma 3 (text) of Hugging Face transformers, from a model folder
(config.json + model.safetensors), written from the modelling code's equations
(models/gemma2/modeling_gemma2.py, models/gemma3/modeling_gemma3.py):

  h = embed(ids) * sqrt(hidden_size); per layer
    x = RMSNorm_in(h);  q, k, v = q_proj(x), k_proj(x), v_proj(x)   [Gemma 3: q = q_norm(q), k = k_norm(k) per head]
    q, k = rope(q), rope(k)   [Gemma 3: sliding layers with rope_local_base_freq, global ones with rope_theta]
    s = q k^T * query_pre_attn_scalar^-1/2   [Gemma 2: s = cap * tanh(s / cap), cap = attn_logit_softcapping]
    causal mask, and on sliding layers only keys with q - sliding_window < k;  a = softmax(s) v
    h += RMSNorm_post_attn(o_proj(a))
    x = RMSNorm_pre_ffw(h);  h += RMSNorm_post_ffw(down_proj(gelu_tanh(gate_proj(x)) * up_proj(x)))
  logits = RMSNorm_final(h) @ embed^T   [Gemma 2: cap * tanh(logits / cap), cap = final_logit_softcapping]

Gemma RMSNorm: x / sqrt(mean(x^2) + eps) * (1 + w). Sliding layers: layer_types, else Gemma 2 even layers, Gemma 3
all but every sliding_window_pattern-th. RoPE: rotate-half. GQA by repeating KV heads. Math in float64.

CLI (JSON on stdout):  hf_gemma.py --model DIR --prompt-tokens 2,3,4  ->  {"logits": [[...], ...]}
"""

import argparse
import json
import os
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("%s needs numpy; run it with an interpreter that has it (e.g. /usr/bin/python3)" % __file__)

from gpt2 import load_safetensors
from hf_llama import rope


def gemma_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * (1.0 + w)


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x ** 3)))


class Model:
    def __init__(self, model_dir, query_pre_attn_scalar=None):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        arch = cfg["architectures"][0]
        if arch not in ("Gemma2ForCausalLM", "Gemma3ForCausalLM"):
            raise SystemExit("hf_gemma.py: %s is not Gemma 2 or 3" % arch)
        self.gemma3 = arch == "Gemma3ForCausalLM"
        self.d = cfg["hidden_size"]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads", self.n_heads)
        self.head_dim = cfg.get("head_dim") or self.d // self.n_heads
        self.eps = cfg["rms_norm_eps"]
        self.theta = cfg.get("rope_theta", 10000.0)
        self.theta_local = cfg.get("rope_local_base_freq", 10000.0) if self.gemma3 else self.theta
        self.scalar = query_pre_attn_scalar or cfg.get("query_pre_attn_scalar", self.head_dim)
        self.window = cfg.get("sliding_window")
        self.attn_cap = cfg.get("attn_logit_softcapping")
        self.final_cap = cfg.get("final_logit_softcapping")
        if cfg.get("rope_scaling"):
            raise SystemExit("hf_gemma.py: rope_scaling is not implemented here")
        types = cfg.get("layer_types")
        if types:
            self.sliding = [t == "sliding_attention" for t in types]
        else:
            pattern = cfg.get("sliding_window_pattern", 6) if self.gemma3 else 2
            self.sliding = [bool((i + 1) % pattern) for i in range(self.n_layers)]
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        self.w.setdefault("lm_head.weight", self.w["model.embed_tokens.weight"])

    def linear(self, x, name):
        return x @ self.w[name + ".weight"].T

    def forward(self, ids):
        w, hd, n = self.w, self.head_dim, len(ids)
        pos = np.arange(n, dtype=np.float64)
        h = w["model.embed_tokens.weight"][ids] * np.sqrt(np.float32(self.d))
        causal = np.triu(np.full((n, n), -np.inf), 1)
        for i in range(self.n_layers):
            p = "model.layers.%d." % i
            x = gemma_norm(h, w[p + "input_layernorm.weight"], self.eps)
            q = self.linear(x, p + "self_attn.q_proj").reshape(n, self.n_heads, hd)
            k = self.linear(x, p + "self_attn.k_proj").reshape(n, self.n_kv, hd)
            v = self.linear(x, p + "self_attn.v_proj").reshape(n, self.n_kv, hd)
            if self.gemma3:
                q = gemma_norm(q, w[p + "self_attn.q_norm.weight"], self.eps)
                k = gemma_norm(k, w[p + "self_attn.k_norm.weight"], self.eps)
            theta = self.theta_local if self.sliding[i] else self.theta
            q, k = rope(q, pos, theta), rope(k, pos, theta)
            group = self.n_heads // self.n_kv
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            scores = np.einsum("qhd,khd->hqk", q, k) * self.scalar ** -0.5
            if self.attn_cap:
                scores = self.attn_cap * np.tanh(scores / self.attn_cap)
            mask = causal
            if self.sliding[i] and self.window:
                mask = causal + np.tril(np.full((n, n), -np.inf), -self.window)
            scores = scores + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, self.n_heads * hd)
            h = h + gemma_norm(self.linear(attn, p + "self_attn.o_proj"), w[p + "post_attention_layernorm.weight"],
                               self.eps)
            x = gemma_norm(h, w[p + "pre_feedforward_layernorm.weight"], self.eps)
            m = self.linear(gelu_tanh(self.linear(x, p + "mlp.gate_proj")) * self.linear(x, p + "mlp.up_proj"),
                            p + "mlp.down_proj")
            h = h + gemma_norm(m, w[p + "post_feedforward_layernorm.weight"], self.eps)
        logits = gemma_norm(h, w["model.norm.weight"], self.eps) @ w["lm_head.weight"].T
        if self.final_cap:
            logits = self.final_cap * np.tanh(logits / self.final_cap)
        return logits


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", required=True, help="comma-separated token ids")
    args = ap.parse_args()
    ids = [int(t) for t in args.prompt_tokens.split(",")]
    json.dump({"logits": Model(args.model).forward(ids).tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
