#version 450
// Causal scaled dot-product attention with GQA over the KV cache: one workgroup per (token, head). Scores go to
// S (one row of n_ctx floats per workgroup), softmax with the maximum subtracted, then the weighted sum of V.
#extension GL_GOOGLE_include_directive : require
#define WG 64
layout(local_size_x = WG) in;
#include "common.glsl"
layout(std430, binding = 0) readonly buffer QBuf { float Q[]; };
layout(std430, binding = 1) readonly buffer KBuf { float K[]; };
layout(std430, binding = 2) readonly buffer VBuf { float V[]; };
layout(std430, binding = 3) buffer SBuf { float S[]; };
layout(std430, binding = 4) writeonly buffer OBuf { float O[]; };
layout(push_constant) uniform P {
  uint n;
  uint pos0;
  uint heads;
  uint kv_heads;
  uint head_dim;
  uint q_off;
  uint k_off;
  uint v_off;
  uint o_off;
  uint s_stride;  // floats per score row (>= pos0 + n)
  float scale;
} p;

void main() {
  const uint h = gl_WorkGroupID.x;
  const uint t = gl_WorkGroupID.y;
  const uint tid = gl_LocalInvocationID.x;
  const uint hd = p.head_dim;
  const uint kvh = h / (p.heads / p.kv_heads);
  const uint kv_stride = p.kv_heads * hd;
  const uint n_keys = p.pos0 + t + 1u;
  const uint q = p.q_off + (t * p.heads + h) * hd;
  const uint srow = (t * p.heads + h) * p.s_stride;
  float local_max = -3.402823e38;
  for (uint j = tid; j < n_keys; j += WG) {
    const uint kj = p.k_off + j * kv_stride + kvh * hd;
    float dot_qk = 0.0;
    for (uint c = 0; c < hd; ++c) dot_qk += Q[q + c] * K[kj + c];
    const float sc = dot_qk * p.scale;
    S[srow + j] = sc;
    local_max = max(local_max, sc);
  }
  const float m = wg_max(local_max);
  float local_sum = 0.0;
  for (uint j = tid; j < n_keys; j += WG) {
    const float e = exp(S[srow + j] - m);
    S[srow + j] = e;
    local_sum += e;
  }
  const float inv = 1.0 / wg_sum(local_sum);  // its barriers also make every S write visible to the workgroup
  for (uint c = tid; c < hd; c += WG) {
    float acc = 0.0;
    for (uint j = 0; j < n_keys; ++j) acc += S[srow + j] * V[p.v_off + j * kv_stride + kvh * hd + c];
    O[p.o_off + (t * p.heads + h) * hd + c] = acc * inv;
  }
}
