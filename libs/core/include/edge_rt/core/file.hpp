#pragma once
// Opening and reading input files safely. Every file the runtime reads comes from a user (a downloaded model
// folder, a preset): it may be a FIFO (open() would block forever), a device such as /dev/zero (a read never
// ends), a directory, or far larger than any real file of its kind. These helpers refuse all of those up front.

#include <edge_rt/core/result.hpp>

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>

namespace edge_rt {

/// Owns a POSIX file descriptor; closes it on destruction. Move-only.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
      reset();
      fd_ = other.release();
    }
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const noexcept { return fd_; }
  bool valid() const noexcept { return fd_ >= 0; }
  int release() noexcept {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset() noexcept;

 private:
  int fd_ = -1;
};

/// An open regular file and its size in bytes at open time.
struct RegularFile {
  UniqueFd fd;
  std::uint64_t size_bytes = 0;
};

/// Opens `path` read-only (O_CLOEXEC) without blocking on a FIFO (O_NONBLOCK, cleared again after open), then
/// requires fstat to report a regular file.
/// Errors: kIoError "<component> <path>: cannot open: <strerror>", kInvalidFormat "<component> <path>: is a
/// directory / a FIFO / a device ..., expected a regular file". `component` is the message prefix, e.g. "[config]".
Result<RegularFile> open_regular_file(const std::filesystem::path& path, const char* component);

/// Reads exactly `n` bytes at `offset` with pread (EINTR retried). Errors: kIoError naming `component` and `path`,
/// with strerror, or "file ends at byte X, before byte Y" when the file is shorter (truncated meanwhile).
Result<void> read_exactly_at(int fd, void* buf, std::uint64_t n, std::uint64_t offset,
                             const std::filesystem::path& path, const char* component);

/// Whether something exists at `path` in any form, a dangling symlink included: a FIFO or a broken link named
/// like an input file is a broken input to report, not an absent one to skip.
bool path_present(const std::filesystem::path& path) noexcept;

/// The whole of a regular file of at most `max_bytes` bytes. Errors: open_regular_file's; kInvalidFormat when the
/// file is larger than `max_bytes` (naming both sizes); kIoError on a read error (with strerror) or when the file
/// shrinks while being read.
Result<std::string> read_regular_file(const std::filesystem::path& path, std::uint64_t max_bytes,
                                      const char* component);

/// Caps for read_regular_file, by kind of file. JSON configs and presets are a few KiB in practice; tokenizer files of
/// the largest vocabularies (Gemma's 262k) are about 35 MB.
inline constexpr std::uint64_t kMaxConfigBytes = 16u << 20;
inline constexpr std::uint64_t kMaxTokenizerBytes = 256u << 20;
/// Text inputs of the CLI (perplexity's --file, tokenize's --json-lines).
inline constexpr std::uint64_t kMaxTextBytes = 256u << 20;

/// Writes a file so that the target is either untouched or complete: the bytes go to a temporary file beside the
/// target (same folder, so rename is atomic), which commit() fsyncs, renames over the target and makes durable by
/// fsyncing the folder. A writer destroyed without commit() removes its temporary file. A symlink or hard link at
/// the target is replaced, never written through, so a linked source file cannot be overwritten. Move-only; not
/// thread-safe. Errors name the file and carry strerror.
class AtomicFileWriter {
 public:
  /// Creates the temporary file. Errors: kIoError (the folder is missing or not writable).
  static Result<AtomicFileWriter> create(const std::filesystem::path& target, const char* component);
  AtomicFileWriter(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter& operator=(AtomicFileWriter&& other) noexcept;
  AtomicFileWriter(const AtomicFileWriter&) = delete;
  AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;
  ~AtomicFileWriter();

  /// Appends bytes. Errors: kIoError (disk full: "No space left on device", ...).
  Result<void> write(std::string_view bytes);
  /// fsync, rename over the target, fsync the folder. Errors: kIoError. At most once.
  Result<void> commit();
  const std::filesystem::path& target() const noexcept { return target_; }

 private:
  AtomicFileWriter() = default;
  void discard() noexcept;
  std::filesystem::path target_;
  std::filesystem::path temp_;
  std::string component_;
  UniqueFd fd_;
};

/// The whole of `bytes` written to `target` through an AtomicFileWriter.
Result<void> write_file_atomically(const std::filesystem::path& target, std::string_view bytes, const char* component);

/// Refuses an output path that is (through a symlink or a hard link) one of the input files: kInvalidArgument
/// "<component> <output>: is the same file as the input <input>". Missing paths are not the same as anything.
Result<void> refuse_same_file(const std::filesystem::path& output, std::span<const std::filesystem::path> inputs,
                              const char* component);

/// Copies the regular file `from` to `to` through an AtomicFileWriter, a MiB at a time (any size). Errors:
/// open_regular_file's for `from`, AtomicFileWriter's for `to`.
Result<void> copy_file_atomically(const std::filesystem::path& from, const std::filesystem::path& to,
                                  const char* component);

}  // namespace edge_rt
