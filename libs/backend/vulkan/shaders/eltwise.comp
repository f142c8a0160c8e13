#version 450
// Elementwise ops over n floats, grid-stride. OP 0: GELU tanh (GPT-2's gelu_new) in place on X; 1: SwiGLU,
// X = silu(X) * Y; 2: add, X += Y.
layout(local_size_x = 256) in;
layout(std430, binding = 0) buffer XBuf { float X[]; };
layout(std430, binding = 1) readonly buffer YBuf { float Y[]; };
layout(push_constant) uniform P {
  uint n;
  uint x_off;
  uint y_off;
} p;

void main() {
  const uint stride = gl_NumWorkGroups.x * 256u;
  for (uint i = gl_GlobalInvocationID.x; i < p.n; i += stride) {
    const float v = X[p.x_off + i];
#if OP == 0
    // 0.5 v (1 + tanh u) = v / (1 + exp(-2u)): no cancellation where tanh nears -1, and exp(+-30) is finite.
    const float u = clamp(0.7978845608028654 * (v + 0.044715 * v * v * v), -15.0, 15.0);
    X[p.x_off + i] = v / (1.0 + exp(-2.0 * u));
#elif OP == 1
    X[p.x_off + i] = v / (1.0 + exp(-v)) * Y[p.y_off + i];
#else
    X[p.x_off + i] = v + Y[p.y_off + i];
#endif
  }
}
