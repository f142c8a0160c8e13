// libFuzzer harness: the safetensors header (JSON, dtypes, shapes, data_offsets, the "edge_rt.quant.*" and
// "edge_rt.layout.*" metadata of quantized files). Input: 8 bytes little-endian data buffer size, then the header.

#include "fuzz_util.hpp"

#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/tensor_core/tensor.hpp>

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace edge_rt;
  if (size < 8 || size > fuzz::kMaxInputBytes) return 0;
  const std::uint64_t data_bytes = fuzz::read_le(data, 8);
  static const std::string label = "fuzz.safetensors";
  std::map<std::string, std::string> metadata;
  auto tensors = model_ir::parse_safetensors_header(fuzz::as_text(data + 8, size - 8), data_bytes, label, &metadata);
  if (!tensors) return 0;
  // Documented: offsets within the data buffer, sorted by offset, non-overlapping, sizes matching dtype and shape
  // (the logical ones for quantized tensors).
  std::uint64_t end_of_previous = 0;
  for (const model_ir::TensorInfo& t : tensors.value()) {
    EDGE_RT_FUZZ_EXPECT(t.offset_bytes >= end_of_previous);
    EDGE_RT_FUZZ_EXPECT(t.size_bytes <= data_bytes && t.offset_bytes <= data_bytes - t.size_bytes);
    EDGE_RT_FUZZ_EXPECT(tensor_core::storage_bytes(t.dtype, t.shape) == t.size_bytes);
    end_of_previous = t.offset_bytes + t.size_bytes;
  }
  return 0;
}
