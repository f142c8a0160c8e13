#version 450
// out[t, r] = sum_i x[t, i] * W[r, i] (+ bias[r]) for an output-major weight in its stored format.
// One workgroup per output row; its threads split the row (by elements, or by 32-value blocks for Q8_0/Q4_0) and
// accumulate up to TILE tokens at once, so that each weight value is decoded once per TILE tokens.
// Q8_0/Q4_0 take the activations as quantize_q8.comp left them (XQ, XD) and sum d_w * d_x * (integer block dot)
// over blocks, as the CPU does.
#extension GL_GOOGLE_include_directive : require
#define WG 64
#define TILE 8
#define WBINDING 0
layout(local_size_x = WG) in;
#include "common.glsl"
#include "weights.glsl"
#if WTYPE <= 2
layout(std430, binding = 1) readonly buffer XBuf { float X[]; };
#else
layout(std430, binding = 1) readonly buffer QBuf { uint XQ[]; };
layout(std430, binding = 4) readonly buffer DBuf { float XD[]; };
int xq_at(uint i) { return bitfieldExtract(int(XQ[i >> 2]), int((i & 3u) * 8u), 8); }
#endif
layout(std430, binding = 2) readonly buffer BBuf { float B[]; };
layout(std430, binding = 3) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform P {
  uint k;         // inputs per row
  uint rows;      // output rows in this dispatch
  uint n;         // tokens
  uint w_off;     // first unit of row 0 in W
  uint x_off;     // X offset (floats); row t at x_off + t * k. Q8_0/Q4_0: XQ and XD start at 0
  uint b_off;     // B offset of row 0
  uint o_off;     // O offset of (token 0, row 0)
  uint o_stride;  // floats between tokens in O
  uint has_bias;
  uint row0;      // first row of this dispatch within the whole matrix (for the grid y split)
} p;

void main() {
  const uint r = gl_WorkGroupID.x + gl_WorkGroupID.y * 65535u;
  if (r >= p.rows) return;  // uniform per workgroup: no barrier is skipped by part of it
  const uint base = p.w_off + r * row_units(p.k);
  const uint tid = gl_LocalInvocationID.x;
  for (uint t0 = 0; t0 < p.n; t0 += TILE) {
    const uint nt = min(TILE, p.n - t0);
    float acc[TILE];
    for (uint j = 0; j < TILE; ++j) acc[j] = 0.0;
#if WTYPE <= 2
    for (uint i = tid; i < p.k; i += WG) {
      const float w = weight_at(base, i);
      for (uint j = 0; j < nt; ++j) acc[j] += w * X[p.x_off + (t0 + j) * p.k + i];
    }
#else
    const uint n_blocks = p.k >> 5;
    for (uint blk = tid; blk < n_blocks; blk += WG) {
      const uint b = base + blk * BLOCK_HALFS;
      const float d = f16_at(b);
      int isum[TILE];
      for (uint j = 0; j < TILE; ++j) isum[j] = 0;
      for (uint e = 0; e < 32u; ++e) {
#if WTYPE == 3
        const int q = q8_byte(b, e);
#else
        const int q = q4_value(b, e);
#endif
        for (uint j = 0; j < nt; ++j) isum[j] += q * xq_at((t0 + j) * p.k + blk * 32u + e);
      }
      for (uint j = 0; j < nt; ++j) acc[j] += float(isum[j]) * (d * XD[(t0 + j) * n_blocks + blk]);
    }
#endif
    for (uint j = 0; j < nt; ++j) {
      const float s = wg_sum(acc[j]);
      if (tid == 0) O[p.o_off + (t0 + j) * p.o_stride + r] = s + (p.has_bias != 0u ? B[p.b_off + r] : 0.0);
    }
  }
}
