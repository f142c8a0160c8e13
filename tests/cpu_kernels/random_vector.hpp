#pragma once
// Deterministic random inputs for the kernel tests.

#include <cstdint>
#include <random>
#include <vector>

namespace edge_rt::backend::cpu::testing {

/// n normal(0, scale) floats from a fixed seed.
inline std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

}  // namespace edge_rt::backend::cpu::testing
