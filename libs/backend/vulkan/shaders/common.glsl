// Shared by every edge-rt compute shader: the reduction over one workgroup (subgroup arithmetic where the device
// has it, shared memory where it does not) and the weight decoders for the stored block layouts (ggml's Q8_0 and
// Q4_0: an F16 scale, then 32 int8 values or 16 bytes of nibble pairs, low nibbles first).

#ifndef WG
#define WG 64
#endif

#if USE_SUBGROUP
#extension GL_KHR_shader_subgroup_arithmetic : require
shared float red_partial[WG];  // one slot per subgroup (a subgroup has >= 1 invocation)
float wg_sum(float v) {
  v = subgroupAdd(v);
  if (subgroupElect()) red_partial[gl_SubgroupID] = v;
  barrier();
  float total = 0.0;
  for (uint i = 0; i < gl_NumSubgroups; ++i) total += red_partial[i];
  barrier();
  return total;
}
float wg_max(float v) {
  v = subgroupMax(v);
  if (subgroupElect()) red_partial[gl_SubgroupID] = v;
  barrier();
  float m = red_partial[0];
  for (uint i = 1; i < gl_NumSubgroups; ++i) m = max(m, red_partial[i]);
  barrier();
  return m;
}
#else
shared float red_partial[WG];
float wg_sum(float v) {
  red_partial[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (gl_LocalInvocationID.x < s) red_partial[gl_LocalInvocationID.x] += red_partial[gl_LocalInvocationID.x + s];
    barrier();
  }
  float total = red_partial[0];
  barrier();
  return total;
}
float wg_max(float v) {
  red_partial[gl_LocalInvocationID.x] = v;
  barrier();
  for (uint s = WG / 2; s > 0; s >>= 1) {
    if (gl_LocalInvocationID.x < s) {
      red_partial[gl_LocalInvocationID.x] = max(red_partial[gl_LocalInvocationID.x],
                                                red_partial[gl_LocalInvocationID.x + s]);
    }
    barrier();
  }
  float m = red_partial[0];
  barrier();
  return m;
}
#endif
