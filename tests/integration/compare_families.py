#!/usr/bin/env python3
"""Logits parity of the model families (Llama, Llama 3, Qwen2, Qwen3, Mistral, Gemma 2, Gemma 3) on tiny random
checkpoints, from the Hugging Face folder and from a GGUF file of the same weights, against the numpy references
tools/reference/hf_llama.py and hf_gemma.py, and (with --transformers) against transformers' own top-5 logits.

For each family: tools/gen_model.py writes a random F32 folder (norm weights ~ 1 + N(0, 0.1), biases ~ N(0, 0.1) for
the Qwen and Llama-3 shapes, so a norm or bias left out shows; Llama-3's rope_scaling llama3 puts its frequencies in
all three bands); then
  (i)   edge-rt --all-logits on the folder equals the reference on every prompt position (max abs <= --atol);
  (ii)  the same weights as GGUF (written here in llama.cpp's tensor names and metadata keys; Llama's Q/K rows
        permuted to Meta's interleaved RoPE order as convert_hf_to_gguf.py does, Qwen's left as they are; Llama-3's
        scaling as rope_freqs.weight) give the same logits;
  (iii) greedy tokens from the folder equal those from the GGUF file and those under a memory budget of a quarter
        of the weights (streamed layer by layer).

With --full-size ARCH[,ARCH] (gen_model.py's qwen2.5-0.5b, qwen3-0.6b, llama3.2-1b, gemma3-1b, gemma2-2b: BF16, real shapes, the family's
tokenizer) instead: a ChatML prompt, 8 greedy tokens unbudgeted and under a memory budget of a quarter of the file, which must
be identical, with the pool's peak within the budget; each folder is removed afterwards.

  compare_families.py --edge-rt BIN --tmp DIR [--atol 1e-5] [--full-size qwen2.5-0.5b,qwen3-0.6b]
Exit 0 on pass, 1 on failure (details on stderr), one summary line on stdout.
"""

import argparse
import json
import os
import subprocess
import sys

import _common as C

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("compare_families.py needs numpy (Debian's /usr/bin/python3 has it)")

from gpt2 import load_safetensors
import hf_gemma
from hf_llama import Model

FAMILIES = {"llama-tiny": "llama", "llama3-tiny": "llama", "qwen2-tiny": "qwen2", "qwen3-tiny": "qwen3",
            "mistral-tiny": "mistral", "gemma2-tiny": "gemma2", "gemma3-tiny": "gemma3", "phi3-tiny": "phi3"}
PROMPT = [403, 407, 261, 378, 9, 17, 300, 42, 88, 123, 7, 499, 256, 31, 64, 200, 5, 77, 310, 12, 401, 9, 150, 33]  # < 512
BOS = {"llama": [1], "qwen2": [], "qwen3": [], "mistral": [1], "gemma2": [2], "gemma3": [2], "phi3": [1]}  # Llama puts BOS (config bos_token_id) before a prompt, Qwen nothing
GGUF_BLOCK = {"input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
              "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
              "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_proj.bias": "attn_q.bias",
              "self_attn.k_proj.bias": "attn_k.bias", "self_attn.v_proj.bias": "attn_v.bias",
              "self_attn.q_norm.weight": "attn_q_norm.weight", "self_attn.k_norm.weight": "attn_k_norm.weight",
              "post_attention_layernorm.weight": "ffn_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
              "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
              # Phi-3's fused projections (llama.cpp keeps them fused; ffn_up holds gate and up)
              "self_attn.qkv_proj.weight": "attn_qkv.weight", "mlp.gate_up_proj.weight": "ffn_up.weight"}


# Gemma's names; llama.cpp's converter stores its RMSNorm weights as 1 + w (Hugging Face keeps w).
GEMMA_BLOCK = {"input_layernorm.weight": "attn_norm.weight", "self_attn.q_proj.weight": "attn_q.weight",
               "self_attn.k_proj.weight": "attn_k.weight", "self_attn.v_proj.weight": "attn_v.weight",
               "self_attn.o_proj.weight": "attn_output.weight", "self_attn.q_norm.weight": "attn_q_norm.weight",
               "self_attn.k_norm.weight": "attn_k_norm.weight",
               "post_attention_layernorm.weight": "post_attention_norm.weight",
               "pre_feedforward_layernorm.weight": "ffn_norm.weight", "mlp.gate_proj.weight": "ffn_gate.weight",
               "mlp.up_proj.weight": "ffn_up.weight", "mlp.down_proj.weight": "ffn_down.weight",
               "post_feedforward_layernorm.weight": "post_ffw_norm.weight"}


def write_gemma_gguf(folder, family, path):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    w = load_safetensors(os.path.join(folder, "model.safetensors"))
    one = lambda t: (t + 1.0).astype(np.float32)  # noqa: E731
    tensors = [("token_embd.weight", w["model.embed_tokens.weight"]), ("output_norm.weight", one(w["model.norm.weight"]))]
    for i in range(cfg["num_hidden_layers"]):
        for hf, gg in GEMMA_BLOCK.items():
            name = "model.layers.%d.%s" % (i, hf)
            if name in w:
                tensors.append(("blk.%d.%s" % (i, gg), one(w[name]) if hf.endswith("norm.weight") else w[name]))
    p = family + "."
    kv = [("general.architecture", C.GGUF_STRING, family),
          (p + "block_count", C.GGUF_U32, cfg["num_hidden_layers"]),
          (p + "context_length", C.GGUF_U32, cfg["max_position_embeddings"]),
          (p + "embedding_length", C.GGUF_U32, cfg["hidden_size"]),
          (p + "feed_forward_length", C.GGUF_U32, cfg["intermediate_size"]),
          (p + "attention.head_count", C.GGUF_U32, cfg["num_attention_heads"]),
          (p + "attention.head_count_kv", C.GGUF_U32, cfg["num_key_value_heads"]),
          (p + "attention.key_length", C.GGUF_U32, cfg["head_dim"]),
          (p + "attention.value_length", C.GGUF_U32, cfg["head_dim"]),
          (p + "attention.layer_norm_rms_epsilon", C.GGUF_F32, cfg["rms_norm_eps"]),
          (p + "attention.sliding_window", C.GGUF_U32, cfg["sliding_window"]),
          (p + "rope.freq_base", C.GGUF_F32, cfg["rope_theta"]),
          ("tokenizer.ggml.bos_token_id", C.GGUF_U32, cfg["bos_token_id"]),
          ("tokenizer.ggml.eos_token_id", C.GGUF_U32, cfg["eos_token_id"])]
    for key in ("attn_logit_softcapping", "final_logit_softcapping"):
        if cfg.get(key):
            kv.append((p + key, C.GGUF_F32, cfg[key]))
    C.write_gguf(path, kv, tensors)


def to_meta_rows(w, n_head):
    """HF rotate-half rows -> Meta's interleaved rows (convert_hf_to_gguf.py LlamaModel.permute)."""
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf_model(folder, family, path):
    cfg = json.load(open(os.path.join(folder, "config.json")))
    w = load_safetensors(os.path.join(folder, "model.safetensors"))
    heads, kv_heads = cfg["num_attention_heads"], cfg["num_key_value_heads"]
    tensors = [("token_embd.weight", w["model.embed_tokens.weight"]), ("output_norm.weight", w["model.norm.weight"])]
    if "lm_head.weight" in w:
        tensors.append(("output.weight", w["lm_head.weight"]))
    for i in range(cfg["num_hidden_layers"]):
        for hf, gg in GGUF_BLOCK.items():
            name = "model.layers.%d.%s" % (i, hf)
            if name not in w:
                continue
            t = w[name]
            if family in ("llama", "mistral") and hf in ("self_attn.q_proj.weight", "self_attn.k_proj.weight"):
                t = to_meta_rows(t, heads if "q_proj" in hf else kv_heads)
            tensors.append(("blk.%d.%s" % (i, gg), t))
    arch = "llama" if family == "mistral" else family  # llama.cpp writes Mistral as llama
    p = arch + "."
    kv = [("general.architecture", C.GGUF_STRING, arch),
          (p + "block_count", C.GGUF_U32, cfg["num_hidden_layers"]),
          (p + "context_length", C.GGUF_U32, cfg["max_position_embeddings"]),
          (p + "embedding_length", C.GGUF_U32, cfg["hidden_size"]),
          (p + "feed_forward_length", C.GGUF_U32, cfg["intermediate_size"]),
          (p + "attention.head_count", C.GGUF_U32, heads),
          (p + "attention.head_count_kv", C.GGUF_U32, kv_heads),
          (p + "attention.layer_norm_rms_epsilon", C.GGUF_F32, cfg["rms_norm_eps"]),
          (p + "rope.freq_base", C.GGUF_F32, cfg.get("rope_theta", 10000.0)),
          ("tokenizer.ggml.bos_token_id", C.GGUF_U32, cfg["bos_token_id"]),
          ("tokenizer.ggml.eos_token_id", C.GGUF_U32, cfg["eos_token_id"])]
    scaling = cfg.get("rope_scaling")
    if scaling and scaling.get("type") == "longrope":  # Phi-3, as convert_hf_to_gguf.py Phi3MiniModel writes it
        tensors.append(("rope_factors_long.weight", np.array(scaling["long_factor"], dtype=np.float32)))
        tensors.append(("rope_factors_short.weight", np.array(scaling["short_factor"], dtype=np.float32)))
        kv.append((p + "rope.scaling.original_context_length", C.GGUF_U32, cfg["original_max_position_embeddings"]))
    elif scaling:  # llama3 as convert_hf_to_gguf.py writes it: divisors of each frequency in rope_freqs.weight
        dim = cfg["hidden_size"] // heads
        freqs = 1.0 / (cfg["rope_theta"] ** (np.arange(0, dim, 2, dtype=np.float64) / dim))
        factor, low, high, old = (scaling["factor"], scaling["low_freq_factor"], scaling["high_freq_factor"],
                                  scaling["original_max_position_embeddings"])
        factors = []
        for f in freqs:
            wavelen = 2 * np.pi / f
            if wavelen < old / high:
                factors.append(1.0)
            elif wavelen > old / low:
                factors.append(factor)
            else:
                smooth = (old / wavelen - low) / (high - low)
                factors.append(1.0 / ((1 - smooth) / factor + smooth))
        tensors.append(("rope_freqs.weight", np.array(factors, dtype=np.float32)))
    if cfg.get("sliding_window"):
        kv.append((p + "attention.sliding_window", C.GGUF_U32, cfg["sliding_window"]))
    if cfg.get("head_dim"):
        kv += [(p + "attention.key_length", C.GGUF_U32, cfg["head_dim"]),
               (p + "attention.value_length", C.GGUF_U32, cfg["head_dim"])]
    C.write_gguf(path, kv, tensors)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--edge-rt", required=True)
    ap.add_argument("--tmp", required=True)
    ap.add_argument("--atol", type=float, default=1e-5)
    ap.add_argument("--full-size", help="comma-separated full-size architectures to stream under a quarter budget")
    ap.add_argument("--transformers", help="tests/data/families/transformers_reference.json: top-5 logits per "
                    "position from transformers itself (tools/reference/transformers_reference.py)")
    args = ap.parse_args()
    os.makedirs(args.tmp, exist_ok=True)
    gen_model = os.path.join(C.REPO_ROOT, "tools", "gen_model.py")

    def edge_rt(model, extra):
        out = C.run_ok([args.edge_rt, "run", "-m", model, "--prompt-tokens", ",".join(map(str, PROMPT)),
                        "--output", "json", "--no-monitor", "-t", "2", "--temperature", "0"] + extra)
        return json.loads(out)

    second = json.load(open(args.transformers)) if args.transformers else {"models": {}}
    if second["models"] and second["prompt"] != PROMPT:
        C.fail("%s was made for another prompt" % args.transformers)

    def check():
        report = []
        for arch, family in FAMILIES.items():
            folder = os.path.join(args.tmp, arch)
            C.run_ok([sys.executable, gen_model, "--arch", arch, "--out", folder])
            ids = BOS[family] + PROMPT
            gguf = os.path.join(args.tmp, arch + ".gguf")
            if family.startswith("gemma"):
                want = hf_gemma.Model(folder).forward(ids)
                # GGUF has no query_pre_attn_scalar: llama.cpp scales by 1/sqrt(key_length), and so does edge-rt.
                cfg = json.load(open(os.path.join(folder, "config.json")))
                want_gguf = hf_gemma.Model(folder, query_pre_attn_scalar=cfg["head_dim"]).forward(ids)
                write_gemma_gguf(folder, family, gguf)
            else:
                want = want_gguf = Model(folder).forward(ids)
                write_gguf_model(folder, family, gguf)
            greedy = {}
            for label, model in (("folder", folder), ("GGUF", gguf)):
                expected = want if label == "folder" else want_gguf
                got = edge_rt(model, ["-n", "1", "--all-logits"])
                if got["prompt_token_ids"] != PROMPT or len(got["logits"]) != len(ids):
                    C.fail("%s %s: prompt %s, %d logits rows; expected %s" % (
                        arch, label, got["prompt_token_ids"], len(got["logits"]), ids))
                diff = np.abs(np.array(got["logits"]) - expected)
                if diff.max() > args.atol:
                    r, c = np.unravel_index(diff.argmax(), diff.shape)
                    C.fail("%s %s: logits differ from the reference by %.3g > %g at position %d, id %d" % (
                        arch, label, diff.max(), args.atol, r, c))
                run = edge_rt(model, ["-n", "24"])
                greedy[label] = run["generated_token_ids"]
                report.append("%s %s max abs %.2g" % (arch, label, diff.max()))
                if label == "folder" and arch in second["models"]:  # transformers' own top-5 at every position
                    ref = second["models"][arch]
                    logits = np.array(got["logits"])[:len(ref["top_ids"])]  # Phi-3: its window (see the note)
                    picked = np.take_along_axis(logits, np.array(ref["top_ids"]), axis=1)
                    gap = np.abs(picked - np.array(ref["top_logits"])).max()
                    if gap > 1e-4 or (logits.argmax(axis=1) != np.array(ref["top_ids"])[:, 0]).any():
                        C.fail("%s: logits differ from transformers %s by %.3g (or another top-1)" % (
                            arch, second["transformers"], gap))
                    report.append("%s vs transformers %.2g" % (arch, gap))
            # A quarter of the weights, or the plan's floor where these tiny shapes' KV cache and scratch need more.
            size = os.path.getsize(os.path.join(folder, "model.safetensors"))
            limit = max(size // 4, run["metrics"]["minimum_budget_bytes"])
            budgeted = edge_rt(folder, ["-n", "24", "--memory-budget", str(limit)])
            # gemma2-tiny's GGUF is another model (its query scale), so only its own greedy tokens are compared.
            same_gguf = greedy["folder"] == greedy["GGUF"] or not np.array_equal(want, want_gguf)
            if not (same_gguf and greedy["folder"] == budgeted["generated_token_ids"]):
                C.fail("%s greedy tokens: folder %s, GGUF %s, budget %d bytes %s" % (
                    arch, greedy["folder"], greedy["GGUF"], limit, budgeted["generated_token_ids"]))
            if budgeted["metrics"]["all_resident"]:
                C.fail("%s: under a budget of %d bytes for %d bytes of weights nothing was streamed" % (
                    arch, limit, size))
        return "; ".join(report) + "; greedy tokens equal from folder, GGUF and a quarter budget"

    def check_full_size():
        report = []
        prompt = "<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n"
        for arch in args.full_size.split(","):
            folder = os.path.join(args.tmp, arch)
            try:
                C.run_ok([sys.executable, gen_model, "--arch", arch, "--dtype", "bf16", "--out", folder])
                size = os.path.getsize(os.path.join(folder, "model.safetensors"))
                runs = []
                for extra in ([], ["--memory-budget", str(size // 4)]):
                    out = C.run_ok([args.edge_rt, "run", "-m", folder, "-p", prompt, "-n", "8", "--temperature", "0",
                                    "--output", "json", "--no-monitor", "-t", "2"] + extra)
                    runs.append(json.loads(out))
                full, quarter = runs
                if full["generated_token_ids"] != quarter["generated_token_ids"]:
                    C.fail("%s: greedy tokens %s unbudgeted, %s under %d bytes" % (
                        arch, full["generated_token_ids"], quarter["generated_token_ids"], size // 4))
                peak = quarter["metrics"]["peak_pool_bytes"]
                if peak > size // 4 or quarter["metrics"]["all_resident"]:
                    C.fail("%s: pool peak %d bytes under a budget of %d (all resident: %s)" % (
                        arch, peak, size // 4, quarter["metrics"]["all_resident"]))
                report.append("%s (%d MiB): 8 tokens identical under %d MiB, pool peak %d MiB, RSS %d MiB" % (
                    arch, size >> 20, size // 4 >> 20, peak >> 20, quarter["metrics"]["peak_rss_bytes"] >> 20))
            finally:
                C.run_cmd(["rm", "-rf", folder])
        return "; ".join(report)

    C.main_wrapper(check_full_size if args.full_size else check)


if __name__ == "__main__":
    main()
