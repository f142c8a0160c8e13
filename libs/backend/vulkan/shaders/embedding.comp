#version 450
// out[i, :] (+)= table row rows[i], decoded to F32: one workgroup per row.
#extension GL_GOOGLE_include_directive : require
#define WBINDING 0
layout(local_size_x = 64) in;
#include "weights.glsl"
layout(std430, binding = 1) readonly buffer RBuf { uint R[]; };
layout(std430, binding = 2) buffer OBuf { float O[]; };
layout(push_constant) uniform P {
  uint d;
  uint n;
  uint w_off;
  uint r_off;
  uint o_off;
  uint accumulate;
} p;

void main() {
  const uint i = gl_WorkGroupID.x;
  if (i >= p.n) return;
  const uint base = p.w_off + R[p.r_off + i] * row_units(p.d);
  for (uint c = gl_LocalInvocationID.x; c < p.d; c += 64u) {
    const float v = weight_at(base, c);
    const uint o = p.o_off + i * p.d + c;
    O[o] = p.accumulate != 0u ? O[o] + v : v;
  }
}
