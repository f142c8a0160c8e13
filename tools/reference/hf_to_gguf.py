#!/usr/bin/env python3
"""Writes a GGUF file from a Hugging Face GPT-2 or Llama safetensors folder the way llama.cpp's
convert_hf_to_gguf.py lays it out (ggml tensor names; GPT-2's Conv1D weights transposed to [out, in] and the token
embedding copied to output.weight; Llama's Q and K rows permuted to Meta's interleaved RoPE order), with the
`gguf` package (ggml's Python writer). Test data only: tests/data/gguf/ holds small files made with it and then
requantized by llama.cpp (tools/reference/llama_cpp_quantize.py).

  build/ref-venv/bin/python tools/reference/hf_to_gguf.py MODEL_DIR OUT.gguf [--f16] [--llama2c-vocab tok512.bin]

--llama2c-vocab adds a SentencePiece vocabulary (tokenizer.ggml.model "llama", scores, token types) from a llama2.c
tokenizer.bin, as llama.cpp's convert-llama2c does for the stories models, padded with unused pieces up to the
config's vocab_size (so that llama.cpp loads a full-size random shape such as tinyllama-1.1b for benchmarks).
"""
import argparse
import json
import os
import struct

import gguf
import numpy as np

DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for name, info in header.items():
        if name == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + begin:8 + n + end], dtype=DTYPES[info["dtype"]]).reshape(info["shape"])
    return out


def permute(w, n_head):  # HF rotate-half rows -> Meta's interleaved rows (convert_hf_to_gguf.py LlamaModel.permute)
    return w.reshape(n_head, 2, w.shape[0] // n_head // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def llama2c_vocab(path):
    raw = open(path, "rb").read()
    pos = 4
    tokens, scores, types = [], [], []
    while pos < len(raw):
        score, length = struct.unpack("<fi", raw[pos:pos + 8])
        piece = raw[pos + 8:pos + 8 + length].decode("utf-8", "replace")
        pos += 8 + length
        i = len(tokens)
        if i < 3:
            piece, kind = ["<unk>", "<s>", "</s>"][i], (2 if i == 0 else 3)
        elif piece.startswith("<0x") and piece.endswith(">") and len(piece) == 6:
            kind = 6
        else:
            kind = 1
        tokens.append(piece.replace(" ", "\u2581"))
        scores.append(score)
        types.append(kind)
    return tokens, scores, types


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("model_dir")
    ap.add_argument("out")
    ap.add_argument("--f16", action="store_true", help="matrices as F16 (norms and biases stay F32)")
    ap.add_argument("--llama2c-vocab")
    args = ap.parse_args()
    config = json.load(open(os.path.join(args.model_dir, "config.json")))
    t = read_safetensors(os.path.join(args.model_dir, "model.safetensors"))
    arch = "gpt2" if config["model_type"] == "gpt2" else "llama"
    w = gguf.GGUFWriter(args.out, arch)
    w.add_name(os.path.basename(os.path.normpath(args.model_dir)))
    tensors = []
    if arch == "gpt2":
        d, layers = config["n_embd"], config["n_layer"]
        w.add_block_count(layers)
        w.add_context_length(config["n_positions"])
        w.add_embedding_length(d)
        w.add_feed_forward_length(config.get("n_inner") or 4 * d)
        w.add_head_count(config["n_head"])
        w.add_layer_norm_eps(config["layer_norm_epsilon"])
        p = "" if "wte.weight" in t else "transformer."
        tensors += [("token_embd.weight", t[p + "wte.weight"]), ("position_embd.weight", t[p + "wpe.weight"])]
        names = {"ln_1": "attn_norm", "attn.c_attn": "attn_qkv", "attn.c_proj": "attn_output", "ln_2": "ffn_norm",
                 "mlp.c_fc": "ffn_up", "mlp.c_proj": "ffn_down"}
        for i in range(layers):
            for hf, gg in names.items():
                for kind in ("weight", "bias"):
                    v = t["%sh.%d.%s.%s" % (p, i, hf, kind)]
                    if kind == "weight" and v.ndim == 2:
                        v = v.T  # Conv1D [in, out] -> [out, in]
                    tensors.append(("blk.%d.%s.%s" % (i, gg, kind), v))
        tensors += [("output_norm.weight", t[p + "ln_f.weight"]), ("output_norm.bias", t[p + "ln_f.bias"]),
                    ("output.weight", t.get("lm_head.weight", t[p + "wte.weight"]))]
    else:
        d, layers = config["hidden_size"], config["num_hidden_layers"]
        heads, kv = config["num_attention_heads"], config.get("num_key_value_heads", config["num_attention_heads"])
        w.add_block_count(layers)
        w.add_context_length(config["max_position_embeddings"])
        w.add_embedding_length(d)
        w.add_feed_forward_length(config["intermediate_size"])
        w.add_head_count(heads)
        w.add_head_count_kv(kv)
        w.add_layer_norm_rms_eps(config["rms_norm_eps"])
        w.add_rope_freq_base(config.get("rope_theta", 10000.0))
        w.add_rope_dimension_count(d // heads)
        tensors.append(("token_embd.weight", t["model.embed_tokens.weight"]))
        names = {"input_layernorm": "attn_norm", "self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k",
                 "self_attn.v_proj": "attn_v", "self_attn.o_proj": "attn_output",
                 "post_attention_layernorm": "ffn_norm", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
                 "mlp.down_proj": "ffn_down"}
        for i in range(layers):
            for hf, gg in names.items():
                v = t["model.layers.%d.%s.weight" % (i, hf)]
                if gg == "attn_q":
                    v = permute(v, heads)
                elif gg == "attn_k":
                    v = permute(v, kv)
                tensors.append(("blk.%d.%s.weight" % (i, gg), v))
        tensors.append(("output_norm.weight", t["model.norm.weight"]))
        if "lm_head.weight" in t:
            tensors.append(("output.weight", t["lm_head.weight"]))
    if args.llama2c_vocab:
        tokens, scores, types = llama2c_vocab(args.llama2c_vocab)
        # A vocabulary smaller than the embedding (a full-size shape with random weights) is padded with unused
        # pieces, since llama.cpp requires one piece per row.
        for i in range(len(tokens), config.get("vocab_size", len(tokens))):
            tokens.append("[PAD%d]" % i)
            scores.append(-1e9)
            types.append(5)
        w.add_tokenizer_model("llama")
        w.add_token_list(tokens)
        w.add_token_scores(scores)
        w.add_token_types(types)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
        w.add_unk_token_id(0)
        w.add_add_bos_token(True)
    elif arch == "gpt2":  # no vocabulary, but the stop token generation needs (llama.cpp writes it from the config)
        if isinstance(config.get("eos_token_id"), int):
            w.add_eos_token_id(config["eos_token_id"])
    w.add_file_type(1 if args.f16 else 0)
    for name, v in tensors:
        v = np.ascontiguousarray(v, dtype=np.float32)
        if args.f16 and v.ndim == 2:
            v = v.astype(np.float16)
        w.add_tensor(name, v)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()


if __name__ == "__main__":
    main()
