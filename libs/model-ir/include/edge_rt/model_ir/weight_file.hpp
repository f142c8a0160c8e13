#pragma once
// WeightFile: an opened checkpoint file, format-agnostic (safetensors today, GGUF next): the descriptors, the
// read-only mapping and the raw ways of copying a byte range out of it. Formats parse headers on top of it; a
// WeightSource (weight_source.hpp) picks one way of reading for a whole run.

#include <edge_rt/core/file.hpp>
#include <edge_rt/core/result.hpp>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>

namespace edge_rt::model_ir {

/// Move-only: owns the file's descriptors and a read-only mapping of the whole file. Thread-safe for concurrent
/// reads. Offsets are absolute in the file; `what` names the tensor in messages; `component` ("[safetensors]")
/// prefixes them.
class WeightFile final {
 public:
  /// Direct reads work in blocks of this many bytes (offset, length and buffer aligned to it).
  static constexpr std::uint64_t kDirectBlock = 4096;

  /// Opens a regular file (open_regular_file), maps it, and opens it again with O_DIRECT where the file system
  /// allows. Errors: kIoError (open/stat/mmap), kInvalidFormat (not a regular file).
  static Result<WeightFile> open(const std::filesystem::path& path, std::string component);

  WeightFile(WeightFile&&) noexcept = default;
  WeightFile& operator=(WeightFile&&) noexcept = default;
  ~WeightFile();

  const std::filesystem::path& path() const noexcept { return path_; }
  std::uint64_t size_bytes() const noexcept { return size_; }
  int fd() const noexcept { return fd_.get(); }
  /// Zero-copy bytes of [offset, offset + size) in the mapping (the data may be unaligned).
  std::span<const std::byte> mapped(std::uint64_t offset, std::uint64_t size) const noexcept;

  /// pread(2) of out.size() bytes at `offset`: the copy leaves no file pages mapped into the process. Errors:
  /// kIoError when the read fails or the file ends first (truncated after open).
  Result<void> read(std::uint64_t offset, std::span<std::byte> out, std::string_view what) const;
  /// Like read(), with O_DIRECT (the data bypasses the page cache), through `bounce` (kDirectBlock-aligned, a
  /// multiple of kDirectBlock, >= 2 blocks). Errors: as read(); kUnsupported when the file system refused O_DIRECT.
  Result<void> read_direct(std::uint64_t offset, std::span<std::byte> out, std::span<std::byte> bounce,
                           std::string_view what) const;
  /// O_DIRECT with no bounce copy: reads [offset, offset + size) into `window` in whole blocks, so the bytes land
  /// at window[offset % kDirectBlock]; their neighbours in the file are written around them. `window` must be
  /// kDirectBlock-aligned and at least round_up(offset % kDirectBlock + size, kDirectBlock) bytes. Returns the
  /// address of the first byte. Errors: as read_direct.
  Result<std::byte*> read_direct_in_place(std::uint64_t offset, std::uint64_t size, std::span<std::byte> window,
                                          std::string_view what) const;
  /// Copies from the mapping. A file truncated after open makes the copy fault (SIGBUS): a handler turns a fault
  /// inside this copy's source range into kIoError; faults anywhere else keep their previous action.
  Result<void> copy_mapped(std::uint64_t offset, std::span<std::byte> out, std::string_view what) const;
  bool supports_direct_io() const noexcept { return direct_fd_.get() >= 0; }
  /// Drops the process's mapped pages of the whole pages inside the range (madvise). Advisory: never fails.
  void release_mapped(std::uint64_t offset, std::uint64_t size) const noexcept;
  /// Asks the kernel to drop the page cache of the range (POSIX_FADV_DONTNEED). Advisory: never fails.
  void drop_page_cache(std::uint64_t offset, std::uint64_t size) const noexcept;

 private:
  struct Unmap {
    std::size_t size;
    void operator()(std::byte* p) const noexcept;
  };
  WeightFile() = default;
  Error truncated(std::string_view what) const;
  Result<std::uint64_t> pread_some(int fd, std::byte* buf, std::uint64_t want, std::uint64_t offset,
                                   std::string_view what, const char* mode) const;

  std::filesystem::path path_;
  std::string component_;
  std::uint64_t size_ = 0;
  std::unique_ptr<std::byte, Unmap> map_{nullptr, Unmap{0}};
  UniqueFd fd_;
  UniqueFd direct_fd_;  // O_DIRECT, or -1 where the file system refuses it
};

}  // namespace edge_rt::model_ir
