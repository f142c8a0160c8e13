#version 450
// Activations to 8 bits per 32-value block, as the CPU's Q8_0/Q4_0 matmul does (cpu::reference::matmul):
// d = max|x| / 127, q = round-half-away(x / d) through the inverse, so that both devices dot the same integers.
// One thread per block; four int8 values per uint of XQ.
layout(local_size_x = 64) in;
layout(std430, binding = 0) readonly buffer XBuf { float X[]; };
layout(std430, binding = 1) writeonly buffer QBuf { uint XQ[]; };
layout(std430, binding = 2) writeonly buffer DBuf { float XD[]; };
layout(push_constant) uniform P {
  uint n_blocks;
  uint x_off;
} p;

void main() {
  const uint b = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 64u;
  if (b >= p.n_blocks) return;
  const uint x0 = p.x_off + b * 32u;
  float amax = 0.0;
  for (uint j = 0; j < 32u; ++j) amax = max(amax, abs(X[x0 + j]));
  const float d = amax / 127.0;
  const float id = d != 0.0 ? 1.0 / d : 0.0;
  for (uint w = 0; w < 8u; ++w) {
    uint packed = 0u;
    for (uint j = 0; j < 4u; ++j) {
      // std::lround as the CPU computes it: v - trunc(v) is exact, so no rounding decides the step.
      const float v = X[x0 + w * 4u + j] * id;
      const float t = trunc(v);
      const int q = int(t + (abs(v - t) >= 0.5 ? sign(v) : 0.0));
      packed |= (uint(q) & 0xffu) << (8u * j);
    }
    XQ[b * 8u + w] = packed;
  }
  XD[b] = d;
}
