#!/usr/bin/env python3
"""Writes a Hugging Face-layout model folder (config.json, safetensors weights, tokenizer files) with
deterministic random weights, for benchmarking and testing edge-rt on real model shapes without downloading them.

Shapes (--arch):
  gpt2-124m, gpt2-355m, gpt2-774m, gpt2-1.5b   the four GPT-2 sizes (tied LM head, Conv1D [in, out] weights,
                                              tensor names as in HF's GPT-2 model.safetensors: wte.weight, h.0...)
  tinyllama-1.1b                              TinyLlama-1.1B (GQA 32/4 heads, untied lm_head)
  llama3.2-1b, llama3-tiny                    Llama-3.2-1B (tied, rope_scaling llama3; Llama 3.1's tokenizer) and a
                                              tiny one like it
  qwen2.5-0.5b, qwen3-0.6b                    Qwen2.5-0.5B and Qwen3-0.6B (tied embeddings; Qwen's tokenizer)
  gpt2-tiny, llama-tiny, qwen2-tiny, qwen3-tiny   small shapes of the same layouts, for tests; the tiny Qwen
                                              shapes draw norm weights ~ 1 + Normal(0, 0.1) and biases ~ Normal(0,
                                              0.1), so a parity test sees a norm or bias that is not applied

Values: matrices and embeddings ~ Normal(0, 0.02), norm weights 1.0, biases 0.0. Tensor number i (in header order)
draws from numpy.random.default_rng([seed, i]) in float32, then is converted to --dtype (bf16 by round-to-nearest-
even), so the same (arch, dtype, seed) always gives byte-identical files, whatever --shard-size is. The output is
streamed: headers first (all offsets follow from the shapes), then one tensor at a time, large ones in row chunks,
so memory stays around one chunk however big the model.

Tokenizer files are copied from --tokenizer-dir: by default the real GPT-2 tokenizer of
/work/shared/models/tiny-random-gpt2 for GPT-2 shapes, and the committed models/stories260K/tokenizer.json (512
tokens; smaller than the model's vocabulary, which edge-rt accepts) for Llama shapes.

Usage (needs numpy; on this machine use Debian's /usr/bin/python3):
  /usr/bin/python3 tools/gen_model.py --arch gpt2-124m --dtype f32 --out /tmp/gpt2-124m
  /usr/bin/python3 tools/gen_model.py --arch tinyllama-1.1b --dtype bf16 --shard-size 1000000000 --out /tmp/tl
  /usr/bin/python3 tools/gen_model.py --arch gpt2-1.5b --dtype f16 --print-size
"""

from __future__ import annotations

import argparse
import json
import pathlib
import shutil
import struct
import sys
import time

import numpy as np

REPO = pathlib.Path(__file__).resolve().parent.parent
GPT2_TOKENIZER_DIR = pathlib.Path("/work/shared/models/tiny-random-gpt2")
GPT2_TOKENIZER_FILES = ["vocab.json", "merges.txt", "tokenizer.json", "tokenizer_config.json",
                        "special_tokens_map.json"]
LLAMA_TOKENIZER_DIR = REPO / "models" / "stories260K"
LLAMA_TOKENIZER_FILES = ["tokenizer.json"]

INIT_STD = 0.02
CHUNK_ELEMENTS = 1 << 22  # generate/convert/write at most this many values at once (16 MiB of float32)

GPT2_SHAPES = {  # n_embd, n_layer, n_head, vocab_size, n_positions
    "gpt2-124m": (768, 12, 12, 50257, 1024),
    "gpt2-355m": (1024, 24, 16, 50257, 1024),
    "gpt2-774m": (1280, 36, 20, 50257, 1024),
    "gpt2-1.5b": (1600, 48, 25, 50257, 1024),
    "gpt2-tiny": (64, 2, 2, 50257, 256),
}
LLAMA_SHAPES = {  # hidden, layers, heads, kv_heads, intermediate, vocab, max_position
    "tinyllama-1.1b": (2048, 22, 32, 4, 5632, 32000, 2048),
    "llama-tiny": (64, 2, 4, 2, 160, 512, 256),
    "llama-256": (256, 2, 4, 2, 512, 512, 256),  # rows of whole K-quant blocks
    "llama3.2-1b": (2048, 16, 32, 8, 8192, 128256, 131072),
    "llama3-tiny": (64, 2, 4, 2, 160, 512, 256),
    "mistral-tiny": (64, 2, 4, 2, 160, 512, 256),
    "phi3-tiny": (64, 2, 4, 2, 160, 512, 256),
    "mistral-7b": (4096, 32, 32, 8, 14336, 32000, 32768),  # Mistral-7B-v0.1
    "phi3-mini": (3072, 32, 32, 32, 8192, 32064, 4096),  # Phi-3-mini-4k-instruct
}
# Phi-3: fused qkv_proj and gate_up_proj, a sliding window, longrope scaling (the tiny shape's original context
# of 16 is shorter than the test prompts, so the long factors and the attention factor apply).
PHI3 = {"phi3-tiny": {"sliding_window": 12, "original_max_position_embeddings": 16, "pad_token_id": 0},
        "phi3-mini": {"sliding_window": 2047, "pad_token_id": 32000}}
# Mistral: the Llama layout with sliding-window attention; the tiny window of 8 is shorter than the test prompts.
MISTRAL_WINDOW = {"mistral-tiny": 8, "mistral-7b": 4096}
LLAMA2_TOKENIZER_DIR = REPO.parent / "shared" / "models" / "tokenizers" / "llama2"  # Mistral-7B and Phi-3 shapes
# Llama 3.x: tied embeddings, theta 500000, rope_scaling "llama3". The tiny shape's original context of 64 puts its
# 8 frequencies of head_dim 16 in all three bands (kept, ramped, divided).
LLAMA3 = {
    "llama3.2-1b": (500000.0, {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                               "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}),
    "llama3-tiny": (10000.0, {"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 64}),
}
# Qwen2 (Q/K/V biases) and Qwen3 (per-head Q/K RMSNorm, its own head_dim); tied embeddings, RoPE theta 1e6.
QWEN_SHAPES = {  # family, hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_position
    "qwen2.5-0.5b": ("qwen2", 896, 24, 14, 2, 64, 4864, 151936, 32768),
    "qwen3-0.6b": ("qwen3", 1024, 28, 16, 8, 128, 3072, 151936, 40960),
    "qwen2-tiny": ("qwen2", 64, 2, 4, 2, 16, 160, 512, 256),
    "qwen3-tiny": ("qwen3", 64, 2, 4, 2, 32, 160, 512, 256),
}
QWEN_TOKENIZER_DIR = REPO.parent / "shared" / "models" / "tokenizers" / "qwen3"  # full-size Qwen shapes
LLAMA3_TOKENIZER_DIR = REPO.parent / "shared" / "models" / "tokenizers" / "llama3_1"  # llama3.2-1b
QWEN_TOKENIZER_FILES = ["tokenizer.json", "tokenizer_config.json"]
# Gemma 2 / Gemma 3 (text): norm weights stored as w - 1 (zeros at full size; N(0, 0.1) in the tiny shapes, whose
# Q/K projections are N(0, 0.1) too so that soft-capping and the windows change the logits).
GEMMA_SHAPES = {  # family, hidden, layers, heads, kv_heads, head_dim, intermediate, vocab, max_position, window
    # Gemma-2-2B's shape with Gemma 3's vocabulary (262144 rows), the Gemma tokenizer ../shared has.
    "gemma2-2b": ("gemma2", 2304, 26, 8, 4, 256, 9216, 262144, 8192, 4096),
    "gemma3-1b": ("gemma3", 1152, 26, 4, 1, 256, 6912, 262144, 32768, 512),
    "gemma2-tiny": ("gemma2", 64, 4, 4, 2, 16, 160, 512, 256, 8),
    "gemma3-tiny": ("gemma3", 64, 6, 4, 1, 32, 160, 512, 256, 8),
}
GEMMA_TOKENIZER_DIR = REPO.parent / "shared" / "models" / "tokenizers" / "gemma3"  # full-size Gemma shapes
ARCHS = list(GPT2_SHAPES) + list(LLAMA_SHAPES) + list(QWEN_SHAPES) + list(GEMMA_SHAPES)

# --dtype -> (safetensors dtype, bytes per value, config.json torch_dtype)
DTYPES = {
    "f32": ("F32", 4, "float32"),
    "f16": ("F16", 2, "float16"),
    "bf16": ("BF16", 2, "bfloat16"),
}


class Tensor:
    """One tensor to write: name, shape, and how its values are made: 'normal' (Normal(0, 0.02)), 'ones', 'zeros',
    'near1' (1 + Normal(0, 0.1)) or 'small' (Normal(0, 0.1))."""

    def __init__(self, name: str, shape: tuple[int, ...], init: str):
        self.name, self.shape, self.init = name, shape, init

    @property
    def numel(self) -> int:
        n = 1
        for d in self.shape:
            n *= d
        return n


def gpt2_layout(arch: str) -> tuple[dict, list[Tensor]]:
    d, n_layer, n_head, vocab, n_pos = GPT2_SHAPES[arch]
    config = {
        "activation_function": "gelu_new",
        "architectures": ["GPT2LMHeadModel"],
        "attn_pdrop": 0.1,
        "bos_token_id": 50256,
        "embd_pdrop": 0.1,
        "eos_token_id": 50256,
        "initializer_range": INIT_STD,
        "layer_norm_epsilon": 1e-05,
        "model_type": "gpt2",
        "n_ctx": n_pos,
        "n_embd": d,
        "n_head": n_head,
        "n_inner": None,
        "n_layer": n_layer,
        "n_positions": n_pos,
        "reorder_and_upcast_attn": False,
        "resid_pdrop": 0.1,
        "scale_attn_by_inverse_layer_idx": False,
        "scale_attn_weights": True,
        "summary_activation": None,
        "summary_first_dropout": 0.1,
        "summary_proj_to_labels": True,
        "summary_type": "cls_index",
        "summary_use_proj": True,
        "torch_dtype": None,  # filled in from --dtype
        "use_cache": True,
        "vocab_size": vocab,
    }
    t = [Tensor("wte.weight", (vocab, d), "normal"), Tensor("wpe.weight", (n_pos, d), "normal")]
    for i in range(n_layer):
        h = f"h.{i}."
        t += [
            Tensor(h + "ln_1.weight", (d,), "ones"),
            Tensor(h + "ln_1.bias", (d,), "zeros"),
            Tensor(h + "attn.c_attn.weight", (d, 3 * d), "normal"),  # Conv1D: [in, out]
            Tensor(h + "attn.c_attn.bias", (3 * d,), "zeros"),
            Tensor(h + "attn.c_proj.weight", (d, d), "normal"),
            Tensor(h + "attn.c_proj.bias", (d,), "zeros"),
            Tensor(h + "ln_2.weight", (d,), "ones"),
            Tensor(h + "ln_2.bias", (d,), "zeros"),
            Tensor(h + "mlp.c_fc.weight", (d, 4 * d), "normal"),
            Tensor(h + "mlp.c_fc.bias", (4 * d,), "zeros"),
            Tensor(h + "mlp.c_proj.weight", (4 * d, d), "normal"),
            Tensor(h + "mlp.c_proj.bias", (d,), "zeros"),
        ]
    t += [Tensor("ln_f.weight", (d,), "ones"), Tensor("ln_f.bias", (d,), "zeros")]
    return config, t  # no lm_head.weight: tied to wte.weight


def llama_layout(arch: str) -> tuple[dict, list[Tensor]]:
    d, n_layer, n_head, n_kv, ff, vocab, max_pos = LLAMA_SHAPES[arch]
    head_dim = d // n_head
    q_dim, kv_dim = n_head * head_dim, n_kv * head_dim
    config = {
        "architectures": ["LlamaForCausalLM"],
        "attention_bias": False,
        "bos_token_id": 1,
        "eos_token_id": 2,
        "hidden_act": "silu",
        "hidden_size": d,
        "initializer_range": INIT_STD,
        "intermediate_size": ff,
        "max_position_embeddings": max_pos,
        "model_type": "llama",
        "num_attention_heads": n_head,
        "num_hidden_layers": n_layer,
        "num_key_value_heads": n_kv,
        "pretraining_tp": 1,
        "rms_norm_eps": 1e-05,
        "rope_scaling": None,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": None,  # filled in from --dtype
        "use_cache": True,
        "vocab_size": vocab,
    }
    t = [Tensor("model.embed_tokens.weight", (vocab, d), "normal")]
    for i in range(n_layer):
        p = f"model.layers.{i}."
        t += [
            Tensor(p + "input_layernorm.weight", (d,), "ones"),
            Tensor(p + "self_attn.q_proj.weight", (q_dim, d), "normal"),  # nn.Linear: [out, in]
            Tensor(p + "self_attn.k_proj.weight", (kv_dim, d), "normal"),
            Tensor(p + "self_attn.v_proj.weight", (kv_dim, d), "normal"),
            Tensor(p + "self_attn.o_proj.weight", (d, q_dim), "normal"),
            Tensor(p + "post_attention_layernorm.weight", (d,), "ones"),
            Tensor(p + "mlp.gate_proj.weight", (ff, d), "normal"),
            Tensor(p + "mlp.up_proj.weight", (ff, d), "normal"),
            Tensor(p + "mlp.down_proj.weight", (d, ff), "normal"),
        ]
    t += [Tensor("model.norm.weight", (d,), "ones"), Tensor("lm_head.weight", (vocab, d), "normal")]
    if arch in PHI3:
        config["architectures"], config["model_type"] = ["Phi3ForCausalLM"], "phi3"
        config.update(PHI3[arch])
        if "original_max_position_embeddings" in PHI3[arch]:  # a 128k-style longrope shape
            half = head_dim // 2
            rng = np.random.default_rng(7)
            config["rope_scaling"] = {"type": "longrope",
                                      "short_factor": [round(float(x), 4) for x in 1.0 + rng.random(half)],
                                      "long_factor": [round(float(x), 4) for x in 1.0 + 4.0 * rng.random(half)]}
        fused = []
        for x in t:
            if x.name.endswith("self_attn.q_proj.weight"):
                fused.append(Tensor(x.name.replace("q_proj", "qkv_proj"), (q_dim + 2 * kv_dim, d), "normal"))
            elif x.name.endswith("mlp.gate_proj.weight"):
                fused.append(Tensor(x.name.replace("gate_proj", "gate_up_proj"), (2 * ff, d), "normal"))
            elif not x.name.endswith(("k_proj.weight", "v_proj.weight", "up_proj.weight")):
                fused.append(Tensor(x.name, x.shape, "near1" if x.init == "ones" else x.init))
        t = fused
    if arch in MISTRAL_WINDOW:
        config["architectures"], config["model_type"] = ["MistralForCausalLM"], "mistral"
        config["sliding_window"] = MISTRAL_WINDOW[arch]
        for x in t:
            x.init = "near1" if x.init == "ones" else x.init
    if arch in LLAMA3:
        config["rope_theta"], config["rope_scaling"] = LLAMA3[arch]
        config["tie_word_embeddings"] = True
        t.pop()  # tied: no lm_head.weight
        if arch.endswith("-tiny"):
            for x in t:
                x.init = "near1" if x.init == "ones" else x.init
    return config, t


def qwen_layout(arch: str) -> tuple[dict, list[Tensor]]:
    family, d, n_layer, n_head, n_kv, head_dim, ff, vocab, max_pos = QWEN_SHAPES[arch]
    tiny = arch.endswith("-tiny")
    norm, bias = ("near1", "small") if tiny else ("ones", "zeros")
    q_dim, kv_dim = n_head * head_dim, n_kv * head_dim
    config = {
        "architectures": ["Qwen2ForCausalLM" if family == "qwen2" else "Qwen3ForCausalLM"],
        "attention_bias": False,
        "bos_token_id": 151643 if not tiny else 1,
        "eos_token_id": 151645 if not tiny else 2,
        "head_dim": head_dim,
        "hidden_act": "silu",
        "hidden_size": d,
        "intermediate_size": ff,
        "max_position_embeddings": max_pos,
        "model_type": family,
        "num_attention_heads": n_head,
        "num_hidden_layers": n_layer,
        "num_key_value_heads": n_kv,
        "rms_norm_eps": 1e-06,
        "rope_scaling": None,
        "rope_theta": 1000000.0,
        "tie_word_embeddings": True,
        "torch_dtype": None,
        "use_sliding_window": False,
        "vocab_size": vocab,
    }
    if family == "qwen2":
        del config["attention_bias"], config["head_dim"]  # Qwen2 configs have neither; head_dim = hidden / heads
    t = [Tensor("model.embed_tokens.weight", (vocab, d), "normal")]
    for i in range(n_layer):
        p = f"model.layers.{i}."
        t += [Tensor(p + "input_layernorm.weight", (d,), norm),
              Tensor(p + "self_attn.q_proj.weight", (q_dim, d), "normal"),
              Tensor(p + "self_attn.k_proj.weight", (kv_dim, d), "normal"),
              Tensor(p + "self_attn.v_proj.weight", (kv_dim, d), "normal"),
              Tensor(p + "self_attn.o_proj.weight", (d, q_dim), "normal")]
        if family == "qwen2":
            t += [Tensor(p + "self_attn.q_proj.bias", (q_dim,), bias),
                  Tensor(p + "self_attn.k_proj.bias", (kv_dim,), bias),
                  Tensor(p + "self_attn.v_proj.bias", (kv_dim,), bias)]
        else:
            t += [Tensor(p + "self_attn.q_norm.weight", (head_dim,), norm),
                  Tensor(p + "self_attn.k_norm.weight", (head_dim,), norm)]
        t += [Tensor(p + "post_attention_layernorm.weight", (d,), norm),
              Tensor(p + "mlp.gate_proj.weight", (ff, d), "normal"),
              Tensor(p + "mlp.up_proj.weight", (ff, d), "normal"),
              Tensor(p + "mlp.down_proj.weight", (d, ff), "normal")]
    t += [Tensor("model.norm.weight", (d,), norm)]
    return config, t  # no lm_head.weight: tied


def gemma_layout(arch: str) -> tuple[dict, list[Tensor]]:
    family, d, n_layer, n_head, n_kv, head_dim, ff, vocab, max_pos, window = GEMMA_SHAPES[arch]
    tiny = arch.endswith("-tiny")
    norm, qk = ("small", "small") if tiny else ("zeros", "normal")
    q_dim, kv_dim = n_head * head_dim, n_kv * head_dim
    config = {
        "architectures": ["Gemma2ForCausalLM" if family == "gemma2" else "Gemma3ForCausalLM"],
        "model_type": "gemma2" if family == "gemma2" else "gemma3_text",
        "attention_bias": False,
        "bos_token_id": 2,
        "eos_token_id": 1,
        "pad_token_id": 0,
        "head_dim": head_dim,
        "hidden_activation": "gelu_pytorch_tanh",
        "hidden_size": d,
        "intermediate_size": ff,
        "max_position_embeddings": max_pos,
        "num_attention_heads": n_head,
        "num_hidden_layers": n_layer,
        "num_key_value_heads": n_kv,
        "query_pre_attn_scalar": head_dim,
        "rms_norm_eps": 1e-06,
        "rope_theta": 10000.0,
        "sliding_window": window,
        "tie_word_embeddings": True,
        "torch_dtype": None,
        "vocab_size": vocab,
    }
    if family == "gemma2":
        config["attn_logit_softcapping"] = 0.5 if tiny else 50.0
        config["final_logit_softcapping"] = 0.3 if tiny else 30.0
        if tiny:
            config["query_pre_attn_scalar"] = 24  # not head_dim, so the scale shows
    else:
        config.update({"rope_theta": 1000000.0, "rope_local_base_freq": 10000.0, "attn_logit_softcapping": None,
                       "final_logit_softcapping": None, "rope_scaling": None, "sliding_window_pattern": 6})
        config["layer_types"] = ["full_attention" if (i + 1) % 6 == 0 else "sliding_attention" for i in range(n_layer)]
    t = [Tensor("model.embed_tokens.weight", (vocab, d), "normal")]
    for i in range(n_layer):
        p = f"model.layers.{i}."
        t += [Tensor(p + "input_layernorm.weight", (d,), norm),
              Tensor(p + "self_attn.q_proj.weight", (q_dim, d), qk),
              Tensor(p + "self_attn.k_proj.weight", (kv_dim, d), qk),
              Tensor(p + "self_attn.v_proj.weight", (kv_dim, d), "normal"),
              Tensor(p + "self_attn.o_proj.weight", (d, q_dim), "normal")]
        if family == "gemma3":
            t += [Tensor(p + "self_attn.q_norm.weight", (head_dim,), norm),
                  Tensor(p + "self_attn.k_norm.weight", (head_dim,), norm)]
        t += [Tensor(p + "post_attention_layernorm.weight", (d,), norm),
              Tensor(p + "pre_feedforward_layernorm.weight", (d,), norm),
              Tensor(p + "mlp.gate_proj.weight", (ff, d), "normal"),
              Tensor(p + "mlp.up_proj.weight", (ff, d), "normal"),
              Tensor(p + "mlp.down_proj.weight", (d, ff), "normal"),
              Tensor(p + "post_feedforward_layernorm.weight", (d,), norm)]
    t += [Tensor("model.norm.weight", (d,), norm)]
    return config, t  # no lm_head.weight: tied


def layout(arch: str, dtype: str) -> tuple[dict, list[Tensor]]:
    if arch in GEMMA_SHAPES:
        config, tensors = gemma_layout(arch)
    elif arch in QWEN_SHAPES:
        config, tensors = qwen_layout(arch)
    else:
        config, tensors = gpt2_layout(arch) if arch in GPT2_SHAPES else llama_layout(arch)
    config["torch_dtype"] = DTYPES[dtype][2]
    return config, tensors


def plan_shards(tensors: list[Tensor], value_bytes: int, shard_size: int | None) -> list[list[int]]:
    """Tensor indices per output file. Like HF's sharding: fill a shard until the next tensor would push its data
    past shard_size (a tensor bigger than shard_size gets a shard of its own). One file when everything fits."""
    total = sum(t.numel for t in tensors) * value_bytes
    if shard_size is None or total <= shard_size:
        return [list(range(len(tensors)))]
    shards: list[list[int]] = [[]]
    used = 0
    for i, t in enumerate(tensors):
        nbytes = t.numel * value_bytes
        if shards[-1] and used + nbytes > shard_size:
            shards.append([])
            used = 0
        shards[-1].append(i)
        used += nbytes
    return shards


def build_header(tensors: list[Tensor], indices: list[int], st_dtype: str, value_bytes: int, seed: int) -> bytes:
    """The safetensors header JSON (tensors in the order they are written), space-padded to a multiple of 8."""
    header: dict = {"__metadata__": {"format": "pt", "generator": "edge-rt tools/gen_model.py", "seed": str(seed)}}
    offset = 0
    for i in indices:
        t = tensors[i]
        end = offset + t.numel * value_bytes
        header[t.name] = {"dtype": st_dtype, "shape": list(t.shape), "data_offsets": [offset, end]}
        offset = end
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    return text + b" " * (-len(text) % 8)


def to_bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bit patterns (uint16), rounding to nearest, ties to even (inputs are finite)."""
    bits = x.view(np.uint32)
    return ((bits + np.uint32(0x7FFF) + ((bits >> np.uint32(16)) & np.uint32(1))) >> np.uint32(16)).astype("<u2")


def convert(x: np.ndarray, dtype: str) -> np.ndarray:
    if dtype == "f32":
        return x.astype("<f4", copy=False)
    if dtype == "f16":
        return x.astype("<f2")
    return to_bf16_bits(x)


def write_tensor(f, t: Tensor, index: int, seed: int, dtype: str) -> None:
    """Generates tensor number `index` in row chunks and appends its bytes to `f`."""
    if t.init in ("normal", "near1", "small"):
        std, offset = (INIT_STD, 0.0) if t.init == "normal" else (0.1, 1.0 if t.init == "near1" else 0.0)
        rng = np.random.default_rng([seed, index])
        cols = t.shape[-1] if len(t.shape) > 1 else 1
        rows = t.numel // cols
        step = max(1, CHUNK_ELEMENTS // cols)
        for r0 in range(0, rows, step):
            n = min(step, rows - r0)
            x = rng.standard_normal((n, cols), dtype=np.float32)  # sequential draws: same values as one big draw
            x *= np.float32(std)
            x += np.float32(offset)
            f.write(memoryview(convert(x, dtype)))
    else:
        value = np.float32(1.0 if t.init == "ones" else 0.0)
        x = np.full(min(t.numel, CHUNK_ELEMENTS), value, dtype=np.float32)
        chunk = memoryview(convert(x, dtype)).cast("B")
        left = t.numel * DTYPES[dtype][1]
        while left > 0:
            f.write(chunk[: min(left, len(chunk))])
            left -= len(chunk)


def shard_names(n: int) -> list[str]:
    if n == 1:
        return ["model.safetensors"]
    return [f"model-{k + 1:05d}-of-{n:05d}.safetensors" for k in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", required=True, choices=ARCHS)
    ap.add_argument("--dtype", default="f32", choices=list(DTYPES), help="stored weight type (default f32)")
    ap.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    ap.add_argument("--out", type=pathlib.Path, help="model folder to write (created if missing)")
    ap.add_argument("--shard-size", type=int, metavar="BYTES",
                    help="split into model-0000k-of-0000N.safetensors + model.safetensors.index.json when the "
                         "tensor data exceeds BYTES")
    ap.add_argument("--tokenizer-dir", type=pathlib.Path,
                    help=f"where to copy tokenizer files from (default {GPT2_TOKENIZER_DIR} for GPT-2 shapes, "
                         f"{LLAMA_TOKENIZER_DIR.relative_to(REPO)} for Llama shapes)")
    ap.add_argument("--print-size", action="store_true", help="print parameter count and file bytes; write nothing")
    args = ap.parse_args()
    if args.seed < 0:
        ap.error("--seed must be >= 0")
    if args.shard_size is not None and args.shard_size <= 0:
        ap.error("--shard-size must be positive")
    if not args.print_size and args.out is None:
        ap.error("--out is required unless --print-size is given")

    st_dtype, value_bytes, _ = DTYPES[args.dtype]
    config, tensors = layout(args.arch, args.dtype)
    shards = plan_shards(tensors, value_bytes, args.shard_size)
    names = shard_names(len(shards))
    headers = [build_header(tensors, s, st_dtype, value_bytes, args.seed) for s in shards]
    n_params = sum(t.numel for t in tensors)
    data_bytes = n_params * value_bytes
    file_bytes = sum(8 + len(h) for h in headers) + data_bytes

    if args.print_size:
        print(f"{args.arch} {args.dtype}: {n_params} params, {file_bytes} bytes in {len(shards)} safetensors file(s)")
        return 0

    is_gpt2 = args.arch in GPT2_SHAPES
    full = (args.arch in QWEN_SHAPES or args.arch in LLAMA3 or args.arch in GEMMA_SHAPES or args.arch in PHI3 or
            args.arch in MISTRAL_WINDOW) and not args.arch.endswith("-tiny")
    full_dir = (QWEN_TOKENIZER_DIR if args.arch in QWEN_SHAPES else
                GEMMA_TOKENIZER_DIR if args.arch in GEMMA_SHAPES else
                LLAMA2_TOKENIZER_DIR if args.arch in PHI3 or args.arch in MISTRAL_WINDOW else LLAMA3_TOKENIZER_DIR)
    tok_dir = args.tokenizer_dir or (GPT2_TOKENIZER_DIR if is_gpt2 else full_dir if full else LLAMA_TOKENIZER_DIR)
    tok_files = GPT2_TOKENIZER_FILES if is_gpt2 else QWEN_TOKENIZER_FILES if full else LLAMA_TOKENIZER_FILES
    missing = [n for n in tok_files if not (tok_dir / n).is_file()]
    if missing:
        print(f"error: {tok_dir} lacks tokenizer file(s): {', '.join(missing)}", file=sys.stderr)
        return 1

    start = time.perf_counter()
    out: pathlib.Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    # Remove weight files of an earlier run that this one would not overwrite (edge-rt prefers the index file).
    stale = [out / "model.safetensors", out / "model.safetensors.index.json", *out.glob("model-*-of-*.safetensors")]
    keep = set(names) | ({"model.safetensors.index.json"} if len(shards) > 1 else set())
    for p in stale:
        if p.name not in keep and p.is_file():
            p.unlink()

    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    for n in tok_files:
        shutil.copyfile(tok_dir / n, out / n)

    for name, header, indices in zip(names, headers, shards):
        with open(out / name, "wb") as f:
            f.write(struct.pack("<Q", len(header)))
            f.write(header)
            for i in indices:
                write_tensor(f, tensors[i], i, args.seed, args.dtype)
    if len(shards) > 1:
        index = {
            "metadata": {"total_size": data_bytes},
            "weight_map": {tensors[i].name: name for name, s in zip(names, shards) for i in s},
        }
        (out / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")

    seconds = time.perf_counter() - start
    print(f"{args.arch} {args.dtype} seed {args.seed}: {n_params} params, {file_bytes} bytes in {len(shards)} "
          f"safetensors file(s), {seconds:.1f} s -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
