#pragma once
// Reordering the rows of a Q or K projection between RoPE layouts. Private to convert.

#include <cstddef>
#include <cstring>
#include <span>
#include <vector>

namespace edge_rt::convert::detail {

/// Rows of `n_heads` heads of `head_dim` rows, each `row_bytes` long, from Meta's interleaved order (llama2.c, GGUF:
/// row 2i + j of a head) to HF's rotate-half order (row j * head_dim / 2 + i), j in {0, 1}.
inline std::vector<std::byte> rotate_half_rows(std::span<const std::byte> w, std::size_t n_heads, std::size_t head_dim,
                                               std::size_t row_bytes) {
  std::vector<std::byte> out(n_heads * head_dim * row_bytes);
  const std::size_t half = head_dim / 2;
  for (std::size_t h = 0; h < n_heads; ++h) {
    for (std::size_t i = 0; i < half; ++i) {
      for (std::size_t j = 0; j < 2; ++j) {
        std::memcpy(out.data() + (h * head_dim + j * half + i) * row_bytes,
                    w.data() + (h * head_dim + 2 * i + j) * row_bytes, row_bytes);
      }
    }
  }
  return out;
}

}  // namespace edge_rt::convert::detail
