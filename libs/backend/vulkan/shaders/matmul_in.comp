#version 450
// out[t, c] = sum_i x[t, i] * W[i, c] (+ bias[c]) for an input-major weight (GPT-2's Conv1D, [k, m] as stored):
// one thread per output column, so that neighbouring threads read neighbouring weights. F32, F16, BF16.
#extension GL_GOOGLE_include_directive : require
#define WG 64
#define TILE 8
#define WBINDING 0
layout(local_size_x = WG) in;
#include "weights.glsl"
layout(std430, binding = 1) readonly buffer XBuf { float X[]; };
layout(std430, binding = 2) readonly buffer BBuf { float B[]; };
layout(std430, binding = 3) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform P {
  uint k;
  uint m;      // output columns (the weight's row length)
  uint n;
  uint w_off;
  uint x_off;
  uint b_off;
  uint o_off;
  uint o_stride;
  uint has_bias;
} p;

void main() {
  const uint c = gl_GlobalInvocationID.x;
  const uint t0 = gl_WorkGroupID.y * TILE;
  if (c >= p.m || t0 >= p.n) return;  // no barriers here
  const uint nt = min(TILE, p.n - t0);
  float acc[TILE];
  for (uint j = 0; j < TILE; ++j) acc[j] = 0.0;
  for (uint i = 0; i < p.k; ++i) {
    const float w = weight_at(p.w_off, i * p.m + c);
    for (uint j = 0; j < nt; ++j) acc[j] += w * X[p.x_off + (t0 + j) * p.k + i];
  }
  const float b = p.has_bias != 0u ? B[p.b_off + c] : 0.0;
  for (uint j = 0; j < nt; ++j) O[p.o_off + (t0 + j) * p.o_stride + c] = acc[j] + b;
}
