// Weight decoding in the file's layouts, read through 16-bit storage (every format here is 2-byte aligned:
// F16, BF16 elements; Q8_0 blocks of 17 halfwords, Q4_0 blocks of 9). WTYPE: 0 F32, 1 F16, 2 BF16, 3 Q8_0, 4 Q4_0.
// The buffer is bound at binding WBINDING as W; element offsets are in W's own units (floats or halfwords).

#if WTYPE == 0
layout(std430, binding = WBINDING) readonly buffer WBuf { float W[]; };
#else
#extension GL_EXT_shader_16bit_storage : require
layout(std430, binding = WBINDING) readonly buffer WBuf { uint16_t W[]; };
#endif

#if WTYPE != 0
float f16_at(uint i) { return unpackHalf2x16(uint(W[i])).x; }
#endif

#if WTYPE == 3 || WTYPE == 4
const uint BLOCK_HALFS = WTYPE == 3 ? 17u : 9u;
int q8_byte(uint block_base, uint j) {  // int8 value j of a Q8_0 block
  uint h = uint(W[block_base + 1u + (j >> 1)]);
  uint b = (j & 1u) == 1u ? (h >> 8) : (h & 0xffu);
  return int(b << 24) >> 24;
}
int q4_value(uint block_base, uint j) {  // value j (0..31) of a Q4_0 block, minus 8
  uint k = j & 15u;
  uint h = uint(W[block_base + 1u + (k >> 1)]);
  uint b = (k & 1u) == 1u ? (h >> 8) : (h & 0xffu);
  return int(j < 16u ? (b & 0xfu) : (b >> 4)) - 8;
}
#endif

// Element `i` of a row whose first unit of W is `base`.
float weight_at(uint base, uint i) {
#if WTYPE == 0
  return W[base + i];
#elif WTYPE == 1
  return f16_at(base + i);
#elif WTYPE == 2
  return uintBitsToFloat(uint(W[base + i]) << 16);
#elif WTYPE == 3
  uint b = base + (i >> 5) * BLOCK_HALFS;
  return f16_at(b) * float(q8_byte(b, i & 31u));
#else
  uint b = base + (i >> 5) * BLOCK_HALFS;
  return f16_at(b) * float(q4_value(b, i & 31u));
#endif
}

// Units of W per row of `k` elements.
uint row_units(uint k) {
#if WTYPE <= 2
  return k;
#else
  return (k >> 5) * BLOCK_HALFS;
#endif
}
