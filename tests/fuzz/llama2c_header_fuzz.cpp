// libFuzzer harness: the 28-byte header of a llama2.c checkpoint against the file's size (the converter's checks
// before it allocates anything). Input: 8 bytes little-endian file size, then the file's first bytes.

#include "fuzz_util.hpp"

#include <edge_rt/convert/llama2c.hpp>

#include <cstddef>
#include <cstdint>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size < 8 || size > fuzz::kMaxInputBytes) return 0;
  const std::uint64_t file_size = fuzz::read_le(data, 8);
  static const std::string label = "fuzz.llama2c.bin";
  auto header = convert::parse_llama2c_header(fuzz::as_text(data + 8, size - 8), file_size, label);
  if (!header) return 0;
  // Documented: every field in 1..2^20 (vocab_size negative for an unshared classifier), and the implied size,
  // computed without overflow, equal to the file's.
  const convert::Llama2cHeader& h = header.value();
  constexpr std::int32_t kMax = std::int32_t{1} << 20;
  const auto in_range = [](std::int32_t v) { return v >= 1 && v <= kMax; };
  EDGE_RT_FUZZ_EXPECT(in_range(h.dim) && in_range(h.hidden_dim) && in_range(h.n_layers) && in_range(h.n_heads) &&
                      in_range(h.n_kv_heads) && in_range(h.seq_len));
  EDGE_RT_FUZZ_EXPECT(in_range(h.vocab_size) || (h.vocab_size >= -kMax && h.vocab_size <= -1));
  EDGE_RT_FUZZ_EXPECT(file_size >= convert::kLlama2cHeaderBytes);
  EDGE_RT_FUZZ_EXPECT(h.n_floats == (file_size - convert::kLlama2cHeaderBytes) / sizeof(float));
  EDGE_RT_FUZZ_EXPECT((file_size - convert::kLlama2cHeaderBytes) % sizeof(float) == 0);
  return 0;
}
