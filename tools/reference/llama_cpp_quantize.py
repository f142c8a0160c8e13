#!/usr/bin/env python3
"""Requantizes a GGUF file with llama.cpp's own quantizer (llama_model_quantize through llama-cpp-python), so that
tests and benchmarks read files exactly as llama.cpp writes them (its per-tensor type choices included, e.g. Q6_K
for the output matrix of a Q4_0 file).

  build/ref-venv/bin/python tools/reference/llama_cpp_quantize.py IN.gguf OUT.gguf TYPE
TYPE: F32, F16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K_M, Q5_K_M, Q6_K (llama.cpp's LLAMA_FTYPE_MOSTLY_* names).
"""
import ctypes
import sys

import llama_cpp

FTYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q4_1": 3, "Q8_0": 7, "Q5_0": 8, "Q5_1": 9, "Q4_K_M": 15, "Q5_K_M": 17,
          "Q6_K": 18}


def main():
    if len(sys.argv) != 4 or sys.argv[3] not in FTYPES:
        print(__doc__, file=sys.stderr)
        return 2
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = FTYPES[sys.argv[3]]
    params.allow_requantize = True
    params.nthread = 2
    rc = llama_cpp.llama_model_quantize(sys.argv[1].encode(), sys.argv[2].encode(), ctypes.byref(params))
    if rc != 0:
        print("llama_model_quantize failed: %d" % rc, file=sys.stderr)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(main())
