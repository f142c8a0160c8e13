#pragma once
// WeightSource: how weight bytes travel from storage into memory, chosen once per run and shared by every file
// format (the loaders call it with a WeightFile and a TensorInfo, whatever parsed them).
//   pread   copies with pread(2): nothing stays mapped; the page cache keeps what it likes (the default).
//   direct  O_DIRECT where the file system allows it, straight into a page-aligned slot (no bounce copy); plain
//           reads followed by POSIX_FADV_DONTNEED elsewhere: every pass reads the device (--cold-cache).
//   mmap    copies from the file's mapping, then drops the copied pages from the process (--mmap).

#include <edge_rt/model_ir/safetensors.hpp>
#include <edge_rt/model_ir/weight_file.hpp>

#include <memory>
#include <string_view>

namespace edge_rt::model_ir {

enum class WeightIo : std::uint8_t { kPread, kDirect, kMmap };
std::string_view io_name(WeightIo io) noexcept;  ///< "pread", "direct", "mmap"

/// Stateless and thread-safe.
class WeightSource {
 public:
  virtual ~WeightSource() = default;
  virtual WeightIo kind() const noexcept = 0;

  /// Copies bytes [offset, offset + out.size()) of tensor `t` of `file` into `out`. `bounce`: a
  /// WeightFile::kDirectBlock-aligned scratch of at least two blocks (direct reads go through it). Errors: kIoError.
  virtual Result<void> read(const WeightFile& file, const TensorInfo& t, std::uint64_t offset, std::span<std::byte> out,
                            std::span<std::byte> bounce) const = 0;
  /// Alignment of in-place reads: 0 when reads land anywhere (pread, mmap); WeightFile::kDirectBlock for direct
  /// reads, which land at (file offset % alignment) past an aligned window start. The planner pads slots by it.
  virtual std::uint64_t in_place_alignment() const noexcept = 0;
  /// Reads `size` bytes of `t` from `offset` into `window` (aligned to in_place_alignment(), large enough for the
  /// rounded range) and returns where they start; falls back to read() into that place when this file cannot do
  /// direct I/O. Precondition: in_place_alignment() > 0 (the default, for sources without it, is a checked
  /// programmer error). Errors: kIoError.
  virtual Result<std::byte*> read_in_place(const WeightFile& file, const TensorInfo& t, std::uint64_t offset,
                                           std::uint64_t size, std::span<std::byte> window,
                                           std::span<std::byte> bounce) const;
};

/// The source for `io`.
std::unique_ptr<WeightSource> make_weight_source(WeightIo io);

}  // namespace edge_rt::model_ir
