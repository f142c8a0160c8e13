#pragma once
// Options the runtime tests share: the embedded stories260K model and greedy generation.

#include <edge_rt/runtime/engine.hpp>

namespace edge_rt::runtime::test_support {

/// The default model (stories260K) with a 128-token context.
inline EngineOptions stories_options() {
  EngineOptions o;
  o.model_dir = EDGE_RT_DEFAULT_MODEL_DIR;
  o.n_ctx = 128;
  return o;
}

/// Greedy generation of at most n tokens.
inline GenerateOptions greedy(std::size_t n) {
  GenerateOptions g;
  g.max_new_tokens = n;
  g.sampling.temperature = 0.0f;
  return g;
}

}  // namespace edge_rt::runtime::test_support
