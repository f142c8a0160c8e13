#version 450
// RoPE (Su et al. 2021), in place: HF Llama's rotate-half pairs (i, i + head_dim / 2), or adjacent pairs
// (2i, 2i + 1) when `interleaved` (Meta's order, kept by llama GGUF files). The host supplies cos and sin per (token, pair)
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
  uint interleaved;
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
  const uint base = p.x_off + (t * p.heads + h) * p.head_dim;
  const uint first = base + (p.interleaved != 0u ? 2u * i : i);
  const uint second = first + (p.interleaved != 0u ? 1u : half_dim);
  const float a = X[first];
  const float b = X[second];
  X[first] = a * c - b * s;
  X[second] = a * s + b * c;
}
