"""Shared helpers for the edge-rt integration comparison scripts (not a test itself).

Runs the edge-rt CLI, parses its JSON, and formats clear diffs. Also puts
tools/reference/ on sys.path so the scripts can import the independent references.
"""

import hashlib
import json
import os
import shlex
import struct
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
REFERENCE_DIR = os.path.join(REPO_ROOT, "tools", "reference")
if REFERENCE_DIR not in sys.path:
    sys.path.insert(0, REFERENCE_DIR)

DEFAULT_TIMEOUT_S = 600


class CheckFailed(Exception):
    pass


def fail(msg):
    raise CheckFailed(msg)


def cmd_str(cmd):
    return " ".join(shlex.quote(str(c)) for c in cmd)


def run_cmd(cmd, timeout=DEFAULT_TIMEOUT_S):
    """Run a command; return (returncode, stdout, stderr) as text."""
    cmd = [str(c) for c in cmd]
    try:
        p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout)
    except FileNotFoundError:
        fail("cannot execute %s (not found)" % cmd[0])
    except PermissionError:
        fail("cannot execute %s (permission denied)" % cmd[0])
    except subprocess.TimeoutExpired:
        fail("timed out after %ds: %s" % (timeout, cmd_str(cmd)))
    return (p.returncode, p.stdout.decode("utf-8", errors="replace"),
            p.stderr.decode("utf-8", errors="replace"))


def tail(s, n=2000):
    s = s.strip()
    return s if len(s) <= n else "..." + s[-n:]


def run_ok(cmd, timeout=DEFAULT_TIMEOUT_S):
    """Run a command that must succeed; return stdout."""
    rc, out, err = run_cmd(cmd, timeout)
    if rc != 0:
        fail("command failed (exit %d): %s\nstderr:\n%s\nstdout:\n%s"
             % (rc, cmd_str(cmd), tail(err), tail(out, 500)))
    return out


def parse_json_object(out, cmd):
    """edge-rt run --output json prints ONE JSON object on stdout."""
    text = out.strip()
    try:
        obj = json.loads(text)
    except ValueError as e:
        fail("stdout is not a single JSON object (%s) for: %s\nstdout:\n%s" % (e, cmd_str(cmd), tail(out)))
    if not isinstance(obj, dict):
        fail("stdout JSON is not an object for: %s" % cmd_str(cmd))
    return obj


def edge_run(edge_rt, model, extra, timeout=DEFAULT_TIMEOUT_S):
    """Run `edge-rt run --model DIR ... --temperature 0 --output json`; return the parsed object."""
    cmd = [edge_rt, "run", "--model", model] + list(extra) + ["--temperature", "0", "--output", "json"]
    out = run_ok(cmd, timeout)
    obj = parse_json_object(out, cmd)
    for key in ("prompt_token_ids", "generated_token_ids"):
        if key not in obj or not isinstance(obj[key], list):
            fail("edge-rt JSON lacks list %r for: %s\nkeys: %s" % (key, cmd_str(cmd), sorted(obj)))
    obj["_cmd"] = cmd_str(cmd)
    return obj


def first_diff(a, b):
    """Index of the first differing element (or the shorter length), None if equal."""
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    if len(a) != len(b):
        return min(len(a), len(b))
    return None


def show_ids(ids, at, width=8):
    lo = max(0, at - width)
    hi = at + width
    pre = "... " if lo > 0 else ""
    post = " ..." if hi < len(ids) else ""
    return pre + str(ids[lo:hi]) + post + " (index %d shown from %d)" % (at, lo)


def describe_id_diff(what, expected, got):
    i = first_diff(expected, got)
    if i is None:
        return None
    msg = ["%s differ at index %d (reference len %d, edge-rt len %d)" % (what, i, len(expected), len(got))]
    msg.append("  reference: " + show_ids(expected, i))
    msg.append("  edge-rt:   " + show_ids(got, i))
    return "\n".join(msg)


def max_abs_diff_rows(ref_rows, got_rows):
    """Return (max_abs, row, col) over the given rows; shapes must already match."""
    best = (0.0, -1, -1)
    for r, (ra, rb) in enumerate(zip(ref_rows, got_rows)):
        for c, (x, y) in enumerate(zip(ra, rb)):
            d = abs(float(x) - float(y))
            if d != d:  # NaN
                return (float("inf"), r, c)
            if d > best[0]:
                best = (d, r, c)
    return best


def check_greedy(label, ref_ids, got_ids, n, ref_logits_for, stop_ids, tie_tol):
    """Compare greedy generations. Exact equality passes. Otherwise the edge-rt sequence is
    re-scored with the reference (teacher forcing): it passes only if every edge-rt choice
    (and its stop, if it stopped early) is within tie_tol of the reference maximum, i.e.
    the divergence is a numerical near-tie. Returns a note string (or None); raises on failure.

    ref_logits_for(ids) -> list of reference logit rows, row j predicting the token after
    prefix + ids[:j] (len(ids) + 1 rows)."""
    diff = describe_id_diff("%s: generated ids" % label, ref_ids, got_ids)
    if diff is None:
        return None
    if len(got_ids) > n:
        fail("%s: edge-rt generated %d tokens with -n %d\n%s" % (label, len(got_ids), n, diff))
    rows = ref_logits_for(got_ids)
    i0 = first_diff(ref_ids, got_ids)
    worst = 0.0
    for j, tok in enumerate(got_ids):
        row = rows[j]
        top = max(range(len(row)), key=lambda k: row[k])
        gap = row[top] - row[tok]
        if gap > tie_tol:
            fail("%s\n  at step %d edge-rt chose %d but the reference (teacher-forced on edge-rt's own "
                 "prefix) prefers %d by %.6g (> tie tolerance %g): not a near-tie"
                 % (diff, j, tok, top, gap, tie_tol))
        worst = max(worst, gap)
    if len(got_ids) < n:
        row = rows[len(got_ids)]
        top = max(range(len(row)), key=lambda k: row[k])
        stops = [row[s] for s in stop_ids if 0 <= s < len(row)]
        if not stops:
            fail("%s\n  edge-rt stopped after %d tokens (n=%d) although the model has no stop token"
                 % (diff, len(got_ids), n))
        best_stop = max(stops)
        if row[top] - best_stop > tie_tol:
            fail("%s\n  edge-rt stopped after %d tokens (n=%d) but the reference's next token is %d, "
                 "%.6g above the best stop token %s" % (diff, len(got_ids), n, top, row[top] - best_stop, stop_ids))
    return ("%s: diverged from the reference at index %d only through near-ties (max gap %.3g <= %g)"
            % (label, i0, worst, tie_tol))


def main_wrapper(fn):
    """Run fn(); map CheckFailed to exit 1 with a FAIL line."""
    name = os.path.basename(sys.argv[0])
    try:
        summary = fn()
    except CheckFailed as e:
        msg = str(e)
        print("FAIL %s: %s" % (name, msg), file=sys.stderr)
        sys.stderr.flush()
        print("FAIL %s: %s" % (name, msg.splitlines()[0] if msg else "failed"))
        sys.exit(1)
    print("PASS %s: %s" % (name, summary))
    sys.exit(0)


def sha256(path):
    """Hex SHA-256 of a file, read in 1 MiB pieces."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


# ---- A minimal GGUF writer (ggml docs/gguf.md, version 3): metadata and F32 tensors, for tests without `gguf` ----

GGUF_U32, GGUF_I32, GGUF_F32, GGUF_BOOL, GGUF_STRING, GGUF_ARRAY = 4, 5, 6, 7, 8, 9


def _gguf_string(x):
    b = x.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


def write_gguf(path, kv, tensors=()):
    """kv: [(key, type, value)], an array value being (element type, list); tensors: [(name, float32 ndarray)]
    with numpy's row-major shape (GGUF lists dimensions innermost first). Alignment 32."""
    out = bytearray(b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kv)))
    scalar = {GGUF_U32: "<I", GGUF_I32: "<i", GGUF_F32: "<f", GGUF_BOOL: "<B"}
    for key, kind, value in kv:
        out += _gguf_string(key) + struct.pack("<I", kind)
        if kind == GGUF_STRING:
            out += _gguf_string(value)
        elif kind in scalar:
            out += struct.pack(scalar[kind], value)
        else:
            element, items = value
            out += struct.pack("<IQ", element, len(items))
            out += (b"".join(_gguf_string(x) for x in items) if element == GGUF_STRING
                    else struct.pack("<%d%s" % (len(items), scalar[element][1]), *items))
    offset = 0
    blobs = []
    for name, array in tensors:
        data = array.astype("<f4").tobytes()
        out += _gguf_string(name) + struct.pack("<I", array.ndim)
        out += b"".join(struct.pack("<Q", d) for d in reversed(array.shape))
        out += struct.pack("<IQ", 0, offset)  # type F32
        blobs.append(data + b"\0" * (-len(data) % 32))
        offset += len(blobs[-1])
    out += b"\0" * (-len(out) % 32)
    with open(path + ".tmp", "wb") as f:
        f.write(out)
        for blob in blobs:
            f.write(blob)
    os.replace(path + ".tmp", path)
