#version 450
// LayerNorm (Ba et al. 2016; LAYER_NORM 1) or RMSNorm (Zhang & Sennrich 2019) over rows of d: one workgroup per
// row. out may alias x (each thread reads its elements before writing them, after the reductions).
#extension GL_GOOGLE_include_directive : require
#define WG 64
layout(local_size_x = WG) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, binding = 1) readonly buffer GBuf { float G[]; };
layout(std430, binding = 2) readonly buffer BBuf { float B[]; };
layout(std430, binding = 3) buffer OBuf { float O[]; };
layout(push_constant) uniform P {
  uint d;
  uint rows;
  uint x_off;
  uint g_off;
  uint b_off;
  uint o_off;
  float eps;
} p;

void main() {
  const uint r = gl_WorkGroupID.x;
  if (r >= p.rows) return;
  const uint tid = gl_LocalInvocationID.x;
  const uint xr = p.x_off + r * p.d;
#if LAYER_NORM
  float s = 0.0;
  for (uint i = tid; i < p.d; i += WG) s += X[xr + i];
  const float mean = wg_sum(s) / float(p.d);
  float v = 0.0;
  for (uint i = tid; i < p.d; i += WG) {
    const float c = X[xr + i] - mean;
    v += c * c;
  }
  const float inv = inversesqrt(wg_sum(v) / float(p.d) + p.eps);
  for (uint i = tid; i < p.d; i += WG) {
    O[p.o_off + r * p.d + i] = (X[xr + i] - mean) * inv * G[p.g_off + i] + B[p.b_off + i];
  }
#else
  float ss = 0.0;
  for (uint i = tid; i < p.d; i += WG) ss += X[xr + i] * X[xr + i];
  const float inv = 1.0 / sqrt(wg_sum(ss) / float(p.d) + p.eps);
  for (uint i = tid; i < p.d; i += WG) O[p.o_off + r * p.d + i] = X[xr + i] * inv * G[p.g_off + i];
#endif
}
