#!/usr/bin/env python3
"""Independent numpy reference for the Llama-layout families of Hugging Face transformers, from a model folder
(config.json + model.safetensors), written from the modelling code's equations:

  Llama  (models/llama/modeling_llama.py):  h = embed(ids); per layer
           a = o_proj(attn(rope(q_proj(n)), rope(k_proj(n)), v_proj(n))) with n = RMSNorm(h), h += a;
           h += down_proj(silu(gate_proj(m)) * up_proj(m)) with m = RMSNorm(h);  logits = lm_head(RMSNorm(h)).
  Qwen2  (models/qwen2/modeling_qwen2.py):  the same with biases on q_proj, k_proj and v_proj.
  Qwen3  (models/qwen3/modeling_qwen3.py):  no biases; q = q_norm(q), k = k_norm(k) over each head (RMSNorm with
           weight [head_dim], before RoPE); head_dim from config.
  Mistral (models/mistral/modeling_mistral.py): Llama with sliding_window: query q sees keys k with
           q - sliding_window < k <= q (masking_utils.sliding_window_overlay).
  Phi-3  (models/phi3/modeling_phi3.py): qkv_proj rows are [q | k | v], gate_up_proj rows [gate | up]; a sliding
           window as Mistral's; rope_scaling "longrope": inv_freq = 1 / (factor_i * theta^(2i/d)) with long_factor
           when the sequence is longer than original_max_position_embeddings, else short_factor, and cos, sin times
           attention_factor = sqrt(1 + ln(s) / ln(original)), s = max_position_embeddings / original
           (modeling_rope_utils.py _compute_longrope_parameters).

RMSNorm: x / sqrt(mean(x^2) + eps) * w. RoPE: rotate-half pairs (i, i + head_dim/2), inv_freq = theta^(-2i/head_dim),
scaled as rope_scaling "llama3" says (modeling_rope_utils.py _compute_llama3_parameters).
Attention: causal, scaled by 1/sqrt(head_dim), GQA by repeating each KV head n_heads/n_kv_heads times. LM head
tied to the embedding when tie_word_embeddings. Math in float64.

CLI (JSON on stdout):  hf_llama.py --model DIR --prompt-tokens 1,2,3  ->  {"logits": [[...], ...]} (one row per token)
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

FAMILIES = {"LlamaForCausalLM": "llama", "Qwen2ForCausalLM": "qwen2", "Qwen3ForCausalLM": "qwen3",
            "MistralForCausalLM": "mistral", "Phi3ForCausalLM": "phi3"}


def rms_norm(x, w, eps):
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * w


def llama3_inv_freq(inv_freq, s):
    """transformers' _compute_llama3_parameters (modeling_rope_utils.py)."""
    factor, low, high, old = (s["factor"], s["low_freq_factor"], s["high_freq_factor"],
                              s["original_max_position_embeddings"])
    wavelen = 2 * np.pi / inv_freq
    out = np.where(wavelen > old / low, inv_freq / factor, inv_freq)
    smooth = (old / wavelen - low) / (high - low)
    smoothed = (1 - smooth) * out / factor + smooth * out
    medium = ~(wavelen < old / high) & ~(wavelen > old / low)
    return np.where(medium, smoothed, out)


def rope(x, positions, theta, scaling=None, ext_factors=None, mscale=1.0):
    """x: [tokens, heads, head_dim], rotate-half layout."""
    d = x.shape[-1]
    inv_freq = 1.0 / (theta ** (np.arange(0, d, 2, dtype=np.float64) / d))
    if scaling:
        inv_freq = llama3_inv_freq(inv_freq, scaling)
    if ext_factors is not None:
        inv_freq = inv_freq / np.asarray(ext_factors, dtype=np.float64)
    angles = np.outer(positions, inv_freq)  # [tokens, d/2]
    cos = np.concatenate([np.cos(angles)] * 2, axis=-1)[:, None, :] * mscale
    sin = np.concatenate([np.sin(angles)] * 2, axis=-1)[:, None, :] * mscale
    half = d // 2
    rotated = np.concatenate([-x[..., half:], x[..., :half]], axis=-1)
    return x * cos + rotated * sin


class Model:
    def __init__(self, model_dir):
        cfg = json.load(open(os.path.join(model_dir, "config.json")))
        self.family = FAMILIES[cfg["architectures"][0]]
        self.n_layers = cfg["num_hidden_layers"]
        self.n_heads = cfg["num_attention_heads"]
        self.n_kv = cfg.get("num_key_value_heads", self.n_heads)
        self.head_dim = cfg.get("head_dim") or cfg["hidden_size"] // self.n_heads
        self.eps = cfg["rms_norm_eps"]
        self.theta = cfg.get("rope_theta", 10000.0)
        self.scaling = cfg.get("rope_scaling")
        self.window = cfg.get("sliding_window") if self.family in ("mistral", "phi3") else None
        self.longrope = None
        kind = self.scaling.get("rope_type", self.scaling.get("type")) if self.scaling else None
        if kind in ("longrope", "su"):
            original = cfg["original_max_position_embeddings"]
            s = cfg["max_position_embeddings"] / original
            mscale = np.sqrt(1 + np.log(s) / np.log(original)) if s > 1 else 1.0
            self.longrope = (original, self.scaling["short_factor"], self.scaling["long_factor"], mscale)
            self.scaling = None
        elif self.scaling and kind != "llama3":
            raise SystemExit("hf_llama.py: only rope_scaling llama3 and longrope are implemented here")
        self.w = load_safetensors(os.path.join(model_dir, "model.safetensors"))
        if "lm_head.weight" not in self.w or cfg.get("tie_word_embeddings", False):
            self.w.setdefault("lm_head.weight", self.w["model.embed_tokens.weight"])
        if self.family == "phi3":  # unfuse into the Llama names
            q_dim, kv_dim = self.n_heads * self.head_dim, self.n_kv * self.head_dim
            for i in range(self.n_layers):
                p = "model.layers.%d." % i
                qkv = self.w.pop(p + "self_attn.qkv_proj.weight")
                self.w[p + "self_attn.q_proj.weight"] = qkv[:q_dim]
                self.w[p + "self_attn.k_proj.weight"] = qkv[q_dim:q_dim + kv_dim]
                self.w[p + "self_attn.v_proj.weight"] = qkv[q_dim + kv_dim:]
                gate_up = self.w.pop(p + "mlp.gate_up_proj.weight")
                ff = gate_up.shape[0] // 2
                self.w[p + "mlp.gate_proj.weight"], self.w[p + "mlp.up_proj.weight"] = gate_up[:ff], gate_up[ff:]

    def linear(self, x, name, bias=False):
        y = x @ self.w[name + ".weight"].T
        return y + self.w[name + ".bias"] if bias else y

    def forward(self, ids):
        w, hd, n = self.w, self.head_dim, len(ids)
        pos = np.arange(n, dtype=np.float64)
        h = w["model.embed_tokens.weight"][ids]
        ext, mscale = None, 1.0
        if self.longrope:
            original, short, long_, mscale = self.longrope
            ext = long_ if n > original else short
        mask = np.triu(np.full((n, n), -np.inf), 1)
        if self.window:
            mask += np.tril(np.full((n, n), -np.inf), -self.window)
        for i in range(self.n_layers):
            p = "model.layers.%d." % i
            x = rms_norm(h, w[p + "input_layernorm.weight"], self.eps)
            bias = self.family == "qwen2"
            q = self.linear(x, p + "self_attn.q_proj", bias).reshape(n, self.n_heads, hd)
            k = self.linear(x, p + "self_attn.k_proj", bias).reshape(n, self.n_kv, hd)
            v = self.linear(x, p + "self_attn.v_proj", bias).reshape(n, self.n_kv, hd)
            if self.family == "qwen3":
                q = rms_norm(q, w[p + "self_attn.q_norm.weight"], self.eps)
                k = rms_norm(k, w[p + "self_attn.k_norm.weight"], self.eps)
            q = rope(q, pos, self.theta, self.scaling, ext, mscale)
            k = rope(k, pos, self.theta, self.scaling, ext, mscale)
            group = self.n_heads // self.n_kv
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
            scores = np.einsum("qhd,khd->hqk", q, k) / np.sqrt(hd) + mask
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            scores /= scores.sum(axis=-1, keepdims=True)
            attn = np.einsum("hqk,khd->qhd", scores, v).reshape(n, self.n_heads * hd)
            h = h + self.linear(attn, p + "self_attn.o_proj")
            x = rms_norm(h, w[p + "post_attention_layernorm.weight"], self.eps)
            gate = self.linear(x, p + "mlp.gate_proj")
            h = h + self.linear(gate / (1.0 + np.exp(-gate)) * self.linear(x, p + "mlp.up_proj"), p + "mlp.down_proj")
        return rms_norm(h, w["model.norm.weight"], self.eps) @ w["lm_head.weight"].T


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True)
    ap.add_argument("--prompt-tokens", required=True, help="comma-separated token ids")
    args = ap.parse_args()
    ids = [int(t) for t in args.prompt_tokens.split(",")]
    json.dump({"logits": Model(args.model).forward(ids).tolist()}, sys.stdout)


if __name__ == "__main__":
    main()
