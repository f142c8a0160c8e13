#version 450
// Activations to 8 bits per 32-value block, as the CPU's quantized matmul does (cpu::reference::matmul, itself
// ggml's AVX2 quantize_row_q8_0): q = roundEven(x * 127 / max|x|), d = max|x| / 127 rounded to F16, so that both
// devices dot the same integers with the same scale.
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
  const float id = amax != 0.0 ? 127.0 / amax : 0.0;
  for (uint w = 0; w < 8u; ++w) {
    uint packed = 0u;
    for (uint j = 0; j < 4u; ++j) {
      const int q = int(roundEven(X[x0 + w * 4u + j] * id));
      packed |= (uint(q) & 0xffu) << (8u * j);
    }
    XQ[b * 8u + w] = packed;
  }
  // d to the nearest F16, ties to even (the CPU's f32_to_f16), by hand: packHalf2x16 leaves the rounding open.
  float d16;
  if (d < 6.103515625e-05) {  // below F16's smallest normal: a multiple of 2^-24
    d16 = roundEven(d * 16777216.0) / 16777216.0;
  } else if (d >= 65520.0) {
    d16 = uintBitsToFloat(0x7f800000u);
  } else {
    const uint u = floatBitsToUint(d);
    d16 = uintBitsToFloat((u + 0xfffu + ((u >> 13) & 1u)) & ~0x1fffu);
  }
  XD[b] = d16;
}
