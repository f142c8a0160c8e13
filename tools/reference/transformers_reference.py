#!/usr/bin/env python3
"""Second reference for the model families: Hugging Face transformers itself, on the tiny random checkpoints that
tools/gen_model.py makes (deterministic, seed 0), in float32 with eager attention. Writes, per family, the top-5
logits (ids and values) at every position of a prompt, for tests/integration/compare_families.py.

transformers needs torch; PyPI's is gigabytes, Debian's python3-torch 1.13 is small but too old for transformers
releases with Qwen3 and Gemma 3 (4.50+ need torch 2), so this covers the families transformers 4.45.2 has:
Llama, Llama 3 (rope_scaling llama3), Qwen2, Mistral (sliding window), Phi-3 (fused projections, longrope) and
Gemma 2 (soft-capping, query_pre_attn_scalar, sliding layers). Qwen3 and Gemma 3 rest on the numpy references.
Phi-3 keeps only the positions inside its window (see the note in the output).

    apt-get install python3-torch            # Debian 12: 1.13.1
    /usr/bin/python3 -m venv --system-site-packages V && V/bin/pip install transformers==4.45.2
    V/bin/python tools/reference/transformers_reference.py --out tests/data/families/transformers_reference.json
"""
import argparse
import json
import pathlib
import subprocess
import sys
import tempfile

import torch
import transformers

ROOT = pathlib.Path(__file__).resolve().parents[2]
ARCHS = {"llama-tiny": [1], "llama3-tiny": [1], "qwen2-tiny": [], "mistral-tiny": [1], "phi3-tiny": [1],
         "gemma2-tiny": [2]}  # with the BOS edge-rt puts before the prompt
PROMPT = [403, 407, 261, 378, 9, 17, 300, 42, 88, 123, 7, 499, 256, 31, 64, 200, 5, 77, 310, 12, 401, 9, 150, 33]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=pathlib.Path)
    args = ap.parse_args()
    out = {"generator": "tools/reference/transformers_reference.py", "transformers": transformers.__version__,
           "torch": torch.__version__, "prompt": PROMPT, "models": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for arch, bos in ARCHS.items():
            folder = pathlib.Path(tmp) / arch
            subprocess.run([sys.executable, str(ROOT / "tools" / "gen_model.py"), "--arch", arch, "--out", str(folder)],
                           check=True, stdout=subprocess.DEVNULL)
            model = transformers.AutoModelForCausalLM.from_pretrained(folder, torch_dtype=torch.float32,
                                                                      attn_implementation="eager")
            model.eval()
            ids = bos + PROMPT
            with torch.no_grad():
                logits = model(torch.tensor([ids]), use_cache=False).logits[0]
            rows = len(ids)
            note = ""
            if arch.startswith("phi3"):
                # transformers 4.45's Phi-3 applies sliding_window only in its flash-attention path (not on a
                # CPU); later releases, llama.cpp and edge-rt apply it always. Positions inside the window agree.
                rows = model.config.sliding_window
                note = "positions past sliding_window left out: eager attention in transformers 4.45 has no window"
            top = torch.topk(logits[:rows], 5, dim=-1)
            out["models"][arch] = {"input_ids": ids, "top_ids": top.indices.tolist(), "note": note,
                                   "top_logits": [[round(float(v), 7) for v in row] for row in top.values]}
            print(arch, "done", file=sys.stderr)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.out.with_suffix(".tmp")
    tmp_out.write_text(json.dumps(out, indent=1) + "\n")
    tmp_out.replace(args.out)


if __name__ == "__main__":
    main()
