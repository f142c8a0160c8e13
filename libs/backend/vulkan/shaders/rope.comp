#version 450
// RoPE (Su et al. 2021), HF Llama's rotate-half layout, in place. The host supplies cos and sin per (token, pair)
// so that the angles are the CPU kernel's to the last bit: CS[(t * half + i) * 2 + {0, 1}].
layout(local_size_x = 64) in;
layout(std430, binding = 0) buffer XBuf { float X[]; };
layout(std430, binding = 1) readonly buffer CBuf { float CS[]; };
layout(push_constant) uniform P {
  uint n;
  uint heads;
  uint head_dim;
  uint x_off;
  uint cs_off;
} p;

void main() {
  const uint half_dim = p.head_dim / 2u;
  const uint g = gl_GlobalInvocationID.x + gl_GlobalInvocationID.y * 65535u * 64u;
  if (g >= p.n * p.heads * half_dim) return;
  const uint i = g % half_dim;
  const uint h = (g / half_dim) % p.heads;
  const uint t = g / (half_dim * p.heads);
  const float c = CS[p.cs_off + (t * half_dim + i) * 2u];
  const float s = CS[p.cs_off + (t * half_dim + i) * 2u + 1u];
  const uint at = p.x_off + (t * p.heads + h) * p.head_dim + i;
  const float a = X[at];
  const float b = X[at + half_dim];
  X[at] = a * c - b * s;
  X[at + half_dim] = a * s + b * c;
}
