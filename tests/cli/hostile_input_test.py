#!/usr/bin/env python3
"""Hostile input for the edge-rt CLI, end to end.

Every failure case runs the binary (stdin /dev/null, in a folder of its own under one temporary folder) and requires:
  (a) exit code 1 or 2 (some classes exactly 1, flags exactly 2): never 0, never a signal, never another code;
  (b) stderr names the offending file, flag or key (every listed substring; a tuple means any one of them);
  (c) the process ends within 10 s (a timeout is reported as a hang);
  (d) every input file (model folders, presets, checkpoints, files reached through symlinks) is byte-identical
      afterwards, and no input folder gained or lost an entry.
A few success cases ("perf: ...", "stale: ...", "eos list ...", "control: ...") require exit 0 and check their
results; they count in the totals.

The child runs with RLIMIT_AS = 4 GiB and RLIMIT_FSIZE = 1 GiB, so a runaway read of /dev/zero or a thread explosion
ends in an error (or a signal, which fails the case) instead of exhausting the machine.

Usage: hostile_input_test.py <edge-rt binary> <shared models dir> <source dir> [--only SUBSTR] [--list]
Output: "ok - NAME" or "not ok - NAME: reason (rc=..., stderr: ...)" per case, then "N passed, M failed".
"""

import argparse
import hashlib
import json
import os
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time

TIMEOUT_S = 10
AS_LIMIT = 4 << 30
FSIZE_LIMIT = 1 << 30

# Set in main().
BIN = MODELS = SRC = TMP = None
DEFAULT_MODEL = CAPP = TINY = STORIES_BIN = TOK512 = EVAL_TXT = None


# ----------------------------------------------------------------------------------------------------------------------
# Running the binary and checking a case
# ----------------------------------------------------------------------------------------------------------------------

class CaseFailure(Exception):
    def __init__(self, reason, rc=None, stderr=""):
        super().__init__(reason)
        self.reason = reason
        self.rc = rc
        self.stderr = stderr or ""


class RunResult:
    def __init__(self, rc, stdout, stderr, timed_out, elapsed):
        self.rc, self.stdout, self.stderr, self.timed_out, self.elapsed = rc, stdout, stderr, timed_out, elapsed


LAST_STDERR = [""]  # the last run's exit code, time and stderr, for --verbose


def _limits():
    if AS_LIMIT:  # 0 under AddressSanitizer, whose shadow memory reserves terabytes of address space
        resource.setrlimit(resource.RLIMIT_AS, (AS_LIMIT, AS_LIMIT))
    resource.setrlimit(resource.RLIMIT_FSIZE, (FSIZE_LIMIT, FSIZE_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def _text(b):
    return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")


def popen_bin(argv, cwd):
    return subprocess.Popen([BIN] + [str(a) for a in argv], cwd=cwd, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_limits,
                            restore_signals=True, start_new_session=True)


def finish(p, start, timeout=TIMEOUT_S):
    try:
        out, err = p.communicate(timeout=max(0.1, timeout - (time.monotonic() - start)))
        r = RunResult(p.returncode, _text(out), _text(err), False, time.monotonic() - start)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(p.pid, signal.SIGKILL)
        except OSError:
            p.kill()
        out, err = p.communicate()
        r = RunResult(p.returncode, _text(out), _text(err), True, time.monotonic() - start)
    LAST_STDERR[0] = "rc=%s %.2fs %s" % (r.rc, r.elapsed, r.stderr)
    return r


def run_bin(argv, cwd, timeout=TIMEOUT_S):
    start = time.monotonic()
    p = popen_bin(argv, cwd)
    return finish(p, start, timeout)


def signame(rc):
    try:
        return signal.Signals(-rc).name
    except ValueError:
        return str(-rc)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def snapshot(paths):
    """path -> description of every file under `paths`, following symlinks (never opening FIFOs or devices)."""
    out = {}
    seen = set()

    def visit(p):
        if os.path.islink(p):
            out[p + " (link)"] = os.readlink(p)
        try:
            st = os.stat(p)
        except OSError as e:
            out[p] = "unreachable: " + e.strerror
            return
        if stat.S_ISDIR(st.st_mode):
            real = os.path.realpath(p)
            if real in seen:
                return
            seen.add(real)
            names = sorted(os.listdir(p))
            out[p] = "dir: " + ", ".join(names)
            for n in names:
                visit(os.path.join(p, n))
        elif stat.S_ISREG(st.st_mode):
            out[p] = "sha256 " + sha256(p)
        else:
            out[p] = "special %o" % stat.S_IFMT(st.st_mode)

    for p in paths:
        visit(p)
    return out


def snapshot_diff(before, after):
    changed = []
    for k in sorted(set(before) | set(after)):
        if before.get(k) != after.get(k):
            if k not in after:
                changed.append(k + " vanished")
            elif k not in before:
                changed.append(k + " appeared")
            else:
                changed.append(k + " changed")
    return changed


def input_paths(cwd, argv, extra=()):
    """Every argument that names an existing path (except --out's value), the default model, and `extra`."""
    paths = [DEFAULT_MODEL]
    skip = False
    for a in argv:
        a = str(a)
        if skip:
            skip = False
            continue
        if a == "--out":
            skip = True
            continue
        p = a if os.path.isabs(a) else os.path.join(cwd, a)
        if a and not a.startswith("-") and os.path.lexists(p):
            paths.append(p)
    paths.extend(extra)
    return paths


def want_text(w):
    return " or ".join("'%s'" % x for x in w) if isinstance(w, tuple) else "'%s'" % w


def missing_wants(stderr, wants):
    missing = []
    for w in wants:
        alts = w if isinstance(w, tuple) else (w,)
        if not any(a in stderr for a in alts):
            missing.append(w)
    return missing


def expect_fail(d, argv, wants, codes=(1, 2), extra_inputs=(), check_inputs=True):
    inputs = input_paths(d, argv, extra_inputs)
    before = snapshot(inputs) if check_inputs else {}
    r = run_bin(argv, d)
    reasons = []
    expected = " or ".join(str(c) for c in codes)
    if r.timed_out:
        reasons.append("hang: no exit within %d s" % TIMEOUT_S)
    elif r.rc < 0:
        reasons.append("crash: killed by signal %s" % signame(r.rc))
    elif r.rc == 0:
        reasons.append("exit 0, expected %s" % expected)
    elif r.rc not in codes:
        reasons.append("exit %d, expected %s" % (r.rc, expected))
    if not r.timed_out and r.rc is not None and r.rc > 0:
        for w in missing_wants(r.stderr, wants):
            reasons.append("stderr lacks %s" % want_text(w))
    if check_inputs:
        changed = snapshot_diff(before, snapshot(inputs))
        if changed:
            reasons.append("input changed: " + ", ".join(os.path.relpath(c, TMP) if c.startswith(TMP) else c
                                                        for c in changed[:4]))
    if reasons:
        raise CaseFailure("; ".join(reasons), r.rc, r.stderr)


def expect_ok(d, argv, what="", extra_inputs=(), check_inputs=True, allow_rc=(0,)):
    inputs = input_paths(d, argv, extra_inputs)
    before = snapshot(inputs) if check_inputs else {}
    r = run_bin(argv, d)
    if r.timed_out:
        raise CaseFailure("hang: %sno exit within %d s" % (what, TIMEOUT_S), r.rc, r.stderr)
    if r.rc < 0:
        raise CaseFailure("crash: %skilled by signal %s" % (what, signame(r.rc)), r.rc, r.stderr)
    if r.rc not in allow_rc:
        raise CaseFailure("%sexit %d, expected %s" % (what, r.rc, " or ".join(map(str, allow_rc))), r.rc, r.stderr)
    if check_inputs:
        changed = snapshot_diff(before, snapshot(inputs))
        if changed:
            raise CaseFailure("%sinput changed: %s" % (what, ", ".join(changed[:4])), r.rc, r.stderr)
    return r


# ----------------------------------------------------------------------------------------------------------------------
# Case registry
# ----------------------------------------------------------------------------------------------------------------------

CASES = []  # (name, kind, fn(d))


def add(name, fn, kind="fail"):
    assert all(name != c[0] for c in CASES), "duplicate case name: " + name
    CASES.append((name, kind, fn))


def fcase(name, setup, wants, codes=(1, 2), extra_inputs=(), check_inputs=True):
    """A failure case: setup(d) builds its inputs under d and returns the argv (without the binary)."""

    def fn(d):
        argv = setup(d)
        expect_fail(d, argv, wants, codes, extra_inputs, check_inputs)

    add(name, fn)


# ----------------------------------------------------------------------------------------------------------------------
# File helpers
# ----------------------------------------------------------------------------------------------------------------------

def copy_model(src, dst, only=None, skip=()):
    os.makedirs(dst)
    for name in sorted(os.listdir(src)):
        if (only is not None and name not in only) or name in skip:
            continue
        s = os.path.join(src, name)
        if os.path.isfile(s):
            shutil.copyfile(s, os.path.join(dst, name))
    return dst


def llama(d, name="m", **kw):
    return copy_model(DEFAULT_MODEL, os.path.join(d, name), **kw)


def capp(d, name="m", **kw):
    return copy_model(CAPP, os.path.join(d, name), **kw)


def tiny(d, name="m", **kw):
    return copy_model(TINY, os.path.join(d, name), **kw)


def read_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def write_json(path, j):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(j, f, ensure_ascii=False)


def edit_json(path, fn):
    j = read_json(path)
    r = fn(j)
    write_json(path, j if r is None else r)


def write_bytes(path, data):
    with open(path, "wb") as f:
        f.write(data)


def write_text(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def read_bytes(path):
    with open(path, "rb") as f:
        return f.read()


def st_read(path):
    raw = read_bytes(path)
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def st_write(path, header, data):
    text = json.dumps(header).encode()
    write_bytes(path, struct.pack("<Q", len(text)) + text + data)


def st_edit(path, fn):
    """Rewrites the header (fn edits the parsed dict); the data buffer is kept byte for byte."""
    h, data = st_read(path)
    fn(h)
    st_write(path, h, data)


def st_tensors(path):
    """(metadata, [(name, dtype, shape, bytes)]) in file order."""
    h, data = st_read(path)
    meta = h.pop("__metadata__", None)
    items = sorted(h.items(), key=lambda kv: kv[1]["data_offsets"][0])
    return meta, [(k, v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]]) for k, v in items]


def st_save(path, meta, tensors):
    header, chunks, pos = {}, [], 0
    if meta is not None:
        header["__metadata__"] = meta
    for name, dtype, shape, b in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [pos, pos + len(b)]}
        chunks.append(b)
        pos += len(b)
    st_write(path, header, b"".join(chunks))


def st_poke(path, tensor, offset, payload):
    """Overwrites bytes of one tensor's data in place."""
    raw = read_bytes(path)
    n = struct.unpack("<Q", raw[:8])[0]
    h = json.loads(raw[8:8 + n])
    begin = h[tensor]["data_offsets"][0]
    with open(path, "r+b") as f:
        f.seek(8 + n + begin + offset)
        f.write(payload)


def raw_edit(path, fn):
    """fn(bytearray) -> bytes: rewrites the whole file."""
    raw = bytearray(read_bytes(path))
    write_bytes(path, bytes(fn(raw)))


def make_fifo(path):
    if os.path.lexists(path):
        os.unlink(path)
    os.mkfifo(path)


def replace_with_symlink(path, target):
    if os.path.lexists(path):
        os.unlink(path)
    os.symlink(target, path)


def replace_with_dir(path):
    if os.path.lexists(path):
        os.unlink(path)
    os.mkdir(path)


def write_preset(d, name, text):
    p = os.path.join(d, name)
    write_text(p, text)
    return p


def json_out(r, what):
    try:
        return json.loads(r.stdout)
    except ValueError:
        raise CaseFailure("%sstdout is not JSON: %r" % (what, r.stdout[:200]), r.rc, r.stderr)


# ----------------------------------------------------------------------------------------------------------------------
# Fixtures (built once, on first use)
# ----------------------------------------------------------------------------------------------------------------------

_FIXTURES = {}


def fixture_q8():
    """The default model quantized to Q8_0 (by the binary under test)."""
    if "q8" not in _FIXTURES:
        base = os.path.join(TMP, "fixtures")
        os.makedirs(base, exist_ok=True)
        out = os.path.join(base, "q8")
        shutil.rmtree(out, ignore_errors=True)
        src = copy_model(DEFAULT_MODEL, os.path.join(base, "q8_src"))
        r = run_bin(["quantize", "-m", src, "--type", "q8_0", "--out", out], base)
        if r.rc != 0 or not os.path.isfile(os.path.join(out, "model.safetensors")):
            _FIXTURES["q8"] = CaseFailure("setup: quantize of the default model failed", r.rc, r.stderr)
        else:
            _FIXTURES["q8"] = out
    if isinstance(_FIXTURES["q8"], CaseFailure):
        raise _FIXTURES["q8"]
    return _FIXTURES["q8"]


def q8(d, name="m"):
    return copy_model(fixture_q8(), os.path.join(d, name))


SHARD1 = "model-00001-of-00002.safetensors"
SHARD2 = "model-00002-of-00002.safetensors"
INDEX = "model.safetensors.index.json"


def sharded_capp(d, name="m"):
    """capp-gpt2-tiny split into two shards with an index."""
    dst = os.path.join(d, name)
    copy_model(CAPP, dst, skip=("model.safetensors",))
    meta, tensors = st_tensors(os.path.join(CAPP, "model.safetensors"))
    half = len(tensors) // 2
    st_save(os.path.join(dst, SHARD1), meta, tensors[:half])
    st_save(os.path.join(dst, SHARD2), meta, tensors[half:])
    wm = {t[0]: SHARD1 for t in tensors[:half]}
    wm.update({t[0]: SHARD2 for t in tensors[half:]})
    write_json(os.path.join(dst, INDEX), {"metadata": {"total_size": sum(len(t[3]) for t in tensors)},
                                          "weight_map": wm})
    return dst


def run_llama(m, *extra):
    return ["run", "-m", m, "--prompt-tokens", "1,2,3", "-n", "4", "--temperature", "0", "--no-monitor"] + list(extra)


def run_capp(m, *extra):
    return ["run", "-m", m, "--prompt-tokens", "1,2,3", "-n", "4", "--temperature", "0", "--no-monitor"] + list(extra)


def greedy_ids(d, argv, what):
    r = expect_ok(d, argv + ["--output", "json"], what)
    j = json_out(r, what)
    return j.get("generated_token_ids"), j.get("stop_reason"), r


# ======================================================================================================================
# Class 1: unchecked numbers (config.json, safetensors header, llama2.c checkpoint)
# ======================================================================================================================

BIG_VALUES = [("-1", -1), ("0", 0), ("2^31", 2 ** 31), ("2^62+8", 2 ** 62 + 8), ("2^63-1", 2 ** 63 - 1)]


def bad_values(orig):
    vals = list(BIG_VALUES)
    vals.append(("float", (orig + 0.5) if isinstance(orig, int) else 1.5))
    vals.append(("string", str(orig if orig is not None else 64)))
    vals.append(("bool", True))
    return vals


def config_case(name, maker, runner, key, value, wants=None, extra_edit=None):
    def setup(d):
        m = maker(d)

        def edit(j):
            j[key] = value
            if extra_edit:
                extra_edit(j)

        edit_json(os.path.join(m, "config.json"), edit)
        return runner(m)

    fcase(name, setup, wants or ["config.json", key], codes=(1,))


def add_config_number_cases():
    llama_cfg = read_json(os.path.join(DEFAULT_MODEL, "config.json"))
    for key in ["hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
                "num_key_value_heads", "vocab_size", "max_position_embeddings", "head_dim"]:
        for label, value in bad_values(llama_cfg.get(key, 8)):
            config_case("class1 config llama %s = %s" % (key, label), llama, run_llama, key, value)
    capp_cfg = read_json(os.path.join(CAPP, "config.json"))
    for key in ["n_embd", "n_layer", "n_head", "n_positions", "vocab_size", "n_inner"]:
        for label, value in bad_values(capp_cfg.get(key) if key != "n_inner" else 256):
            config_case("class1 config gpt2 %s = %s" % (key, label), capp, run_capp, key, value)

    # head_dim specifics
    config_case("class1 config llama head_dim = -8", llama, run_llama, "head_dim", -8)
    config_case("class1 config llama head_dim = 16 (q_proj has 8 x 8 rows)", llama, run_llama, "head_dim", 16)
    config_case("class1 config llama head_dim = 7 (odd, q_proj mismatch)", llama, run_llama, "head_dim", 7)

    def heads64(j):
        j["num_attention_heads"] = 64
        j["num_key_value_heads"] = 32

    # 64 heads x head_dim 1 = 64 q rows and 32 x 1 = 32 k rows: every tensor shape fits, but RoPE needs an even head_dim.
    config_case("class1 config llama head_dim = 1 (odd, shapes consistent)", llama, run_llama, "head_dim", 1,
                extra_edit=heads64)
    config_case("class1 config llama vocab_size 500 vs 512 embedding rows", llama, run_llama, "vocab_size", 500)
    config_case("class1 config llama vocab_size 1024 vs 512 embedding rows", llama, run_llama, "vocab_size", 1024)
    config_case("class1 config gpt2 vocab_size 52 vs 53 wte rows", capp, run_capp, "vocab_size", 52)
    config_case("class1 config llama num_key_value_heads 3 does not divide 8", llama, run_llama,
                "num_key_value_heads", 3)
    config_case("class1 config llama num_key_value_heads 16 > 8 heads", llama, run_llama, "num_key_value_heads", 16)
    config_case("class1 config llama intermediate_size 170 vs 172-row tensors", llama, run_llama,
                "intermediate_size", 170)
    config_case("class1 config gpt2 n_inner 200 vs 256-wide c_fc", capp, run_capp, "n_inner", 200)
    config_case("class1 config gpt2 n_positions 100 vs 512 wpe rows", capp, run_capp, "n_positions", 100)


QPROJ = "model.layers.0.self_attn.q_proj.weight"


def add_safetensors_cases():
    # ---- quantization metadata on a Q8_0 copy of the default model ----
    qkey = "edge_rt.quant." + QPROJ
    for label, text in [
        ("rows 2^63-1", "Q8_0 [9223372036854775807, 32]"),
        ("rows 2^64-1", "Q8_0 [18446744073709551615, 64]"),
        ("cols 2^63-1", "Q8_0 [64, 9223372036854775807]"),
        ("cols 2^62", "Q8_0 [64, 4611686018427387904]"),
        ("rows negative", "Q8_0 [-64, 64]"),
        ("cols negative", "Q8_0 [64, -64]"),
        ("cols not a multiple of 32", "Q8_0 [64, 33]"),
        ("one dim", "Q8_0 [64]"),
        ("malformed", "Q8_0 64x64"),
        ("unknown format", "Q7_0 [64, 64]"),
        ("Q4_0 on Q8_0 bytes", "Q4_0 [64, 64]"),
    ]:
        def setup(d, text=text):
            m = q8(d)
            st_edit(os.path.join(m, "model.safetensors"), lambda h: h["__metadata__"].__setitem__(qkey, text))
            return run_llama(m)

        fcase("class1 safetensors quant metadata %s (%s)" % (label, text), setup, ["model.safetensors", QPROJ],
              codes=(1,))

    def quant_on_f32(d):
        m = q8(d)
        st_edit(os.path.join(m, "model.safetensors"),
                lambda h: h["__metadata__"].__setitem__("edge_rt.quant.model.norm.weight", "Q8_0 [64, 64]"))
        return run_llama(m)

    fcase("class1 safetensors quant metadata on an F32 tensor", quant_on_f32,
          ["model.safetensors", "model.norm.weight"], codes=(1,))

    # ---- shapes, offsets, dtypes on capp-gpt2-tiny ----
    WTE, LNF_B, LN1_W, LN1_B = ("transformer.wte.weight", "transformer.ln_f.bias", "transformer.h.0.ln_1.weight",
                                "transformer.h.0.ln_1.bias")

    def header_case(label, edit, tensor):
        def setup(d):
            m = capp(d)
            st_edit(os.path.join(m, "model.safetensors"), edit)
            return run_capp(m)

        fcase("class1 safetensors " + label, setup, ["model.safetensors"] + ([tensor] if tensor else []), codes=(1,))

    def set_field(name, field, value):
        return lambda h: h[name].__setitem__(field, value)

    # wte is [53, 64] F32: (2^62 + 53) * 64 wraps to 53 * 64 in 64 bits, so numel x 4 equals the real byte count.
    header_case("shape product wraps to the real size", set_field(WTE, "shape", [2 ** 62 + 53, 64]), WTE)
    header_case("shape product overflows to 0", set_field(WTE, "shape", [2 ** 32, 2 ** 32, 4]), WTE)
    # ln_f.bias is [64] F32: (2^62 + 64) * 4 wraps to 256 bytes.
    header_case("shape times dtype size wraps", set_field(LNF_B, "shape", [2 ** 62 + 64]), LNF_B)
    header_case("shape two negative dims multiply to the real size", set_field(WTE, "shape", [-53, -64]), WTE)
    header_case("shape negative dim", set_field(WTE, "shape", [53, -64]), WTE)
    header_case("shape dim 2^63-1", set_field(LNF_B, "shape", [2 ** 63 - 1]), LNF_B)
    header_case("shape dims are floats", set_field(WTE, "shape", [53.0, 64.0]), WTE)
    header_case("shape dims are strings", set_field(WTE, "shape", ["53", "64"]), WTE)
    header_case("shape not an array", set_field(WTE, "shape", 3392), WTE)

    def offsets(name, fn):
        def edit(h):
            b, e = h[name]["data_offsets"]
            h[name]["data_offsets"] = fn(b, e)

        return edit

    header_case("data_offsets huge (2^63)", offsets(LNF_B, lambda b, e: [2 ** 63, 2 ** 63 + (e - b)]), LNF_B)
    # end - begin wraps to the tensor's size in 64-bit unsigned arithmetic.
    header_case("data_offsets wrap around (end - begin mod 2^64)",
                offsets(LNF_B, lambda b, e: [2 ** 64 - 128, (e - b) - 128]), LNF_B)
    header_case("data_offsets end 2^64-1", offsets(LNF_B, lambda b, e: [b, 2 ** 64 - 1]), LNF_B)
    header_case("data_offsets negative", offsets(LNF_B, lambda b, e: [-256, 0]), LNF_B)
    header_case("data_offsets begin after end", offsets(LNF_B, lambda b, e: [e, b]), LNF_B)
    header_case("data_offsets three entries", offsets(LNF_B, lambda b, e: [b, e, e]), LNF_B)
    header_case("data_offsets partial overlap", offsets(LN1_B, lambda b, e: [b - 128, e - 128]), "transformer.h.0.ln_1")
    header_case("data_offsets full overlap",
                lambda h: h[LN1_W].__setitem__("data_offsets", list(h[LN1_B]["data_offsets"])),
                "transformer.h.0.ln_1")
    header_case("dtype F8_E4M3", set_field(WTE, "dtype", "F8_E4M3"), WTE)
    header_case("dtype Q8_0 (not a safetensors dtype)", set_field(WTE, "dtype", "Q8_0"), WTE)
    header_case("dtype lower-case f32", set_field(WTE, "dtype", "f32"), WTE)
    header_case("dtype a number", set_field(WTE, "dtype", 5), WTE)
    header_case("tensor entry not an object", lambda h: h.__setitem__(LNF_B, "F32"), LNF_B)
    header_case("__metadata__ not an object", lambda h: h.__setitem__("__metadata__", ["format", "pt"]),
                "__metadata__")
    header_case("__metadata__ value not a string", lambda h: h.__setitem__("__metadata__", {"format": 5}),
                "__metadata__")

    def raw_case(label, fn, wants=("model.safetensors",)):
        def setup(d):
            m = capp(d)
            raw_edit(os.path.join(m, "model.safetensors"), fn)
            return run_capp(m)

        fcase("class1 safetensors " + label, setup, list(wants), codes=(1,))

    def set_len(v):
        def fn(raw):
            raw[:8] = struct.pack("<Q", v)
            return raw

        return fn

    raw_case("header length 2^64-1", set_len(2 ** 64 - 1))
    raw_case("header length 2^63", set_len(2 ** 63))
    raw_case("header length 0", set_len(0))
    raw_case("header length one past EOF", lambda raw: set_len(len(raw) - 8 + 1)(raw))
    raw_case("header length cuts the JSON", lambda raw: set_len(struct.unpack("<Q", raw[:8])[0] // 2)(raw))
    raw_case("file of 5 bytes", lambda raw: raw[:5])
    raw_case("empty file", lambda raw: b"")
    raw_case("file is only the header", lambda raw: raw[:8 + struct.unpack("<Q", raw[:8])[0]])
    raw_case("data buffer one byte short", lambda raw: raw[:-1])

    def garbage(raw):
        n = struct.unpack("<Q", raw[:8])[0]
        raw[8:8 + n] = bytes((i * 37 + 11) % 256 for i in range(n))
        return raw

    raw_case("header garbage bytes", garbage)

    def as_array(raw):
        n = struct.unpack("<Q", raw[:8])[0]
        text = b"[" + b" " * (n - 2) + b"]"
        raw[8:8 + n] = text
        return raw

    raw_case("header is a JSON array", as_array)

    def trailing(raw):
        n = struct.unpack("<Q", raw[:8])[0]
        body = raw[8:8 + n].rstrip(b" ")
        pad = n - len(body)
        if pad >= 2:
            raw[8:8 + n] = body + b"x" * pad
        else:
            raw[8 + n - 1:8 + n] = b"x"
        return raw

    raw_case("header with trailing garbage", trailing)

    def bad_utf8(raw):
        n = struct.unpack("<Q", raw[:8])[0]
        hdr = raw[8:8 + n]
        i = hdr.find(b"transformer.ln_f.bias")
        hdr[i + 12:i + 13] = b"\xff"
        raw[8:8 + n] = hdr
        return raw

    raw_case("header with invalid UTF-8 in a name", bad_utf8)


def l2c_header(raw, **fields):
    names = ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]
    vals = list(struct.unpack("<7i", raw[:28]))
    for k, v in fields.items():
        vals[names.index(k)] = v
    return struct.pack("<7i", *vals)


def l2c_nfloats(dim, hidden, L, heads, kv, vocab, seq):
    V = abs(vocab)
    hd = dim // heads
    kvd = hd * kv
    return (V * dim + L * dim + L * dim * dim + 2 * L * kvd * dim + L * dim * dim + L * dim + 3 * L * hidden * dim +
            dim + seq * hd + (0 if vocab > 0 else V * dim))


def convert_argv(ck, tok, out):
    return ["convert", "--from", "llama2c", "--checkpoint", ck, "--tokenizer", tok, "--out", out]


def add_llama2c_cases():
    def ck_case(label, build):
        def setup(d):
            ck = os.path.join(d, "ck_hostile.bin")
            build(ck)
            tok = os.path.join(d, "tok512.bin")
            shutil.copyfile(TOK512, tok)
            return convert_argv(ck, tok, os.path.join(d, "out"))

        fcase("class1 llama2c checkpoint " + label, setup, ["ck_hostile.bin"], codes=(1,))

    def header_only(**fields):
        def build(ck):
            raw = read_bytes(STORIES_BIN)
            write_bytes(ck, l2c_header(raw, **fields) + raw[28:])

        return build

    # Every field <= 2^20 and the header consistent, but 28 + 4 * n_floats wraps modulo 2^64 to this file's size.
    P = dict(dim=2 ** 20, hidden_dim=524287, n_layers=2 ** 20, n_heads=2 ** 10, n_kv_heads=2 ** 8,
             vocab_size=2 ** 20, seq_len=1)
    n = l2c_nfloats(P["dim"], P["hidden_dim"], P["n_layers"], P["n_heads"], P["n_kv_heads"], P["vocab_size"],
                    P["seq_len"])
    wrapped = (28 + 4 * n) % 2 ** 64
    assert 28 < wrapped < 16 << 20, wrapped

    def overflow_exact(ck):
        with open(ck, "wb") as f:
            f.write(struct.pack("<7i", P["dim"], P["hidden_dim"], P["n_layers"], P["n_heads"], P["n_kv_heads"],
                                P["vocab_size"], P["seq_len"]))
            f.truncate(wrapped)

    ck_case("product overflows to exactly the file size (%d bytes)" % wrapped, overflow_exact)
    ck_case("every field 2^20 (product overflows)",
            header_only(dim=2 ** 20, hidden_dim=2 ** 20, n_layers=2 ** 20, n_heads=2 ** 10, n_kv_heads=2 ** 10,
                        vocab_size=2 ** 20, seq_len=2 ** 20))
    ck_case("dim negative", header_only(dim=-64))
    ck_case("n_layers zero", header_only(n_layers=0))
    ck_case("vocab_size INT32_MIN", header_only(vocab_size=-2 ** 31))
    ck_case("dim 2^21", header_only(dim=2 ** 21))
    ck_case("n_heads does not divide dim", header_only(n_heads=6, n_kv_heads=3))
    ck_case("seq_len zero", header_only(seq_len=0))
    ck_case("shorter than the header (10 bytes)", lambda ck: write_bytes(ck, read_bytes(STORIES_BIN)[:10]))
    ck_case("empty file", lambda ck: write_bytes(ck, b""))
    ck_case("4 bytes too long", lambda ck: write_bytes(ck, read_bytes(STORIES_BIN) + b"\0\0\0\0"))
    ck_case("4 bytes too short", lambda ck: write_bytes(ck, read_bytes(STORIES_BIN)[:-4]))


# ======================================================================================================================
# Class 2: resource limits
# ======================================================================================================================

def tok512_tokens():
    raw = read_bytes(TOK512)
    max_len = struct.unpack("<i", raw[:4])[0]
    toks, pos = [], 4
    while pos < len(raw):
        score, length = struct.unpack("<fi", raw[pos:pos + 8])
        toks.append((score, raw[pos + 8:pos + 8 + length]))
        pos += 8 + length
    return max_len, toks


def tok512_bytes(max_len, toks, lengths=None):
    out = [struct.pack("<i", max_len)]
    for i, (score, b) in enumerate(toks):
        length = lengths.get(i, len(b)) if lengths else len(b)
        out.append(struct.pack("<fi", score, length) + b)
    return b"".join(out)


def add_resource_cases():
    eval_txt = EVAL_TXT
    for flag_value in ["100000", "2147483648", "-1", "4294967297"]:
        fcase("class2 run -t %s" % flag_value,
              lambda d, v=flag_value: ["run", "-t", v, "-n", "2", "--temperature", "0", "--no-monitor"],
              ["--threads"], codes=(2,))
        fcase("class2 perplexity -t %s" % flag_value,
              lambda d, v=flag_value: ["perplexity", "-f", eval_txt, "--ctx-size", "32", "--chunks", "1", "-t", v],
              ["--threads"], codes=(2,))
    for flag_value in ["1,100000", "1,-1", "2147483648"]:
        fcase("class2 benchmark -t %s" % flag_value,
              lambda d, v=flag_value: ["benchmark", "-p", "4", "-n", "4", "-r", "1", "--no-progress", "-t", v],
              ["--threads"], codes=(2,))
    for value in ["100000", "-1", "2147483648", "4294967297"]:
        fcase("class2 preset num_threads = %s (run)" % value,
              lambda d, v=value: ["run", "-c", write_preset(d, "threads_preset.toml", "num_threads = %s\n" % v),
                                  "-n", "2", "--no-monitor"],
              ["threads_preset.toml", "num_threads"])
    fcase("class2 preset num_threads = 100000 (perplexity)",
          lambda d: ["perplexity", "-c", write_preset(d, "threads_preset.toml", "num_threads = 100000\n"),
                     "-f", eval_txt, "--ctx-size", "32", "--chunks", "1"],
          ["threads_preset.toml", "num_threads"])
    fcase("class2 preset num_threads = 100000 (benchmark)",
          lambda d: ["benchmark", "-c", write_preset(d, "threads_preset.toml", "num_threads = 100000\n"),
                     "-p", "4", "-n", "4", "-r", "1", "--no-progress"],
          ["threads_preset.toml", "num_threads"])

    # llama2.c tokenizer.bin: as a model folder's tokenizer and as convert's --tokenizer.
    def tokbin_variants(label, build):
        def folder(d):
            m = llama(d, skip=("tokenizer.json",))
            write_bytes(os.path.join(m, "tokenizer.bin"), build())
            return ["run", "-m", m, "--prompt", "Once upon", "-n", "2", "--temperature", "0", "--no-monitor"]

        fcase("class2 tokenizer.bin %s (run)" % label, folder, ["tokenizer.bin"], codes=(1,))

        def conv(d):
            tok = os.path.join(d, "tok_hostile.bin")
            write_bytes(tok, build())
            ck = os.path.join(d, "stories260K.bin")
            shutil.copyfile(STORIES_BIN, ck)
            return convert_argv(ck, tok, os.path.join(d, "out"))

        fcase("class2 tokenizer.bin %s (convert)" % label, conv, ["tok_hostile.bin"], codes=(1,))

    def huge_max():
        _, toks = tok512_tokens()
        return tok512_bytes(2 ** 31 - 1, toks)

    def longer_than_max():
        max_len, toks = tok512_tokens()
        toks = list(toks)
        toks[300] = (toks[300][0], b"x" * (max_len + 5))
        return tok512_bytes(max_len, toks)

    def zero_max():
        _, toks = tok512_tokens()
        return tok512_bytes(0, toks)

    def huge_length():
        max_len, toks = tok512_tokens()
        return tok512_bytes(max_len, toks, lengths={300: 2 ** 31 - 1})

    tokbin_variants("max_token_length 2^31-1", huge_max)
    tokbin_variants("token longer than max_token_length", longer_than_max)
    tokbin_variants("max_token_length 0", zero_max)
    tokbin_variants("token length 2^31-1", huge_length)

    # ---- success cases: big inputs must be handled in well under 10 s ----
    def perf_tokenize(label, model_fn, text_len=1_000_000, letter="a"):
        def fn(d):
            m = model_fn(d)
            lines = os.path.join(d, "big.jsonl")
            write_text(lines, json.dumps(letter * text_len) + "\n")
            argv = ["tokenize", "--json-lines", lines] + (["-m", m] if m else [])
            r = expect_ok(d, argv)
            try:
                ids = json.loads(r.stdout.splitlines()[0])
                assert isinstance(ids, list) and ids and all(isinstance(i, int) for i in ids)
            except (ValueError, IndexError, AssertionError):
                raise CaseFailure("stdout is not a JSON array of ids: %r" % r.stdout[:200], r.rc, r.stderr)

        add("perf: " + label, fn, kind="success")

    perf_tokenize("tokenize a 1 MB single-letter line (default model)", lambda d: None)
    perf_tokenize("tokenize a 1 MB single-letter line (tiny-random-gpt2)", lambda d: TINY)

    def perf_run(label, argv_fn):
        # A single argv string is limited to 128 KiB by the kernel (MAX_ARG_STRLEN), so the prompt is 100 KB. It
        # cannot fit the model's context, so a clean "context" error (exit 1) counts as handled as well as exit 0.
        def fn(d):
            r = expect_ok(d, argv_fn(d), allow_rc=(0, 1))
            if r.rc == 1 and "context" not in r.stderr:
                raise CaseFailure("exit 1 without a context message", r.rc, r.stderr)

        add("perf: " + label, fn, kind="success")

    prompt = "a" * 100_000
    perf_run("run a 100 KB single-letter prompt -n 1 (default model)",
             lambda d: ["run", "--prompt", prompt, "-n", "1", "--no-monitor"])
    perf_run("run a 100 KB single-letter prompt -n 1 (tiny-random-gpt2)",
             lambda d: ["run", "-m", TINY, "--prompt", prompt, "-n", "1", "--no-monitor"])

    def tokenizer_variant(d, source, edit):
        """A folder in d holding source's tokenizer.json after edit(j) changed the parsed JSON."""
        m = os.path.join(d, "m")
        os.makedirs(m)
        j = read_json(os.path.join(source, "tokenizer.json"))
        edit(j)
        write_json(os.path.join(m, "tokenizer.json"), j)
        return m

    def add_big_piece(j):
        j["model"]["vocab"]["a" * 1_000_000] = 50257  # a new id: every existing one is some merge's result

    def replace_with_big_piece(j):
        vocab = j["model"]["vocab"]
        del vocab[next(k for k, v in vocab.items() if v == 500)]
        vocab["\u2581" + "a" * 1_000_000] = 500

    def add_big_added_token(j):
        j["added_tokens"].append({"id": 50257, "content": "a" * 1_000_000, "single_word": False, "lstrip": False,
                                  "rstrip": False, "normalized": False, "special": True})

    big_piece_gpt2 = lambda d: tokenizer_variant(d, TINY, add_big_piece)  # noqa: E731
    big_piece_sp = lambda d: tokenizer_variant(d, DEFAULT_MODEL, replace_with_big_piece)  # noqa: E731
    big_added_token = lambda d: tokenizer_variant(d, TINY, add_big_added_token)  # noqa: E731

    perf_tokenize("1 MB vocab piece in tokenizer.json (GPT-2), 1 MB text", big_piece_gpt2)
    perf_tokenize("1 MB vocab piece in tokenizer.json (SentencePiece), 1 MB text", big_piece_sp)
    perf_tokenize("1 MB added token in tokenizer.json (GPT-2), 1 MB text", big_added_token)

    def big_piece_hello(d):
        m = big_piece_gpt2(d)
        r = expect_ok(d, ["tokenize", "-m", m, "--text", "Hello, world!"])
        if r.stdout.strip().replace(" ", "") != "[15496,11,995,0]":
            raise CaseFailure("ids %r, expected [15496,11,995,0]" % r.stdout.strip()[:200], r.rc, r.stderr)

    add("perf: 1 MB vocab piece in tokenizer.json (GPT-2), ordinary text", big_piece_hello, kind="success")


# ======================================================================================================================
# Class 3: not regular files
# ======================================================================================================================

def add_not_regular_cases():
    kinds = [("a FIFO", make_fifo), ("a symlink to /dev/zero", lambda p: replace_with_symlink(p, "/dev/zero")),
             ("a directory", replace_with_dir)]
    for fname in ["model.safetensors", "config.json", "tokenizer.json"]:
        for label, make in kinds:
            def setup(d, fname=fname, make=make):
                m = llama(d)
                make(os.path.join(m, fname))
                return ["run", "-m", m, "--prompt", "Once", "-n", "2", "--temperature", "0", "--no-monitor"]

            fcase("class3 %s is %s" % (fname, label), setup, [fname])
    for label, make in kinds:
        def setup(d, make=make):
            m = llama(d)
            make(os.path.join(m, INDEX))
            return run_llama(m)

        fcase("class3 %s is %s" % (INDEX, label), setup, [INDEX])

    def tokbin(d):
        m = llama(d, skip=("tokenizer.json",))
        make_fifo(os.path.join(m, "tokenizer.bin"))
        return ["run", "-m", m, "--prompt", "Once", "-n", "2", "--no-monitor"]

    fcase("class3 tokenizer.bin is a FIFO", tokbin, ["tokenizer.bin"])

    def vocab_fifo(d):
        m = tiny(d, skip=("tokenizer.json",))
        make_fifo(os.path.join(m, "vocab.json"))
        return ["tokenize", "-m", m, "--text", "Hello"]

    fcase("class3 vocab.json is a FIFO", vocab_fifo, ["vocab.json"])

    def merges_zero(d):
        m = tiny(d, skip=("tokenizer.json",))
        replace_with_symlink(os.path.join(m, "merges.txt"), "/dev/zero")
        return ["tokenize", "-m", m, "--text", "Hello"]

    fcase("class3 merges.txt is a symlink to /dev/zero", merges_zero, ["merges.txt"])

    # -m that exists but is not a folder
    def not_folder(kind):
        def make(d):
            if kind == "file":
                p = os.path.join(d, "model_file")
                write_text(p, "not a model\n")
                return p, "model_file"
            if kind == "fifo":
                p = os.path.join(d, "model_fifo")
                os.mkfifo(p)
                return p, "model_fifo"
            return "/dev/zero", "/dev/zero"

        return make

    commands = {
        "run": lambda m: ["run", "-m", m, "-n", "2", "--no-monitor"],
        "tokenize": lambda m: ["tokenize", "-m", m, "--text", "Hello"],
        "inspect": lambda m: ["inspect", "-m", m],
        "quantize": lambda m: ["quantize", "-m", m, "--type", "q8_0", "--out", "q_out"],
        "perplexity": lambda m: ["perplexity", "-m", m, "-f", EVAL_TXT, "--ctx-size", "32", "--chunks", "1"],
        "benchmark": lambda m: ["benchmark", "-m", m, "-p", "4", "-n", "4", "-r", "1", "--no-progress"],
        "status": lambda m: ["status", "-m", m],
    }
    for cmd, argv in commands.items():
        kinds_m = ["file", "fifo", "dev-zero"] if cmd in ("run", "tokenize", "inspect", "quantize") else ["file"]
        for kind in kinds_m:
            def setup(d, argv=argv, kind=kind):
                p, _ = not_folder(kind)(d)
                return argv(p)

            name = {"file": "model_file", "fifo": "model_fifo", "dev-zero": "/dev/zero"}[kind]
            fcase("class3 %s -m is %s" % (cmd, {"file": "a regular file", "fifo": "a FIFO",
                                                "dev-zero": "/dev/zero"}[kind]),
                  setup, ["not a", name])

    # -c that is not a regular file
    for cmd, argv in [("run", ["run", "-n", "2", "--no-monitor"]), ("tokenize", ["tokenize", "--text", "Hi"]),
                      ("inspect", ["inspect"])]:
        for kind in ["directory", "FIFO", "/dev/zero"]:
            def setup(d, argv=argv, kind=kind):
                if kind == "directory":
                    p = os.path.join(d, "preset_dir.toml")
                    os.mkdir(p)
                elif kind == "FIFO":
                    p = os.path.join(d, "preset_fifo.toml")
                    os.mkfifo(p)
                else:
                    p = "/dev/zero"
                return argv + ["-c", p]

            want = {"directory": "preset_dir.toml", "FIFO": "preset_fifo.toml", "/dev/zero": "/dev/zero"}[kind]
            if cmd != "run" and kind == "directory":
                continue
            fcase("class3 %s -c is %s" % (cmd, kind), setup, [want])

    def preset_zero_link(d):
        p = os.path.join(d, "zero_link.toml")
        os.symlink("/dev/zero", p)
        return ["run", "-c", p, "-n", "2", "--no-monitor"]

    fcase("class3 run -c is a symlink to /dev/zero", preset_zero_link, ["zero_link.toml"])

    # convert inputs
    def conv(kind_ck=None, kind_tok=None):
        def setup(d):
            ck = os.path.join(d, "ck_special.bin")
            tok = os.path.join(d, "tok_special.bin")
            for path, kind, src in [(ck, kind_ck, STORIES_BIN), (tok, kind_tok, TOK512)]:
                if kind == "fifo":
                    os.mkfifo(path)
                elif kind == "dir":
                    os.mkdir(path)
                elif kind == "zero":
                    os.symlink("/dev/zero", path)
                else:
                    shutil.copyfile(src, path)
            return convert_argv(ck, tok, os.path.join(d, "out"))

        return setup

    fcase("class3 convert --checkpoint is a FIFO", conv(kind_ck="fifo"), ["ck_special.bin"])
    fcase("class3 convert --checkpoint is a directory", conv(kind_ck="dir"), ["ck_special.bin"])
    fcase("class3 convert --checkpoint is a symlink to /dev/zero", conv(kind_ck="zero"), ["ck_special.bin"])
    fcase("class3 convert --tokenizer is a FIFO", conv(kind_tok="fifo"), ["tok_special.bin"])
    fcase("class3 convert --tokenizer is a symlink to /dev/zero", conv(kind_tok="zero"), ["tok_special.bin"])

    def ppl_dir(d):
        p = os.path.join(d, "eval_dir.txt")
        os.mkdir(p)
        return ["perplexity", "-f", p, "--ctx-size", "32", "--chunks", "1"]

    fcase("class3 perplexity -f is a directory", ppl_dir, ["eval_dir.txt"])

    def ppl_zero(d):
        p = os.path.join(d, "eval_zero.txt")
        os.symlink("/dev/zero", p)
        return ["perplexity", "-f", p, "--ctx-size", "32", "--chunks", "1"]

    fcase("class3 perplexity -f is a symlink to /dev/zero", ppl_zero, ["eval_zero.txt"])


# ======================================================================================================================
# Class 4: the checkpoint truncated while it runs
# ======================================================================================================================

def add_truncation_cases():
    def trunc_case(delay, use_mmap):
        def fn(d):
            m = tiny(d, only=("config.json", "model.safetensors"))
            st = os.path.join(m, "model.safetensors")
            argv = (["run", "-m", m] + (["--mmap"] if use_mmap else []) +
                    ["--memory-budget", "1M", "--strategy", "sequential", "-n", "100", "--prompt-tokens", "0,1",
                     "--no-monitor", "--output", "json"])
            start = time.monotonic()
            p = popen_bin(argv, d)
            time.sleep(delay)
            finished_before = p.poll() is not None
            if not finished_before:
                os.truncate(st, os.path.getsize(st) // 2)
            r = finish(p, start)
            if r.timed_out:
                raise CaseFailure("hang: no exit within %d s" % TIMEOUT_S, r.rc, r.stderr)
            if r.rc < 0:
                raise CaseFailure("crash: killed by signal %s" % signame(r.rc), r.rc, r.stderr)
            if finished_before:
                if r.rc != 0:
                    raise CaseFailure("exit %d before the truncation" % r.rc, r.rc, r.stderr)
                return "finished before the truncation"
            if r.rc != 1:
                raise CaseFailure("exit %d after the checkpoint was truncated, expected 1" % r.rc, r.rc, r.stderr)
            if "model.safetensors" not in r.stderr:
                raise CaseFailure("stderr lacks 'model.safetensors'", r.rc, r.stderr)

        add("class4 truncate model.safetensors %.2f s into a %s run" % (delay, "--mmap" if use_mmap else "pread"), fn)

    # The race (a read of the mapping after the file shrank: SIGBUS) is hit only sometimes, so try several moments.
    for delay in [0.03, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0]:
        trunc_case(delay, True)
    trunc_case(0.2, False)
    trunc_case(0.6, False)


def add_gguf_cases():
    """GGUF files (tests/data/gguf/stories260K-f32.gguf edited): every field that lies gets an error naming the file."""
    src = os.path.join(SRC, "tests", "data", "gguf", "stories260K-f32.gguf")

    def edited(edit):
        def setup(d):
            path = os.path.join(d, "m.gguf")
            data = bytearray(open(src, "rb").read())
            data = edit(data)
            with open(path, "wb") as f:
                f.write(data)
            return ["run", "-m", path, "-p", "Once", "-n", "4", "--no-monitor"]
        return setup

    def find(data, text):
        i = bytes(data).find(text.encode())
        if i < 0:
            raise CaseFailure("the test file lacks %r" % text)
        return i

    def set_u32(data, at, value):
        data[at:at + 4] = struct.pack("<I", value)
        return data

    def set_u64(data, at, value):
        data[at:at + 8] = struct.pack("<Q", value)
        return data

    def tensor_type(data, name, value):  # a tensor info: name, n_dims, ne[n_dims], type, offset
        at = find(data, name) + len(name)
        n_dims = struct.unpack("<I", bytes(data[at:at + 4]))[0]
        return set_u32(data, at + 4 + 8 * n_dims, value)

    cases = [
        ("truncated in the header", lambda b: b[:4000], ["m.gguf", "truncated"]),
        ("truncated in the data", lambda b: b[:len(b) // 2], ["m.gguf", "truncated"]),
        ("magic", lambda b: bytearray(b"GGML") + b[4:], ["m.gguf", "magic"]),
        ("version 9", lambda b: set_u32(b, 4, 9), ["m.gguf", "version 9"]),
        ("tensor count 2^40", lambda b: set_u64(b, 8, 1 << 40), ["m.gguf", "tensor_count"]),
        ("metadata count 2^40", lambda b: set_u64(b, 16, 1 << 40), ["m.gguf", "metadata_kv_count"]),
        ("token list 2^60 strings", lambda b: set_u64(b, find(b, "tokenizer.ggml.tokens") + 21 + 4 + 4, 1 << 60),
         ["m.gguf", "tokenizer.ggml.tokens"]),
        ("block_count 10^9", lambda b: set_u32(b, find(b, "llama.block_count") + 17 + 4, 10 ** 9),
         ["m.gguf", "llama.block_count"]),
        ("block_count 4 of 5 layers", lambda b: set_u32(b, find(b, "llama.block_count") + 17 + 4, 4),
         ["m.gguf", "not used"]),
        ("a Q3_K tensor", lambda b: tensor_type(b, "blk.0.attn_q.weight", 11), ["m.gguf", "Q3_K"]),
        ("an unknown ggml type", lambda b: tensor_type(b, "blk.0.attn_q.weight", 99), ["m.gguf", "99"]),
        ("architecture mamba", lambda b: b.replace(b"\x05\x00\x00\x00\x00\x00\x00\x00llama", b"\x05\x00\x00\x00\x00\x00\x00\x00mamba", 1),
         ["m.gguf", "mamba"]),
    ]
    for label, edit, wants in cases:
        fcase("class1 gguf %s" % label, edited(edit), wants, codes=(1,))

    def two_files(d):
        folder = os.path.join(d, "m")
        os.makedirs(folder)
        shutil.copyfile(src, os.path.join(folder, "a.gguf"))
        shutil.copyfile(src, os.path.join(folder, "b.gguf"))
        return ["run", "-m", folder, "-p", "Once", "-n", "4", "--no-monitor"]

    fcase("class1 gguf two .gguf files in one folder", two_files, ["2 .gguf files", "a.gguf"], codes=(1,))


# ======================================================================================================================
# Class 5: writes that would destroy data
# ======================================================================================================================

def quantize_argv(src, out, force=False):
    return ["quantize", "-m", src, "--type", "q8_0", "--out", out] + (["--force"] if force else [])


def add_destructive_write_cases():
    def out_link_case(label, link_kind, force):
        def fn(d):
            src = llama(d, "src")
            out = os.path.join(d, "out_" + link_kind)
            os.mkdir(out)
            target = os.path.join(src, "model.safetensors")
            if link_kind == "symlink":
                os.symlink(target, os.path.join(out, "model.safetensors"))
            else:
                os.link(target, os.path.join(out, "model.safetensors"))
            argv = quantize_argv(src, out, force)
            if not force:
                expect_fail(d, argv, ["out_" + link_kind], codes=(1,), extra_inputs=[src])
                return
            # With --force, replacing the link by a new file is as good as refusing; writing through it is not.
            before = snapshot([src])
            r = run_bin(argv, d)
            reasons = []
            if r.timed_out:
                reasons.append("hang")
            elif r.rc < 0:
                reasons.append("crash: killed by signal %s" % signame(r.rc))
            elif r.rc == 0:
                o = os.path.join(out, "model.safetensors")
                if not os.path.exists(o) or os.path.islink(o) or os.path.samefile(o, target):
                    reasons.append("exit 0 but out/model.safetensors is still the source file")
            elif r.rc == 1:
                if "out_" + link_kind not in r.stderr:
                    reasons.append("stderr lacks 'out_%s'" % link_kind)
            else:
                reasons.append("exit %d, expected 0 or 1" % r.rc)
            changed = snapshot_diff(before, snapshot([src]))
            if changed:
                reasons.append("source changed: " + ", ".join(os.path.relpath(c, TMP) for c in changed[:4]))
            if reasons:
                raise CaseFailure("; ".join(reasons), r.rc, r.stderr)

        add("class5 quantize " + label, fn)

    out_link_case("out/model.safetensors is a symlink to the source's", "symlink", False)
    out_link_case("out/model.safetensors is a hard link to the source's", "hardlink", False)
    out_link_case("--force, out/model.safetensors is a symlink to the source's", "symlink", True)
    out_link_case("--force, out/model.safetensors is a hard link to the source's", "hardlink", True)

    def same_folder(how, force):
        def setup(d):
            src = llama(d, "src")
            if how == "symlinked folder":
                out = os.path.join(d, "out_alias")
                os.symlink(src, out)
            elif how == "same path":
                out = src
            else:
                out = os.path.join(d, "src", "..", "src") + "/"
            return quantize_argv(src, out, force)

        fcase("class5 quantize --out is the source (%s%s)" % (how, ", --force" if force else ""), setup,
              [("out_alias", "src")], codes=(1, 2), extra_inputs=[])

    for how in ["symlinked folder", "same path", "dotdot path"]:
        same_folder(how, False)
    same_folder("symlinked folder", True)
    same_folder("same path", True)

    def conv_link(target_kind, out_file, force):
        def fn(d):
            ck = os.path.join(d, "ck.bin")
            tok = os.path.join(d, "tok.bin")
            shutil.copyfile(STORIES_BIN, ck)
            shutil.copyfile(TOK512, tok)
            out = os.path.join(d, "out_conv")
            os.mkdir(out)
            os.symlink(ck if target_kind == "checkpoint" else tok, os.path.join(out, out_file))
            argv = convert_argv(ck, tok, out) + (["--force"] if force else [])
            if not force:
                expect_fail(d, argv, ["out_conv"], codes=(1,))
                return
            before = snapshot([ck, tok])
            r = run_bin(argv, d)
            reasons = []
            if r.timed_out:
                reasons.append("hang")
            elif r.rc < 0:
                reasons.append("crash: killed by signal %s" % signame(r.rc))
            elif r.rc == 0:
                if os.path.islink(os.path.join(out, out_file)):
                    reasons.append("exit 0 but out/%s is still a symlink" % out_file)
            elif r.rc == 1:
                if "out_conv" not in r.stderr:
                    reasons.append("stderr lacks 'out_conv'")
            else:
                reasons.append("exit %d, expected 0 or 1" % r.rc)
            changed = snapshot_diff(before, snapshot([ck, tok]))
            if changed:
                reasons.append("source changed: " + ", ".join(os.path.relpath(c, TMP) for c in changed[:4]))
            if reasons:
                raise CaseFailure("; ".join(reasons), r.rc, r.stderr)

        add("class5 convert%s out/%s is a symlink to the %s" % (" --force," if force else "", out_file, target_kind),
            fn)

    conv_link("checkpoint", "model.safetensors", False)
    conv_link("tokenizer.bin", "model.safetensors", False)
    conv_link("tokenizer.bin", "tokenizer.json", False)
    conv_link("checkpoint", "config.json", False)
    conv_link("checkpoint", "model.safetensors", True)
    conv_link("tokenizer.bin", "tokenizer.json", True)

    errno_texts = ("Is a directory", "Not a directory", "File exists", "Permission denied")

    def out_is_dir(cmd, force):
        def setup(d):
            out = os.path.join(d, "out_dirblock")
            os.makedirs(os.path.join(out, "model.safetensors"))
            if cmd == "quantize":
                return quantize_argv(llama(d, "src"), out, force)
            ck = os.path.join(d, "ck.bin")
            tok = os.path.join(d, "tok.bin")
            shutil.copyfile(STORIES_BIN, ck)
            shutil.copyfile(TOK512, tok)
            return convert_argv(ck, tok, out) + (["--force"] if force else [])

        fcase("class5 %s%s out/model.safetensors is a directory" % (cmd, " --force," if force else ""), setup,
              ["out_dirblock"] + ([errno_texts] if force else []), codes=(1,))

    def out_is_file(cmd, nested):
        def setup(d):
            f = os.path.join(d, "out_file")
            write_text(f, "a file\n")
            out = os.path.join(f, "sub") if nested else f
            if cmd == "quantize":
                return quantize_argv(llama(d, "src"), out)
            ck = os.path.join(d, "ck.bin")
            tok = os.path.join(d, "tok.bin")
            shutil.copyfile(STORIES_BIN, ck)
            shutil.copyfile(TOK512, tok)
            return convert_argv(ck, tok, out)

        fcase("class5 %s --out %s" % (cmd, "under a regular file" if nested else "is a regular file"), setup,
              ["out_file", errno_texts + ("not a folder", "not a directory")], codes=(1,), extra_inputs=[])

    for cmd in ["quantize", "convert"]:
        out_is_dir(cmd, False)
        out_is_dir(cmd, True)
        out_is_file(cmd, False)
        out_is_file(cmd, True)


# ======================================================================================================================
# Class 6: stale files in the output folder
# ======================================================================================================================

def stale_files(out, what):
    os.makedirs(out, exist_ok=True)
    for w in what:
        if w == "index":
            meta, tensors = st_tensors(os.path.join(CAPP, "model.safetensors"))
            st_save(os.path.join(out, "stale-00001-of-00001.safetensors"), meta, tensors)
            write_json(os.path.join(out, INDEX), {"weight_map": {t[0]: "stale-00001-of-00001.safetensors"
                                                                 for t in tensors}})
        elif w == "tokenizer.bin":
            shutil.copyfile(TOK512, os.path.join(out, "tokenizer.bin"))
        elif w == "vocab.json":
            write_json(os.path.join(out, "vocab.json"), {"a": 0, "b": 1, "ab": 2})
            write_text(os.path.join(out, "merges.txt"), "#version: 0.2\na b\n")
        elif w == "tokenizer.json":
            shutil.copyfile(os.path.join(TINY, "tokenizer.json"), os.path.join(out, "tokenizer.json"))
        elif w == "model.safetensors":
            shutil.copyfile(os.path.join(CAPP, "model.safetensors"), os.path.join(out, "model.safetensors"))
        else:
            write_text(os.path.join(out, w), "stale\n")


def add_stale_cases():
    for what in ["index", "tokenizer.bin", "vocab.json", "notes.txt", "model.safetensors"]:
        def setup(d, what=what):
            out = os.path.join(d, "out_stale")
            stale_files(out, [what])
            return quantize_argv(llama(d, "src"), out)

        fcase("class6 quantize into a folder holding %s without --force" % what, setup, ["out_stale", "--force"])
    for what in ["index", "vocab.json", "notes.txt"]:
        def setup(d, what=what):
            out = os.path.join(d, "out_stale")
            stale_files(out, [what])
            ck = os.path.join(d, "ck.bin")
            tok = os.path.join(d, "tok.bin")
            shutil.copyfile(STORIES_BIN, ck)
            shutil.copyfile(TOK512, tok)
            return convert_argv(ck, tok, out)

        fcase("class6 convert into a folder holding %s without --force" % what, setup, ["out_stale", "--force"])

    def compare_runs(d, out, fresh, gen_argv, gone):
        for g in gone:
            if os.path.lexists(os.path.join(out, g)):
                raise CaseFailure("stale %s is still in the output folder after --force" % g)
        a, _, _ = greedy_ids(d, gen_argv(out), "run on the --force output: ")
        b, _, _ = greedy_ids(d, gen_argv(fresh), "run on the fresh output: ")
        if a != b:
            raise CaseFailure("generated ids differ: --force output %r, fresh output %r" % (a, b))

    def quantize_force(label, src_fn, stale, gone, gen_argv):
        def fn(d):
            src = src_fn(d)
            fresh = os.path.join(d, "fresh")
            expect_ok(d, quantize_argv(src, fresh), "fresh quantize: ")
            out = os.path.join(d, "out_stale")
            stale_files(out, stale)
            expect_ok(d, quantize_argv(src, out, force=True), "quantize --force: ")
            compare_runs(d, out, fresh, gen_argv, gone)

        add("stale: quantize --force " + label, fn, kind="success")

    quantize_force("capp-gpt2-tiny over a stale index, tokenizer.bin, vocab.json+merges.txt, tokenizer.json",
                   lambda d: capp(d, "src"), ["index", "tokenizer.bin", "vocab.json", "tokenizer.json", "notes.txt"],
                   [INDEX, "tokenizer.bin", "vocab.json", "merges.txt", "tokenizer.json"],
                   lambda m: run_capp(m))
    quantize_force("default model over a stale index and tokenizer.bin", lambda d: llama(d, "src"),
                   ["index", "tokenizer.bin", "model.safetensors"], [INDEX],
                   lambda m: ["run", "-m", m, "--prompt", "Once upon", "-n", "4", "--temperature", "0",
                              "--no-monitor"])

    def convert_force(d):
        ck = os.path.join(d, "ck.bin")
        tok = os.path.join(d, "tok.bin")
        shutil.copyfile(STORIES_BIN, ck)
        shutil.copyfile(TOK512, tok)
        fresh = os.path.join(d, "fresh")
        expect_ok(d, convert_argv(ck, tok, fresh), "fresh convert: ")
        out = os.path.join(d, "out_stale")
        stale_files(out, ["index", "vocab.json", "tokenizer.bin", "model.safetensors"])
        expect_ok(d, convert_argv(ck, tok, out) + ["--force"], "convert --force: ")
        compare_runs(d, out, fresh,
                     lambda m: ["run", "-m", m, "--prompt", "Once upon", "-n", "4", "--temperature", "0",
                                "--no-monitor"], [INDEX])

    add("stale: convert --force over a stale index, vocab.json+merges.txt, tokenizer.bin", convert_force,
        kind="success")


# ======================================================================================================================
# Class 7: non-finite numbers
# ======================================================================================================================

F32_NAN = struct.pack("<f", float("nan"))
F32_INF = struct.pack("<f", float("inf"))
F32_NINF = struct.pack("<f", float("-inf"))
F16_NAN = struct.pack("<H", 0x7E00)
F16_INF = struct.pack("<H", 0x7C00)


def add_nonfinite_cases():
    for key, value in [("rope_theta", 0), ("rope_theta", -1), ("rope_theta", 1e300), ("rope_theta", 1e39),
                       ("rms_norm_eps", 1e300), ("rms_norm_eps", 1e39), ("rms_norm_eps", 0), ("rms_norm_eps", -1e-5)]:
        config_case("class7 config llama %s = %r" % (key, value), llama, run_llama, key, value)
    for value in [1e300, 0, -1e-5]:
        config_case("class7 config gpt2 layer_norm_epsilon = %r" % value, capp, run_capp, "layer_norm_epsilon", value)

    def poke_case(label, maker, runner, tensor, offset, payload):
        def setup(d):
            m = maker(d)
            st_poke(os.path.join(m, "model.safetensors"), tensor, offset, payload)
            return runner(m)

        fcase("class7 " + label, setup, ["finite"], codes=(1,))

    poke_case("NaN in model.norm.weight", llama, run_llama, "model.norm.weight", 0, F32_NAN)
    poke_case("+inf in model.norm.weight", llama, run_llama, "model.norm.weight", 4, F32_INF)
    poke_case("-inf in layer 0 input_layernorm", llama, run_llama, "model.layers.0.input_layernorm.weight", 0,
              F32_NINF)
    poke_case("NaN in an F32 q_proj weight", llama, run_llama, QPROJ, 0, F32_NAN)
    poke_case("NaN in gpt2 ln_f.weight", capp, run_capp, "transformer.ln_f.weight", 0, F32_NAN)
    poke_case("NaN in gpt2 c_attn.bias", capp, run_capp, "transformer.h.0.attn.c_attn.bias", 0, F32_NAN)
    poke_case("F16 NaN in the first Q8_0 scale of q_proj", q8, run_llama, QPROJ, 0, F16_NAN)
    poke_case("F16 inf in the first Q8_0 scale of q_proj", q8, run_llama, QPROJ, 0, F16_INF)
    poke_case("F16 NaN in the first Q8_0 scale of the embedding", q8, run_llama, "model.embed_tokens.weight", 0,
              F16_NAN)
    poke_case("F16 NaN in an F16 down_proj (Q8_0 model)", q8, run_llama, "model.layers.0.mlp.down_proj.weight", 0,
              F16_NAN)


# ======================================================================================================================
# Class 8: config and weights disagree
# ======================================================================================================================

def add_mismatch_cases():
    def extra_tensors(maker, runner, label, fn, want):
        def setup(d):
            m = maker(d)
            path = os.path.join(m, "model.safetensors")
            meta, tensors = st_tensors(path)
            st_save(path, meta, fn(tensors))
            return runner(m)

        fcase("class8 " + label, setup, [want], codes=(1,))

    def copy_layer(prefix_from, prefix_to):
        return lambda ts: ts + [(n.replace(prefix_from, prefix_to, 1), dt, sh, b) for n, dt, sh, b in ts
                                if n.startswith(prefix_from)]

    extra_tensors(llama, run_llama, "extra layer model.layers.5.* (num_hidden_layers 5)",
                  copy_layer("model.layers.0.", "model.layers.5."), "model.layers.5")
    extra_tensors(llama, run_llama, "unrelated tensor foo.bar (llama)",
                  lambda ts: ts + [("foo.bar", "F32", [4], b"\0" * 16)], "foo.bar")
    extra_tensors(capp, run_capp, "extra layer transformer.h.4.* (n_layer 4)",
                  copy_layer("transformer.h.0.", "transformer.h.4."), "transformer.h.4")
    extra_tensors(capp, run_capp, "unrelated tensor foo.bar (gpt2)",
                  lambda ts: ts + [("foo.bar", "F32", [4], b"\0" * 16)], "foo.bar")
    config_case("class8 num_hidden_layers 4 with 5 layers of tensors", llama, run_llama, "num_hidden_layers", 4,
                wants=["model.layers.4"])
    config_case("class8 n_layer 3 with 4 layers of tensors", capp, run_capp, "n_layer", 3,
                wants=["transformer.h.3"])


# ======================================================================================================================
# Class 9: silent coercions
# ======================================================================================================================

def add_coercion_cases():
    run_base = ["run", "-n", "2", "--temperature", "0", "--no-monitor"]
    for flag, value in [("--top-k", "4294967297"), ("--top-k", "2147483648"), ("--ctx-size", "-1"),
                        ("--ctx-size", "4294967297"), ("--seed", "18446744073709551616")]:
        fcase("class9 run %s %s" % (flag, value), lambda d, f=flag, v=value: run_base + [f, v], [flag])
    fcase("class9 run -n 4294967297", lambda d: ["run", "-n", "4294967297", "--no-monitor"], ["-n"])
    fcase("class9 run --threads 2147483648", lambda d: run_base + ["--threads", "2147483648"], ["--threads"])
    for key, value in [("ctx_size", "-1"), ("thermal_margin_c", "nan"), ("thermal_margin_c", "inf"),
                       ("top_k", "4294967297"), ("num_threads", "9223372036854775807"),
                       ("ctx_size", "4294967297")]:
        fcase("class9 preset %s = %s" % (key, value),
              lambda d, k=key, v=value: ["run", "-c", write_preset(d, "coerce.toml", "%s = %s\n" % (k, v)),
                                         "-n", "2", "--no-monitor"],
              ["coerce.toml", key])

    def jl_dir(d):
        p = os.path.join(d, "lines_dir.jsonl")
        os.mkdir(p)
        return ["tokenize", "--json-lines", p]

    fcase("class9 tokenize --json-lines is a directory", jl_dir, ["lines_dir.jsonl"])

    def jl_fifo(d):
        p = os.path.join(d, "lines_fifo.jsonl")
        os.mkfifo(p)
        return ["tokenize", "--json-lines", p]

    fcase("class9 tokenize --json-lines is a FIFO", jl_fifo, ["lines_fifo.jsonl"])

    def jl_zero(d):
        p = os.path.join(d, "lines_zero.jsonl")
        os.symlink("/dev/zero", p)
        return ["tokenize", "--json-lines", p]

    fcase("class9 tokenize --json-lines is a symlink to /dev/zero", jl_zero, ["lines_zero.jsonl"])
    fcase("class9 tokenize --json-lines missing file", lambda d: ["tokenize", "--json-lines", "no_such.jsonl"],
          ["no_such.jsonl"])

    def eos_list(d):
        m = llama(d)
        argv = ["run", "-m", m, "--temperature", "0", "-n", "8", "--no-monitor"]
        ids, _, _ = greedy_ids(d, argv, "run with a scalar eos_token_id: ")
        if not ids or len(ids) < 4:
            raise CaseFailure("setup: greedy run gave %r" % (ids,))
        stop_at = next((i for i in range(2, len(ids)) if ids.index(ids[i]) == i), None)
        if stop_at is None:
            raise CaseFailure("setup: no fresh id from the 3rd on in %r" % (ids,))
        eos = ids[stop_at]
        edit_json(os.path.join(m, "config.json"), lambda j: j.__setitem__("eos_token_id", [2, eos]))
        ids2, reason, r = greedy_ids(d, argv, "run with eos_token_id [2, %d]: " % eos)
        if ids2 not in (ids[:stop_at], ids[:stop_at + 1]):
            raise CaseFailure("eos_token_id [2, %d]: generated %r, expected to stop at index %d of %r"
                              % (eos, ids2, stop_at, ids), r.rc, r.stderr)
        if "eos" not in str(reason):
            raise CaseFailure("stop_reason %r does not mention eos" % reason, r.rc, r.stderr)

    add("eos list: config.json eos_token_id [2, x] stops at x (default model)", eos_list, kind="success")


# ======================================================================================================================
# Class 10: budgets, prompt ids, sampling values, presets, tokenizer files, sharded index
# ======================================================================================================================

def add_misc_cases():
    run_base = ["run", "-n", "2", "--temperature", "0", "--no-monitor"]
    for value in ["-1", "1e400", "99999999999999999999G", "12Q", "", "0", "18446744073709551616", "16E", "nan",
                  "inf", "1.5.5M", "0x10M", "-0"]:
        fcase("class10 run --memory-budget '%s'" % value, lambda d, v=value: run_base + ["--memory-budget=" + v],
              ["--memory-budget"])
    fcase("class10 inspect --memory-budget 12Q", lambda d: ["inspect", "--memory-budget", "12Q"], ["--memory-budget"])
    fcase("class10 perplexity --memory-budget -1",
          lambda d: ["perplexity", "-f", EVAL_TXT, "--chunks", "1", "--ctx-size", "32", "--memory-budget=-1"],
          ["--memory-budget"])
    fcase("class10 benchmark --sweep-memory 12Q",
          lambda d: ["benchmark", "-p", "4", "-n", "4", "-r", "1", "--no-progress", "--sweep-memory", "12Q"],
          ["--sweep-memory"])

    for value, want in [("512", "512"), ("2147483648", "2147483648"), ("99999999999999999999", "99999999999999999999"),
                        ("1,,2", "--prompt-tokens"), ("1e3", "--prompt-tokens"), ("0x10", "--prompt-tokens"),
                        ("1,2,", "--prompt-tokens"), ("4294967297", "4294967297")]:
        fcase("class10 run --prompt-tokens %s" % value,
              lambda d, v=value: run_base + ["--prompt-tokens=" + v], [want])
    fcase("class10 run --prompt-tokens 53 on capp-gpt2-tiny (vocab 53)",
          lambda d: ["run", "-m", CAPP, "--prompt-tokens", "1,53", "-n", "2", "--no-monitor"], ["53"])

    for flag, value in [("--temperature", "nan"), ("--temperature", "inf"), ("--temperature", "-inf"),
                        ("--top-p", "inf"), ("--top-p", "nan"), ("--top-p", "-0.5"), ("--top-p", "1e400"),
                        ("--min-p", "-1"), ("--min-p", "nan"), ("--min-p", "inf"), ("--repeat-penalty", "nan"),
                        ("--repeat-penalty", "-1"), ("--repeat-penalty", "inf")]:
        fcase("class10 run %s %s" % (flag, value),
              lambda d, f=flag, v=value: ["run", "-n", "2", "--no-monitor", f + "=" + v], [flag])

    for flag, value in [("--device", ""), ("--device", "tpu"), ("--device", "npu-sim:-1"),
                        ("--device", "npu-sim:99999999999999999999"), ("--gpu-layers", "-1"),
                        ("--gpu-layers", "4294967297"), ("--gpu-layers", "nan"), ("--device-budget", "npu-sim=nan"),
                        ("--device-budget", "=1M"), ("--device-budget", "npu-sim=-1"), ("--device-budget", "cpu=1M"),
                        ("--fallback", "maybe")]:
        fcase("class10 run %s %s" % (flag, value or "(empty)"),
              lambda d, f=flag, v=value: ["run", "-n", "2", "--no-monitor", f + "=" + v], [flag])

    # ---- presets ----
    def preset_case(label, text, want_key, argv_extra=("-n", "2")):
        fcase("class10 preset %s" % label,
              lambda d: ["run", "-c", write_preset(d, "hostile.toml", text), "--no-monitor"] + list(argv_extra),
              ["hostile.toml", want_key])

    wrong_types = [("model", "5"), ("memory_budget", "256"), ("strategy", "1"), ("num_threads", '"4"'),
                   ("ctx_size", "1.5"), ("n_predict", '"10"'), ("temperature", '"hot"'), ("top_k", "1.5"),
                   ("top_p", '"x"'), ("min_p", "true"), ("repeat_penalty", "[1.0]"), ("seed", "1.5"),
                   ("thermal_margin_c", '"5"'), ("pace_ms", "1.5"), ("battery_low_percent", '"20"'),
                   ("monitor_interval_ms", "10.5"), ("device", "5"), ("gpu_layers", "1.5"), ("gpu_layers", "true"),
                   ("device_budget", "5"), ("device_budget", "[5]"), ("device_budget", '["npu-sim=1M", 2]'),
                   ("fallback", "true")]
    for key, value in wrong_types:
        preset_case("wrong type %s = %s" % (key, value), "%s = %s\n" % (key, value), key,
                    () if key == "n_predict" else ("-n", "2"))
    preset_case("unknown key threads", "threads = 4\n", "threads")
    preset_case("unknown key Model (case)", 'Model = "x"\n', "Model")
    preset_case("unknown table [sampling]", "[sampling]\ntemperature = 0.5\n", "sampling")
    out_of_range = [("memory_budget", '"12Q"'), ("memory_budget", '""'), ("memory_budget", '"-1"'),
                    ("strategy", '"fastest"'), ("strategy", '""'), ("ctx_size", "-1"), ("n_predict", "-1"),
                    ("temperature", "-1.0"), ("temperature", "nan"), ("temperature", "inf"), ("top_k", "4294967297"),
                    ("top_p", "nan"), ("top_p", "-1.0"), ("min_p", "-1.0"), ("min_p", "nan"),
                    ("repeat_penalty", "nan"), ("repeat_penalty", "-1.0"),
                    ("thermal_margin_c", "nan"), ("thermal_margin_c", "-1.0"), ("thermal_margin_c", "51.0"),
                    ("pace_ms", "-1"), ("pace_ms", "10001"), ("battery_low_percent", "101"),
                    ("battery_low_percent", "-1"), ("monitor_interval_ms", "0"), ("monitor_interval_ms", "600001"),
                    ("num_threads", "100000"), ("model", '"/nonexistent/edge-rt-model"'),
                    ("device", '"tpu"'), ("device", '""'), ("device", '"npu-sim:x"'), ("device", '"npu-sim:256"'),
                    ("gpu_layers", "-2"), ("gpu_layers", "9223372036854775807"), ("gpu_layers", '"most"'),
                    ("device_budget", '"npu-sim"'), ("device_budget", '"npu-sim=12Q"'), ("device_budget", '"=1M"'),
                    ("device_budget", '"cpu=1M"'), ("device_budget", '"gpu9=1M"'), ("fallback", '"maybe"')]
    for key, value in out_of_range:
        preset_case("out of range %s = %s" % (key, value), "%s = %s\n" % (key, value), key,
                    () if key == "n_predict" else ("-n", "2"))
    preset_case("seed past int64", "seed = 18446744073709551615\n", ("seed", "hostile.toml:1:"))

    # ---- tokenizer.json (GPT-2 byte-level and SentencePiece) ----
    def tok_case(label, base, edit, wants, raw=None):
        def setup(d):
            m = os.path.join(d, "m")
            os.makedirs(m)
            p = os.path.join(m, "tokenizer.json")
            if raw is not None:
                write_bytes(p, raw(read_bytes(os.path.join(base, "tokenizer.json"))))
            else:
                j = read_json(os.path.join(base, "tokenizer.json"))
                r = edit(j)
                write_json(p, j if r is None else r)
            return ["tokenize", "-m", m, "--text", "Hello world"]

        fcase("class10 tokenizer.json %s" % label, setup, ["tokenizer.json"] + wants, codes=(1,))

    def tokenizer_json_cases(flavour, base, first_tok):

        def vdup(j):
            vocab = j["model"]["vocab"]
            items = sorted(vocab.items(), key=lambda kv: kv[1])
            vocab[items[-1][0]] = items[-2][1]

        def unknown_merge(j):
            j["model"]["merges"].insert(0, ["zzq\u00e9", "qq\u00e9x"] if isinstance(j["model"]["merges"][0], list)
                                        else "zzq\u00e9 qq\u00e9x")

        def bad_merge_shape(j):
            j["model"]["merges"].insert(0, ["a", "b", "c"] if isinstance(j["model"]["merges"][0], list) else "abc")

        def ensure_tok(j, token):
            if token not in j["model"]["vocab"]:
                j["model"]["vocab"][token] = len(j["model"]["vocab"]) - 1

        def neg(j):
            ensure_tok(j, first_tok)
            j["model"]["vocab"][first_tok] = -5

        def huge(j):
            ensure_tok(j, first_tok)
            j["model"]["vocab"][first_tok] = 2 ** 40

        def i31(j):
            ensure_tok(j, first_tok)
            j["model"]["vocab"][first_tok] = 2 ** 31

        def strid(j):
            ensure_tok(j, first_tok)
            j["model"]["vocab"][first_tok] = "12"

        tok_case("%s not JSON (truncated)" % flavour, base, None, [], raw=lambda b: b[:len(b) // 2])
        tok_case("%s empty file" % flavour, base, None, [], raw=lambda b: b"")
        tok_case("%s top-level array" % flavour, base, lambda j: [j], [])
        tok_case("%s vocab is a list" % flavour, base,
                 lambda j: j["model"].__setitem__("vocab", list(j["model"]["vocab"].keys())), ["vocab"])
        tok_case("%s merges name unknown tokens" % flavour, base, unknown_merge, ["merges"])
        tok_case("%s merge entry with three parts" % flavour, base, bad_merge_shape, ["merges"])
        tok_case("%s vocab id negative" % flavour, base, neg, ["-5"])
        tok_case("%s vocab id 2^40" % flavour, base, huge, ["1099511627776"])
        tok_case("%s vocab id 2^31" % flavour, base, i31, ["2147483648"])
        tok_case("%s vocab id a string" % flavour, base, strid, ["vocab"])
        tok_case("%s vocab duplicate id" % flavour, base, vdup, ["vocab"])
        tok_case("%s added_tokens id 2^40" % flavour, base,
                 lambda j: j["added_tokens"][0].__setitem__("id", 2 ** 40), ["added_tokens"])
        tok_case("%s added_tokens id negative" % flavour, base,
                 lambda j: j["added_tokens"][0].__setitem__("id", -1), ["added_tokens"])
        tok_case("%s added_tokens not a list" % flavour, base, lambda j: j.__setitem__("added_tokens", {"a": 1}),
                 ["added_tokens"])
        tok_case("%s added_tokens content not a string" % flavour, base,
                 lambda j: j["added_tokens"][0].__setitem__("content", 5), ["added_tokens"])

    tokenizer_json_cases("gpt2", TINY, "Hello")
    tokenizer_json_cases("sentencepiece", DEFAULT_MODEL, "\u2581t")

    # ---- vocab.json + merges.txt ----
    def vm_case(label, edit_vocab=None, edit_merges=None, want="vocab.json", drop=None):
        def setup(d):
            m = os.path.join(d, "m")
            os.makedirs(m)
            vp, mp = os.path.join(m, "vocab.json"), os.path.join(m, "merges.txt")
            vb, mb = read_bytes(os.path.join(TINY, "vocab.json")), read_bytes(os.path.join(TINY, "merges.txt"))
            write_bytes(vp, edit_vocab(vb) if edit_vocab else vb)
            write_bytes(mp, edit_merges(mb) if edit_merges else mb)
            if drop:
                os.unlink(os.path.join(m, drop))
            return ["tokenize", "-m", m, "--text", "Hello world"]

        fcase("class10 vocab.json/merges.txt " + label, setup, [want], codes=(1,))

    def vj(fn):
        def edit(b):
            j = json.loads(b)
            r = fn(j)
            return json.dumps(j if r is None else r, ensure_ascii=False).encode()
        return edit

    def merges_insert(line):
        def edit(b):
            lines = b.split(b"\n")
            lines.insert(1, line)
            return b"\n".join(lines)
        return edit

    vm_case("vocab.json not JSON", edit_vocab=lambda b: b[:len(b) // 2])
    vm_case("vocab.json is an array", edit_vocab=vj(lambda j: list(j)))
    vm_case("vocab.json id negative", edit_vocab=vj(lambda j: j.__setitem__("Hello", -5)))
    vm_case("vocab.json id 2^40", edit_vocab=vj(lambda j: j.__setitem__("Hello", 2 ** 40)))
    vm_case("vocab.json id a string", edit_vocab=vj(lambda j: j.__setitem__("Hello", "15496")))
    vm_case("vocab.json duplicate id", edit_vocab=vj(lambda j: j.__setitem__("world", j["Hello"])))
    vm_case("merges.txt line with three tokens", edit_merges=merges_insert(b"a b c"), want="merges.txt")
    vm_case("merges.txt line with one token", edit_merges=merges_insert(b"abc"), want="merges.txt")
    vm_case("merges.txt names unknown tokens", edit_merges=merges_insert("zzq\u00e9 qq\u00e9x".encode()),
            want="merges.txt")
    vm_case("merges.txt invalid UTF-8", edit_merges=merges_insert(b"\xff\xfe \xfd"), want="merges.txt")
    vm_case("merges.txt missing", drop="merges.txt", want="merges.txt")

    # ---- sharded checkpoints ----
    def shard_case(label, edit, wants):
        def setup(d):
            m = sharded_capp(d)
            edit(d, m)
            return run_capp(m)

        fcase("class10 sharded " + label, setup, wants, codes=(1,))

    def edit_index(fn):
        return lambda d, m: edit_json(os.path.join(m, INDEX), fn)

    def wm_set(tensor, value):
        return edit_index(lambda j: j["weight_map"].__setitem__(tensor, value))

    def dotdot(d, m):
        shutil.copyfile(os.path.join(m, SHARD1), os.path.join(d, SHARD1))
        edit_json(os.path.join(m, INDEX), lambda j: j["weight_map"].update(
            {k: "../" + SHARD1 for k, v in j["weight_map"].items() if v == SHARD1}))

    def absolute(d, m):
        edit_json(os.path.join(m, INDEX), lambda j: j["weight_map"].update(
            {k: os.path.join(m, SHARD1) for k, v in j["weight_map"].items() if v == SHARD1}))

    def in_both(d, m):
        meta1, t1 = st_tensors(os.path.join(m, SHARD1))
        meta2, t2 = st_tensors(os.path.join(m, SHARD2))
        st_save(os.path.join(m, SHARD1), meta1, t1 + [t for t in t2 if t[0] == "transformer.ln_f.bias"])

    def wrong_shard(d, m):
        edit_json(os.path.join(m, INDEX), lambda j: j["weight_map"].__setitem__("transformer.ln_f.bias", SHARD1))

    def extra_in_shard(d, m):
        meta, t = st_tensors(os.path.join(m, SHARD2))
        st_save(os.path.join(m, SHARD2), meta, t + [("foo.bar", "F32", [4], b"\0" * 16)])

    shard_case("weight_map missing", edit_index(lambda j: j.pop("weight_map")), [INDEX, "weight_map"])
    shard_case("weight_map not an object", edit_index(lambda j: j.__setitem__("weight_map", [SHARD1])),
               [INDEX, "weight_map"])
    shard_case("weight_map empty", edit_index(lambda j: j.__setitem__("weight_map", {})),
               [(INDEX, "transformer.wte.weight")])
    shard_case("shard path with ../", dotdot, [INDEX, "weight_map"])
    shard_case("shard path absolute", absolute, [INDEX, "weight_map"])
    shard_case("shard missing", wm_set("transformer.ln_f.bias", "model-00003-of-00003.safetensors"),
               ["model-00003-of-00003.safetensors"])
    shard_case("weight_map value not a string", wm_set("transformer.ln_f.bias", 5),
               [INDEX, "transformer.ln_f.bias"])
    shard_case("tensor in two shards", in_both, ["transformer.ln_f.bias"])
    shard_case("weight_map names a shard that lacks the tensor", wrong_shard, ["transformer.ln_f.bias"])
    shard_case("tensor in a shard but not in weight_map", extra_in_shard, ["foo.bar"])
    shard_case("index not JSON", lambda d, m: write_text(os.path.join(m, INDEX), '{"weight_map": {'), [INDEX])
    shard_case("shard is a FIFO", lambda d, m: make_fifo(os.path.join(m, SHARD2)), [SHARD2])
    shard_case("shard is a symlink to /dev/zero",
               lambda d, m: replace_with_symlink(os.path.join(m, SHARD2), "/dev/zero"), [SHARD2])
    shard_case("shard is a directory", lambda d, m: replace_with_dir(os.path.join(m, SHARD2)), [SHARD2])

    def control(d):
        m = sharded_capp(d)
        a, _, _ = greedy_ids(d, run_capp(m), "sharded: ")
        b, _, _ = greedy_ids(d, run_capp(CAPP), "single file: ")
        if a != b:
            raise CaseFailure("sharded ids %r differ from single-file ids %r" % (a, b))

    add("control: the sharded capp-gpt2-tiny fixture runs like the single file", control, kind="success")


# ======================================================================================================================

def register_all():
    add_config_number_cases()
    add_safetensors_cases()
    add_llama2c_cases()
    add_resource_cases()
    add_not_regular_cases()
    add_truncation_cases()
    add_gguf_cases()
    add_destructive_write_cases()
    add_stale_cases()
    add_nonfinite_cases()
    add_mismatch_cases()
    add_coercion_cases()
    add_misc_cases()


def main():
    global BIN, MODELS, SRC, TMP, DEFAULT_MODEL, CAPP, TINY, STORIES_BIN, TOK512, EVAL_TXT
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("binary")
    ap.add_argument("models")
    ap.add_argument("source")
    ap.add_argument("--only", default=None, help="run only the cases whose name contains this substring")
    ap.add_argument("--list", action="store_true", help="list the case names and exit")
    ap.add_argument("--verbose", action="store_true", help="also print the last stderr of passing cases")
    ap.add_argument("--no-address-limit", action="store_true",
                    help="no RLIMIT_AS on the binary (an AddressSanitizer build reserves terabytes of address space)")
    args = ap.parse_args()
    global AS_LIMIT
    if args.no_address_limit:
        AS_LIMIT = 0
    BIN = os.path.abspath(args.binary)
    MODELS = os.path.abspath(args.models)
    SRC = os.path.abspath(args.source)
    DEFAULT_MODEL = os.path.join(SRC, "models", "stories260K")
    CAPP = os.path.join(MODELS, "capp-gpt2-tiny")
    TINY = os.path.join(MODELS, "tiny-random-gpt2")
    STORIES_BIN = os.path.join(MODELS, "stories260K", "stories260K.bin")
    TOK512 = os.path.join(MODELS, "stories260K", "tok512.bin")
    EVAL_TXT = os.path.join(SRC, "tests", "data", "eval", "tinystories_eval.txt")

    for needed in [BIN, os.path.join(DEFAULT_MODEL, "model.safetensors"), os.path.join(CAPP, "model.safetensors"),
                   os.path.join(TINY, "tokenizer.json"), STORIES_BIN, TOK512, EVAL_TXT]:
        if not os.path.exists(needed):
            print("not ok - setup: %s does not exist" % needed)
            print("0 passed, 1 failed")
            return 1

    register_all()
    selected = [c for c in CASES if args.only is None or args.only in c[0]]
    if args.list:
        for name, kind, _ in selected:
            print(name + ("" if kind == "fail" else "  [%s]" % kind))
        return 0

    TMP = tempfile.mkdtemp(prefix="edge-rt-hostile-")
    passed = failed = 0
    try:
        for i, (name, kind, fn) in enumerate(selected):
            d = os.path.join(TMP, "case%03d" % i)
            os.makedirs(d)
            LAST_STDERR[0] = ""
            try:
                note = fn(d)
                print("ok - %s%s" % (name, (" # " + note) if note else ""), flush=True)
                if args.verbose:
                    print("#   " + LAST_STDERR[0][:300].replace("\n", "\\n"), flush=True)
                passed += 1
            except CaseFailure as e:
                detail = ""
                if e.rc is not None or e.stderr:
                    detail = " (rc=%s, stderr: %s)" % (e.rc, e.stderr[:200].replace("\n", "\\n"))
                print("not ok - %s: %s%s" % (name, e.reason, detail), flush=True)
                failed += 1
            except Exception as e:  # a bug in the case itself
                print("not ok - %s: test error: %s: %s" % (name, type(e).__name__, e), flush=True)
                failed += 1
            finally:
                shutil.rmtree(d, ignore_errors=True)
    finally:
        shutil.rmtree(TMP, ignore_errors=True)
    print("%d passed, %d failed" % (passed, failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
