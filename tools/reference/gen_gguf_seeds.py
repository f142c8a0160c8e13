#!/usr/bin/env python3
"""Writes the libFuzzer seeds of fuzz_gguf_header (tests/fuzz/corpus/gguf_header): two tiny GGUF files written by
the `gguf` package (ggml's own Python writer), a llama one with a SentencePiece vocabulary (scores, token types)
and a gpt2 one with merges and the smollm pre-tokenizer.

  build/ref-venv/bin/python tools/reference/gen_gguf_seeds.py tests/fuzz/corpus/gguf_header
"""
import numpy as np, gguf, sys, os
out = sys.argv[1]
def write(name, arch, tok_model, tokens, extra):
    w = gguf.GGUFWriter(os.path.join(out, name), arch)
    w.add_block_count(1); w.add_embedding_length(64); w.add_feed_forward_length(128); w.add_head_count(4)
    w.add_context_length(32)
    w.add_tokenizer_model(tok_model); w.add_token_list(tokens)
    extra(w)
    w.add_tensor("token_embd.weight", np.ones((len(tokens), 64), dtype=np.float32))
    w.add_tensor("blk.0.attn_norm.weight", np.ones(64, dtype=np.float32))
    q = np.zeros((2, 34), dtype=np.uint8)
    w.add_tensor("blk.0.attn_q.weight", q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()
def llama_extra(w):
    w.add_token_scores([0.0, 0.0, 0.0, -1.0, -2.0, -3.0]); w.add_token_types([2, 3, 3, 1, 1, 1]); w.add_bos_token_id(1)
def gpt2_extra(w):
    w.add_token_merges(["H e", "He l"]); w.add_token_types([3, 1, 1, 1, 1, 1]); w.add_string("tokenizer.ggml.pre", "smollm")
write("llama_tiny.gguf", "llama", "llama", ["<unk>", "<s>", "</s>", "\u2581a", "a", "b"], llama_extra)
write("gpt2_tiny.gguf", "gpt2", "gpt2", ["<|endoftext|>", "H", "e", "l", "He", "Hel"], gpt2_extra)
