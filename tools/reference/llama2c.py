#!/usr/bin/env python3
"""Independent reference for llama2.c checkpoints (e.g. stories260K.bin + tok512.bin).

Reads the original llama2.c "legacy" checkpoint and tokenizer files directly (never
anything produced by edge-rt) and reimplements, following karpathy/llama2.c run.c:

  * the tokenizer: encode (dummy-prefix space, per-UTF-8-codepoint lookup with byte
    fallback id = byte + 3, then greedy best-score pair merges, leftmost on ties) and
    decode (<0xXX> byte pieces -> raw bytes, leading space stripped after BOS);
  * the Llama-2 forward pass: RMSNorm (eps 1e-5), interleaved-pair RoPE (theta 10000),
    grouped-query attention, SwiGLU FFN w2(silu(w1 x) * w3 x), final RMSNorm and the
    (shared or separate) classifier.

Weights are float32 as stored; activations are computed in float64.

CLI (JSON on stdout):
  llama2c.py --checkpoint stories260K.bin --tokenizer tok512.bin [--prompt TEXT] [-n N] [--logits]
  -> {"prompt_token_ids": [...without BOS...], "generated_token_ids": [...], "text": "...",
      "logits": [[...], ...]  (only with --logits: one row per position of BOS + prompt)}
Greedy (argmax) generation from BOS followed by the prompt; stops on EOS (2) or BOS (1),
which is not included in generated_token_ids.

Can also be imported: Llama2cModel, Llama2cTokenizer, generate().
"""

import argparse
import json
import re
import struct
import sys

try:
    import numpy as np
except ImportError:  # pragma: no cover
    sys.exit("%s needs numpy; run it with an interpreter that has it (e.g. /usr/bin/python3)" % __file__)

BOS_ID = 1
EOS_ID = 2


class Llama2cTokenizer:
    """llama2.c tokenizer (tokenizer.bin format)."""

    def __init__(self, path, vocab_size=None):
        with open(path, "rb") as f:
            data = f.read()
        off = 0
        (self.max_token_length,) = struct.unpack_from("<i", data, off)
        off += 4
        self.pieces = []
        self.scores = []
        while off < len(data) and (vocab_size is None or len(self.pieces) < vocab_size):
            score, length = struct.unpack_from("<fi", data, off)
            off += 8
            self.pieces.append(data[off:off + length])
            off += length
            self.scores.append(score)
        if vocab_size is not None and len(self.pieces) != vocab_size:
            raise ValueError("tokenizer has %d tokens, expected %d" % (len(self.pieces), vocab_size))
        # llama2.c looks pieces up with bsearch over the sorted vocab; with duplicate pieces
        # that would be ambiguous. Keep the first id for each piece and report duplicates.
        self.lookup = {}
        self.duplicates = []
        for i, p in enumerate(self.pieces):
            if p in self.lookup:
                self.duplicates.append((p, self.lookup[p], i))
            else:
                self.lookup[p] = i

    @property
    def vocab_size(self):
        return len(self.pieces)

    def encode(self, text, bos=False, eos=False):
        """Encode a str (or bytes) the way llama2.c's encode() does."""
        if isinstance(text, str):
            text = text.encode("utf-8")
        tokens = []
        if bos:
            tokens.append(BOS_ID)
        if len(text) > 0:
            tokens.append(self.lookup[b" "])
        # Split into UTF-8 code points like run.c: a new code point starts at any byte that
        # is not a continuation byte (10xxxxxx); at most 4 bytes per code point.
        i = 0
        n = len(text)
        while i < n:
            j = i + 1
            while j < n and (text[j] & 0xC0) == 0x80 and j - i < 4:
                j += 1
            cp = text[i:j]
            tid = self.lookup.get(cp)
            if tid is not None:
                tokens.append(tid)
            else:
                for b in cp:
                    tokens.append(b + 3)
            i = j
        # Greedy merges: pick the adjacent pair with the highest score (strictly greater,
        # so the leftmost wins ties), merge, repeat until no pair is in the vocab.
        start = 1 if bos else 0
        while True:
            best_score = -1e10
            best_id = -1
            best_idx = -1
            for k in range(start, len(tokens) - 1):
                merged = self.pieces[tokens[k]] + self.pieces[tokens[k + 1]]
                mid = self.lookup.get(merged)
                if mid is not None and self.scores[mid] > best_score:
                    best_score = self.scores[mid]
                    best_id = mid
                    best_idx = k
            if best_idx == -1:
                break
            tokens[best_idx:best_idx + 2] = [best_id]
        if eos:
            tokens.append(EOS_ID)
        return tokens

    _byte_re = re.compile(rb"^<0x([0-9A-Fa-f]{2})>$")

    def decode_piece(self, prev_token, token):
        """Bytes for `token` given the previous token (run.c decode())."""
        piece = self.pieces[token]
        if prev_token == BOS_ID and piece[:1] == b" ":
            piece = piece[1:]
        m = self._byte_re.match(piece)
        if m:
            return bytes([int(m.group(1), 16)])
        return piece

    def decode(self, tokens, prev_token=None):
        out = bytearray()
        prev = prev_token
        for t in tokens:
            out += self.decode_piece(prev, t)
            prev = t
        return out.decode("utf-8", errors="replace")


class Llama2cModel:
    """llama2.c legacy checkpoint + run.c forward pass."""

    def __init__(self, path):
        with open(path, "rb") as f:
            data = f.read()
        hdr = struct.unpack_from("<7i", data, 0)
        self.dim, self.hidden_dim, self.n_layers, self.n_heads, self.n_kv_heads, vocab, self.seq_len = hdr
        self.shared_classifier = vocab > 0
        self.vocab_size = abs(vocab)
        self.head_size = self.dim // self.n_heads
        self.kv_dim = self.dim * self.n_kv_heads // self.n_heads
        self.kv_mul = self.n_heads // self.n_kv_heads
        floats = np.frombuffer(data, dtype="<f4", offset=28)
        off = [0]

        def take(*shape):
            cnt = int(np.prod(shape))
            if off[0] + cnt > floats.size:
                raise ValueError("checkpoint too short")
            a = floats[off[0]:off[0] + cnt].reshape(shape)
            off[0] += cnt
            return a.astype(np.float64)  # exact widening of the stored float32 values

        L, D, H, KV, V = self.n_layers, self.dim, self.hidden_dim, self.kv_dim, self.vocab_size
        self.token_embedding = take(V, D)
        self.rms_att = take(L, D)
        self.wq = take(L, D, D)
        self.wk = take(L, KV, D)
        self.wv = take(L, KV, D)
        self.wo = take(L, D, D)
        self.rms_ffn = take(L, D)
        self.w1 = take(L, H, D)
        self.w2 = take(L, D, H)
        self.w3 = take(L, H, D)
        self.rms_final = take(D)
        off[0] += self.seq_len * self.head_size // 2  # freq_cis_real (unused)
        off[0] += self.seq_len * self.head_size // 2  # freq_cis_imag (unused)
        if self.shared_classifier:
            self.wcls = self.token_embedding
        else:
            self.wcls = take(V, D)
        if off[0] != floats.size:
            print("warning: %d trailing floats in checkpoint" % (floats.size - off[0]), file=sys.stderr)
        # RoPE frequencies exactly as run.c computes them (powf in float32 semantics).
        hd = np.arange(0, self.head_size, 2, dtype=np.float32)
        self.rope_freq = (1.0 / np.power(np.float32(10000.0), hd / np.float32(self.head_size))).astype(np.float64)
        self.reset()

    def reset(self):
        self.key_cache = np.zeros((self.n_layers, self.seq_len, self.kv_dim))
        self.value_cache = np.zeros((self.n_layers, self.seq_len, self.kv_dim))

    @staticmethod
    def rmsnorm(x, w):
        ss = np.dot(x, x) / x.size + 1e-5
        return w * (x / np.sqrt(ss))

    def rope(self, v, pos):
        """Rotate interleaved pairs (v[2i], v[2i+1]) of each head."""
        heads = v.reshape(-1, self.head_size // 2, 2)
        ang = pos * self.rope_freq
        c, s = np.cos(ang), np.sin(ang)
        v0 = heads[..., 0].copy()
        v1 = heads[..., 1].copy()
        heads[..., 0] = v0 * c - v1 * s
        heads[..., 1] = v0 * s + v1 * c
        return heads.reshape(-1)

    def forward(self, token, pos):
        if pos >= self.seq_len:
            raise ValueError("position %d exceeds seq_len %d" % (pos, self.seq_len))
        x = self.token_embedding[token].copy()
        hs = self.head_size
        for l in range(self.n_layers):
            xb = self.rmsnorm(x, self.rms_att[l])
            q = self.rope(self.wq[l] @ xb, pos)
            k = self.rope(self.wk[l] @ xb, pos)
            v = self.wv[l] @ xb
            self.key_cache[l, pos] = k
            self.value_cache[l, pos] = v
            att_out = np.empty(self.dim)
            for h in range(self.n_heads):
                kvh = h // self.kv_mul
                qh = q[h * hs:(h + 1) * hs]
                kh = self.key_cache[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
                vh = self.value_cache[l, :pos + 1, kvh * hs:(kvh + 1) * hs]
                scores = kh @ qh / np.sqrt(hs)
                scores = np.exp(scores - scores.max())
                scores /= scores.sum()
                att_out[h * hs:(h + 1) * hs] = scores @ vh
            x = x + self.wo[l] @ att_out
            xb = self.rmsnorm(x, self.rms_ffn[l])
            h1 = self.w1[l] @ xb
            h3 = self.w3[l] @ xb
            hb = h1 / (1.0 + np.exp(-h1)) * h3
            x = x + self.w2[l] @ hb
        x = self.rmsnorm(x, self.rms_final)
        return self.wcls @ x


def generate(model, tokenizer, prompt="", n=256, want_logits=False, prompt_ids=None):
    """Greedy generation as run.c generate() with temperature 0.

    Returns dict(prompt_token_ids, generated_token_ids, text[, logits])."""
    model.reset()
    if prompt_ids is None:
        prompt_ids = tokenizer.encode(prompt, bos=False, eos=False)
    seq = [BOS_ID] + list(prompt_ids)
    logits_rows = []
    generated = []
    pos = 0
    logits = None
    for t in seq:
        logits = model.forward(t, pos)
        if want_logits:
            logits_rows.append([float(v) for v in logits.astype(np.float32)])
        pos += 1
    while len(generated) < n:
        nxt = int(np.argmax(logits))
        if nxt in (BOS_ID, EOS_ID):
            break
        generated.append(nxt)
        if len(generated) >= n or pos >= model.seq_len:
            break
        logits = model.forward(nxt, pos)
        pos += 1
    text = tokenizer.decode(generated, prev_token=seq[-1])
    out = {"prompt_token_ids": list(prompt_ids), "generated_token_ids": generated, "text": text}
    if want_logits:
        out["logits"] = logits_rows
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--checkpoint", required=True, help="llama2.c legacy checkpoint (.bin)")
    ap.add_argument("--tokenizer", required=True, help="llama2.c tokenizer (.bin)")
    ap.add_argument("--prompt", default="", help="prompt text (default: empty, start from BOS)")
    ap.add_argument("--prompt-tokens", default=None, help="comma-separated prompt ids instead of --prompt")
    ap.add_argument("-n", type=int, default=256, help="max tokens to generate")
    ap.add_argument("--logits", action="store_true", help="include logits for BOS + each prompt position")
    ap.add_argument("--encode-only", action="store_true", help="only print the prompt ids (no BOS)")
    args = ap.parse_args()
    model = Llama2cModel(args.checkpoint)
    tok = Llama2cTokenizer(args.tokenizer, model.vocab_size)
    prompt_ids = None
    if args.prompt_tokens:
        prompt_ids = [int(s) for s in args.prompt_tokens.split(",") if s.strip()]
    if args.encode_only:
        ids = prompt_ids if prompt_ids is not None else tok.encode(args.prompt)
        print(json.dumps({"prompt_token_ids": ids}))
        return
    out = generate(model, tok, args.prompt, args.n, args.logits, prompt_ids)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
